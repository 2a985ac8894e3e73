// SPDX-License-Identifier: GPL-2.0

//! Helpers shared by the heap's KUnit suites.
//!
//! They return `Result` and leave asserting to the tests, whose `assert!`
//! reports to KUnit instead of panicking. They know the pools, not the
//! heap: no import leads from here back up to it.

use kernel::prelude::*;
use kernel::time::Delta;

use super::pool::Pools;
use super::zeroing::ZeroedBlock;
use crate::kapi::pages::PageBlock;
use crate::orders::ORDERS;

/// A pool cap of 300 pages: one 1 MiB block plus a few more.
pub(super) fn cap_300() -> usize {
    300
}

/// A pool cap of 32 MiB.
pub(super) fn cap_32m() -> usize {
    8192
}

/// A fresh block of order index `index`, to dirty and release.
pub(super) fn block(index: usize) -> Result<PageBlock> {
    PageBlock::alloc_zeroed(ORDERS[index], false).ok_or(ENOMEM)
}

/// A fresh zeroed block of order index `index`, to pool.
pub(super) fn zeroed(index: usize) -> Result<ZeroedBlock> {
    ZeroedBlock::alloc(ORDERS[index], false).ok_or(ENOMEM)
}

/// Frees every pooled block; returns whether all were zero.
pub(super) fn empty_pools_were_zero(pools: &Pools) -> bool {
    let mut all_zero = true;
    while let Some(b) = pools.pop_largest() {
        all_zero &= b.is_zero();
    }
    all_zero
}

/// Sleeps in 10 ms steps until `done()` or `steps` have passed; returns
/// `done()`.
pub(super) fn wait_until(steps: u32, done: impl Fn() -> bool) -> bool {
    for _ in 0..steps {
        if done() {
            return true;
        }
        kernel::time::delay::fsleep(Delta::from_millis(10));
    }
    done()
}

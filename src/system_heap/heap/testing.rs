// SPDX-License-Identifier: GPL-2.0

//! Helpers shared by the heap's KUnit suites.
//!
//! They return `Result` and leave asserting to the tests, whose `assert!`
//! reports to KUnit instead of panicking. They use kapi only, so that no
//! import leads from here back to a room whose tests use them.

use crate::kapi::kernel::prelude::*;
use crate::kapi::kernel::time::Delta;

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

/// Sleeps in 10 ms steps until `done()` or `steps` have passed; returns
/// `done()`.
pub(super) fn wait_until(steps: u32, done: impl Fn() -> bool) -> bool {
    for _ in 0..steps {
        if done() {
            return true;
        }
        crate::kapi::kernel::time::delay::fsleep(Delta::from_millis(10));
    }
    done()
}

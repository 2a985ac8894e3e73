// SPDX-License-Identifier: GPL-2.0

//! Helpers shared by the heap's KUnit suites.
//!
//! They return `Result` and leave asserting to the tests, whose `assert!`
//! reports to KUnit instead of panicking.

use kernel::prelude::*;
use kernel::sync::Arc;
use kernel::time::Delta;

use super::Heap;
use crate::kapi::pages::{
    PageBlock,
    PageList, //
};
use crate::orders::ORDERS;

/// A pool cap of 300 pages: one 1 MiB block plus a few more.
pub(super) fn cap_300() -> usize {
    300
}

/// A pool cap of 32 MiB.
pub(super) fn cap_32m() -> usize {
    8192
}

/// A fresh zeroed block of order index `index`.
pub(super) fn block(index: usize) -> Result<PageBlock> {
    PageBlock::alloc_zeroed(ORDERS[index], false).ok_or(ENOMEM)
}

/// Queues `blocks` through a released-buffer list, as release does.
pub(super) fn queue(heap: &Arc<Heap>, blocks: impl IntoIterator<Item = PageBlock>) -> Result {
    let mut list = KBox::pin_init(PageList::new(), GFP_KERNEL)?;
    for b in blocks {
        list.as_mut().push(b);
    }
    Heap::defer_free(heap, list.as_mut());
    Ok(())
}

/// Frees every pooled block; returns whether all were zero.
pub(super) fn empty_pools_were_zero(heap: &Heap) -> bool {
    let mut all_zero = true;
    while let Some(b) = heap.pools.pop_largest() {
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

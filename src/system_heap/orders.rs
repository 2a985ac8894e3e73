// SPDX-License-Identifier: GPL-2.0

//! The page orders a heap buffer is built from, largest first, as upstream.

use crate::kapi::kernel::page::PAGE_SIZE;

/// The orders upstream's system heap allocates: 1 MiB, 64 KiB and 4 KiB
/// chunks, sizes often found in IOMMUs.
pub(crate) const ORDERS: [u32; 3] = [8, 4, 0];

/// The index in [`ORDERS`] of 1 MiB blocks: an allocation that finds their
/// pool empty while blocks are queued wakes the zeroing worker, and one it
/// takes from the queue is replaced.
pub(crate) const LARGE: usize = 0;

/// The index in [`ORDERS`] of 4 KiB blocks, of which the zeroing worker
/// keeps a reserve once allocations missed their pool.
pub(crate) const SMALL: usize = ORDERS.len() - 1;

/// Returns the indexes in [`ORDERS`] of the orders to try, in turn, for the
/// next chunk: those that fit in `remaining` bytes and do not exceed
/// `max_order` (the order of the previous chunk: it never grows).
pub(crate) fn candidates(remaining: usize, max_order: u32) -> impl Iterator<Item = usize> {
    (0..ORDERS.len())
        .filter(move |&i| ORDERS[i] <= max_order && remaining >= (PAGE_SIZE << ORDERS[i]))
}

#[cfg(CONFIG_KUNIT = "y")]
mod tests {
    use super::*;
    use crate::kapi::kunit::{
        assert_eq,
        kunit_suite, //
    };

    fn first(remaining: usize, max_order: u32) -> Option<usize> {
        candidates(remaining, max_order).next()
    }

    fn picks_largest_order_that_fits() {
        assert_eq!(first(PAGE_SIZE << 8, 8), Some(0));
        assert_eq!(first((PAGE_SIZE << 8) - PAGE_SIZE, 8), Some(1));
        assert_eq!(first(PAGE_SIZE << 4, 8), Some(1));
        assert_eq!(first(PAGE_SIZE, 8), Some(2));
        assert_eq!(first(PAGE_SIZE - 1, 8), None);
    }

    fn order_never_grows() {
        // After a 64 KiB chunk, a 1 MiB remainder is served in 64 KiB chunks.
        assert_eq!(first(PAGE_SIZE << 8, 4), Some(1));
        assert_eq!(first(PAGE_SIZE << 8, 0), Some(2));
    }

    fn falls_back_to_smaller_orders() {
        let mut all = candidates(PAGE_SIZE << 9, 8);
        assert_eq!(all.next(), Some(0));
        assert_eq!(all.next(), Some(1));
        assert_eq!(all.next(), Some(2));
        assert_eq!(all.next(), None);
    }

    kunit_suite!(
        rsystem_heap_orders,
        [
            picks_largest_order_that_fits,
            order_never_grows,
            falls_back_to_smaller_orders
        ]
    );
}

// SPDX-License-Identifier: GPL-2.0

//! The page orders a heap buffer is built from, largest first, as upstream.

use kernel::prelude::*;

/// The orders upstream's system heap allocates: 1 MiB, 64 KiB and 4 KiB chunks.
pub(crate) const ORDERS: [u32; 3] = [8, 4, 0];

/// Returns the index in [`ORDERS`] of the largest order that fits in
/// `remaining` bytes and is not larger than `max_order`, if any.
pub(crate) fn largest_fitting(remaining: usize, max_order: u32) -> Option<usize> {
    ORDERS
        .iter()
        .position(|&order| order <= max_order && remaining >= (kernel::page::PAGE_SIZE << order))
}

#[kunit_tests(rsystem_heap_orders)]
mod tests {
    use super::*;
    use kernel::page::PAGE_SIZE;

    #[test]
    fn picks_largest_order_that_fits() {
        assert_eq!(largest_fitting(PAGE_SIZE << 8, 8), Some(0));
        assert_eq!(largest_fitting((PAGE_SIZE << 8) - PAGE_SIZE, 8), Some(1));
        assert_eq!(largest_fitting(PAGE_SIZE << 4, 8), Some(1));
        assert_eq!(largest_fitting(PAGE_SIZE, 8), Some(2));
        assert_eq!(largest_fitting(PAGE_SIZE - 1, 8), None);
    }

    #[test]
    fn order_never_grows() {
        // After a 64 KiB chunk, a 1 MiB remainder is served in 64 KiB chunks.
        assert_eq!(largest_fitting(PAGE_SIZE << 8, 4), Some(1));
        assert_eq!(largest_fitting(PAGE_SIZE << 8, 0), Some(2));
    }
}

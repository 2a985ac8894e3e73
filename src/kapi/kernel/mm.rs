// SPDX-License-Identifier: GPL-2.0

//! `kernel::mm` for Linux 6.12: the subset of 7.3's that the project uses.
//!
//! 6.12's kernel crate has no `kernel::mm` (the module, with `mm::virt`'s
//! VMA wrappers, arrived in 6.15): kapi's user-space mappings
//! (`src/kapi/dma_buf/mmap.rs`) need only [`virt`]'s read accessors.
//!
//! C header: [include/linux/mm.h](srctree/include/linux/mm.h)

pub(crate) mod virt;

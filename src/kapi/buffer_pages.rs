// SPDX-License-Identifier: GPL-2.0

//! The pages of an exported buffer, as kapi maps them.

use super::page_run::PhysRun;

/// The pages of a buffer, in buffer order: what kapi maps for devices
/// ([`super::sg_table`]), into the kernel ([`super::vmap`]) and into user
/// space ([`super::dma_buf`]).
///
/// No mapping outlives the pages: a device's sg table holds a reference on
/// the exported buffer that owns them, and the kernel mapping is a field of
/// that buffer which drops before them (see
/// [`Exported`](super::dma_buf::Exported)). The runs are [`PhysRun`]s, which
/// only kapi builds, from pages that their owner keeps allocated.
///
/// The trait is safe to implement, so kapi trusts no two walks to agree:
/// an sg table is filled only up to the count of its first walk (and fails
/// with EINVAL if the second differs), and every page table entry, at mmap
/// or at a fault, maps a page of the run it was taken from. A
/// walk that changes can give a wrong layout, never a write past a table
/// or a mapping of memory the buffer does not own.
pub(crate) trait BufferPages: Send + Sync + 'static {
    /// Returns the pages from buffer page `pgoff` on; the first run starts
    /// at `pgoff`. Nothing if `pgoff` is past the end.
    fn runs_from(&self, pgoff: usize) -> impl Iterator<Item = PhysRun<'_>> + Clone;

    /// Returns the number of pages in the buffer.
    fn page_count(&self) -> usize;
}

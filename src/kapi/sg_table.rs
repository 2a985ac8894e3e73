// SPDX-License-Identifier: GPL-2.0

//! Scatter-gather tables built from a buffer's pages and mapped for DMA.
//!
//! C header: [include/linux/scatterlist.h](srctree/include/linux/scatterlist.h)
//!
//! One concept, one public name: an [`SGTable`] is a table of a buffer's
//! pages mapped for a device, the handle `map_dma_buf` hands to an importer
//! and an exporter keeps to sync. As in `rust/kernel/scatterlist.rs`, it is
//! built in stages with an owning type each: [`RawSGTable`] owns the
//! allocated, filled table, [`DmaMappedSgt`] its DMA mapping. Dropping
//! either undoes exactly what its constructor finished: a failed mapping
//! frees the table and nothing else. Both hold a reference on the pages
//! they describe, so a table can never outlive its pages.

use core::ffi::c_int;

use crate::kapi::kernel::device::Device;
use crate::kapi::kernel::dma::DataDirection;
use crate::kapi::kernel::page::PAGE_SIZE;
use crate::kapi::kernel::prelude::*;
use crate::kapi::kernel::sync::aref::ARef;
use crate::kapi::kernel::sync::Arc;
use kernel::error::to_result;
use kernel::types::Opaque;

use super::bindings;
use super::buffer_pages::BufferPages;
use super::device::{
    as_raw,
    dma_max_seg_size,
    dma_needs_sync, //
};
use super::page_run::PhysRun;
#[cfg(CONFIG_KUNIT = "y")]
use super::test_counters;

/// Converts a C DMA direction to the kernel crate's enum: EINVAL for
/// `DMA_NONE` and for any value C has no name for, which the DMA API would
/// meet with `BUG_ON(!valid_dma_direction(dir))`.
pub(crate) fn direction_from_raw(dir: bindings::dma_data_direction) -> Result<DataDirection> {
    // Compared through the kernel crate's own conversion: the C enum is a
    // newtype with associated constants in 7.3's bindings, plain constants
    // in 6.12's.
    [
        DataDirection::ToDevice,
        DataDirection::FromDevice,
        DataDirection::Bidirectional,
    ]
    .into_iter()
    .find(|&d| bindings::dma_data_direction::from(d) == dir)
    .ok_or(EINVAL)
}

/// How [`RawSGTable::new`] turns runs into sg entries.
#[derive(Clone, Copy)]
pub(crate) enum Segments {
    /// One entry per run, as given (the system heap: one per chunk), split
    /// only where a run exceeds the device's maximum segment size.
    #[cfg(kapi_heap)]
    PerRun,
    /// Physically adjacent runs merged, then split at the device's maximum
    /// segment size (udmabuf: one entry per contiguous range).
    #[cfg(kapi_udmabuf)]
    Merged,
}

/// Who syncs the CPU's view of a mapping.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum CpuSync {
    /// `dma_map_sgtable`/`dma_unmap_sgtable` sync (attributes 0), as the
    /// system heap's importer mappings: under bouncing, what the device wrote
    /// reaches the pages at unmap.
    #[cfg(kapi_heap)]
    OnMapAndUnmap,
    /// `DMA_ATTR_SKIP_CPU_SYNC`: the exporter syncs in begin/end_cpu_access,
    /// as upstream udmabuf does.
    #[cfg(kapi_udmabuf)]
    Explicit,
}

impl CpuSync {
    /// Returns whether an importer syncs its own mapping between device and
    /// CPU accesses (`DMA_ATTR_SKIP_CPU_SYNC`: the map and unmap do not).
    #[cfg(CONFIG_KUNIT = "y")]
    pub(crate) fn by_importer(self) -> bool {
        match self {
            #[cfg(kapi_heap)]
            CpuSync::OnMapAndUnmap => false,
            #[cfg(kapi_udmabuf)]
            CpuSync::Explicit => true,
        }
    }

    fn attrs(self) -> usize {
        match self {
            #[cfg(kapi_heap)]
            CpuSync::OnMapAndUnmap => 0,
            #[cfg(kapi_udmabuf)]
            CpuSync::Explicit => bindings::DMA_ATTR_SKIP_CPU_SYNC as usize,
        }
    }
}

/// Returns the largest segment `dev` takes, in pages.
fn max_segment_pages(dev: &Device) -> usize {
    let max_seg = dma_max_seg_size(dev) as usize;
    // Segment lengths are `unsigned int` in a scatterlist.
    max_seg.min(u32::MAX as usize) / PAGE_SIZE
}

/// Merges page runs that are physically adjacent if `merge`, splits the
/// result into segments of at most `max_seg_pages` pages, and calls `f(run)`
/// for each segment.
///
/// Returns the number of segments.
fn for_each_segment<'a>(
    runs: impl Iterator<Item = PhysRun<'a>>,
    merge: bool,
    max_seg_pages: usize,
    mut f: impl FnMut(PhysRun<'a>),
) -> usize {
    let max = max_seg_pages.max(1);
    let mut count = 0;
    let mut emit = |run: PhysRun<'a>, count: &mut usize| {
        let mut done = 0;
        while done < run.npages() {
            let n = (run.npages() - done).min(max);
            if let Some(seg) = run.slice(done, n) {
                f(seg);
            }
            *count += 1;
            done += n;
        }
    };
    let mut pending: Option<PhysRun<'a>> = None;
    for run in runs {
        pending = match pending {
            Some(p) => match p.try_merge(&run).filter(|_| merge) {
                Some(merged) => Some(merged),
                None => {
                    emit(p, &mut count);
                    Some(run)
                }
            },
            None => Some(run),
        };
    }
    if let Some(p) = pending {
        emit(p, &mut count);
    }
    count
}

/// An allocated sg table filled with every page of a buffer, freed on drop.
///
/// # Invariants
///
/// `sgt` was allocated by `sg_alloc_table` and every entry set to a segment
/// of `pages`, which this object keeps alive. `sgt` stays the first field
/// (see [`DmaMappedSgt`]).
#[repr(C)]
struct RawSGTable<P: BufferPages> {
    sgt: Opaque<bindings::sg_table>,
    pages: Arc<P>,
}

impl<P: BufferPages> RawSGTable<P> {
    /// Builds the table of all the pages of `pages`, for `dev`'s segment
    /// limit when `segments` merges runs.
    fn new(pages: Arc<P>, dev: &Device, segments: Segments) -> Result<Self> {
        let merge = match segments {
            #[cfg(kapi_udmabuf)]
            Segments::Merged => true,
            #[cfg(kapi_heap)]
            Segments::PerRun => false,
        };
        let max_seg_pages = max_segment_pages(dev);
        let walk = |pages: &P, f: &mut dyn FnMut(PhysRun<'_>)| {
            for_each_segment(pages.runs_from(0), merge, max_seg_pages, f)
        };
        let nents = walk(&pages, &mut |_| {});
        let nents = u32::try_from(nents).map_err(|_| E2BIG)?;

        // SAFETY: All-zero is a valid, empty `sg_table` (what
        // `Opaque::zeroed` makes on 7.3; 6.12 has no `Opaque::zeroed`).
        let sgt = Opaque::new(unsafe { core::mem::zeroed::<bindings::sg_table>() });
        // SAFETY: `sgt` is a zeroed `sg_table` we own.
        to_result(unsafe { bindings::sg_alloc_table(sgt.get(), nents, bindings::GFP_KERNEL) })?;
        // Freed on the errors below too.
        let table = Self { sgt, pages };
        // SAFETY: Allocated above with `nents` entries.
        let mut sg = unsafe { (*table.sgt.get()).sgl };
        // The walk is the driver's (a safe trait): it is trusted for nothing.
        // Entries are written only while `left` says `sg` is one, and a walk
        // that does not give the counted `nents` segments again, or whose
        // pages are not `page_count()` (the dma-buf's size), is EINVAL: an
        // importer must get a table of exactly `dmabuf->size` bytes.
        let mut left = nents;
        let mut more = false;
        let mut total = 0usize;
        walk(&table.pages, &mut |seg| {
            if left == 0 {
                more = true;
                return;
            }
            total = total.saturating_add(seg.npages());
            // SAFETY: `sg` is an entry of the table (`left` entries from it
            // on are); the page is the first of the segment, which the table
            // keeps alive, and the length fits in `unsigned int`.
            unsafe {
                bindings::rdmabuf_sg_set_page(
                    sg,
                    seg.page(0),
                    (seg.npages() * PAGE_SIZE) as u32,
                    0,
                );
                sg = bindings::sg_next(sg);
            }
            left -= 1;
        });
        if left != 0 || more || total != table.pages.page_count() {
            return Err(EINVAL);
        }
        // INVARIANT: Allocated and every entry filled from `pages` above.
        Ok(table)
    }

    /// Returns the number of entries (segments) in the table.
    #[cfg(kapi_udmabuf)]
    fn segment_count(&self) -> u32 {
        // SAFETY: By the type invariant the table is allocated.
        unsafe { (*self.sgt.get()).orig_nents }
    }
}

impl<P: BufferPages> Drop for RawSGTable<P> {
    fn drop(&mut self) {
        // SAFETY: By the type invariant the table is allocated; it is not
        // DMA-mapped, since a `DmaMappedSgt` unmaps before its table drops.
        unsafe { bindings::sg_free_table(self.sgt.get()) };
        let _ = &self.pages;
    }
}

/// An [`RawSGTable`] mapped for DMA by a device, unmapped on drop.
///
/// `sgt` stays the first field: the pointer handed to C by
/// [`SGTable::into_raw`] is a pointer to its `sg_table`.
///
/// # Invariants
///
/// `sgt` is mapped with `dma_map_sgtable` for `dev` in direction `dir` with
/// the attributes of `sync`. It is unmapped in `drop`, before the field
/// `sgt` itself drops and frees the table.
#[repr(C)]
struct DmaMappedSgt<P: BufferPages> {
    sgt: RawSGTable<P>,
    dev: ARef<Device>,
    dir: DataDirection,
    sync: CpuSync,
}

impl<P: BufferPages> DmaMappedSgt<P> {
    /// Maps `sgt` for `dev`. On failure the table is freed, never unmapped.
    fn new(sgt: RawSGTable<P>, dev: &Device, dir: DataDirection, sync: CpuSync) -> Result<Self> {
        // SAFETY: `sgt.sgt` is an allocated, filled table of pages that `sgt`
        // keeps alive; `dev` is a valid device.
        to_result(unsafe {
            bindings::dma_map_sgtable(as_raw(dev), sgt.sgt.get(), dir.into(), sync.attrs())
        })?;
        #[cfg(CONFIG_KUNIT = "y")]
        test_counters::dma_mapped();
        // INVARIANT: Just mapped with these arguments.
        Ok(Self {
            sgt,
            dev: dev.into(),
            dir,
            sync,
        })
    }

    fn raw(&self) -> *mut bindings::sg_table {
        self.sgt.sgt.get()
    }
}

impl<P: BufferPages> Drop for DmaMappedSgt<P> {
    fn drop(&mut self) {
        // SAFETY: By the type invariant the table is mapped for `dev` in
        // `dir` with these attributes, and still allocated.
        unsafe {
            bindings::rdmabuf_dma_unmap_sgtable(
                as_raw(&self.dev),
                self.raw(),
                self.dir.into(),
                self.sync.attrs(),
            )
        };
        #[cfg(CONFIG_KUNIT = "y")]
        test_counters::dma_unmapped();
    }
}

/// A table of a buffer's pages mapped for a device: what `map_dma_buf`
/// hands to an importer, and what an exporter keeps to sync. Handles are
/// shared; the last one unmaps and frees the table.
pub(crate) struct SGTable<P: BufferPages>(Arc<DmaMappedSgt<P>>);

impl<P: BufferPages> Clone for SGTable<P> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

impl<P: BufferPages> SGTable<P> {
    /// Builds the table of all of `pages` and maps it for `dev`.
    pub(super) fn new(
        pages: Arc<P>,
        dev: &Device,
        dir: DataDirection,
        segments: Segments,
        sync: CpuSync,
    ) -> Result<Self> {
        // `dma_map_sgtable` BUGs on a direction that is not one.
        if dir == DataDirection::None {
            return Err(EINVAL);
        }
        let sgt = RawSGTable::new(pages, dev, segments)?;
        let mapped = DmaMappedSgt::new(sgt, dev, dir, sync)?;
        Ok(Self(Arc::new(mapped, GFP_KERNEL)?))
    }

    /// Returns the number of entries (segments) in the table.
    #[cfg(kapi_udmabuf)]
    pub(crate) fn segment_count(&self) -> u32 {
        self.0.sgt.segment_count()
    }

    /// Returns whether the device may write through the mapping: it is
    /// mapped `FROM_DEVICE` or `BIDIRECTIONAL`.
    pub(crate) fn device_may_write(&self) -> bool {
        matches!(
            self.0.dir,
            DataDirection::FromDevice | DataDirection::Bidirectional
        )
    }

    /// Syncs the table for CPU access, in the direction it was mapped in
    /// (a sync in another direction is an error of the DMA API).
    pub(crate) fn sync_for_cpu(&self) {
        if !dma_needs_sync(&self.0.dev) {
            return;
        }
        let sgt = self.0.raw();
        // SAFETY: By the invariant of `DmaMappedSgt` the table is mapped for
        // `dev` in `dir`, with all its `orig_nents` entries, as
        // `dma_sync_sgtable_for_cpu()` passes them.
        unsafe {
            bindings::__dma_sync_sg_for_cpu(
                as_raw(&self.0.dev),
                (*sgt).sgl,
                (*sgt).orig_nents as c_int,
                self.0.dir.into(),
            )
        };
    }

    /// Syncs the table for device access, in the direction it was mapped in.
    pub(crate) fn sync_for_device(&self) {
        if !dma_needs_sync(&self.0.dev) {
            return;
        }
        let sgt = self.0.raw();
        // SAFETY: As in `sync_for_cpu` (`dma_sync_sgtable_for_device()`).
        unsafe {
            bindings::__dma_sync_sg_for_device(
                as_raw(&self.0.dev),
                (*sgt).sgl,
                (*sgt).orig_nents as c_int,
                self.0.dir.into(),
            )
        };
    }

    /// Returns whether `self` and `other` are handles of the same table.
    pub(crate) fn same(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }

    /// Hands a handle to C (as the return value of `map_dma_buf`).
    pub(super) fn into_raw(self) -> *mut bindings::sg_table {
        // CAST: `DmaMappedSgt` is `repr(C)` with the `RawSGTable` first, whose
        // first field is the `sg_table`.
        Arc::into_raw(self.0).cast_mut().cast()
    }

    /// Takes back a table handed out by [`SGTable::into_raw`].
    ///
    /// # Safety
    ///
    /// `sgt` must come from `into_raw` of a `SGTable<P>` and not have
    /// been taken back yet.
    pub(super) unsafe fn from_raw(sgt: *mut bindings::sg_table) -> Self {
        // SAFETY: By the safety requirements the pointer came from
        // `Arc::into_raw` of a `DmaMappedSgt<P>`, at the same address.
        Self(unsafe { Arc::from_raw(sgt.cast::<DmaMappedSgt<P>>()) })
    }
}

// SAFETY: The table may be synced, unmapped and freed from any thread; the
// pages are `Send` and `Sync` (`BufferPages`).
unsafe impl<P: BufferPages> Send for RawSGTable<P> {}
// SAFETY: Shared access only reads the entry count.
unsafe impl<P: BufferPages> Sync for RawSGTable<P> {}

#[cfg(kapi_udmabuf)]
#[cfg(CONFIG_KUNIT = "y")]
mod tests {
    use super::*;
    use crate::kapi::dma_buf::importer::TestImporter;
    use crate::kapi::kernel::page::Page;
    use crate::kapi::kernel::sync::atomic::{
        Atomic,
        Relaxed, //
    };
    use crate::kapi::kunit::{
        assert_eq,
        kunit_suite, //
    };

    /// One page, given as `counts[0]` runs by the first walk and as
    /// `counts[1]` runs by every later one, of which `page_count()` says
    /// there are `declared`: pages whose safe trait implementation does not
    /// give the same walk twice, or not the pages it counts.
    struct FicklePages {
        page: Page,
        walks: Atomic<usize>,
        counts: [usize; 2],
        declared: usize,
    }

    impl BufferPages for FicklePages {
        fn runs_from(&self, pgoff: usize) -> impl Iterator<Item = PhysRun<'_>> + Clone {
            let count = self.counts[self.walks.fetch_add(1, Relaxed).min(1)];
            // SAFETY: `page` is an allocated page.
            let pfn = unsafe { bindings::rdmabuf_page_to_pfn(self.page.as_ptr()) };
            // SAFETY: The page stays allocated while `self` lives. Runs of
            // the same page are not adjacent, so none merge.
            (pgoff..count).map(move |_| unsafe { PhysRun::from_pfn(pfn, 1) })
        }

        fn page_count(&self) -> usize {
            self.declared
        }
    }

    fn table_of(dev: &Device, counts: [usize; 2], declared: usize) -> Result<u32> {
        let pages = Arc::new(
            FicklePages {
                page: Page::alloc_page(GFP_KERNEL)?,
                walks: Atomic::new(0),
                counts,
                declared,
            },
            GFP_KERNEL,
        )?;
        let sgt = SGTable::new(
            pages,
            dev,
            DataDirection::ToDevice,
            Segments::Merged,
            CpuSync::Explicit,
        )?;
        Ok(sgt.segment_count())
    }

    /// A table is filled only with the entries it was allocated with: a
    /// walk that gives more segments, or fewer, than the one that counted
    /// them is EINVAL, and nothing is written past the table.
    fn a_walk_that_changes_is_einval() -> Result {
        let importer = TestImporter::new(c"rudmabuf-kunit-sgt", 64)?;
        let results = [
            table_of(importer.dev(), [6, 6], 6),
            table_of(importer.dev(), [4, 12], 4),
            table_of(importer.dev(), [12, 4], 12),
        ];
        drop(importer);
        assert_eq!(results[0], Ok(6));
        assert_eq!(results[1].err(), Some(EINVAL));
        assert_eq!(results[2].err(), Some(EINVAL));
        Ok(())
    }

    /// A table holds exactly the pages of the dma-buf's size: a walk that
    /// gives the same segments twice, but more or fewer pages than
    /// `page_count()` says, is EINVAL, never a table shorter or longer than
    /// `dmabuf->size` for an importer.
    fn pages_other_than_the_size_are_einval() -> Result {
        let importer = TestImporter::new(c"rudmabuf-kunit-sgt-size", 64)?;
        let results = [
            table_of(importer.dev(), [6, 6], 5),
            table_of(importer.dev(), [6, 6], 7),
        ];
        drop(importer);
        assert_eq!(results[0].err(), Some(EINVAL));
        assert_eq!(results[1].err(), Some(EINVAL));
        Ok(())
    }

    kunit_suite!(
        rudmabuf_sg_table,
        [
            a_walk_that_changes_is_einval,
            pages_other_than_the_size_are_einval
        ]
    );
}

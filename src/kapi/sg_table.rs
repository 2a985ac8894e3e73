// SPDX-License-Identifier: GPL-2.0

//! Scatter-gather tables built from page runs and mapped for DMA.
//!
//! C header: [include/linux/scatterlist.h](srctree/include/linux/scatterlist.h)

use kernel::device::Device;
use kernel::dma::DataDirection;
use kernel::error::to_result;
use kernel::ffi::c_ulong;
use kernel::page::PAGE_SIZE;
use kernel::prelude::*;
use kernel::sync::aref::ARef;
use kernel::sync::Arc;
use kernel::types::Opaque;

use super::bindings;
use super::device::as_raw;
use super::folio::PhysRun;

/// `DMA_ATTR_SKIP_CPU_SYNC`: the exporter syncs in begin/end_cpu_access.
const DMA_ATTR_SKIP_CPU_SYNC: c_ulong = 1 << 5;

/// Converts a C DMA direction to the kernel crate's enum.
pub(crate) fn direction_from_raw(dir: bindings::dma_data_direction) -> DataDirection {
    match dir {
        bindings::dma_data_direction::DMA_TO_DEVICE => DataDirection::ToDevice,
        bindings::dma_data_direction::DMA_FROM_DEVICE => DataDirection::FromDevice,
        bindings::dma_data_direction::DMA_NONE => DataDirection::None,
        _ => DataDirection::Bidirectional,
    }
}

/// How [`MappedSgTable::new`] turns runs into sg entries.
#[derive(Clone, Copy)]
pub(crate) enum Segments {
    /// One entry per run, as given (the system heap: one per chunk).
    PerRun,
    /// Physically adjacent runs merged, then split at the device's maximum
    /// segment size (udmabuf: one entry per contiguous range).
    Merged,
}

/// Merges page runs that are physically adjacent and splits the result into
/// segments of at most `max_seg_pages` pages; calls `f(run)` for each segment.
///
/// Returns the number of segments.
fn for_each_segment<'a>(
    runs: impl Iterator<Item = PhysRun<'a>>,
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
            Some(p) => match p.try_merge(&run) {
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

/// The C table and what unmapping it needs. `sgt` must stay first: the
/// pointer handed to C is a pointer to it.
#[repr(C)]
struct Inner {
    sgt: Opaque<bindings::sg_table>,
    dev: ARef<Device>,
    dir: DataDirection,
}

/// An sg table mapped for DMA by a device; a shared handle, the table is
/// unmapped and freed when the last handle goes.
///
/// # Invariants
///
/// `inner.sgt` is an allocated sg table (`sg_alloc_table`) that is mapped
/// with `dma_map_sgtable` for `inner.dev` in direction `inner.dir`, with
/// `DMA_ATTR_SKIP_CPU_SYNC`. Its pages stay allocated while it lives (the
/// exporter keeps them until release, after every mapping is gone).
#[derive(Clone)]
pub(crate) struct MappedSgTable {
    inner: Arc<Inner>,
}

impl MappedSgTable {
    /// Builds the table from `runs` and maps it for `dev`.
    ///
    /// `segments` says whether physically adjacent runs are merged (and then
    /// split at the device's maximum segment size). `runs` is walked twice
    /// (count, then fill).
    ///
    /// The caller must keep the runs' pages allocated until the table is
    /// dropped; the lifetime of [`PhysRun`] ties them to their owner at
    /// construction time and the exporter keeps its pins until release,
    /// which happens only after every mapping is gone.
    pub(crate) fn new<'a, I>(
        dev: &Device,
        dir: DataDirection,
        runs: I,
        segments: Segments,
    ) -> Result<Self>
    where
        I: Iterator<Item = PhysRun<'a>> + Clone,
    {
        // SAFETY: `dev` is a valid device.
        let max_seg = unsafe { bindings::rdmabuf_dma_max_seg_size(as_raw(dev)) } as usize;
        // Segment lengths are `unsigned int` in a scatterlist.
        let max_seg_pages = max_seg.min(u32::MAX as usize) / PAGE_SIZE;
        let walk = |f: &mut dyn FnMut(PhysRun<'a>)| match segments {
            Segments::Merged => for_each_segment(runs.clone(), max_seg_pages, f),
            Segments::PerRun => runs.clone().map(&mut *f).count(),
        };
        let nents = walk(&mut |_| {});
        let nents = u32::try_from(nents).map_err(|_| E2BIG)?;

        let inner = Arc::new(
            Inner {
                sgt: Opaque::zeroed(),
                dev: dev.into(),
                dir,
            },
            GFP_KERNEL,
        )?;
        let sgt = inner.sgt.get();
        // SAFETY: `sgt` points to a zeroed `sg_table` we own.
        to_result(unsafe { bindings::sg_alloc_table(sgt, nents, bindings::GFP_KERNEL) })?;

        // SAFETY: The table was just allocated with `nents` entries.
        let mut sg = unsafe { (*sgt).sgl };
        walk(&mut |seg| {
            // The segment count is the same as in the first walk, so `sg` is
            // a valid entry here.
            // SAFETY: `sg` is an entry of the table; the page is the first
            // of the segment and the length fits in `unsigned int`.
            unsafe {
                bindings::rdmabuf_sg_set_page(
                    sg,
                    seg.page(0),
                    (seg.npages() * PAGE_SIZE) as u32,
                    0,
                );
                sg = bindings::sg_next(sg);
            }
        });

        // SAFETY: `sgt` is a filled, allocated table and `dev` a valid device.
        let ret = unsafe {
            bindings::dma_map_sgtable(as_raw(dev), sgt, dir.into(), DMA_ATTR_SKIP_CPU_SYNC)
        };
        if let Err(e) = to_result(ret) {
            // SAFETY: Allocated above and not mapped.
            unsafe { bindings::sg_free_table(sgt) };
            return Err(e);
        }
        // INVARIANT: Allocated and mapped above.
        Ok(Self { inner })
    }

    /// Returns the number of entries (segments) in the table.
    pub(crate) fn segment_count(&self) -> u32 {
        // SAFETY: By the type invariant the table is allocated.
        unsafe { (*self.inner.sgt.get()).orig_nents }
    }

    /// Syncs the table for CPU access in direction `dir`.
    pub(crate) fn sync_for_cpu(&self, dir: DataDirection) {
        // SAFETY: By the type invariant the table is mapped for `dev`.
        unsafe {
            bindings::rdmabuf_dma_sync_sgtable_for_cpu(
                as_raw(&self.inner.dev),
                self.inner.sgt.get(),
                dir.into(),
            )
        };
    }

    /// Syncs the table for device access in direction `dir`.
    pub(crate) fn sync_for_device(&self, dir: DataDirection) {
        // SAFETY: By the type invariant the table is mapped for `dev`.
        unsafe {
            bindings::rdmabuf_dma_sync_sgtable_for_device(
                as_raw(&self.inner.dev),
                self.inner.sgt.get(),
                dir.into(),
            )
        };
    }

    /// Returns whether `self` and `other` are handles of the same table.
    pub(crate) fn same(&self, other: &MappedSgTable) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    /// Hands a handle to C (as the return value of `map_dma_buf`).
    pub(super) fn into_raw(self) -> *mut bindings::sg_table {
        let inner = Arc::into_raw(self.inner);
        // SAFETY: `inner` is valid; `sgt` is its first field.
        unsafe { (*inner).sgt.get() }
    }

    /// Takes back a table handed out by [`MappedSgTable::into_raw`].
    ///
    /// # Safety
    ///
    /// `sgt` must come from `into_raw` and not have been taken back yet.
    pub(super) unsafe fn from_raw(sgt: *mut bindings::sg_table) -> Self {
        // CAST: `Inner` is `repr(C)` with the `sg_table` (transparent in
        // `Opaque`) as its first field.
        let inner = sgt.cast::<Inner>();
        // SAFETY: By the safety requirements `inner` came from `Arc::into_raw`.
        let inner = unsafe { Arc::from_raw(inner) };
        Self { inner }
    }
}

// SAFETY: The table may be synced, unmapped and freed from any thread.
unsafe impl Send for Inner {}
// SAFETY: Shared access only syncs, which the DMA API allows concurrently.
unsafe impl Sync for Inner {}

// Unmapping lives in `Inner` so that `into_raw` can move the box out.
impl Drop for Inner {
    fn drop(&mut self) {
        let sgt = self.sgt.get();
        // SAFETY: By the invariant of `MappedSgTable`, which is the only
        // owner of an `Inner`, the table is allocated and mapped for `dev`
        // in `dir` with the same attributes.
        unsafe {
            bindings::dma_unmap_sgtable(
                as_raw(&self.dev),
                sgt,
                self.dir.into(),
                DMA_ATTR_SKIP_CPU_SYNC,
            );
            bindings::sg_free_table(sgt);
        }
    }
}

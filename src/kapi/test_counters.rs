// SPDX-License-Identifier: GPL-2.0

//! Test-only counters that KUnit cases read to check kapi's ordering rules,
//! and the flags by which cases inject faults.
//!
//! Compiled only with `CONFIG_KUNIT`. They depend on nothing else in kapi,
//! so the modules that count into them import no one that imports them
//! back. A kernel with KUnit built in runs the suites at module load, while
//! users may already be using the modules: a flag that changes behaviour
//! names the dma-buf it applies to (the case's own), never a user's.

use crate::kapi::kernel::sync::atomic::{
    Atomic,
    Relaxed, //
};

static LIVE_DMA_MAPPINGS: Atomic<usize> = Atomic::new(0);
/// The dma-buf (its address) whose importers' mappings CPU access leaves
/// unsynced, 0 for none.
static SKIP_IMPORTER_SYNCS_OF: Atomic<usize> = Atomic::new(0);
/// The dma-buf whose next kernel mapping fails, 0 for none.
static FAIL_NEXT_VMAP_OF: Atomic<usize> = Atomic::new(0);
/// The dma-buf whose next kernel mapping fails to allocate its page array.
static FAIL_NEXT_VMAP_ARRAY_OF: Atomic<usize> = Atomic::new(0);
#[cfg(kapi_udmabuf)]
static UNPINS: Atomic<usize> = Atomic::new(0);
#[cfg(kapi_udmabuf)]
static UNPINS_UNDER_A_DMA_MAPPING: Atomic<usize> = Atomic::new(0);

/// An sg table was mapped for DMA.
pub(super) fn dma_mapped() {
    LIVE_DMA_MAPPINGS.fetch_add(1, Relaxed);
}

/// An sg table was unmapped.
pub(super) fn dma_unmapped() {
    LIVE_DMA_MAPPINGS.fetch_sub(1, Relaxed);
}

/// Returns the tables mapped for DMA and not yet unmapped, in this module.
pub(crate) fn live_dma_mappings() -> usize {
    LIVE_DMA_MAPPINGS.load(Relaxed)
}

/// `folios` folios are being unpinned in one `unpin_folios()` call. Counted
/// per call, not per folio: the benchmark's kernel has KUnit built in, and
/// a per-folio count cost measurably on every release.
#[cfg(kapi_udmabuf)]
pub(super) fn unpinning(folios: usize) {
    UNPINS.fetch_add(folios, Relaxed);
    if live_dma_mappings() > 0 {
        UNPINS_UNDER_A_DMA_MAPPING.fetch_add(folios, Relaxed);
    }
}

/// Returns (folios unpinned, of which under a live DMA mapping) so far.
#[cfg(kapi_udmabuf)]
pub(crate) fn unpins() -> (usize, usize) {
    (
        UNPINS.load(Relaxed),
        UNPINS_UNDER_A_DMA_MAPPING.load(Relaxed),
    )
}

/// Makes begin/end_cpu_access of the dma-buf at `dmabuf` sync none of its
/// importers' mappings (0: of no dma-buf), as 7.3's udmabuf does (it syncs
/// only its own table): for a case to show what those semantics miss. Only
/// that buffer is affected, never a user's.
pub(super) fn skip_importer_syncs_of(dmabuf: usize) {
    SKIP_IMPORTER_SYNCS_OF.store(dmabuf, Relaxed);
}

/// Returns whether the importers' mappings of the dma-buf at `dmabuf` are
/// left unsynced.
pub(super) fn importer_syncs_skipped(dmabuf: usize) -> bool {
    dmabuf != 0 && SKIP_IMPORTER_SYNCS_OF.load(Relaxed) == dmabuf
}

/// Makes the next kernel mapping of the dma-buf at `dmabuf` fail: in
/// `vm_map_ram` if `in_vm_map_ram`, else allocating its page array.
pub(super) fn fail_next_vmap_of(dmabuf: usize, in_vm_map_ram: bool) {
    if in_vm_map_ram {
        FAIL_NEXT_VMAP_OF.store(dmabuf, Relaxed);
    } else {
        FAIL_NEXT_VMAP_ARRAY_OF.store(dmabuf, Relaxed);
    }
}

/// Returns whether this kernel mapping of the dma-buf at `dmabuf` fails in
/// `vm_map_ram` (`in_vm_map_ram`) or allocating its page array, and disarms
/// that failure.
pub(super) fn vmap_fails(dmabuf: usize, in_vm_map_ram: bool) -> bool {
    let armed = if in_vm_map_ram {
        &FAIL_NEXT_VMAP_OF
    } else {
        &FAIL_NEXT_VMAP_ARRAY_OF
    };
    dmabuf != 0 && armed.cmpxchg(dmabuf, 0, Relaxed).is_ok()
}

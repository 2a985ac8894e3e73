// SPDX-License-Identifier: GPL-2.0

//! Test-only counters that KUnit cases read to check kapi's ordering rules.
//!
//! Compiled only with `CONFIG_KUNIT`. They depend on nothing else in kapi,
//! so the modules that count into them import no one that imports them
//! back.

use kernel::sync::atomic::{
    Atomic,
    Relaxed, //
};

static LIVE_DMA_MAPPINGS: Atomic<usize> = Atomic::new(0);
static SKIP_IMPORTER_SYNCS: Atomic<bool> = Atomic::new(false);
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

/// Makes begin/end_cpu_access sync no importer's mapping while `skip`, as
/// 7.3's udmabuf does (it syncs only its own table): for a case to show
/// what those semantics miss.
#[cfg(kapi_udmabuf)]
pub(crate) fn skip_importer_syncs(skip: bool) {
    SKIP_IMPORTER_SYNCS.store(skip, Relaxed);
}

/// Returns whether importers' mappings are left unsynced.
pub(super) fn importer_syncs_skipped() -> bool {
    SKIP_IMPORTER_SYNCS.load(Relaxed)
}

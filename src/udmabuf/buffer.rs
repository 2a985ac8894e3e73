// SPDX-License-Identifier: GPL-2.0

//! A udmabuf: pinned memfd folios exported as a dma-buf.

use core::ffi::c_void;

use kernel::device::Device;
use kernel::dma::DataDirection;
use kernel::new_mutex;
use kernel::prelude::*;
use kernel::sync::aref::ARef;
use kernel::sync::Mutex;

use crate::folio_table::FolioTable;
use crate::kapi::dma_buf::Exporter;
use crate::kapi::folio::{
    PhysRun,
    PinnedFolio, //
};
use crate::kapi::sg_table::{
    MappedSgTable,
    Segments, //
};
use crate::kapi::vmap::VmapSlot;
use crate::stats;

/// The state behind one exported udmabuf.
#[pin_data(PinnedDrop)]
pub(crate) struct Udmabuf {
    /// The pinned folios, released when the buffer is.
    table: FolioTable<PinnedFolio>,
    /// The misc device, for the buffer's own CPU-access sg table.
    dev: ARef<Device>,
    /// As upstream: made for the misc device on the first begin_cpu_access
    /// and kept until release.
    #[pin]
    cpu_sgt: Mutex<Option<MappedSgTable>>,
    /// The kernel mapping between vmap and vunmap.
    #[pin]
    vmapping: VmapSlot,
}

impl Udmabuf {
    /// Wraps a filled table; the buffer is accounted in the stats from when
    /// it exists until it is dropped.
    pub(crate) fn new(table: FolioTable<PinnedFolio>, dev: &Device) -> impl PinInit<Self, Error> {
        let dev: ARef<Device> = dev.into();
        try_pin_init!(Self {
            table,
            dev,
            cpu_sgt <- new_mutex!(None),
            vmapping <- VmapSlot::new(),
        })
        .pin_chain(|this| {
            stats::buffer_created(&this.table, size_of::<Self>());
            Ok(())
        })
    }

    /// Returns the buffer's pages from `pgoff` on as physical runs.
    fn phys_runs_from(&self, pgoff: usize) -> impl Iterator<Item = PhysRun<'_>> + Clone {
        self.table
            .runs_from(pgoff)
            .filter_map(|(folio, first, len)| folio.run(first, len))
    }

    /// Builds an sg table for `dev`, one entry per contiguous segment.
    fn sg_table(&self, dev: &Device, dir: DataDirection) -> Result<MappedSgTable> {
        let sgt = MappedSgTable::new(dev, dir, self.phys_runs_from(0), Segments::Merged)?;
        stats::sg_table_built(sgt.segment_count());
        Ok(sgt)
    }
}

#[pinned_drop]
impl PinnedDrop for Udmabuf {
    fn drop(self: Pin<&mut Self>) {
        // The pins go with the table, the sg table and mapping with theirs.
        stats::buffer_released(&self.table, size_of::<Self>());
    }
}

impl Exporter for Udmabuf {
    fn pfn_at(&self, pgoff: usize) -> Option<usize> {
        let (folio, index) = self.table.lookup(pgoff)?;
        folio.run(index, 1).map(|run| run.pfn())
    }

    fn runs_from(&self, pgoff: usize) -> impl Iterator<Item = PhysRun<'_>> {
        self.phys_runs_from(pgoff)
    }

    fn map(&self, dev: &Device, dir: DataDirection) -> Result<MappedSgTable> {
        self.sg_table(dev, dir)
    }

    fn vmap(&self) -> Result<*mut c_void> {
        self.vmapping
            .map(self.phys_runs_from(0), self.table.page_count())
    }

    fn vunmap(&self, addr: *mut c_void) {
        self.vmapping.unmap(addr);
    }

    fn begin_cpu_access(&self, dir: DataDirection) -> Result {
        let mut cpu_sgt = self.cpu_sgt.lock();
        let sgt = match cpu_sgt.take() {
            Some(sgt) => sgt,
            None => self.sg_table(&self.dev, dir)?,
        };
        sgt.sync_for_cpu(dir);
        *cpu_sgt = Some(sgt);
        Ok(())
    }

    fn end_cpu_access(&self, dir: DataDirection) -> Result {
        let cpu_sgt = self.cpu_sgt.lock();
        let sgt = cpu_sgt.as_ref().ok_or(EINVAL)?;
        sgt.sync_for_device(dir);
        Ok(())
    }
}

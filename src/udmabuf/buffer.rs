// SPDX-License-Identifier: GPL-2.0

//! A udmabuf: pinned memfd folios exported as a dma-buf.

use kernel::device::Device;
use kernel::dma::DataDirection;
use kernel::new_mutex;
use kernel::prelude::*;
use kernel::sync::aref::ARef;
use kernel::sync::Mutex;

use crate::folio_table::FolioTable;
use crate::kapi::dma_buf::{
    Buffer,
    Exporter,
    Mmap,
    SgMapping, //
};
use crate::kapi::folio::{
    BufferPages,
    FolioStretch,
    PhysRun,
    PinnedFolio, //
};
use crate::kapi::sg_table::{
    CpuSync,
    Segments, //
};
use crate::stats;

/// The pinned folios of a udmabuf are its pages.
impl BufferPages for FolioTable<PinnedFolio> {
    fn runs_from(&self, pgoff: usize) -> impl Iterator<Item = PhysRun<'_>> + Clone {
        FolioTable::runs_from(self, pgoff).filter_map(|(folio, first, len)| folio.run(first, len))
    }

    fn page_count(&self) -> usize {
        FolioTable::page_count(self)
    }

    fn folio_stretches_from(&self, pgoff: usize) -> impl Iterator<Item = FolioStretch<'_>> {
        // The table's segments are such stretches, so `new` never fails on
        // one; stopping there leaves the rest to page faults.
        self.segments_from(pgoff)
            .map_while(|(folios, order, first, pages)| {
                FolioStretch::new(folios, order, first, pages)
            })
    }
}

/// The state behind one exported udmabuf: one allocation, shared by the
/// dma-buf and the sg tables mapped from it.
#[pin_data(PinnedDrop)]
pub(crate) struct Udmabuf {
    /// As upstream: made for the misc device on the first begin_cpu_access
    /// and kept until release, which drops it, so that, as upstream, it is
    /// unmapped before the pins go.
    #[pin]
    cpu_sgt: Mutex<Option<SgMapping<Udmabuf>>>,
    /// The pinned folios, released when the buffer and every mapping of it
    /// are gone.
    pages: FolioTable<PinnedFolio>,
    /// The misc device, for the buffer's own CPU-access sg table.
    dev: ARef<Device>,
}

impl Udmabuf {
    /// Wraps a filled table; the buffer is accounted in the stats from when
    /// it exists until it is dropped.
    pub(crate) fn new(table: FolioTable<PinnedFolio>, dev: &Device) -> impl PinInit<Self, Error> {
        let dev: ARef<Device> = dev.into();
        try_pin_init!(Self {
            cpu_sgt <- new_mutex!(None),
            pages: table,
            dev,
        })
        .pin_chain(|this| {
            stats::buffer_created(&this.pages, size_of::<Self>());
            Ok(())
        })
    }

    /// Builds an sg table for `dev`, one entry per contiguous segment. As
    /// upstream, the map and unmap do not sync: begin/end_cpu_access do.
    fn sg_table(
        this: &Buffer<'_, Self>,
        dev: &Device,
        dir: DataDirection,
    ) -> Result<SgMapping<Self>> {
        let sgt = this.sg_table(dev, dir, Segments::Merged, CpuSync::Explicit)?;
        stats::sg_table_built(sgt.segment_count());
        Ok(sgt)
    }
}

#[pinned_drop]
impl PinnedDrop for Udmabuf {
    fn drop(self: Pin<&mut Self>) {
        stats::buffer_released(&self.pages, size_of::<Self>());
    }
}

#[vtable]
impl Exporter for Udmabuf {
    type Pages = FolioTable<PinnedFolio>;
    const MMAP: Mmap = Mmap::OnFault;
    // Upstream's vmap_udmabuf() turns a failed vm_map_ram() into EINVAL.
    const VMAP_ERROR: Error = EINVAL;

    fn pages(&self) -> &Self::Pages {
        &self.pages
    }

    fn map(this: Buffer<'_, Self>, dev: &Device, dir: DataDirection) -> Result<SgMapping<Self>> {
        Self::sg_table(&this, dev, dir)
    }

    fn begin_cpu_access(this: Buffer<'_, Self>, dir: DataDirection) -> Result {
        let mut cpu_sgt = this.cpu_sgt.lock();
        let sgt = match cpu_sgt.take() {
            Some(sgt) => sgt,
            None => Self::sg_table(&this, &this.dev, dir)?,
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

    /// Unmaps the CPU-access table, which holds the buffer (and its pins)
    /// while it is mapped.
    fn release(&self) {
        let cpu_sgt = self.cpu_sgt.lock().take();
        drop(cpu_sgt);
    }
}

// SPDX-License-Identifier: GPL-2.0

//! A udmabuf: pinned memfd folios exported as a dma-buf.

use kernel::device::Device;
use kernel::dma::DataDirection;
use kernel::new_mutex;
use kernel::prelude::*;
use kernel::sync::aref::ARef;
use kernel::sync::{
    Arc,
    Mutex, //
};

use crate::folio_table::FolioTable;
use crate::kapi::dma_buf::{
    Exporter,
    Mmap, //
};
use crate::kapi::folio::{
    BufferPages,
    FolioStretch,
    PhysRun,
    PinnedFolio, //
};
use crate::kapi::sg_table::{
    CpuSync,
    MappedSgTable,
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

/// The state behind one exported udmabuf.
#[pin_data(PinnedDrop)]
pub(crate) struct Udmabuf {
    /// As upstream: made for the misc device on the first begin_cpu_access
    /// and kept until release. Declared first, so that, as upstream, it is
    /// unmapped before the pins go (it holds the pages alive anyway).
    #[pin]
    cpu_sgt: Mutex<Option<MappedSgTable<FolioTable<PinnedFolio>>>>,
    /// The pinned folios, released when the buffer and every mapping of it
    /// are gone.
    pages: Arc<FolioTable<PinnedFolio>>,
    /// The misc device, for the buffer's own CPU-access sg table.
    dev: ARef<Device>,
}

impl Udmabuf {
    /// Wraps a filled table; the buffer is accounted in the stats from when
    /// it exists until it is dropped.
    pub(crate) fn new(table: FolioTable<PinnedFolio>, dev: &Device) -> impl PinInit<Self, Error> {
        let dev: ARef<Device> = dev.into();
        let pages = Arc::new(table, GFP_KERNEL);
        try_pin_init!(Self {
            cpu_sgt <- new_mutex!(None),
            pages: pages?,
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
        &self,
        dev: &Device,
        dir: DataDirection,
    ) -> Result<MappedSgTable<FolioTable<PinnedFolio>>> {
        let sgt = MappedSgTable::new(
            self.pages.clone(),
            dev,
            dir,
            Segments::Merged,
            CpuSync::Explicit,
        )?;
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

    fn pages(&self) -> &Arc<Self::Pages> {
        &self.pages
    }

    fn map(&self, dev: &Device, dir: DataDirection) -> Result<MappedSgTable<Self::Pages>> {
        self.sg_table(dev, dir)
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

// SPDX-License-Identifier: GPL-2.0

//! A heap buffer: blocks of 1 MiB, 64 KiB and 4 KiB exported as a dma-buf.

use core::ffi::c_void;

use kernel::device::Device;
use kernel::dma::DataDirection;
use kernel::new_mutex;
use kernel::prelude::*;
use kernel::sync::{
    Arc,
    Mutex, //
};

use crate::kapi::dma_buf::Exporter;
use crate::kapi::folio::PhysRun;
use crate::kapi::pages::PageList;
use crate::kapi::sg_table::{
    MappedSgTable,
    Segments, //
};
use crate::kapi::vmap::VmapSlot;
use crate::pool::Heap;

/// The state behind one heap dma-buf.
#[pin_data(PinnedDrop)]
pub(crate) struct HeapBuffer {
    heap: Arc<Heap>,
    /// The buffer's blocks, largest first, one sg entry each.
    #[pin]
    blocks: PageList,
    /// Charged to a memory cgroup: bypasses the pools on release.
    accounted: bool,
    /// The tables importers have mapped, synced by begin/end_cpu_access as
    /// upstream syncs its mapped attachments.
    #[pin]
    mapped: Mutex<KVec<MappedSgTable>>,
    #[pin]
    vmapping: VmapSlot,
}

impl HeapBuffer {
    /// Creates a buffer that takes over `blocks`.
    pub(crate) fn new(
        heap: Arc<Heap>,
        blocks: Pin<&mut PageList>,
        accounted: bool,
    ) -> impl PinInit<Self, Error> + '_ {
        try_pin_init!(Self {
            heap,
            blocks <- PageList::new(),
            accounted,
            mapped <- new_mutex!(KVec::new()),
            vmapping <- VmapSlot::new(),
        })
        .pin_chain(move |this| {
            this.project().blocks.append(blocks);
            Ok(())
        })
    }

    fn page_count(&self) -> usize {
        self.blocks.pages()
    }
}

#[pinned_drop]
impl PinnedDrop for HeapBuffer {
    fn drop(self: Pin<&mut Self>) {
        let this = self.project();
        if *this.accounted {
            // Freed now, uncharging the cgroup; never pooled.
            return;
        }
        Heap::defer_free(this.heap, this.blocks);
    }
}

impl Exporter for HeapBuffer {
    const REMAP_AT_MMAP: bool = true;

    fn runs_from(&self, pgoff: usize) -> impl Iterator<Item = PhysRun<'_>> {
        let mut skip = pgoff;
        self.blocks.runs().filter_map(move |run| {
            if skip >= run.npages() {
                skip -= run.npages();
                return None;
            }
            let part = run.slice(skip, run.npages() - skip);
            skip = 0;
            part
        })
    }

    fn map(&self, dev: &Device, dir: DataDirection) -> Result<MappedSgTable> {
        let sgt = MappedSgTable::new(dev, dir, self.blocks.runs(), Segments::PerRun)?;
        self.mapped.lock().push(sgt.clone(), GFP_KERNEL)?;
        Ok(sgt)
    }

    fn unmap(&self, sgt: MappedSgTable) {
        self.mapped.lock().retain(|m| !m.same(&sgt));
    }

    fn vmap(&self) -> Result<*mut c_void> {
        self.vmapping.map(self.blocks.runs(), self.page_count())
    }

    fn vunmap(&self, addr: *mut c_void) {
        self.vmapping.unmap(addr);
    }

    fn begin_cpu_access(&self, dir: DataDirection) -> Result {
        for sgt in self.mapped.lock().iter() {
            sgt.sync_for_cpu(dir);
        }
        Ok(())
    }

    fn end_cpu_access(&self, dir: DataDirection) -> Result {
        for sgt in self.mapped.lock().iter() {
            sgt.sync_for_device(dir);
        }
        Ok(())
    }
}

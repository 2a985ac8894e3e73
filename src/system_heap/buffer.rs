// SPDX-License-Identifier: GPL-2.0

//! A heap buffer: blocks of 1 MiB, 64 KiB and 4 KiB exported as a dma-buf.

use kernel::prelude::*;
use kernel::sync::Arc;

use crate::heap::Heap;
use crate::kapi::buffer_pages::BufferPages;
use crate::kapi::dma_buf::{
    Exporter,
    Mmap, //
};
use crate::kapi::page_run::PhysRun;
use crate::kapi::pages::PageList;
use crate::kapi::sg_table::{
    CpuSync,
    Segments, //
};

/// The blocks of a heap buffer. They go back to the heap (or, charged to a
/// memory cgroup, to the system) when the buffer and every mapping of them
/// are gone.
#[pin_data(PinnedDrop)]
pub(crate) struct HeapPages {
    heap: Arc<Heap>,
    /// The buffer's blocks, largest first, one sg entry each.
    #[pin]
    blocks: PageList,
    /// Charged to a memory cgroup: bypasses the pools on release.
    accounted: bool,
}

#[pinned_drop]
impl PinnedDrop for HeapPages {
    fn drop(self: Pin<&mut Self>) {
        let this = self.project();
        if *this.accounted {
            // Freed now, uncharging the cgroup; never pooled.
            return;
        }
        Heap::defer_free(this.heap, this.blocks);
    }
}

impl HeapPages {
    /// No blocks yet: [`SystemHeap`](crate::allocate::SystemHeap) fills
    /// them in place before the buffer is shared.
    fn new(heap: Arc<Heap>, accounted: bool) -> impl PinInit<Self> {
        pin_init!(Self {
            heap,
            blocks <- PageList::new(),
            accounted,
        })
    }

    /// The blocks, to fill.
    fn blocks(self: Pin<&mut Self>) -> Pin<&mut PageList> {
        self.project().blocks
    }
}

impl BufferPages for HeapPages {
    fn runs_from(&self, pgoff: usize) -> impl Iterator<Item = PhysRun<'_>> + Clone {
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

    fn page_count(&self) -> usize {
        self.blocks.pages()
    }
}

/// The state behind one heap dma-buf: its pages. One allocation, shared by
/// the dma-buf and the tables importers map (which kapi syncs in
/// begin/end_cpu_access, as upstream syncs its mapped attachments).
#[pin_data]
pub(crate) struct HeapBuffer {
    #[pin]
    pages: HeapPages,
}

impl HeapBuffer {
    /// Creates a buffer of no pages yet, which go back to `heap`, or to the
    /// system if `accounted`.
    pub(crate) fn new(heap: Arc<Heap>, accounted: bool) -> impl PinInit<Self, Error> {
        try_pin_init!(Self {
            pages <- HeapPages::new(heap, accounted),
        })
    }

    /// The blocks, to fill before the buffer is exported.
    pub(crate) fn blocks(self: Pin<&mut Self>) -> Pin<&mut PageList> {
        self.project().pages.blocks()
    }
}

impl Exporter for HeapBuffer {
    type Pages = HeapPages;
    const MMAP: Mmap = Mmap::AtMmap;
    /// One entry per block.
    const SEGMENTS: Segments = Segments::PerRun;
    /// As upstream, the map and unmap sync for the CPU (attributes 0):
    /// under bouncing, what the device wrote reaches the pages at unmap.
    const CPU_SYNC: CpuSync = CpuSync::OnMapAndUnmap;

    fn pages(&self) -> &HeapPages {
        &self.pages
    }
}

// SPDX-License-Identifier: GPL-2.0

//! `DMA_HEAP_IOCTL_ALLOC`: building a buffer from pooled or fresh blocks.

use kernel::page::PAGE_SIZE;
use kernel::prelude::*;
use kernel::sync::Arc;

use crate::buffer::HeapBuffer;
use crate::kapi::dma_buf::DmaBuf;
use crate::kapi::dma_heap::{
    self,
    HeapAllocator, //
};
use crate::kapi::pages::PageList;
use crate::kapi::task;
use crate::orders::{
    candidates,
    ORDERS, //
};
use crate::pool::Heap;

/// The allocator registered with the dma-heap core.
pub(crate) struct SystemHeap {
    pub(crate) heap: Arc<Heap>,
    pub(crate) name: &'static CStr,
}

impl SystemHeap {
    /// Fills `blocks` with `len` bytes of zeroed chunks, largest first, the
    /// order never growing; upstream's loop with the pools in front.
    fn fill(&self, mut blocks: Pin<&mut PageList>, len: usize, account: bool) -> Result {
        let mut remaining = len;
        let mut max_order = ORDERS[0];
        while remaining > 0 {
            // Do not allocate for a task that is being killed.
            if task::fatal_signal_pending() {
                return Err(EINTR);
            }
            let block = candidates(remaining, max_order)
                .find_map(|index| self.heap.take(index, account))
                .ok_or(ENOMEM)?;
            remaining = remaining.saturating_sub(block.nr_pages() * PAGE_SIZE);
            max_order = block.order();
            blocks.as_mut().push(block);
        }
        Ok(())
    }
}

impl HeapAllocator for SystemHeap {
    fn allocate(&self, len: usize, fd_flags: u32, _heap_flags: u64) -> Result<DmaBuf> {
        let account = dma_heap::mem_accounting();
        let mut blocks = KBox::pin_init(PageList::new(), GFP_KERNEL)?;
        let buffer = self.fill(blocks.as_mut(), len, account).and_then(|()| {
            KBox::pin_init(
                HeapBuffer::new(self.heap.clone(), blocks.as_mut(), account),
                GFP_KERNEL,
            )
        });
        let buffer = match buffer {
            Ok(buffer) => buffer,
            Err(e) => {
                // Nothing left the heap: the chunks are still zero.
                if !account {
                    self.heap.put_all_zeroed(blocks.as_mut());
                }
                return Err(e);
            }
        };
        DmaBuf::export(buffer, len, fd_flags, self.name)
    }
}

#[kunit_tests(rsystem_heap_dma_buf)]
mod tests {
    use super::*;
    use crate::kapi::device::TestImporter;
    use kernel::dma::DataDirection;

    fn pool_cap() -> usize {
        1024
    }

    #[test]
    fn importer_maps_one_entry_per_chunk() -> Result {
        let importer = TestImporter::new(c"rsystem_heap-kunit")?;
        let dev = importer.dev();

        let heap = Arc::pin_init(Heap::new(pool_cap), GFP_KERNEL)?;
        let system = SystemHeap {
            heap: heap.clone(),
            name: c"kunit",
        };
        // 1 MiB + 64 KiB + 4 KiB: one chunk of each order, largest first.
        let len = (256 + 16 + 1) * PAGE_SIZE;
        let dmabuf = system.allocate(len, 0o2, 0)?;
        let attach = dmabuf.attach(dev)?;
        let segments = attach.map_segments(DataDirection::Bidirectional)?;
        assert_eq!(segments.len(), 3);
        assert_eq!(segments[0].1, 256 * PAGE_SIZE);
        assert_eq!(segments[1].1, 16 * PAGE_SIZE);
        assert_eq!(segments[2].1, PAGE_SIZE);
        // CPU access syncs the mapped attachments.
        dmabuf.begin_cpu_access(DataDirection::FromDevice)?;
        dmabuf.end_cpu_access(DataDirection::FromDevice)?;
        // The pools were empty: three chunks came from the buddy allocator.
        // (Release happens later: the final fput of a kernel thread is
        // deferred; the buffer keeps the heap alive until then.)
        assert_eq!(heap.from_buddy.load(kernel::sync::atomic::Relaxed), 3);
        Ok(())
    }
}

// SPDX-License-Identifier: GPL-2.0

//! `DMA_HEAP_IOCTL_ALLOC`: building a buffer from pooled or fresh blocks.

use kernel::page::PAGE_SIZE;
use kernel::prelude::*;
use kernel::sync::Arc;

use crate::buffer::HeapBuffer;
use crate::heap::Heap;
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

/// The allocator registered with the dma-heap core.
pub(crate) struct SystemHeap {
    pub(crate) heap: Arc<Heap>,
    pub(crate) name: &'static CStr,
    /// The dma-heap core's `mem_accounting`, read once: the parameter is
    /// read-only (0444), so it is fixed from boot.
    account: bool,
}

impl SystemHeap {
    /// The allocator of `heap`, exported as `name`.
    pub(crate) fn new(heap: Arc<Heap>, name: &'static CStr) -> Self {
        Self {
            heap,
            name,
            account: dma_heap::mem_accounting(),
        }
    }

    /// Fills `blocks` with `len` bytes of zeroed chunks, largest first, the
    /// order never growing; upstream's loop with the pools in front.
    fn fill(&self, mut blocks: Pin<&mut PageList>, len: usize) -> Result {
        let mut remaining = len;
        let mut max_order = ORDERS[0];
        while remaining > 0 {
            // Do not allocate for a task that is being killed.
            if task::fatal_signal_pending() {
                return Err(EINTR);
            }
            let block = candidates(remaining, max_order)
                .find_map(|index| self.heap.take(index, self.account))
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
        // Filled in place: one allocation for the buffer, its pages and
        // their list.
        let buffer = HeapBuffer::new(self.heap.clone(), self.account).pin_chain(|buffer| {
            let mut blocks = buffer.blocks();
            self.fill(blocks.as_mut(), len).inspect_err(|_| {
                // Nothing left the heap: the chunks are still zero. (Charged
                // chunks are freed with the buffer.)
                if !self.account {
                    self.heap.put_all_zeroed(blocks);
                }
            })
        });
        DmaBuf::export(buffer, fd_flags, self.name)
    }
}

#[kunit_tests(rsystem_heap_dma_buf)]
mod tests {
    use super::*;
    use crate::kapi::device::TestImporter;
    use crate::kapi::dma_buf::DmaSegment;
    use kernel::dma::DataDirection;

    fn pool_cap() -> usize {
        1024
    }

    /// What an importer sees of a heap buffer of one chunk of each order.
    struct Chunks {
        segments: KVec<DmaSegment>,
        /// The page numbers the CPU wrote, as the device reads them.
        numbers: KVec<u32>,
        /// Whether the mapping bounces (then DMA addresses are slots').
        bounces: bool,
        chunks_from_buddy: usize,
    }

    /// Allocates one chunk of each order, largest first (1 MiB + 64 KiB +
    /// 4 KiB with 4 KiB pages, 4 MiB + 256 KiB + 16 KiB with 16 KiB pages),
    /// and maps it for an importer able to address all memory. Everything
    /// is released (but for the deferred final fput) before the caller
    /// asserts.
    fn import_chunks() -> Result<Chunks> {
        let importer = TestImporter::new(c"rsystem_heap-kunit-chunks", 64)?;
        let dev = importer.dev();
        let heap = Arc::pin_init(Heap::new(pool_cap), GFP_KERNEL)?;
        let system = SystemHeap::new(heap.clone(), c"kunit");
        let dmabuf = system.allocate((256 + 16 + 1) * PAGE_SIZE, 0o2, 0)?;
        dmabuf.vmap_number_pages()?;
        let attach = dmabuf.attach(dev)?;
        let segments = attach.map_segments(DataDirection::Bidirectional)?;
        // As upstream, the map syncs for the device.
        let numbers = attach.map(DataDirection::ToDevice)?.device_page_numbers()?;
        // CPU access syncs the mapped attachments.
        dmabuf.begin_cpu_access(DataDirection::FromDevice)?;
        dmabuf.end_cpu_access(DataDirection::FromDevice)?;
        Ok(Chunks {
            segments,
            numbers,
            bounces: importer.bounces(),
            chunks_from_buddy: heap.chunks_from_buddy(),
        })
    }

    #[test]
    fn importer_maps_each_chunk_within_the_segment_limit() -> Result {
        let seen = import_chunks()?;
        let segments = &seen.segments;
        // As upstream, one entry per chunk, except that a chunk larger than
        // the device's maximum segment (64 KiB without dma_parms) is split
        // as the DMA API requires, in chunk order: 16 + 1 + 1 entries with
        // 4 KiB pages, 64 + 4 + 1 with 16 KiB pages.
        let seg_pages = (64 * 1024 / PAGE_SIZE).max(1);
        let first_chunk = 256 / seg_pages;
        let last = first_chunk + 16 / seg_pages;
        assert_eq!(segments.len(), last + 1);
        assert!(segments[..last]
            .iter()
            .all(|s| s.len == seg_pages * PAGE_SIZE));
        assert_eq!(segments[last].len, PAGE_SIZE);
        // Without bouncing, the first chunk's entries are its consecutive
        // pages.
        assert!(
            seen.bounces
                || segments[..first_chunk]
                    .windows(2)
                    .all(|w| w[1].addr == w[0].addr + (seg_pages * PAGE_SIZE) as u64)
        );
        // The device reads page n's number at page n.
        assert!(seen.numbers.iter().copied().eq(0..(256 + 16 + 1) as u32));
        // The pools were empty: three chunks came from the buddy allocator.
        // (Release happens later: the final fput of a kernel thread is
        // deferred; the buffer keeps the heap alive until then.)
        assert_eq!(seen.chunks_from_buddy, 3);
        Ok(())
    }

    /// A device writes a pattern into a heap buffer and unmaps without
    /// syncing: as upstream, the heap's unmap syncs for the CPU, so under
    /// bouncing the pattern is copied back into the pages (and, on a
    /// non-coherent CPU, the CPU does not read stale cache lines).
    ///
    /// No mask narrower than 32 bits: such a device cannot reach the swiotlb
    /// either, which the DMA layer reports with a WARN (a platform that
    /// cannot work), not an errno.
    fn device_writes_reach_the_pages(name: &'static CStr, mask_bits: u32) -> Result<bool> {
        let importer = TestImporter::new(name, mask_bits)?;
        let heap = Arc::pin_init(Heap::new(pool_cap), GFP_KERNEL)?;
        let system = SystemHeap::new(heap, c"kunit");
        let dmabuf = system.allocate((256 + 16 + 3) * PAGE_SIZE, 0o2, 0)?;
        let attach = dmabuf.attach(importer.dev())?;
        attach.device_writes(DataDirection::FromDevice, 0xa5, false)?;
        dmabuf.vmap_all_equal(0xa5)
    }

    #[test]
    fn device_writes_reach_the_pages_64_bit() -> Result {
        assert!(device_writes_reach_the_pages(
            c"rsystem_heap-kunit-dw64",
            64
        )?);
        Ok(())
    }

    #[test]
    fn device_writes_reach_the_pages_32_bit() -> Result {
        assert!(device_writes_reach_the_pages(
            c"rsystem_heap-kunit-dw32",
            32
        )?);
        Ok(())
    }

    /// The CPU writes a pattern through vmap, and a device that maps the
    /// buffer to read it sees the pattern without syncing itself: as
    /// upstream, the heap's map syncs for the device, which under bouncing
    /// copies the pages into the bounce buffer (and, on a non-coherent CPU,
    /// writes the CPU's cache lines back).
    fn cpu_writes_reach_the_device(name: &'static CStr, mask_bits: u32) -> Result<bool> {
        let importer = TestImporter::new(name, mask_bits)?;
        let heap = Arc::pin_init(Heap::new(pool_cap), GFP_KERNEL)?;
        let system = SystemHeap::new(heap, c"kunit");
        let dmabuf = system.allocate((256 + 16 + 3) * PAGE_SIZE, 0o2, 0)?;
        dmabuf.vmap_fill(0x3c)?;
        let attach = dmabuf.attach(importer.dev())?;
        attach.device_reads(DataDirection::ToDevice, 0x3c, false)
    }

    #[test]
    fn cpu_writes_reach_the_device_64_bit() -> Result {
        assert!(cpu_writes_reach_the_device(c"rsystem_heap-kunit-cw64", 64)?);
        Ok(())
    }

    #[test]
    fn cpu_writes_reach_the_device_32_bit() -> Result {
        assert!(cpu_writes_reach_the_device(c"rsystem_heap-kunit-cw32", 32)?);
        Ok(())
    }

    /// Maps a buffer larger than the swiotlb when mappings bounce: whether
    /// that failed with an errno, or, unbounced, whether it worked.
    /// Everything is released before the caller asserts.
    fn map_past_the_bounce_buffer() -> Result<bool> {
        let importer = TestImporter::new(c"rsystem_heap-kunit-big", 64)?;
        let heap = Arc::pin_init(Heap::new(pool_cap), GFP_KERNEL)?;
        let system = SystemHeap::new(heap, c"kunit");
        let dmabuf = system.allocate(importer.past_the_bounce_buffer(), 0o2, 0)?;
        let attach = dmabuf.attach(importer.dev())?;
        let mapped = attach.device_writes(DataDirection::Bidirectional, 3, false);
        if importer.bounces() {
            return Ok(mapped.is_err());
        }
        Ok(mapped.is_ok() && dmabuf.vmap_all_equal(3)?)
    }

    #[test]
    fn failed_vmap_is_enomem_as_upstream() -> Result {
        let heap = Arc::pin_init(Heap::new(pool_cap), GFP_KERNEL)?;
        let system = SystemHeap::new(heap, c"kunit");
        let dmabuf = system.allocate(16 * PAGE_SIZE, 0o2, 0)?;
        // Upstream's system_heap_vmap() returns ENOMEM when vmap() fails.
        crate::kapi::vmap::fail_next_map();
        assert_eq!(dmabuf.vmap_all_equal(0).err(), Some(ENOMEM));
        // Nothing was left mapped: the next vmap works.
        assert_eq!(dmabuf.vmap_all_equal(0), Ok(true));
        Ok(())
    }

    /// A buffer that was mapped for a device, synced and mapped into the
    /// kernel goes back to the heap when its dma-buf is released: no table
    /// or mapping of it outlives the release, and none holds it.
    #[test]
    fn a_mapped_buffer_goes_back_to_the_heap_on_release() -> Result {
        let importer = TestImporter::new(c"rsystem_heap-kunit-release", 64)?;
        let heap = Arc::pin_init(Heap::new(pool_cap), GFP_KERNEL)?;
        let system = SystemHeap::new(heap.clone(), c"kunit");
        let live = crate::kapi::test_counters::live_dma_mappings();
        let dmabuf = system.allocate((16 + 2) * PAGE_SIZE, 0o2, 0)?;
        {
            let attach = dmabuf.attach(importer.dev())?;
            attach.device_writes(DataDirection::Bidirectional, 7, true)?;
        }
        dmabuf.begin_cpu_access(DataDirection::FromDevice)?;
        dmabuf.end_cpu_access(DataDirection::FromDevice)?;
        assert!(dmabuf.vmap_all_equal(7)?);
        // The heap has no zeroing thread here: released blocks stay queued.
        assert_eq!((heap.queued(), heap.pooled()), (0, 0));
        dmabuf.release_now();
        assert_eq!(heap.queued(), 16 + 2);
        assert_eq!(crate::kapi::test_counters::live_dma_mappings(), live);
        Ok(())
    }

    #[test]
    fn mapping_past_the_bounce_buffer_is_an_errno() -> Result {
        let live = crate::kapi::test_counters::live_dma_mappings();
        assert!(map_past_the_bounce_buffer()?);
        // Every mapping made was undone.
        assert_eq!(crate::kapi::test_counters::live_dma_mappings(), live);
        Ok(())
    }

    /// An importer keeps its mapping while the CPU writes the buffer between
    /// begin and end_cpu_access, then the device writes it and the CPU reads
    /// it between another begin and end: as upstream, begin/end_cpu_access
    /// sync every mapped attachment, so each side sees the other's writes,
    /// bounced or not. The dma-buf's size is that of its pages.
    #[test]
    fn cpu_access_syncs_every_importer_mapping() -> Result {
        let importer = TestImporter::new(c"rsystem_heap-kunit-sync", 32)?;
        let heap = Arc::pin_init(Heap::new(pool_cap), GFP_KERNEL)?;
        let system = SystemHeap::new(heap, c"kunit");
        let dmabuf = system.allocate((16 + 2) * PAGE_SIZE, 0o2, 0)?;
        assert_eq!(dmabuf.size(), (16 + 2) * PAGE_SIZE);
        let attach = dmabuf.attach(importer.dev())?;
        let mapping = attach.map(DataDirection::Bidirectional)?;
        dmabuf.begin_cpu_access(DataDirection::Bidirectional)?;
        dmabuf.vmap_fill(0x11)?;
        dmabuf.end_cpu_access(DataDirection::Bidirectional)?;
        assert!(mapping.device_all_equal(0x11));
        mapping.device_fill(0x22);
        dmabuf.begin_cpu_access(DataDirection::Bidirectional)?;
        assert!(dmabuf.vmap_all_equal(0x22)?);
        dmabuf.end_cpu_access(DataDirection::Bidirectional)?;
        Ok(())
    }
}

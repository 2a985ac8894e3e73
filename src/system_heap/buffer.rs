// SPDX-License-Identifier: GPL-2.0

//! A heap buffer: blocks of 1 MiB, 64 KiB and 4 KiB exported as a dma-buf.

use crate::kapi::kernel::page::PAGE_SIZE;
use crate::kapi::kernel::prelude::*;
use crate::kapi::kernel::sync::Arc;

use crate::heap::{
    Charge,
    Heap, //
};
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
use crate::kapi::task;
use crate::orders::{
    candidates,
    ORDERS, //
};

/// The blocks of a heap buffer. They go back to the heap when the buffer
/// and every mapping of them are gone (those charged to a memory cgroup to
/// that memcg's pool).
pub(crate) struct HeapPages {
    heap: Arc<Heap>,
    /// The buffer's blocks, largest first, one sg entry each.
    blocks: PageList,
}

impl Drop for HeapPages {
    fn drop(&mut self) {
        Heap::defer_free(&self.heap, &mut self.blocks);
    }
}

impl HeapPages {
    /// No blocks yet: [`HeapBuffer::allocate`] fills them in place before
    /// the buffer is shared.
    fn new(heap: Arc<Heap>) -> Self {
        Self {
            heap,
            blocks: PageList::new(),
        }
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
pub(crate) struct HeapBuffer {
    pages: HeapPages,
}

impl HeapBuffer {
    /// Creates a buffer of `len` bytes of zeroed chunks from `heap`, charged
    /// as `charge`, which go back to `heap` when it is gone. Filled in
    /// place: one allocation for the buffer, its pages and their list.
    pub(crate) fn allocate(
        heap: Arc<Heap>,
        len: usize,
        charge: Charge,
    ) -> impl PinInit<Self, Error> {
        try_init!(Self {
            pages: HeapPages::new(heap),
        })
        .chain(move |buffer| {
            let pages = &mut buffer.pages;
            pages.heap.prepare(&charge);
            // On an error the buffer drops, and the chunks taken so far go
            // back as a release's do, through the free queue: once out of
            // the pools they are no longer known zero, so they are zeroed
            // again before they are pooled.
            Self::fill(&pages.heap, &mut pages.blocks, len, &charge)
        })
    }

    /// Fills `blocks` with `len` bytes of zeroed chunks from `heap`, largest
    /// first, the order never growing; upstream's loop with the pools in
    /// front.
    #[link_section = ".text.hot"]
    fn fill(heap: &Heap, blocks: &mut PageList, len: usize, charge: &Charge) -> Result {
        let mut remaining = len;
        let mut max_order = ORDERS[0];
        while remaining > 0 {
            // Do not allocate for a task that is being killed.
            if task::fatal_signal_pending() {
                return Err(EINTR);
            }
            let block = candidates(remaining, max_order)
                .find_map(|index| heap.take(index, charge))
                .ok_or(ENOMEM)?;
            remaining = remaining.saturating_sub(block.nr_pages() * PAGE_SIZE);
            max_order = block.order();
            // Zero until the user writes it.
            blocks.push(block.into_block());
        }
        Ok(())
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

#[cfg(CONFIG_KUNIT = "y")]
mod tests {
    use super::*;
    use crate::kapi::dma_buf::importer::suite::{
        self,
        TestBuffers, //
    };
    use crate::kapi::dma_buf::importer::{
        segment_frames,
        DmaSegment,
        TestImporter, //
    };
    use crate::kapi::dma_buf::DmaBuf;
    use crate::kapi::kernel::device::Device;
    use crate::kapi::kernel::dma::DataDirection;
    use crate::kapi::kunit::{
        assert,
        assert_eq,
        kunit_suite, //
    };

    fn pool_cap() -> usize {
        1024
    }

    /// Per-memcg pools for a test's heap.
    fn kunit_memcg_pools() -> Result<crate::heap::MemcgPools> {
        crate::heap::MemcgPools::new(c"rsystem_heap-kunit-memcg")
    }

    /// `O_RDWR`, as users allocate.
    const O_RDWR: u32 = 0o2;

    /// A buffer of `pages` pages from `heap`, unaccounted.
    fn heap_buffer(heap: &Arc<Heap>, pages: usize) -> Result<DmaBuf> {
        DmaBuf::export(
            HeapBuffer::allocate(heap.clone(), pages * PAGE_SIZE, Charge::Unaccounted),
            O_RDWR,
            c"kunit",
        )
    }

    /// The data-path suite of kapi runs on buffers of a heap of their own
    /// (with no zeroing thread).
    struct HeapBuffers;

    impl TestBuffers for HeapBuffers {
        type Exporter = HeapBuffer;

        fn make(_dev: &Device, pages: usize) -> Result<DmaBuf> {
            heap_buffer(
                &Arc::pin_init(Heap::new(pool_cap, kunit_memcg_pools()?), GFP_KERNEL)?,
                pages,
            )
        }
    }

    /// What an importer sees of a heap buffer of one chunk of each order.
    struct Chunks {
        segments: KVec<DmaSegment>,
        /// The page numbers the CPU wrote, as the device reads them.
        numbers: KVec<u32>,
        /// Without bouncing, whether the first chunk's DMA segments are its
        /// consecutive pages.
        first_chunk_in_order: bool,
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
        let heap = Arc::pin_init(Heap::new(pool_cap, kunit_memcg_pools()?), GFP_KERNEL)?;
        let dmabuf = heap_buffer(&heap, 256 + 16 + 1)?;
        dmabuf.vmap_number_pages()?;
        let attach = dmabuf.attach(dev)?;
        let segments = attach.map_segments(DataDirection::Bidirectional)?;
        // As upstream, the map syncs for the device.
        let numbers = attach.map(DataDirection::ToDevice)?.device_page_numbers()?;
        let frames = segment_frames(&segments)?;
        let first_chunk_in_order = importer.bounces()
            || frames
                .get(..256)
                .is_some_and(|f| f.windows(2).all(|w| w[1] == w[0] + 1));
        // CPU access syncs the mapped attachments.
        dmabuf.begin_cpu_access(DataDirection::FromDevice)?;
        dmabuf.end_cpu_access(DataDirection::FromDevice)?;
        Ok(Chunks {
            segments,
            numbers,
            first_chunk_in_order,
            chunks_from_buddy: heap.chunks_from_buddy(),
        })
    }

    fn importer_maps_each_chunk_within_the_segment_limit() -> Result {
        let seen = import_chunks()?;
        let segments = &seen.segments;
        // As upstream, one entry per chunk, except that a chunk larger than
        // the device's maximum segment (64 KiB without dma_parms) is split
        // as the DMA API requires, in chunk order: 16 + 1 + 1 entries with
        // 4 KiB pages, 64 + 4 + 1 with 16 KiB pages.
        let seg_pages = (64 * 1024 / PAGE_SIZE).max(1);
        let last = 256 / seg_pages + 16 / seg_pages;
        assert_eq!(segments.len(), last + 1);
        assert!(segments[..last]
            .iter()
            .all(|s| s.len == seg_pages * PAGE_SIZE));
        assert_eq!(segments[last].len, PAGE_SIZE);
        assert!(seen.first_chunk_in_order);
        // The device reads page n's number at page n.
        assert!(seen.numbers.iter().copied().eq(0..(256 + 16 + 1) as u32));
        // The pools were empty: three chunks came from the buddy allocator.
        // (Release happens later: the final fput of a kernel thread is
        // deferred; the buffer keeps the heap alive until then.)
        assert_eq!(seen.chunks_from_buddy, 3);
        Ok(())
    }

    /// As upstream, the heap's unmap syncs for the CPU: the importer does
    /// not sync.
    fn device_writes_reach_the_pages_64_bit() -> Result {
        assert!(suite::device_writes_reach_the_pages::<HeapBuffers>(
            c"rsystem_heap-kunit-dw64",
            64
        )?);
        Ok(())
    }

    fn device_writes_reach_the_pages_32_bit() -> Result {
        assert!(suite::device_writes_reach_the_pages::<HeapBuffers>(
            c"rsystem_heap-kunit-dw32",
            32
        )?);
        Ok(())
    }

    fn importer_is_non_coherent_on_arm64() -> Result {
        assert_eq!(
            suite::importer_is_coherent(c"rsystem_heap-kunit-coherent")?,
            !cfg!(CONFIG_ARM64)
        );
        Ok(())
    }

    /// As upstream, the heap's map syncs for the device.
    fn cpu_writes_reach_the_device_64_bit() -> Result {
        assert!(suite::cpu_writes_reach_the_device::<HeapBuffers>(
            c"rsystem_heap-kunit-cw64",
            64
        )?);
        Ok(())
    }

    fn cpu_writes_reach_the_device_32_bit() -> Result {
        assert!(suite::cpu_writes_reach_the_device::<HeapBuffers>(
            c"rsystem_heap-kunit-cw32",
            32
        )?);
        Ok(())
    }

    /// Upstream's system_heap_vmap() returns ENOMEM when vmap() fails, and
    /// when its page array cannot be allocated.
    fn failed_vmap_is_enomem_as_upstream() -> Result {
        assert_eq!(
            suite::failed_vmap::<HeapBuffers>(c"rsystem_heap-kunit-vmap", true)?,
            (Some(ENOMEM), true)
        );
        assert_eq!(
            suite::failed_vmap::<HeapBuffers>(c"rsystem_heap-kunit-vmap-alloc", false)?,
            (Some(ENOMEM), true)
        );
        Ok(())
    }

    /// A buffer that was mapped for a device, synced and mapped into the
    /// kernel goes back to the heap when its dma-buf is released: no table
    /// or mapping of it outlives the release, and none holds it.
    fn a_mapped_buffer_goes_back_to_the_heap_on_release() -> Result {
        let importer = TestImporter::new(c"rsystem_heap-kunit-release", 64)?;
        let heap = Arc::pin_init(Heap::new(pool_cap, kunit_memcg_pools()?), GFP_KERNEL)?;
        let live = crate::kapi::test_counters::live_dma_mappings();
        let dmabuf = heap_buffer(&heap, 16 + 2)?;
        {
            let attach = dmabuf.attach(importer.dev())?;
            attach.device_writes(DataDirection::Bidirectional, 7, true)?;
        }
        dmabuf.begin_cpu_access(DataDirection::FromDevice)?;
        dmabuf.end_cpu_access(DataDirection::FromDevice)?;
        let written = dmabuf.vmap_all_equal(7)?;
        // The heap has no zeroing thread here: released blocks stay queued.
        let before = (heap.queued(), heap.pooled());
        dmabuf.release_now();
        drop(importer);
        assert!(written);
        assert_eq!(before, (0, 0));
        assert_eq!(heap.queued(), 16 + 2);
        assert_eq!(crate::kapi::test_counters::live_dma_mappings(), live);
        Ok(())
    }

    fn mapping_past_the_bounce_buffer_is_an_errno() -> Result {
        let live = crate::kapi::test_counters::live_dma_mappings();
        assert!(suite::map_past_the_bounce_buffer::<HeapBuffers>(
            c"rsystem_heap-kunit-big"
        )?);
        // Every mapping made was undone.
        assert_eq!(crate::kapi::test_counters::live_dma_mappings(), live);
        Ok(())
    }

    fn each_map_is_a_new_mapping_for_its_attachment() -> Result {
        assert!(suite::each_map_is_a_new_mapping::<HeapBuffers>(
            c"rsystem_heap-kunit-map64",
            c"rsystem_heap-kunit-map32"
        )?);
        Ok(())
    }

    fn dma_buf_size_is_that_of_its_pages() -> Result {
        assert!(suite::size_is_that_of_the_pages::<HeapBuffers>(
            c"rsystem_heap-kunit-size"
        )?);
        Ok(())
    }

    /// A map or CPU access in `DataDirection::None` is EINVAL, never the
    /// DMA API's BUG.
    fn no_direction_is_einval() -> Result {
        assert_eq!(
            suite::no_direction::<HeapBuffers>(c"rsystem_heap-kunit-none")?,
            [Some(EINVAL); 3]
        );
        Ok(())
    }

    /// As upstream, begin/end_cpu_access sync every mapped attachment, so
    /// each side sees the other's writes, bounced or not; under bouncing,
    /// without those syncs (on this case's buffer only) both are lost.
    fn cpu_access_syncs_every_importer_mapping() -> Result {
        let bounces = TestImporter::new(c"rsystem_heap-kunit-sync-probe", 32)?.bounces();
        assert_eq!(
            suite::cpu_access_with_a_mapped_importer::<HeapBuffers>(
                c"rsystem_heap-kunit-sync",
                false
            )?,
            Some((true, true))
        );
        if bounces {
            assert_eq!(
                suite::cpu_access_with_a_mapped_importer::<HeapBuffers>(
                    c"rsystem_heap-kunit-sync-none",
                    true
                )?,
                Some((false, false))
            );
        }
        Ok(())
    }

    /// Beyond 7.3 (upstream's heap syncs every attachment in the direction
    /// of the CPU access): each importer's mapping is synced in its own
    /// direction, so a read sync keeps a camera's new frame under a
    /// display's mapping.
    fn opposite_directions_keep_the_frame() -> Result {
        assert_eq!(
            suite::opposite_directions_keep_the_frame::<HeapBuffers>(
                c"rsystem_heap-kunit-camera",
                c"rsystem_heap-kunit-display"
            )?,
            (true, true)
        );
        Ok(())
    }

    kunit_suite!(
        rsystem_heap_dma_buf,
        [
            importer_maps_each_chunk_within_the_segment_limit,
            device_writes_reach_the_pages_64_bit,
            device_writes_reach_the_pages_32_bit,
            importer_is_non_coherent_on_arm64,
            cpu_writes_reach_the_device_64_bit,
            cpu_writes_reach_the_device_32_bit,
            failed_vmap_is_enomem_as_upstream,
            a_mapped_buffer_goes_back_to_the_heap_on_release,
            mapping_past_the_bounce_buffer_is_an_errno,
            each_map_is_a_new_mapping_for_its_attachment,
            dma_buf_size_is_that_of_its_pages,
            no_direction_is_einval,
            cpu_access_syncs_every_importer_mapping,
            opposite_directions_keep_the_frame
        ]
    );
}

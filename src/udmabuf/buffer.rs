// SPDX-License-Identifier: GPL-2.0

//! A udmabuf: pinned memfd folios exported as a dma-buf.

use crate::kapi::kernel::device::Device;
use crate::kapi::kernel::dma::DataDirection;
use crate::kapi::kernel::new_mutex;
use crate::kapi::kernel::prelude::*;
use crate::kapi::kernel::sync::aref::ARef;
use crate::kapi::kernel::sync::Mutex;

use crate::folio_table::FolioTable;
use crate::kapi::buffer_pages::BufferPages;
use crate::kapi::dma_buf::{
    Buffer,
    Exported,
    Exporter,
    Mmap, //
};
use crate::kapi::folio::PinnedFolio;
use crate::kapi::page_run::PhysRun;
use crate::kapi::sg_table::{
    CpuSync,
    SGTable,
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
}

/// The state behind one exported udmabuf: one allocation, shared by the
/// dma-buf and the sg tables mapped from it.
#[pin_data(PinnedDrop)]
pub(crate) struct Udmabuf {
    /// As upstream: made for the misc device on the first begin_cpu_access
    /// and kept until release, which drops it, so that, as upstream, it is
    /// unmapped before the pins go.
    #[pin]
    cpu_sgt: Mutex<Option<SGTable<Exported<Udmabuf>>>>,
    /// The pinned folios, released when the buffer and every mapping of it
    /// are gone.
    pages: FolioTable<PinnedFolio>,
    /// The misc device, for the buffer's own CPU-access sg table.
    dev: ARef<Device>,
    /// A user's buffer, counted in the debugfs statistics: those describe
    /// users' buffers only, not the ones the KUnit suite builds at load.
    counted: bool,
}

impl Udmabuf {
    /// Wraps a filled table of a user's buffer; the buffer is accounted in
    /// the stats from when it exists until it is dropped.
    pub(crate) fn new(table: FolioTable<PinnedFolio>, dev: &Device) -> impl PinInit<Self, Error> {
        Self::with_counting(table, dev, true)
    }

    /// Wraps a filled table of a KUnit case's buffer, left out of the stats.
    #[cfg(CONFIG_KUNIT = "y")]
    fn new_uncounted(table: FolioTable<PinnedFolio>, dev: &Device) -> impl PinInit<Self, Error> {
        Self::with_counting(table, dev, false)
    }

    fn with_counting(
        table: FolioTable<PinnedFolio>,
        dev: &Device,
        counted: bool,
    ) -> impl PinInit<Self, Error> {
        let dev: ARef<Device> = dev.into();
        try_pin_init!(Self {
            cpu_sgt <- new_mutex!(None),
            pages: table,
            dev,
            counted,
        })
        .pin_chain(|this| {
            if this.counted {
                stats::buffer_created(&this.pages, size_of::<Self>());
            }
            Ok(())
        })
    }

    /// Builds the buffer's own sg table, for the misc device, laid out and
    /// synced as an importer's.
    fn sg_table(this: &Buffer<'_, Self>, dir: DataDirection) -> Result<SGTable<Exported<Self>>> {
        let sgt = this.sg_table(&this.dev, dir, Self::SEGMENTS, Self::CPU_SYNC)?;
        Self::mapped(*this, &sgt);
        Ok(sgt)
    }
}

#[pinned_drop]
impl PinnedDrop for Udmabuf {
    fn drop(self: Pin<&mut Self>) {
        if self.counted {
            stats::buffer_released(&self.pages, size_of::<Self>());
        }
    }
}

impl Exporter for Udmabuf {
    type Pages = FolioTable<PinnedFolio>;
    const MMAP: Mmap = Mmap::AtMmapHugeAtFault;
    /// One entry per contiguous segment.
    const SEGMENTS: Segments = Segments::Merged;
    /// As upstream, the map and unmap do not sync: begin/end_cpu_access do.
    const CPU_SYNC: CpuSync = CpuSync::Explicit;
    // Upstream's vmap_udmabuf() turns a failed vm_map_ram() into EINVAL.
    const VMAP_ERROR: Error = EINVAL;

    fn pages(&self) -> &Self::Pages {
        &self.pages
    }

    fn mapped(this: Buffer<'_, Self>, sgt: &SGTable<Exported<Self>>) {
        if this.counted {
            stats::sg_table_built(sgt.segment_count());
        }
    }

    /// As upstream, the buffer's own table is made for the misc device on
    /// the first call and synced on every call; unlike upstream it is
    /// mapped `BIDIRECTIONAL`, whatever the first call's direction, and
    /// synced in that direction: upstream maps it in the first call's
    /// direction and syncs it in each call's, which the DMA API reports
    /// ("syncs DMA memory with different direction") when they differ, and
    /// after a first write-only access leaves later reads without a cache
    /// invalidation on a non-coherent CPU. kapi then syncs the importers'
    /// mappings, each in its own direction.
    fn begin_cpu_access(this: Buffer<'_, Self>, _dir: DataDirection) -> Result {
        let mut cpu_sgt = this.cpu_sgt.lock();
        let sgt = match cpu_sgt.take() {
            Some(sgt) => sgt,
            None => Self::sg_table(&this, DataDirection::Bidirectional)?,
        };
        sgt.sync_for_cpu();
        *cpu_sgt = Some(sgt);
        Ok(())
    }

    /// As upstream, EINVAL before the first begin_cpu_access. Beyond 7.3,
    /// kapi has synced every importer's mapping for its device.
    fn end_cpu_access(this: Buffer<'_, Self>, _dir: DataDirection) -> Result {
        let cpu_sgt = this.cpu_sgt.lock();
        let sgt = cpu_sgt.as_ref().ok_or(EINVAL)?;
        sgt.sync_for_device();
        Ok(())
    }

    /// Unmaps the CPU-access table, which holds the buffer (and its pins)
    /// while it is mapped.
    fn release(this: Buffer<'_, Self>) {
        let cpu_sgt = this.cpu_sgt.lock().take();
        drop(cpu_sgt);
    }
}

#[cfg(CONFIG_KUNIT = "y")]
mod tests {
    use super::*;
    use crate::folio_table::pin_range;
    use crate::kapi::dma_buf::importer::suite::{
        self,
        TestBuffers, //
    };
    use crate::kapi::dma_buf::importer::{
        segment_frames,
        DmaSegment,
        TestImporter, //
    };
    use crate::kapi::dma_buf::{
        DmaBuf,
        O_RDWR, //
    };
    use crate::kapi::kernel::page::PAGE_SIZE;
    use crate::kapi::kunit::{
        assert,
        assert_eq,
        kunit_suite, //
    };
    use crate::kapi::memfd::Memfd;
    use crate::uapi::UdmabufCreateItem;

    /// Expected page frame of each page of `table`, in order.
    fn pages_of(table: &FolioTable<PinnedFolio>) -> Result<KVec<usize>> {
        let mut pfns = KVec::new();
        for run in BufferPages::runs_from(table, 0) {
            for n in 0..run.npages() {
                pfns.push(run.pfn() + n, GFP_KERNEL)?;
            }
        }
        Ok(pfns)
    }

    /// What an importer sees of a udmabuf of two items over one shmem file.
    struct TwoItems {
        size: usize,
        segments: KVec<DmaSegment>,
        again: KVec<DmaSegment>,
        /// The page numbers the CPU wrote, as the device reads them.
        numbers: KVec<u32>,
        /// Without bouncing, whether the DMA addresses are the pinned pages.
        frames_are_the_pages: bool,
    }

    /// A udmabuf of pages 8..40 then 0..8 of an in-kernel shmem file (no
    /// page twice: the device reads back what the CPU wrote at each), mapped
    /// by an importer able to address all memory. Everything is released
    /// before the caller asserts.
    fn import_two_items() -> Result<TwoItems> {
        let importer = TestImporter::new(c"rudmabuf-kunit-order", 64)?;
        let dev = importer.dev();
        let memfd = Memfd::new_shmem(c"rudmabuf-kunit", 64 * PAGE_SIZE)?;
        let mut table = FolioTable::new();
        for (first, count) in [(8u64, 32u64), (0, 8)] {
            let item = UdmabufCreateItem {
                memfd: 0,
                __pad: 0,
                offset: first * PAGE_SIZE as u64,
                size: count * PAGE_SIZE as u64,
            };
            pin_range(&memfd.lock_shared(), item.offset, item.size, 40, &mut table)?;
        }
        let expected = pages_of(&table)?;
        let dmabuf = DmaBuf::export(Udmabuf::new_uncounted(table, dev), O_RDWR, c"udmabuf")?;
        dmabuf.vmap_number_pages()?;
        let attach = dmabuf.attach(dev)?;
        let segments = attach.map_segments(DataDirection::Bidirectional)?;
        let again = attach.map_segments(DataDirection::ToDevice)?;
        let mapping = attach.map(DataDirection::ToDevice)?;
        // Mapped with DMA_ATTR_SKIP_CPU_SYNC: the importer syncs.
        mapping.sync_for_device();
        let numbers = mapping.device_page_numbers()?;
        let frames_are_the_pages = importer.bounces() || segment_frames(&segments)? == expected;
        Ok(TwoItems {
            size: dmabuf.size(),
            segments,
            again,
            numbers,
            frames_are_the_pages,
        })
    }

    fn importer_maps_the_pinned_pages_in_order() -> Result {
        let seen = import_two_items()?;
        // kapi sizes the dma-buf from the pages.
        assert_eq!(seen.size, 40 * PAGE_SIZE);
        // map_dma_buf gives every page once, in buffer order, in DMA
        // segments no larger than the device's maximum (64 KiB without
        // dma_parms): the device reads page n's number at page n.
        assert!(seen
            .segments
            .iter()
            .all(|s| s.len > 0 && s.len <= 64 * 1024 && s.len % PAGE_SIZE == 0));
        assert_eq!(
            seen.segments.iter().map(|s| s.len).sum::<usize>(),
            40 * PAGE_SIZE
        );
        assert!(seen.numbers.iter().copied().eq(0..40u32));
        assert!(seen.frames_are_the_pages);
        // Mapping twice works the same (a bounced mapping takes new slots).
        assert_eq!(seen.again.len(), seen.segments.len());
        assert!(seen
            .again
            .iter()
            .zip(seen.segments.iter())
            .all(|(a, b)| a.len == b.len));
        Ok(())
    }

    /// A udmabuf of `pages` pages over a new in-kernel shmem file.
    fn udmabuf(dev: &Device, pages: usize) -> Result<DmaBuf> {
        let memfd = Memfd::new_shmem(c"rudmabuf-kunit", pages * PAGE_SIZE)?;
        let mut table = FolioTable::new();
        let item = UdmabufCreateItem {
            memfd: 0,
            __pad: 0,
            offset: 0,
            size: (pages * PAGE_SIZE) as u64,
        };
        pin_range(
            &memfd.lock_shared(),
            item.offset,
            item.size,
            pages,
            &mut table,
        )?;
        DmaBuf::export(Udmabuf::new_uncounted(table, dev), O_RDWR, c"udmabuf")
    }

    /// The data-path suite of kapi runs on udmabufs over shmem.
    struct Udmabufs;

    impl TestBuffers for Udmabufs {
        type Exporter = Udmabuf;

        fn make(dev: &Device, pages: usize) -> Result<DmaBuf> {
            udmabuf(dev, pages)
        }
    }

    /// As upstream, udmabuf maps with `DMA_ATTR_SKIP_CPU_SYNC`: the
    /// importer syncs for the CPU.
    fn device_writes_reach_the_pages_64_bit() -> Result {
        assert!(suite::device_writes_reach_the_pages::<Udmabufs>(
            c"rudmabuf-kunit-dw64",
            64
        )?);
        Ok(())
    }

    fn device_writes_reach_the_pages_32_bit() -> Result {
        assert!(suite::device_writes_reach_the_pages::<Udmabufs>(
            c"rudmabuf-kunit-dw32",
            32
        )?);
        Ok(())
    }

    fn importer_is_non_coherent_on_arm64() -> Result {
        assert_eq!(
            suite::importer_is_coherent(c"rudmabuf-kunit-coherent")?,
            !cfg!(CONFIG_ARM64)
        );
        Ok(())
    }

    /// As upstream, the importer syncs for the device.
    fn cpu_writes_reach_the_device_64_bit() -> Result {
        assert!(suite::cpu_writes_reach_the_device::<Udmabufs>(
            c"rudmabuf-kunit-cw64",
            64
        )?);
        Ok(())
    }

    fn cpu_writes_reach_the_device_32_bit() -> Result {
        assert!(suite::cpu_writes_reach_the_device::<Udmabufs>(
            c"rudmabuf-kunit-cw32",
            32
        )?);
        Ok(())
    }

    /// Upstream's vmap_udmabuf() returns EINVAL when vm_map_ram() fails.
    fn failed_vmap_is_einval_as_upstream() -> Result {
        assert_eq!(
            suite::failed_vmap::<Udmabufs>(c"rudmabuf-kunit-vmap", true)?,
            (Some(EINVAL), true)
        );
        Ok(())
    }

    /// As upstream's vmap_udmabuf(), a failed allocation is ENOMEM.
    fn failed_vmap_allocation_is_enomem_as_upstream() -> Result {
        assert_eq!(
            suite::failed_vmap::<Udmabufs>(c"rudmabuf-kunit-vmap-alloc", false)?,
            (Some(ENOMEM), true)
        );
        Ok(())
    }

    /// As upstream's release, the buffer's own CPU-access mapping (made
    /// for the misc device on the first begin_cpu_access) is unmapped
    /// before its folios are unpinned: no unpin sees a live mapping.
    fn release_unmaps_before_it_unpins() -> Result {
        use crate::kapi::test_counters::{
            live_dma_mappings,
            unpins as unpin_counts, //
        };

        let importer = TestImporter::new(c"rudmabuf-kunit-release", 64)?;
        let dmabuf = udmabuf(importer.dev(), 16)?;
        dmabuf.begin_cpu_access(DataDirection::Bidirectional)?;
        dmabuf.end_cpu_access(DataDirection::Bidirectional)?;
        let live = live_dma_mappings();
        let (unpins, under_a_mapping) = unpin_counts();
        dmabuf.release_now();
        drop(importer);
        let (unpins_after, under_a_mapping_after) = unpin_counts();
        // The buffer's mapping was the only one, and release undid it.
        assert_eq!(live, 1);
        assert_eq!(live_dma_mappings(), 0);
        // Its 16 single-page folios were unpinned (with those of earlier
        // cases' buffers whose deferred release ran too), none under a
        // live mapping.
        assert!(unpins_after >= unpins + 16);
        assert_eq!(under_a_mapping_after, under_a_mapping);
        Ok(())
    }

    fn mapping_past_the_bounce_buffer_is_an_errno() -> Result {
        let live = crate::kapi::test_counters::live_dma_mappings();
        assert!(suite::map_past_the_bounce_buffer::<Udmabufs>(
            c"rudmabuf-kunit-big"
        )?);
        // Every mapping made was undone.
        assert_eq!(crate::kapi::test_counters::live_dma_mappings(), live);
        Ok(())
    }

    fn each_map_is_a_new_mapping_for_its_attachment() -> Result {
        assert!(suite::each_map_is_a_new_mapping::<Udmabufs>(
            c"rudmabuf-kunit-map64",
            c"rudmabuf-kunit-map32"
        )?);
        Ok(())
    }

    fn dma_buf_size_is_that_of_its_pages() -> Result {
        assert!(suite::size_is_that_of_the_pages::<Udmabufs>(
            c"rudmabuf-kunit-size"
        )?);
        Ok(())
    }

    /// A map or CPU access in `DataDirection::None` is EINVAL, never the
    /// DMA API's BUG.
    fn no_direction_is_einval() -> Result {
        assert_eq!(
            suite::no_direction::<Udmabufs>(c"rudmabuf-kunit-none")?,
            [Some(EINVAL); 3]
        );
        Ok(())
    }

    /// Beyond 7.3: begin/end_cpu_access sync every importer's mapping, as
    /// the system heap does, so CPU access reaches an importer whose
    /// mapping bounces (the `swiotlb=force` boot) or is non-coherent. There
    /// 7.3's semantics (the buffer's own table only) lose both ways, which
    /// the case checks too, on its own buffer only.
    fn cpu_access_syncs_every_importer_mapping() -> Result {
        let bounces = TestImporter::new(c"rudmabuf-kunit-sync-probe", 32)?.bounces();
        assert_eq!(
            suite::cpu_access_with_a_mapped_importer::<Udmabufs>(c"rudmabuf-kunit-sync", false)?,
            Some((true, true))
        );
        if bounces {
            assert_eq!(
                suite::cpu_access_with_a_mapped_importer::<Udmabufs>(
                    c"rudmabuf-kunit-sync-own",
                    true
                )?,
                Some((false, false))
            );
        }
        Ok(())
    }

    /// Beyond 7.3: each importer's mapping is synced in its own direction,
    /// so a read sync keeps a camera's new frame under a display's mapping.
    fn opposite_directions_keep_the_frame() -> Result {
        assert_eq!(
            suite::opposite_directions_keep_the_frame::<Udmabufs>(
                c"rudmabuf-kunit-camera",
                c"rudmabuf-kunit-display"
            )?,
            (true, true)
        );
        Ok(())
    }

    kunit_suite!(
        rudmabuf_dma_buf,
        [
            importer_maps_the_pinned_pages_in_order,
            device_writes_reach_the_pages_64_bit,
            device_writes_reach_the_pages_32_bit,
            importer_is_non_coherent_on_arm64,
            cpu_writes_reach_the_device_64_bit,
            cpu_writes_reach_the_device_32_bit,
            failed_vmap_is_einval_as_upstream,
            failed_vmap_allocation_is_enomem_as_upstream,
            release_unmaps_before_it_unpins,
            mapping_past_the_bounce_buffer_is_an_errno,
            each_map_is_a_new_mapping_for_its_attachment,
            dma_buf_size_is_that_of_its_pages,
            no_direction_is_einval,
            cpu_access_syncs_every_importer_mapping,
            opposite_directions_keep_the_frame
        ]
    );
}

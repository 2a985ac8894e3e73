// SPDX-License-Identifier: GPL-2.0

//! `UDMABUF_CREATE` and `UDMABUF_CREATE_LIST`: validation and pinning.
//!
//! The checks, their order and their errnos are those of upstream's
//! `udmabuf_create()`: every item's alignment and the size limit first
//! (EINVAL), then per item the descriptor (EBADFD), the file type (EBADFD),
//! the seals (EINVAL) and the pin, with the seals checked and the folios
//! pinned under the inode lock.

use kernel::device::Device;
use kernel::page::{
    PAGE_SHIFT,
    PAGE_SIZE, //
};
use kernel::prelude::*;

use crate::buffer::Udmabuf;
use crate::folio_table::FolioTable;
use crate::kapi::dma_buf::{
    DmaBuf,
    O_RDWR, //
};
use crate::kapi::folio::PinnedFolio;
use crate::kapi::memfd::{
    Memfd,
    MemfdLocked,
    F_SEAL_FUTURE_WRITE,
    F_SEAL_SHRINK,
    F_SEAL_WRITE, //
};
use crate::kapi::params;
use crate::uapi::{
    UdmabufCreateItem,
    UDMABUF_FLAGS_CLOEXEC, //
};

/// Seals a memfd must have, and must not have.
const SEALS_WANTED: u32 = F_SEAL_SHRINK;
const SEALS_DENIED: u32 = F_SEAL_WRITE | F_SEAL_FUTURE_WRITE;

/// Room for the buffer's first `memfd_pin_folios` call, whose folios tell
/// how many the rest of the buffer needs: folios are pinned straight into
/// the table, which grows to what the buffer holds (upstream allocates a
/// scratch array of one pointer per page of the largest item, and copies).
const FIRST_PIN: usize = 2048;

/// Creates a udmabuf from `items` and returns its new descriptor.
pub(crate) fn create(dev: &Device, flags: u32, items: &[UdmabufCreateItem]) -> Result<i32> {
    // As upstream: `(u64)size_limit_mb * 1024 * 1024 >> PAGE_SHIFT`, where a
    // negative limit sign-extends to a huge one.
    let limit_pages =
        (i64::from(params::udmabuf_size_limit_mb()) as u64).wrapping_mul(1 << 20) >> PAGE_SHIFT;
    let mut total: u64 = 0;
    for item in items {
        if item.offset % PAGE_SIZE as u64 != 0 || item.size % PAGE_SIZE as u64 != 0 {
            return Err(EINVAL);
        }
        let pages = item.size >> PAGE_SHIFT;
        total = total.checked_add(pages).ok_or(EINVAL)?;
        if total > limit_pages {
            return Err(EINVAL);
        }
    }
    if total == 0 {
        return Err(EINVAL);
    }
    let total = usize::try_from(total).map_err(|_| EINVAL)?;

    let mut table = FolioTable::new();
    // A segment per range at least: room for them at once.
    let ranges = 1 + items
        .windows(2)
        .filter(|pair| !continues(&pair[0], &pair[1]))
        .count();
    table.reserve_segments(ranges)?;
    // Consecutive items of one descriptor (a VM's list is all one memfd)
    // share one lookup, one seal check and one hold of the inode lock, and
    // non-empty items that continue each other in the file are pinned as one
    // range. Checks and errnos come in upstream's order: each item's
    // descriptor, seals and pin are checked before the next item's.
    let mut rest = items;
    while let Some(head) = rest.first() {
        let same_fd = rest
            .iter()
            .take_while(|item| item.memfd == head.memfd)
            .count();
        let (group, tail) = rest.split_at(same_fd);
        rest = tail;
        let memfd = Memfd::get(head.memfd).ok_or(EBADFD)?;
        let locked = memfd.lock_shared();
        check_seals(&locked)?;
        let mut at = 0;
        while let Some(item) = group.get(at) {
            let (offset, mut size) = (item.offset, item.size);
            at += 1;
            while let Some(next) = group.get(at).filter(|next| continues(&group[at - 1], next)) {
                size += next.size;
                at += 1;
            }
            pin_range(&locked, offset, size, total, &mut table)?;
        }
    }
    table.shrink_to_fit();

    // Named after the misc device, as upstream's buffers are "udmabuf" in
    // fdinfo and debugfs.
    let name = params::udmabuf_device_name();
    DmaBuf::export(Udmabuf::new(table, dev), total << PAGE_SHIFT, O_RDWR, name)?
        .into_fd(flags & UDMABUF_FLAGS_CLOEXEC != 0)
}

/// Returns whether `next` is a non-empty range of the same descriptor that
/// starts where non-empty `item` ends.
fn continues(item: &UdmabufCreateItem, next: &UdmabufCreateItem) -> bool {
    item.memfd == next.memfd
        && item.size != 0
        && next.size != 0
        && item.offset.checked_add(item.size) == Some(next.offset)
}

/// Upstream's `check_memfd_seals()`.
fn check_seals(memfd: &MemfdLocked<'_>) -> Result {
    let seals = memfd.seals().ok_or(EBADFD)?;
    if seals & SEALS_WANTED != SEALS_WANTED || seals & SEALS_DENIED != 0 {
        return Err(EINVAL);
    }
    Ok(())
}

/// Pins the folios of the `size` bytes at `offset` of `memfd` (an item, or
/// items that continue each other) and appends them to `table`.
fn pin_range(
    memfd: &MemfdLocked<'_>,
    offset: u64,
    size: u64,
    buffer_pages: usize,
    table: &mut FolioTable<PinnedFolio>,
) -> Result {
    let pages = (size >> PAGE_SHIFT) as usize;
    // An empty item pins nothing: upstream's memfd_pin_folios() call gets
    // `end < start` and fails with EINVAL, after the descriptor and seals.
    if pages == 0 {
        return Err(EINVAL);
    }
    // As upstream, in `loff_t`: an offset past `i64::MAX` is negative and
    // rejected by memfd_pin_folios, as is a range past the end of the file.
    let start = offset as i64;
    let end = start
        .wrapping_add((pages as i64).wrapping_shl(PAGE_SHIFT as u32))
        .wrapping_sub(1);
    let mut done = 0;
    while done < pages {
        let from = start.wrapping_add((done << PAGE_SHIFT) as i64);
        let left = pages - done;
        // Room for the rest of the buffer at the folios per page seen so
        // far, so that the table grows once, not per item; before any
        // folio, room for a first batch that tells.
        let buffer_left = buffer_pages.saturating_sub(table.page_count()).max(left);
        let room = match table.page_count() {
            0 => left.min(FIRST_PIN),
            seen => (buffer_left * table.folio_count())
                .div_ceil(seen)
                .clamp(1, buffer_left),
        };
        done += table.append_pinned(left, |folios| {
            folios.reserve(room, GFP_KERNEL)?;
            Ok(memfd.pin_folios(from, end, folios, left)? >> PAGE_SHIFT)
        })?;
    }
    Ok(())
}

#[kunit_tests(rudmabuf_dma_buf)]
mod tests {
    use super::*;
    use crate::kapi::device::TestImporter;
    use crate::kapi::folio::BufferPages;
    use kernel::dma::DataDirection;

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

    /// Expands segments to one page frame per page.
    fn segment_pages(segments: &[(usize, usize)]) -> Result<KVec<usize>> {
        let mut pfns = KVec::new();
        for &(pfn, len) in segments {
            for n in 0..len / PAGE_SIZE {
                pfns.push(pfn + n, GFP_KERNEL)?;
            }
        }
        Ok(pfns)
    }

    #[test]
    fn importer_maps_the_pinned_pages_in_order() -> Result {
        // An importing device, able to address all memory.
        let importer = TestImporter::new(c"rudmabuf-kunit", 64)?;
        let dev = importer.dev();

        // Two items over an in-kernel shmem file: pages 8..40, then 2..10.
        let memfd = Memfd::new_shmem(c"rudmabuf-kunit", 64 * PAGE_SIZE)?;
        let mut table = FolioTable::new();
        for (first, count) in [(8u64, 32u64), (2, 8)] {
            let item = UdmabufCreateItem {
                memfd: 0,
                __pad: 0,
                offset: first * PAGE_SIZE as u64,
                size: count * PAGE_SIZE as u64,
            };
            pin_range(&memfd.lock_shared(), item.offset, item.size, 40, &mut table)?;
        }
        assert_eq!(table.page_count(), 40);
        let expected = pages_of(&table)?;
        let dmabuf = DmaBuf::export(Udmabuf::new(table, dev), 40 * PAGE_SIZE, O_RDWR, c"udmabuf")?;

        // map_dma_buf gives every page once, in buffer order, in segments
        // no larger than the device's maximum (64 KiB without dma_parms).
        let attach = dmabuf.attach(dev)?;
        let segments = attach.map_segments(DataDirection::Bidirectional)?;
        assert!(segments.iter().all(|&(_, len)| len > 0 && len <= 64 * 1024));
        assert!(segments.iter().all(|&(_, len)| len % PAGE_SIZE == 0));
        let mapped = segment_pages(&segments)?;
        assert_eq!(mapped.len(), 40);
        assert!(mapped[..] == expected[..]);
        // Mapping twice works the same.
        let again = attach.map_segments(DataDirection::ToDevice)?;
        assert!(again[..] == segments[..]);
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
        DmaBuf::export(
            Udmabuf::new(table, dev),
            pages * PAGE_SIZE,
            O_RDWR,
            c"udmabuf",
        )
    }

    /// A device writes a pattern, and the pattern is in the buffer's pages,
    /// seen through vmap. As upstream, udmabuf maps with
    /// `DMA_ATTR_SKIP_CPU_SYNC`, so the importer syncs for the CPU; under
    /// bouncing (the `swiotlb=force` boot) that is what copies the data back.
    ///
    /// No mask narrower than 32 bits: such a device cannot reach the swiotlb
    /// either, which the DMA layer reports with a WARN (a platform that
    /// cannot work), not an errno.
    fn device_writes_reach_the_pages(mask_bits: u32) -> Result<bool> {
        let importer = TestImporter::new(c"rudmabuf-kunit-dma", mask_bits)?;
        let dmabuf = udmabuf(importer.dev(), 300)?;
        let attach = dmabuf.attach(importer.dev())?;
        attach.device_writes(DataDirection::FromDevice, 0x5a, true)?;
        dmabuf.vmap_all_equal(0x5a)
    }

    #[test]
    fn device_writes_reach_the_pages_64_bit() -> Result {
        assert!(device_writes_reach_the_pages(64)?);
        Ok(())
    }

    #[test]
    fn device_writes_reach_the_pages_32_bit() -> Result {
        assert!(device_writes_reach_the_pages(32)?);
        Ok(())
    }

    /// Maps a buffer larger than the swiotlb when mappings bounce: whether
    /// that failed with an errno and a small buffer still maps afterwards
    /// (nothing was left half-mapped), or, unbounced, whether it worked.
    /// Everything is released before the caller asserts.
    fn map_past_the_bounce_buffer() -> Result<bool> {
        let importer = TestImporter::new(c"rudmabuf-kunit-big", 64)?;
        let dmabuf = udmabuf(
            importer.dev(),
            importer.past_the_bounce_buffer() / PAGE_SIZE,
        )?;
        let attach = dmabuf.attach(importer.dev())?;
        let mapped = attach.device_writes(DataDirection::Bidirectional, 1, true);
        if !importer.bounces() {
            return Ok(mapped.is_ok() && dmabuf.vmap_all_equal(1)?);
        }
        let small = udmabuf(importer.dev(), 4)?;
        let small_attach = small.attach(importer.dev())?;
        let small_mapped = small_attach.device_writes(DataDirection::FromDevice, 7, true);
        Ok(mapped.is_err() && small_mapped.is_ok() && small.vmap_all_equal(7)?)
    }

    #[test]
    fn failed_vmap_is_einval_as_upstream() -> Result {
        let importer = TestImporter::new(c"rudmabuf-kunit-vmap", 64)?;
        let dmabuf = udmabuf(importer.dev(), 16)?;
        // Upstream's vmap_udmabuf() returns EINVAL when vm_map_ram() fails.
        crate::kapi::vmap::fail_next_map();
        assert_eq!(dmabuf.vmap_all_equal(0).err(), Some(EINVAL));
        assert_eq!(dmabuf.vmap_all_equal(0), Ok(true));
        Ok(())
    }

    /// As upstream's release, the buffer's own CPU-access mapping (made
    /// for the misc device on the first begin_cpu_access) is unmapped
    /// before its folios are unpinned: no unpin sees a live mapping.
    #[test]
    fn release_unmaps_before_it_unpins() -> Result {
        use crate::kapi::folio::unpin_stats;
        use crate::kapi::sg_table::live_dma_mappings;

        let importer = TestImporter::new(c"rudmabuf-kunit-release", 64)?;
        let dmabuf = udmabuf(importer.dev(), 16)?;
        dmabuf.begin_cpu_access(DataDirection::Bidirectional)?;
        dmabuf.end_cpu_access(DataDirection::Bidirectional)?;
        let live = live_dma_mappings();
        let (unpins, under_a_mapping) = unpin_stats::get();
        dmabuf.release_now();
        let (unpins_after, under_a_mapping_after) = unpin_stats::get();
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

    #[test]
    fn mapping_past_the_bounce_buffer_is_an_errno() -> Result {
        let live = crate::kapi::sg_table::live_dma_mappings();
        assert!(map_past_the_bounce_buffer()?);
        // Every mapping made was undone.
        assert_eq!(crate::kapi::sg_table::live_dma_mappings(), live);
        Ok(())
    }
}

// SPDX-License-Identifier: GPL-2.0

//! The data-path KUnit suite of both drivers: what a device and the CPU
//! see of an exported buffer. Each driver runs it on its own buffers, from
//! a thin suite of its own (`kunit_suite!`) that names a [`TestBuffers`]
//! and asserts what each case here returns (what the driver's upstream does
//! differs in places: the vmap errno, and who syncs an importer's mapping).
//!
//! A case here gathers what it checks and releases everything before it
//! returns: a failed assertion ends a KUnit case's thread without running
//! drops, and would leak the buffers, their pins and the faux devices. Each
//! case's devices have names of their own, passed by the driver's module.

use crate::kapi::kernel::device::Device;
use crate::kapi::kernel::dma::DataDirection;
use crate::kapi::kernel::page::PAGE_SIZE;
use crate::kapi::kernel::prelude::*;

use super::TestImporter;
use crate::kapi::dma_buf::{
    DmaBuf,
    Exporter, //
};

/// How a driver makes the buffers the suite runs on.
pub(crate) trait TestBuffers {
    /// The exporter of the buffers.
    type Exporter: Exporter;

    /// Makes a buffer of `pages` pages, zeroed, for importers such as
    /// `dev`, left out of the driver's statistics.
    fn make(dev: &Device, pages: usize) -> Result<DmaBuf>;
}

/// Whether an importer syncs its own mapping (the buffer's mappings skip
/// the CPU syncs at map and unmap, as upstream udmabuf's do).
fn importer_syncs<B: TestBuffers>() -> bool {
    B::Exporter::CPU_SYNC.by_importer()
}

/// A device writes a pattern; returns whether the pattern is in the
/// buffer's pages, seen through vmap. Under bouncing (the `swiotlb=force`
/// boot) the sync for the CPU (the importer's or the unmap's) is what
/// copies it back.
///
/// No mask narrower than 32 bits: such a device cannot reach the swiotlb
/// either, which the DMA layer reports with a WARN (a platform that cannot
/// work), not an errno.
pub(crate) fn device_writes_reach_the_pages<B: TestBuffers>(
    name: &'static CStr,
    mask_bits: u32,
) -> Result<bool> {
    let importer = TestImporter::new(name, mask_bits)?;
    let dmabuf = B::make(importer.dev(), 300)?;
    let attach = dmabuf.attach(importer.dev())?;
    attach.device_writes(DataDirection::FromDevice, 0x5a, importer_syncs::<B>())?;
    dmabuf.vmap_all_equal(0x5a)
}

/// The CPU writes a pattern through vmap; returns whether a device that
/// maps the buffer to read it sees the pattern. Under bouncing the sync for
/// the device (the importer's or the map's) copies the pages into the
/// bounce buffer.
pub(crate) fn cpu_writes_reach_the_device<B: TestBuffers>(
    name: &'static CStr,
    mask_bits: u32,
) -> Result<bool> {
    let importer = TestImporter::new(name, mask_bits)?;
    let dmabuf = B::make(importer.dev(), 300)?;
    dmabuf.vmap_fill(0xc3)?;
    let attach = dmabuf.attach(importer.dev())?;
    attach.device_reads(DataDirection::ToDevice, 0xc3, importer_syncs::<B>())
}

/// Returns whether the faux importer's DMA is coherent with the CPU. It
/// has no firmware coherency: on arm64 it is non-coherent, so the data
/// cases run through the DMA API's cache maintenance there; x86_64's DMA
/// is coherent.
pub(crate) fn importer_is_coherent(name: &'static CStr) -> Result<bool> {
    Ok(TestImporter::new(name, 64)?.coherent())
}

/// Maps a buffer larger than the swiotlb when mappings bounce: returns
/// whether that failed with an errno and a small buffer still maps and
/// carries a device's writes afterwards (nothing was left half-mapped), or,
/// unbounced, whether it worked.
pub(crate) fn map_past_the_bounce_buffer<B: TestBuffers>(name: &'static CStr) -> Result<bool> {
    let importer = TestImporter::new(name, 64)?;
    let syncs = importer_syncs::<B>();
    let dmabuf = B::make(
        importer.dev(),
        importer.past_the_bounce_buffer() / PAGE_SIZE,
    )?;
    let attach = dmabuf.attach(importer.dev())?;
    let mapped = attach.device_writes(DataDirection::Bidirectional, 1, syncs);
    if !importer.bounces() {
        return Ok(mapped.is_ok() && dmabuf.vmap_all_equal(1)?);
    }
    let small = B::make(importer.dev(), 4)?;
    let small_attach = small.attach(importer.dev())?;
    let small_mapped = small_attach.device_writes(DataDirection::FromDevice, 7, syncs);
    Ok(mapped.is_err() && small_mapped.is_ok() && small.vmap_all_equal(7)?)
}

/// Makes the next vmap of one buffer fail (in `vm_map_ram` if
/// `in_vm_map_ram`, else allocating its page array) and returns the errno
/// of that vmap, and whether another buffer's vmap meanwhile and the
/// failed buffer's next one worked (the failure was that buffer's only, and
/// left nothing mapped). The failing vmap calls the exporter's op as the
/// core does, but not through `dma_buf_vmap`, which warns when an exporter
/// fails (the core returns the op's errno after the warning).
pub(crate) fn failed_vmap<B: TestBuffers>(
    name: &'static CStr,
    in_vm_map_ram: bool,
) -> Result<(Option<Error>, bool)> {
    let importer = TestImporter::new(name, 64)?;
    let (dmabuf, other) = (B::make(importer.dev(), 16)?, B::make(importer.dev(), 4)?);
    dmabuf.fail_next_vmap(in_vm_map_ram);
    let other_maps = other.vmap_all_equal(0) == Ok(true);
    let failed = dmabuf.vmap_op().err();
    let maps_again = dmabuf.vmap_all_equal(0) == Ok(true);
    Ok((failed, other_maps && maps_again))
}

/// Each `map_dma_buf` is a new mapping that kapi made for the attachment's
/// device: returns whether two importers with different masks get tables
/// of their own, each addressable by its device, each map one more live DMA
/// mapping, all undone at their unmaps.
pub(crate) fn each_map_is_a_new_mapping<B: TestBuffers>(
    wide_name: &'static CStr,
    narrow_name: &'static CStr,
) -> Result<bool> {
    use crate::kapi::test_counters::live_dma_mappings;

    let wide = TestImporter::new(wide_name, 64)?;
    let narrow = TestImporter::new(narrow_name, 32)?;
    let dmabuf = B::make(wide.dev(), 16)?;
    let (wide_attach, narrow_attach) = (dmabuf.attach(wide.dev())?, dmabuf.attach(narrow.dev())?);
    let live = live_dma_mappings();
    let first = wide_attach.map(DataDirection::ToDevice)?;
    let second = narrow_attach.map(DataDirection::FromDevice)?;
    let third = wide_attach.map(DataDirection::FromDevice)?;
    let three_more = live_dma_mappings() == live + 3;
    let own_tables = first.table() != second.table() && first.table() != third.table();
    let reachable = first.reachable_by(wide.dev())
        && third.reachable_by(wide.dev())
        && second.reachable_by(narrow.dev());
    drop((first, second, third));
    Ok(three_more && own_tables && reachable && live_dma_mappings() == live)
}

/// Returns whether a dma-buf of 1, 3 and 40 pages has the size of its
/// pages, and reads back as zeroes through vmap: an importer reading
/// `dmabuf->size` bytes reads the buffer's pages and no more.
pub(crate) fn size_is_that_of_the_pages<B: TestBuffers>(name: &'static CStr) -> Result<bool> {
    let importer = TestImporter::new(name, 64)?;
    for pages in [1, 3, 40] {
        let dmabuf = B::make(importer.dev(), pages)?;
        if dmabuf.size() != pages * PAGE_SIZE || !dmabuf.vmap_all_equal(0)? {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Returns the errnos of a map and of a begin and an end of CPU access in
/// `DataDirection::None`, which the DMA API would meet with a BUG.
pub(crate) fn no_direction<B: TestBuffers>(name: &'static CStr) -> Result<[Option<Error>; 3]> {
    let importer = TestImporter::new(name, 64)?;
    let dmabuf = B::make(importer.dev(), 4)?;
    let attach = dmabuf.attach(importer.dev())?;
    // A mapped importer, which begin/end_cpu_access would sync.
    let _mapping = attach.map(DataDirection::Bidirectional)?;
    let map = attach.map(DataDirection::None).err();
    let begin = dmabuf.begin_cpu_access(DataDirection::None).err();
    let end = dmabuf.end_cpu_access(DataDirection::None).err();
    Ok([map, begin, end])
}

/// An importer keeps its mapping while the CPU writes the buffer between
/// begin and end_cpu_access, then the device writes it and the CPU reads it
/// between another begin and end. Returns whether the device saw the CPU's
/// writes and the CPU the device's. With `skip_importer_syncs`,
/// begin/end_cpu_access of the buffer sync no importer's mapping, as 7.3's
/// udmabuf does; meanwhile a second buffer, whose syncs are not skipped, is
/// run through the same steps, and the result is `None` unless both sides
/// saw each other's writes there (the skip is the first buffer's only).
pub(crate) fn cpu_access_with_a_mapped_importer<B: TestBuffers>(
    name: &'static CStr,
    skip_importer_syncs: bool,
) -> Result<Option<(bool, bool)>> {
    // 32 bits: with 4 GiB or more of memory, some pages bounce even
    // without `swiotlb=force`.
    let importer = TestImporter::new(name, 32)?;
    let dev = importer.dev();
    let dmabuf = B::make(dev, 16)?;
    let attach = dmabuf.attach(dev)?;
    let mapping = attach.map(DataDirection::Bidirectional)?;
    dmabuf.skip_importer_syncs(skip_importer_syncs);
    let result = (|| {
        let other = B::make(dev, 16)?;
        let other_attach = other.attach(dev)?;
        let other_mapping = other_attach.map(DataDirection::Bidirectional)?;
        dmabuf.begin_cpu_access(DataDirection::Bidirectional)?;
        other.begin_cpu_access(DataDirection::Bidirectional)?;
        // The CPU writes the pages, as through an mmap of the dma-buf.
        dmabuf.vmap_fill(0x11)?;
        other.vmap_fill(0x33)?;
        dmabuf.end_cpu_access(DataDirection::Bidirectional)?;
        other.end_cpu_access(DataDirection::Bidirectional)?;
        let device_sees = mapping.device_all_equal(0x11);
        let other_device_sees = other_mapping.device_all_equal(0x33);
        mapping.device_fill(0x22);
        other_mapping.device_fill(0x44);
        dmabuf.begin_cpu_access(DataDirection::Bidirectional)?;
        other.begin_cpu_access(DataDirection::Bidirectional)?;
        let cpu_sees = dmabuf.vmap_all_equal(0x22)?;
        let other_cpu_sees = other.vmap_all_equal(0x44)?;
        dmabuf.end_cpu_access(DataDirection::Bidirectional)?;
        other.end_cpu_access(DataDirection::Bidirectional)?;
        Ok((other_device_sees && other_cpu_sees).then_some((device_sees, cpu_sees)))
    })();
    dmabuf.skip_importer_syncs(false);
    result
}

/// A camera and a display import one buffer: the display maps it
/// `TO_DEVICE` to show the frame the CPU wrote, the camera (mapped first)
/// `FROM_DEVICE` and writes a new frame. Returns whether the CPU reads the
/// camera's frame after a read sync (`begin_cpu_access(FROM_DEVICE)`), and
/// whether the display shows it after the end of that access.
///
/// Under bouncing, a for-CPU sync of the display's mapping would copy its
/// bounce buffer, the old frame since its map, over the pages, after the
/// camera's sync copied the new one there: each mapping is synced in its
/// own direction, and for the CPU only if its device may have written.
pub(crate) fn opposite_directions_keep_the_frame<B: TestBuffers>(
    camera_name: &'static CStr,
    display_name: &'static CStr,
) -> Result<(bool, bool)> {
    let camera = TestImporter::new(camera_name, 64)?;
    let display = TestImporter::new(display_name, 64)?;
    let dmabuf = B::make(camera.dev(), 16)?;
    // The old frame, written by the CPU.
    dmabuf.begin_cpu_access(DataDirection::ToDevice)?;
    dmabuf.vmap_fill(0x01)?;
    dmabuf.end_cpu_access(DataDirection::ToDevice)?;
    let (camera_attach, display_attach) =
        (dmabuf.attach(camera.dev())?, dmabuf.attach(display.dev())?);
    let camera_mapping = camera_attach.map(DataDirection::FromDevice)?;
    let display_mapping = display_attach.map(DataDirection::ToDevice)?;
    // The new frame, written by the camera.
    camera_mapping.device_fill(0x02);
    dmabuf.begin_cpu_access(DataDirection::FromDevice)?;
    let cpu_reads_it = dmabuf.vmap_all_equal(0x02)?;
    dmabuf.end_cpu_access(DataDirection::FromDevice)?;
    let display_shows_it = display_mapping.device_all_equal(0x02);
    Ok((cpu_reads_it, display_shows_it))
}

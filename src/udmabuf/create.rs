// SPDX-License-Identifier: GPL-2.0

//! `UDMABUF_CREATE` and `UDMABUF_CREATE_LIST`: validation and pinning.
//!
//! The checks, their order and their errnos are those of upstream's
//! `udmabuf_create()`: every item's alignment and the size limit first
//! (EINVAL), then per item the descriptor (EBADFD), the file type (EBADFD),
//! the seals (EINVAL) and the pin, with the seals checked and the folios
//! pinned under the inode lock.

use crate::kapi::kernel::device::Device;
use crate::kapi::kernel::page::{
    PAGE_SHIFT,
    PAGE_SIZE, //
};
use crate::kapi::kernel::prelude::*;

use crate::buffer::Udmabuf;
use crate::folio_table::{
    pin_range,
    FolioTable, //
};
use crate::kapi::dma_buf::{
    DmaBuf,
    O_RDWR, //
};
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
        let locked = memfd.lock_for_pinning(group.iter().map(|item| (item.offset, item.size)));
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
    DmaBuf::export(Udmabuf::new(table, dev), O_RDWR, name)?
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

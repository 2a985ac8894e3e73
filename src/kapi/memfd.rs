// SPDX-License-Identifier: GPL-2.0

//! Looking up memfds, reading their seals and pinning their folios.
//!
//! C header: [include/linux/memfd.h](srctree/include/linux/memfd.h)

use core::ptr::NonNull;

use crate::kapi::kernel::fs::LocalFile;
use crate::kapi::kernel::prelude::*;
use crate::kapi::kernel::sync::aref::ARef;

use super::bindings;
use super::folio::PinnedFolio;

/// `F_SEAL_SHRINK`: the file may not shrink.
pub(crate) const F_SEAL_SHRINK: u32 = 0x0002;
/// `F_SEAL_WRITE`: the file may not be written.
pub(crate) const F_SEAL_WRITE: u32 = 0x0008;
/// `F_SEAL_FUTURE_WRITE`: no new writable mappings or writes.
pub(crate) const F_SEAL_FUTURE_WRITE: u32 = 0x0010;

/// A file looked up by descriptor, to be used as a memfd.
pub(crate) struct Memfd(ARef<LocalFile>);

impl Memfd {
    /// Looks `fd` up in the current task's file table (`fget`).
    pub(crate) fn get(fd: u32) -> Option<Self> {
        LocalFile::fget(fd).ok().map(Self)
    }

    /// Creates an unlinked shmem file of `size` bytes: what a memfd is, for
    /// in-kernel tests.
    #[cfg(CONFIG_KUNIT = "y")]
    pub(crate) fn new_shmem(name: &CStr, size: usize) -> Result<Self> {
        let size = i64::try_from(size).map_err(|_| EINVAL)?;
        // SAFETY: `name` is a valid string; the call returns a new file
        // reference or an error pointer.
        let file = unsafe { bindings::rdmabuf_shmem_file(name.to_bytes_with_nul().as_ptr(), size) };
        let file = NonNull::new(kernel::error::from_err_ptr(file)?).ok_or(ENOMEM)?;
        // SAFETY: We own the reference `shmem_file_setup` returned;
        // `LocalFile` is a transparent wrapper of `struct file`.
        Ok(Self(unsafe { ARef::from_raw(file.cast::<LocalFile>()) }))
    }

    /// Takes the inode lock shared, as [`Self::lock_shared`] does, to pin the
    /// byte ranges `ranges` (offset and size) of the file.
    ///
    /// Linux 6.12's `memfd_pin_folios` (fixed in 6.16) takes a hugetlb page
    /// that the file lacks from the free pool without reserving it, which
    /// underflows the kernel's count of reserved huge pages (a BUG with
    /// `CONFIG_DEBUG_VM`). There, this first allocates the missing pages of
    /// the ranges of a hugetlbfs file with `fallocate`, which reserves them
    /// as the file's own write fault would; on 7.3 it only locks.
    pub(crate) fn lock_for_pinning(
        &self,
        ranges: impl IntoIterator<Item = (u64, u64)>,
    ) -> MemfdLocked<'_> {
        #[cfg(kernel_6_12)]
        for (offset, size) in ranges {
            let (Ok(start), Ok(len)) = (i64::try_from(offset), i64::try_from(size)) else {
                continue;
            };
            // SAFETY: The file is valid as we hold a reference, and we do not
            // hold its inode lock, which `fallocate` takes.
            unsafe { bindings::rdmabuf_memfd_prepare_pin(self.0.as_ptr(), start, len) };
        }
        #[cfg(not(kernel_6_12))]
        let _ = ranges;
        self.lock_shared()
    }

    /// Takes the inode lock shared, as `memfd_add_seals()` takes it exclusive,
    /// so the seals cannot change until the guard is dropped.
    pub(crate) fn lock_shared(&self) -> MemfdLocked<'_> {
        // SAFETY: `inode_lock_shared()` is `down_read()` of the inode's
        // `i_rwsem`, and it may sleep, as this process context can. The
        // semaphore is valid: `file_inode()` is the file's `f_inode`, set
        // when the file is opened and kept for its life, and we hold a
        // reference to the file.
        unsafe { bindings::down_read(self.i_rwsem()) };
        // INVARIANT: We just took the lock.
        MemfdLocked { memfd: self }
    }

    /// Returns the inode lock (`i_rwsem`) of the file's inode.
    fn i_rwsem(&self) -> *mut bindings::rw_semaphore {
        // SAFETY: The file is valid as we hold a reference, and so is its
        // `f_inode` (what `file_inode()` reads), which the file holds for
        // its life. No reference is created: only the field's address.
        unsafe { &raw mut (*(*self.0.as_ptr()).f_inode).i_rwsem }
    }
}

/// A [`Memfd`] whose inode lock is held shared.
///
/// # Invariants
///
/// The inode lock of `memfd` is held shared by this object.
pub(crate) struct MemfdLocked<'a> {
    memfd: &'a Memfd,
}

impl MemfdLocked<'_> {
    /// Returns the seals of the file, or `None` if it is neither shmem nor
    /// hugetlbfs (the files that can be memfds).
    pub(crate) fn seals(&self) -> Option<u32> {
        // SAFETY: The file is valid as `self.memfd` holds a reference.
        let seals = unsafe { bindings::rdmabuf_memfd_seals(self.memfd.0.as_ptr()) };
        u32::try_from(seals).ok()
    }

    /// Pins the folios that back the bytes `start..=end` of the file,
    /// appending them to `folios`: at most `max`, and at most as many as its
    /// spare capacity holds (the caller reserves it; none is an error).
    ///
    /// Returns the offset in bytes of `start` inside the first pinned folio.
    /// Fewer folios than cover the range are pinned when the room runs out.
    pub(crate) fn pin_folios(
        &self,
        start: i64,
        end: i64,
        folios: &mut KVVec<PinnedFolio>,
        max: usize,
    ) -> Result<usize> {
        let spare = folios.spare_capacity_mut();
        let room = u32::try_from(spare.len().min(max)).unwrap_or(u32::MAX);
        let mut offset: usize = 0;
        // SAFETY: The file is valid; `spare` has room for `room` folio
        // pointers (`PinnedFolio` is a transparent `NonNull<folio>`), and
        // `offset` is a valid `pgoff_t` to write to. A `room` of 0 fails.
        let ret = unsafe {
            bindings::memfd_pin_folios(
                self.memfd.0.as_ptr(),
                start,
                end,
                spare.as_mut_ptr().cast(),
                room,
                &mut offset,
            )
        };
        let n = usize::try_from(ret).map_err(|_| Error::from_errno(ret as i32))?;
        if n == 0 {
            return Err(EINVAL);
        }
        // SAFETY: `memfd_pin_folios` wrote `n <= room` pinned, non-null
        // folio pointers to the spare capacity: they are now initialised
        // `PinnedFolio`s that own their pins.
        unsafe { folios.inc_len(n) };
        Ok(offset)
    }
}

impl Drop for MemfdLocked<'_> {
    fn drop(&mut self) {
        // SAFETY: `inode_unlock_shared()` is `up_read()` of the inode's
        // `i_rwsem`, which by the type invariant we hold shared.
        unsafe { bindings::up_read(self.memfd.i_rwsem()) };
    }
}

// Keep the cast in `pin_folios` honest.
const _: () = assert!(
    core::mem::size_of::<PinnedFolio>() == core::mem::size_of::<NonNull<bindings::folio>>()
);

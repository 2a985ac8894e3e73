// SPDX-License-Identifier: GPL-2.0

//! `kernel::fs::file` for Linux 6.12: open files and their flags.
//!
//! C header: [include/linux/fs.h](srctree/include/linux/fs.h)
//!
//! 6.12's kernel crate has no file support (the kernel crate has it since
//! 6.13). This is the subset the project uses, in 7.3's shape.

#[cfg(kapi_udmabuf)]
use core::ptr::NonNull;

#[cfg(kapi_udmabuf)]
use kernel::prelude::*;
use kernel::types::Opaque;
#[cfg(kapi_udmabuf)]
use kernel::types::{
    ARef,
    AlwaysRefCounted, //
};

use crate::kapi::bindings;

/// Flags of open files (`f_flags`) and of new file descriptors.
pub(crate) mod flags {
    /// `O_RDWR`: open for reading and writing.
    #[cfg(kapi_udmabuf)]
    pub(crate) const O_RDWR: u32 = crate::kapi::bindings::O_RDWR;

    /// `O_CLOEXEC`: close the descriptor on `exec`.
    #[cfg(kapi_udmabuf)]
    pub(crate) const O_CLOEXEC: u32 = crate::kapi::bindings::O_CLOEXEC;
}

/// An open file (`struct file`), as file operations get it.
///
/// Only ever borrowed: the caller of the file operation holds the file for
/// the duration of the call.
///
/// # Invariants
///
/// The file is valid for as long as the reference to a `File` lives.
#[repr(transparent)]
pub(crate) struct File(Opaque<bindings::file>);

impl File {
    /// Returns the [`File`] behind the `struct file` at `ptr`.
    ///
    /// # Safety
    ///
    /// `ptr` must point to a valid file that stays valid for `'a`, as a file
    /// operation's file does for the duration of the operation.
    pub(crate) unsafe fn from_raw_file<'a>(ptr: *const bindings::file) -> &'a File {
        // CAST: `File` is a transparent wrapper of `Opaque<bindings::file>`,
        // which has the layout of `struct file`.
        // SAFETY: By the safety requirements the file is valid for `'a`; an
        // `Opaque` may be shared with C, which changes it under the
        // reference.
        // INVARIANT: The file stays valid for `'a`.
        unsafe { &*ptr.cast::<File>() }
    }

    /// Returns the `struct file` of the file.
    #[cfg(kapi_heap)]
    pub(crate) fn as_ptr(&self) -> *mut bindings::file {
        self.0.get()
    }
}

/// A file looked up by descriptor (`fget`), holding a reference to it.
///
/// Local to the task that looked it up: neither `Send` nor `Sync`, as the
/// lookup may share the file with an `fdget_pos` region of that task.
///
/// # Invariants
///
/// The file is valid: an [`ARef`] holds a reference to it.
#[cfg(kapi_udmabuf)]
#[repr(transparent)]
pub(crate) struct LocalFile(Opaque<bindings::file>);

#[cfg(kapi_udmabuf)]
impl LocalFile {
    /// Looks `fd` up in the current task's file table and takes a reference
    /// to the file (`fget`). Fails with `EBADF` if `fd` is not open.
    pub(crate) fn fget(fd: u32) -> Result<ARef<LocalFile>> {
        // SAFETY: `fget` may be called with any descriptor number from
        // process context; it returns a new reference or null.
        let file = NonNull::new(unsafe { bindings::fget(fd) }).ok_or(EBADF)?;
        // CAST: `LocalFile` is a transparent wrapper of `struct file`.
        // SAFETY: We own the reference `fget` took, which the `ARef` takes
        // over.
        // INVARIANT: The reference keeps the file valid.
        Ok(unsafe { ARef::from_raw(file.cast::<LocalFile>()) })
    }

    /// Returns the `struct file` of the file.
    pub(crate) fn as_ptr(&self) -> *mut bindings::file {
        self.0.get()
    }
}

// SAFETY: `get_file` takes a reference to the file and `fput` drops one; the
// file stays valid while a reference is held, and `fput` frees it (deferred)
// when the last one goes.
#[cfg(kapi_udmabuf)]
unsafe impl AlwaysRefCounted for LocalFile {
    fn inc_ref(&self) {
        // SAFETY: By the type invariant the file is valid, and we hold a
        // reference, so its count is not zero.
        unsafe { bindings::rdmabuf_get_file(self.as_ptr()) };
    }

    unsafe fn dec_ref(obj: NonNull<Self>) {
        // SAFETY: By the safety requirements the caller owns a reference to
        // the file, which it gives up.
        unsafe { bindings::fput(obj.cast::<bindings::file>().as_ptr()) }
    }
}

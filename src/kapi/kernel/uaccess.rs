// SPDX-License-Identifier: GPL-2.0

//! `kernel::uaccess` for Linux 6.12, whose `UserPtr` is a `usize` alias
//! (a type of its own, with `from_addr`, since 6.17): kapi's [`UserPtr`]
//! and a [`UserSlice`] that takes it, over the kernel's, the subset the
//! project uses.
//!
//! C header: [include/linux/uaccess.h](srctree/include/linux/uaccess.h)

pub(crate) use kernel::uaccess::{
    UserSliceReader,
    UserSliceWriter, //
};

/// A pointer into user space: an address that only the user-copy functions
/// dereference.
#[derive(Copy, Clone)]
pub(crate) struct UserPtr(usize);

impl UserPtr {
    /// The pointer to user address `addr`.
    pub(crate) fn from_addr(addr: usize) -> Self {
        Self(addr)
    }
}

/// A range of user memory, `length` bytes from a [`UserPtr`].
pub(crate) struct UserSlice(kernel::uaccess::UserSlice);

impl UserSlice {
    /// The `length` bytes at `ptr`.
    pub(crate) fn new(ptr: UserPtr, length: usize) -> Self {
        Self(kernel::uaccess::UserSlice::new(ptr.0, length))
    }

    /// A reader of the range, from its start.
    pub(crate) fn reader(self) -> UserSliceReader {
        self.0.reader()
    }

    /// A writer of the range, from its start.
    #[cfg(kapi_heap)]
    pub(crate) fn writer(self) -> UserSliceWriter {
        self.0.writer()
    }
}

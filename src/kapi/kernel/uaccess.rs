// SPDX-License-Identifier: GPL-2.0

//! `kernel::uaccess` for Linux 6.12, whose `UserPtr` is a `usize` alias
//! (a type of its own, with `from_addr`, since 6.17): kapi's [`UserPtr`]
//! and a [`UserSlice`] that takes it, over the kernel's, the subset the
//! project uses.
//!
//! C header: [include/linux/uaccess.h](srctree/include/linux/uaccess.h)

#[cfg(kapi_udmabuf)]
pub(crate) use kernel::uaccess::UserSliceReader;

/// A pointer into user space: an address that only the user-copy functions
/// dereference.
#[cfg(kapi_udmabuf)]
#[derive(Copy, Clone)]
pub(crate) struct UserPtr(usize);

#[cfg(kapi_udmabuf)]
impl UserPtr {
    /// The pointer to user address `addr`.
    pub(crate) fn from_addr(addr: usize) -> Self {
        Self(addr)
    }
}

/// A range of user memory, `length` bytes from a [`UserPtr`].
#[cfg(kapi_udmabuf)]
pub(crate) struct UserSlice(kernel::uaccess::UserSlice);

#[cfg(kapi_udmabuf)]
impl UserSlice {
    /// The `length` bytes at `ptr`.
    pub(crate) fn new(ptr: UserPtr, length: usize) -> Self {
        Self(kernel::uaccess::UserSlice::new(ptr.0, length))
    }

    /// A reader of the range, from its start.
    pub(crate) fn reader(self) -> UserSliceReader {
        self.0.reader()
    }
}

// SPDX-License-Identifier: GPL-2.0

//! `kernel::transmute` for Linux 6.12, which has `FromBytes` and `AsBytes`
//! in `kernel::types` (moved to `transmute` in 6.15), and an `AsBytes`
//! without methods: the subset the project uses.
//!
//! [`FromBytes`] is the kernel's, which its `UserSliceReader::read` takes;
//! [`AsBytes`] is kapi's own, with 7.3's `as_bytes_mut`.

pub(crate) use kernel::types::FromBytes;

/// Types whose values are all initialized bytes: no padding, no interior
/// mutability.
///
/// # Safety
///
/// Values of the type contain no uninitialized bytes and have no interior
/// mutability.
#[cfg(kapi_udmabuf)]
pub(crate) unsafe trait AsBytes {
    /// Returns `self` as a mutable slice of bytes.
    fn as_bytes_mut(&mut self) -> &mut [u8]
    where
        Self: FromBytes,
    {
        let len = size_of_val(self);
        // CAST: `Self` is all initialized bytes (`AsBytes`) and any bytes
        // are a valid `Self` (`FromBytes`).
        let data = core::ptr::from_mut(self).cast::<u8>();
        // SAFETY: `data` is valid for reads and writes of `len` bytes, as
        // long as `self` is borrowed; every byte is initialized and
        // whatever is written keeps `self` valid.
        unsafe { core::slice::from_raw_parts_mut(data, len) }
    }
}

// SAFETY: The elements have no uninitialized bytes and the slice adds none.
#[cfg(kapi_udmabuf)]
unsafe impl<T: AsBytes> AsBytes for [T] {}

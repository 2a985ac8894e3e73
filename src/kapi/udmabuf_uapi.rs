// SPDX-License-Identifier: GPL-2.0

//! The userspace ABI of udmabuf: its ioctl structures, readable from user
//! memory (`FromBytes`).
//!
//! C header: [include/uapi/linux/udmabuf.h](srctree/include/uapi/linux/udmabuf.h)

use crate::kapi::kernel::transmute::{
    AsBytes,
    FromBytes, //
};
use kernel::ioctl::_IOW;

/// `UDMABUF_FLAGS_CLOEXEC`: the new dma-buf fd is close-on-exec.
pub(crate) const UDMABUF_FLAGS_CLOEXEC: u32 = 0x01;

/// `struct udmabuf_create`: one memfd range.
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub(crate) struct UdmabufCreate {
    pub(crate) memfd: u32,
    pub(crate) flags: u32,
    pub(crate) offset: u64,
    pub(crate) size: u64,
}

/// `struct udmabuf_create_item`: one range of a list.
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub(crate) struct UdmabufCreateItem {
    pub(crate) memfd: u32,
    pub(crate) __pad: u32,
    pub(crate) offset: u64,
    pub(crate) size: u64,
}

/// `struct udmabuf_create_list`: the header of a list; `count` items follow it.
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub(crate) struct UdmabufCreateList {
    pub(crate) flags: u32,
    pub(crate) count: u32,
}

// SAFETY: Plain `repr(C)` integers without padding: every bit pattern is valid.
unsafe impl FromBytes for UdmabufCreate {}
// SAFETY: Plain `repr(C)` integers without padding.
unsafe impl AsBytes for UdmabufCreate {}
// SAFETY: Plain `repr(C)` integers without padding: every bit pattern is valid.
unsafe impl FromBytes for UdmabufCreateItem {}
// SAFETY: Plain `repr(C)` integers without padding.
unsafe impl AsBytes for UdmabufCreateItem {}
// SAFETY: Plain `repr(C)` integers without padding: every bit pattern is valid.
unsafe impl FromBytes for UdmabufCreateList {}
// SAFETY: Plain `repr(C)` integers without padding.
unsafe impl AsBytes for UdmabufCreateList {}

/// `UDMABUF_CREATE`: `_IOW('u', 0x42, struct udmabuf_create)`.
pub(crate) const UDMABUF_CREATE: u32 = _IOW::<UdmabufCreate>('u' as u32, 0x42);
/// `UDMABUF_CREATE_LIST`: `_IOW('u', 0x43, struct udmabuf_create_list)`.
pub(crate) const UDMABUF_CREATE_LIST: u32 = _IOW::<UdmabufCreateList>('u' as u32, 0x43);

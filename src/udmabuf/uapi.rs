// SPDX-License-Identifier: GPL-2.0

//! The userspace ABI of udmabuf, defined in [`crate::kapi::udmabuf_uapi`]
//! (its byte-level trait implementations are `unsafe`), and its checks.

pub(crate) use crate::kapi::udmabuf_uapi::*;

#[cfg(CONFIG_KUNIT = "y")]
mod tests {
    use super::*;
    use crate::kapi::kunit::{
        assert_eq,
        kunit_suite, //
    };

    fn ioctl_numbers_match_upstream() {
        // The values userspace compiles from include/uapi/linux/udmabuf.h.
        assert_eq!(UDMABUF_CREATE, 0x4018_7542);
        assert_eq!(UDMABUF_CREATE_LIST, 0x4008_7543);
    }

    fn struct_layouts_match_upstream() {
        assert_eq!(core::mem::size_of::<UdmabufCreate>(), 24);
        assert_eq!(core::mem::size_of::<UdmabufCreateItem>(), 24);
        assert_eq!(core::mem::size_of::<UdmabufCreateList>(), 8);
    }

    kunit_suite!(
        rudmabuf_uapi,
        [ioctl_numbers_match_upstream, struct_layouts_match_upstream]
    );
}

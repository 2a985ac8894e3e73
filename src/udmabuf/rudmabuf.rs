// SPDX-License-Identifier: GPL-2.0

//! rudmabuf: memfd ranges exported as dma-bufs, a Rust `udmabuf`.
//!
//! Serves `/dev/udmabuf` (the name is the `device_name` parameter) with the
//! `UDMABUF_CREATE` and `UDMABUF_CREATE_LIST` ioctls of
//! [include/uapi/linux/udmabuf.h](srctree/include/uapi/linux/udmabuf.h), with
//! the behaviour of `drivers/dma-buf/udmabuf.c`, and keeps each buffer's
//! pinned folios in a compact run table ([`folio_table`]).

use core::fmt;

use crate::kapi::kernel::debugfs::{
    Dir,
    File as DebugFsFile, //
};
use crate::kapi::kernel::device::Device;
use crate::kapi::kernel::fs::File;
use crate::kapi::kernel::miscdevice::{
    MiscDevice,
    MiscDeviceOptions,
    MiscDeviceRegistration, //
};
use crate::kapi::kernel::prelude::*;
use crate::kapi::kernel::sync::aref::ARef;
use crate::kapi::kernel::transmute::AsBytes;
use crate::kapi::kernel::uaccess::{
    UserPtr,
    UserSlice, //
};

mod buffer;
mod create;
mod folio_table;
// Shared by both modules (see its documentation).
#[path = "../kapi/mod.rs"]
mod kapi;
mod stats;
mod uapi;

use uapi::{
    UdmabufCreate,
    UdmabufCreateItem,
    UdmabufCreateList, //
};

module! {
    type: RudmabufModule,
    name: "rudmabuf",
    authors: ["rdmabuf developers"],
    description: "userspace dmabuf misc driver (Rust udmabuf)",
    license: "GPL",
    imports_ns: ["DMA_BUF"],
}

/// The module: the misc device and the debugfs statistics.
#[pin_data]
struct RudmabufModule {
    #[pin]
    misc: MiscDeviceRegistration<UdmabufFile>,
    #[pin]
    _stats: DebugFsFile<()>,
    _debugfs: Dir,
}

fn show_stats(_: &(), f: &mut fmt::Formatter<'_>) -> fmt::Result {
    stats::show(f)
}

impl crate::kapi::kernel::InPlaceModule for RudmabufModule {
    fn init(_module: &'static ThisModule) -> impl PinInit<Self, Error> {
        let options = MiscDeviceOptions {
            name: kapi::params::udmabuf_device_name(),
        };
        let debugfs = Dir::new(c"rudmabuf");
        // Importers see the udmabuf device as able to address all memory,
        // as upstream sets it up.
        let misc = MiscDeviceRegistration::register(options).pin_chain(|misc| {
            kapi::device::set_up_misc_dma_mask(misc, 64).inspect_err(|_| {
                pr_err!("Could not setup DMA mask for udmabuf device\n");
            })
        });
        try_pin_init!(Self {
            misc <- misc,
            _stats <- debugfs.read_callback_file(c"stats", (), &show_stats),
            _debugfs: debugfs,
        })
    }
}

/// An open file of the misc device.
struct UdmabufFile {
    /// The misc device, which buffers use for their own CPU-access mappings.
    dev: ARef<Device>,
}

impl UdmabufFile {
    /// `UDMABUF_CREATE`: one item.
    fn ioctl_create(&self, arg: usize) -> Result<i32> {
        let mut reader =
            UserSlice::new(UserPtr::from_addr(arg), size_of::<UdmabufCreate>()).reader();
        let create: UdmabufCreate = reader.read()?;
        let item = UdmabufCreateItem {
            memfd: create.memfd,
            __pad: 0,
            offset: create.offset,
            size: create.size,
        };
        create::create(&self.dev, create.flags, &[item])
    }

    /// `UDMABUF_CREATE_LIST`: a header and `count` items after it.
    fn ioctl_create_list(&self, arg: usize) -> Result<i32> {
        let head_size = size_of::<UdmabufCreateList>();
        let head: UdmabufCreateList = UserSlice::new(UserPtr::from_addr(arg), head_size)
            .reader()
            .read()?;
        // As upstream, `count > list_limit` compares as unsigned.
        if head.count > kapi::params::udmabuf_list_limit() as u32 {
            return Err(EINVAL);
        }
        let count = head.count as usize;
        let mut items = KVVec::from_elem(UdmabufCreateItem::default(), count, GFP_KERNEL)?;
        let bytes = items.as_mut_slice().as_bytes_mut();
        UserSlice::new(UserPtr::from_addr(arg + head_size), bytes.len())
            .reader()
            .read_slice(bytes)?;
        create::create(&self.dev, head.flags, &items)
    }
}

#[vtable]
impl MiscDevice for UdmabufFile {
    type Ptr = KBox<Self>;

    fn open(_file: &File, misc: &MiscDeviceRegistration<Self>) -> Result<KBox<Self>> {
        Ok(KBox::new(
            UdmabufFile {
                dev: misc.device().into(),
            },
            GFP_KERNEL,
        )?)
    }

    // 32-bit callers go through `compat_ptr_ioctl`: the structures have the
    // same layout for both ABIs.
    fn ioctl(me: &UdmabufFile, _file: &File, cmd: u32, arg: usize) -> Result<isize> {
        let fd = match cmd {
            uapi::UDMABUF_CREATE => me.ioctl_create(arg)?,
            uapi::UDMABUF_CREATE_LIST => me.ioctl_create_list(arg)?,
            _ => return Err(ENOTTY),
        };
        Ok(fd as isize)
    }
}

// SPDX-License-Identifier: GPL-2.0

//! rudmabuf: memfd ranges exported as dma-bufs, a Rust `udmabuf`.
//!
//! Serves `/dev/udmabuf` (the name is the `device_name` parameter) with the
//! `UDMABUF_CREATE` and `UDMABUF_CREATE_LIST` ioctls of
//! [include/uapi/linux/udmabuf.h](srctree/include/uapi/linux/udmabuf.h), with
//! the behaviour of `drivers/dma-buf/udmabuf.c`.

use kernel::device::Device;
use kernel::fs::File;
use kernel::miscdevice::{
    MiscDevice,
    MiscDeviceOptions,
    MiscDeviceRegistration, //
};
use kernel::prelude::*;
use kernel::sync::aref::ARef;

// Shared by both modules; this one does not use all of it.
#[path = "../kapi/mod.rs"]
#[allow(dead_code)]
mod kapi;
mod uapi;

module! {
    type: RudmabufModule,
    name: "rudmabuf",
    authors: ["rdmabuf developers"],
    description: "userspace dmabuf misc driver (Rust udmabuf)",
    license: "GPL",
    imports_ns: ["DMA_BUF"],
}

/// The module: owns the misc device registration.
#[pin_data]
struct RudmabufModule {
    #[pin]
    misc: MiscDeviceRegistration<UdmabufFile>,
}

impl kernel::InPlaceModule for RudmabufModule {
    fn init(_module: &'static ThisModule) -> impl PinInit<Self, Error> {
        let options = MiscDeviceOptions {
            name: kapi::params::udmabuf_device_name(),
        };
        try_pin_init!(Self {
            misc <- MiscDeviceRegistration::register(options),
        })
        .pin_chain(|this| {
            // Importers see the udmabuf device as able to address all memory,
            // as upstream sets it up.
            kapi::device::coerce_dma_mask_64(this.misc.device()).inspect_err(|_| {
                pr_err!("Could not setup DMA mask for udmabuf device\n");
            })
        })
    }
}

/// An open file of the misc device.
struct UdmabufFile {
    /// The misc device, which exported buffers use for their own DMA mappings.
    dev: ARef<Device>,
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

    fn ioctl(me: &UdmabufFile, _file: &File, cmd: u32, _arg: usize) -> Result<isize> {
        let _ = &me.dev;
        match cmd {
            uapi::UDMABUF_CREATE | uapi::UDMABUF_CREATE_LIST => Err(ENOTTY),
            _ => Err(ENOTTY),
        }
    }
}

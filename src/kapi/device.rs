// SPDX-License-Identifier: GPL-2.0

//! Raw access to a [`Device`] and its DMA settings.
//!
//! C header: [include/linux/dma-mapping.h](srctree/include/linux/dma-mapping.h)

use kernel::device::{
    Bound,
    Device, //
};
use kernel::error::to_result;
use kernel::faux;
use kernel::prelude::*;

use super::bindings;

/// Returns the `struct device` behind `dev`.
pub(super) fn as_raw(dev: &Device) -> *mut bindings::device {
    // CAST: `Device` is a `#[repr(transparent)]` wrapper of
    // `Opaque<bindings::device>` (`Device::as_raw` is crate-private).
    core::ptr::from_ref(dev)
        .cast::<bindings::device>()
        .cast_mut()
}

/// Sets the streaming and coherent DMA masks of `dev` to 64 bits, as
/// `dma_coerce_mask_and_coherent(dev, DMA_BIT_MASK(64))` does.
pub(crate) fn coerce_dma_mask_64(dev: &Device) -> Result {
    // SAFETY: `dev` is a valid `struct device` for the lifetime of the
    // reference; setting its DMA masks has no other requirement.
    to_result(unsafe { bindings::rdmabuf_dma_coerce_mask_64(as_raw(dev)) })
}

/// A faux device able to address all memory: an importer for tests that
/// attach to and map dma-bufs.
pub(crate) struct TestImporter(faux::Registration);

impl TestImporter {
    /// Registers the device `name` and sets its DMA masks to 64 bits.
    pub(crate) fn new(name: &'static CStr) -> Result<Self> {
        let importer = Self(faux::Registration::new(name, None)?);
        coerce_dma_mask_64(importer.dev())?;
        Ok(importer)
    }

    /// Returns the device.
    pub(crate) fn dev(&self) -> &Device {
        let faux_dev: &faux::Device<Bound> = self.0.as_ref();
        let bound: &Device<Bound> = faux_dev.as_ref();
        bound
    }
}

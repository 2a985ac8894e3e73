// SPDX-License-Identifier: GPL-2.0

//! Raw access to a [`Device`] and its DMA settings.
//!
//! C header: [include/linux/dma-mapping.h](srctree/include/linux/dma-mapping.h)

use kernel::device::Device;
use kernel::error::to_result;
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

/// Sets the streaming and coherent DMA masks of `dev` to `bits` bits, as
/// `dma_coerce_mask_and_coherent(dev, DMA_BIT_MASK(bits))` does.
pub(crate) fn coerce_dma_mask(dev: &Device, bits: u32) -> Result {
    if !(1..=64).contains(&bits) {
        return Err(EINVAL);
    }
    // SAFETY: `dev` is a valid `struct device` for the lifetime of the
    // reference; setting its DMA masks has no other requirement.
    to_result(unsafe { bindings::rdmabuf_dma_coerce_mask(as_raw(dev), bits) })
}

/// A faux device that imports dma-bufs in KUnit tests.
#[cfg(CONFIG_KUNIT = "y")]
pub(crate) struct TestImporter(kernel::faux::Registration);

#[cfg(CONFIG_KUNIT = "y")]
impl TestImporter {
    /// Registers the device `name` with a DMA mask of `mask_bits` bits.
    pub(crate) fn new(name: &'static CStr, mask_bits: u32) -> Result<Self> {
        let importer = Self(kernel::faux::Registration::new(name, None)?);
        coerce_dma_mask(importer.dev(), mask_bits)?;
        Ok(importer)
    }

    /// Returns the device.
    pub(crate) fn dev(&self) -> &Device {
        let faux_dev: &kernel::faux::Device<kernel::device::Bound> = self.0.as_ref();
        let bound: &Device<kernel::device::Bound> = faux_dev.as_ref();
        bound
    }

    /// Returns whether the device's DMA is cache-coherent with the CPU (if
    /// not, every map and sync does cache maintenance).
    #[cfg(kapi_udmabuf)]
    pub(crate) fn coherent(&self) -> bool {
        // SAFETY: The device is registered and valid.
        unsafe { bindings::rdmabuf_test_dma_coherent(as_raw(self.dev())) }
    }

    /// Returns whether every streaming DMA mapping of the device bounces
    /// through swiotlb (a `swiotlb=force` boot).
    pub(crate) fn bounces(&self) -> bool {
        // SAFETY: The device is registered and valid.
        unsafe { bindings::rdmabuf_test_swiotlb_force_bounce(as_raw(self.dev())) }
    }

    /// Returns a buffer size that does not fit the device's swiotlb when
    /// its mappings bounce (twice the pool), and 32 MiB otherwise.
    pub(crate) fn past_the_bounce_buffer(&self) -> usize {
        // SAFETY: The device is registered and valid.
        let swiotlb = unsafe { bindings::rdmabuf_test_swiotlb_bytes(as_raw(self.dev())) };
        if self.bounces() {
            2 * swiotlb as usize
        } else {
            32 << 20
        }
    }
}

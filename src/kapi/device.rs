// SPDX-License-Identifier: GPL-2.0

//! Raw access to a [`Device`] and its DMA settings.
//!
//! C header: [include/linux/dma-mapping.h](srctree/include/linux/dma-mapping.h)

use crate::kapi::kernel::device::Device;
use crate::kapi::kernel::prelude::*;
use kernel::error::to_result;

use super::bindings;

/// Returns the `struct device` behind `dev`.
pub(super) fn as_raw(dev: &Device) -> *mut bindings::device {
    // CAST: `Device` is a `#[repr(transparent)]` wrapper of
    // `Opaque<bindings::device>` (`Device::as_raw` is crate-private).
    core::ptr::from_ref(dev)
        .cast::<bindings::device>()
        .cast_mut()
}

/// Returns the [`Device`] behind the `struct device` at `ptr`.
///
/// # Safety
///
/// `ptr` must point to a valid `struct device` that stays valid for `'a`.
pub(super) unsafe fn from_raw<'a>(ptr: *mut bindings::device) -> &'a Device {
    // CAST: `Device` is a `#[repr(transparent)]` wrapper of
    // `Opaque<bindings::device>` on every supported kernel (7.3 has
    // `Device::from_raw`, 6.12 `Device::as_ref` for this).
    // SAFETY: By the safety requirements the device is valid for `'a`; an
    // `Opaque` may be shared with C, which changes it under the reference.
    unsafe { &*ptr.cast::<Device>() }
}

/// Returns whether DMA syncs for `dev` do anything: `dma_dev_need_sync()`,
/// the test by which the inline `dma_sync_*` skip the exported
/// `__dma_sync_*` (a coherent device that never bounces skips them; with
/// DMA-API debugging every sync is made, to be checked).
pub(super) fn dma_needs_sync(dev: &Device) -> bool {
    // SAFETY: `dev` is a valid device. Its skip flag is read unlocked, as
    // every inline `dma_sync_*` of C reads it.
    unsafe { bindings::rdmabuf_dma_need_sync(as_raw(dev)) }
}

/// Returns whether `dev`'s DMA is cache-coherent with the CPU
/// (`dev_is_dma_coherent()`): always where the architecture has no cache
/// maintenance for DMA, else the device's own setting.
#[cfg(CONFIG_KUNIT = "y")]
pub(super) fn dma_coherent(dev: &Device) -> bool {
    // SAFETY: `dev` is a valid device, whose coherence is set when it is
    // initialised and not changed after.
    unsafe { bindings::rdmabuf_dma_coherent(as_raw(dev)) }
}

/// Returns the highest DMA address `dev` can reach, as `dma_capable()`
/// bounds it: `min_not_zero(*dev->dma_mask, dev->bus_dma_limit)`, 0 for a
/// device without a DMA mask.
#[cfg(CONFIG_KUNIT = "y")]
pub(super) fn dma_limit(dev: &Device) -> u64 {
    let dev = as_raw(dev);
    // SAFETY: `dev` is a valid device; its `dma_mask` points to its own
    // mask (or another that lives as long as the device) or is NULL. The
    // masks change only at set-up (`coerce_dma_mask`), not concurrently.
    let (mask, limit) = unsafe {
        let mask = (*dev).dma_mask;
        (if mask.is_null() { 0 } else { *mask }, (*dev).bus_dma_limit)
    };
    match (mask, limit) {
        (0, _) => 0,
        (mask, 0) => mask,
        (mask, limit) => mask.min(limit),
    }
}

/// Sets the streaming and coherent DMA masks of `dev` to `bits` bits, as
/// `dma_coerce_mask_and_coherent(dev, DMA_BIT_MASK(bits))` does.
///
/// # Safety
///
/// No DMA mapping or allocation for `dev` may exist or be made while this
/// runs: `dma_coerce_mask_and_coherent` points `dev->dma_mask` at
/// `dev->coherent_dma_mask` and stores both with plain writes, which every
/// map of the DMA API reads unlocked, and an existing mapping is not
/// checked against a new mask (the kernel crate's `dma_set_mask*` are
/// `unsafe` for the same reason).
pub(super) unsafe fn coerce_dma_mask(dev: &Device, bits: u32) -> Result {
    // `DMA_BIT_MASK(bits)`.
    let mask = match bits {
        64 => u64::MAX,
        1..64 => (1u64 << bits) - 1,
        _ => return Err(EINVAL),
    };
    // SAFETY: `dev` is a valid `struct device` for the lifetime of the
    // reference, and by the safety requirements nothing maps for it
    // meanwhile: `dma_coerce_mask_and_coherent()` points its streaming mask
    // at its own coherent mask (a field of the device, as long-lived), then
    // sets both.
    to_result(unsafe { bindings::rdmabuf_dma_coerce_mask_and_coherent(as_raw(dev), mask) })
}

/// Returns the largest DMA segment `dev` takes, in bytes, as
/// `dma_get_max_seg_size()` does: the limit of its DMA parameters, or 64 KiB
/// without one.
pub(super) fn dma_max_seg_size(dev: &Device) -> u32 {
    let dev = as_raw(dev);
    // SAFETY: `dev` is a valid device. Its `dma_parms` is NULL or points to
    // parameters that live as long as the device (its bus's or driver's),
    // set while the device is set up, before anything maps for it, as every
    // reader in the DMA API assumes (they read them unlocked too).
    let max = unsafe {
        let parms = (*dev).dma_parms;
        if parms.is_null() {
            0
        } else {
            (*parms).max_segment_size
        }
    };
    if max != 0 {
        max
    } else {
        bindings::SZ_64K
    }
}

/// Sets the DMA masks of the misc device that `misc` registered to `bits`
/// bits, as upstream udmabuf's init does right after `misc_register`.
///
/// Confined to device set-up: it takes the registration by exclusive
/// reference, which only the module's init has (afterwards the module is
/// shared). What maps for the device is a buffer of this module, made
/// through a file of the device, so nothing of this module's maps for it
/// before the first file is opened.
#[cfg(kapi_udmabuf)]
pub(crate) fn set_up_misc_dma_mask<T: crate::kapi::kernel::miscdevice::MiscDevice>(
    misc: Pin<&mut crate::kapi::kernel::miscdevice::MiscDeviceRegistration<T>>,
    bits: u32,
) -> Result {
    // SAFETY: Only init holds the registration exclusively (see above), so
    // this runs while the module sets the device up. A file opened in the
    // moment since `misc_register` and mapping before this store is the
    // window that upstream's `udmabuf_dev_init` has too: such a map either
    // sees the NULL `dma_mask` of a new device and fails
    // (`dma_map_sg_attrs` warns and returns 0), or the mask set here.
    unsafe { coerce_dma_mask(misc.device(), bits) }
}

// SPDX-License-Identifier: GPL-2.0

//! `kernel::device` for Linux 6.12: the subset of 7.3's that the project
//! uses.
//!
//! 6.12's kernel crate has `Device` (a reference-counted `struct device`),
//! but not generic over a device context (`Device<Ctx>` and `Bound` arrived
//! in 6.16), and with `Device::as_ref` where 7.3 has `Device::from_raw`. The project uses `Device` only as it is on both:
//! passed by reference, held as an `ARef`. kapi turns raw pointers into it
//! itself (`src/kapi/device.rs`), and its test importer is a root device,
//! which needs no device context either.
//!
//! C header: [include/linux/device.h](srctree/include/linux/device.h)

pub(crate) use kernel::device::Device;

// SPDX-License-Identifier: GPL-2.0

//! The kernel crate as the drivers see it.
//!
//! Driver code (`src/udmabuf`, `src/system_heap`) and kapi name kernel-crate
//! items that differ between the supported kernels only through this module,
//! as `crate::kapi::kernel::<path>` for the kernel crate's `kernel::<path>`.
//! On Linux 7.3 every item is the kernel crate's own. Linux 6.12's kernel
//! crate lacks many of them or has them in another shape: there the item of
//! the same path is kapi's own, one file per facility under `kernel/`, each
//! saying what 6.12 lacks. The drivers are the same source on both kernels.

// Each module uses a part of the kernel crate: what one of them does not
// use is still named here, once for both.
#![allow(unused_imports)]

#[cfg(not(kernel_6_12))]
pub(crate) use kernel::{
    cpu,
    debugfs,
    device,
    dma,
    fs,
    miscdevice,
    mm,
    page,
    prelude,
    sync,
    time,
    transmute,
    uaccess,
    workqueue,
    InPlaceModule,
    Module,
    ModuleMetadata, //
};

// What Linux 6.12's kernel crate has as 7.3's has it.
#[cfg(kernel_6_12)]
pub(crate) use kernel::{
    page,
    Module, //
};

// What it lacks or has in another shape.
#[cfg(kernel_6_12)]
pub(crate) mod cpu;
#[cfg(kernel_6_12)]
pub(crate) mod debugfs;
#[cfg(kernel_6_12)]
pub(crate) mod device;
#[cfg(kernel_6_12)]
pub(crate) mod dma;
#[cfg(kernel_6_12)]
pub(crate) mod fs;
#[cfg(kernel_6_12)]
pub(crate) mod miscdevice;
#[cfg(kernel_6_12)]
pub(crate) mod mm;
#[cfg(kernel_6_12)]
pub(crate) mod module;
#[cfg(kernel_6_12)]
pub(crate) use module::{
    InPlaceModule,
    ModuleMetadata, //
};
#[cfg(kernel_6_12)]
pub(crate) mod prelude;
#[cfg(kernel_6_12)]
pub(crate) mod sync;
#[cfg(kernel_6_12)]
pub(crate) mod time;
#[cfg(kernel_6_12)]
pub(crate) mod transmute;
#[cfg(kernel_6_12)]
pub(crate) mod uaccess;
#[cfg(kernel_6_12)]
pub(crate) mod workqueue;

pub(crate) use kernel::{
    new_condvar,
    new_mutex,
    new_spinlock, //
};

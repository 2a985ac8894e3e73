// SPDX-License-Identifier: GPL-2.0

//! The kernel crate as the drivers see it.
//!
//! Driver code (`src/udmabuf`, `src/system_heap`) names kernel-crate items
//! only through this module, as `crate::kapi::kernel::<path>` for the
//! kernel crate's `kernel::<path>`, never directly. A kernel whose crate
//! lacks an item or has it in another shape (Linux 6.12 has no
//! `miscdevice`, `debugfs`, `fs::File`, `sync::atomic` or `dma`: issue 31)
//! is then served here by kapi's own item of the same path, and the drivers
//! do not change. On Linux 7.3 every item is the kernel crate's own.

// Each module uses a part of the kernel crate: what one of them does not
// use is still named here, once for both.
#![allow(unused_imports)]

pub(crate) use kernel::{
    cpu,
    debugfs,
    device,
    dma,
    fs,
    miscdevice,
    page,
    prelude,
    sync,
    time,
    transmute,
    uaccess,
    workqueue,
    InPlaceModule,
    Module, //
};

pub(crate) use kernel::{
    new_condvar,
    new_mutex,
    new_spinlock, //
};

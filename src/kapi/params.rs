// SPDX-License-Identifier: GPL-2.0

//! Module parameters.
//!
//! The parameters are declared in C (`src/<module>/params.c`) so that they are
//! visible, and where upstream allows it writable, under
//! `/sys/module/<module>/parameters/`; Rust's `module!` parameters are not.

use kernel::ffi::c_char;
use kernel::prelude::*;

use super::bindings;

/// Turns the value of a `charp` module parameter into a `CStr`.
///
/// # Safety
///
/// `ptr` must point to a NUL-terminated string that stays valid and unchanged
/// while the module is loaded (true of a read-only `charp` parameter).
unsafe fn param_cstr(ptr: *const c_char) -> &'static CStr {
    // SAFETY: By the function's safety requirements.
    unsafe { CStr::from_char_ptr(ptr) }
}

/// `rudmabuf.list_limit`: the most items a `UDMABUF_CREATE_LIST` may have.
#[cfg(kapi_udmabuf)]
pub(crate) fn udmabuf_list_limit() -> i32 {
    // SAFETY: A plain accessor of a module parameter, callable at any time.
    unsafe { bindings::rudmabuf_list_limit() }
}

/// `rudmabuf.size_limit_mb`: the largest udmabuf, in MiB.
#[cfg(kapi_udmabuf)]
pub(crate) fn udmabuf_size_limit_mb() -> i32 {
    // SAFETY: A plain accessor of a module parameter, callable at any time.
    unsafe { bindings::rudmabuf_size_limit_mb() }
}

/// `rudmabuf.device_name`: the name of the misc device.
#[cfg(kapi_udmabuf)]
pub(crate) fn udmabuf_device_name() -> &'static CStr {
    // SAFETY: `device_name` is a read-only (0444) `charp` parameter: it is
    // set before init and never changes while the module is loaded.
    unsafe { param_cstr(bindings::rudmabuf_device_name()) }
}

/// `rsystem_heap.heap_name`: the name of the heap.
#[cfg(kapi_heap)]
pub(crate) fn system_heap_name() -> &'static CStr {
    // SAFETY: `heap_name` is a read-only (0444) `charp` parameter: it is set
    // before init and never changes while the module is loaded.
    unsafe { param_cstr(bindings::rsystem_heap_name()) }
}

/// `rsystem_heap.pool_low_mb`: what idle pools decay to, in MiB.
#[cfg(kapi_heap)]
pub(crate) fn system_heap_pool_low_mb() -> i32 {
    // SAFETY: A plain accessor of a module parameter, callable at any time.
    unsafe { bindings::rsystem_heap_pool_low_mb() }
}

/// `rsystem_heap.pool_idle_ms`: the idle time after which the pools decay.
#[cfg(kapi_heap)]
pub(crate) fn system_heap_pool_idle_ms() -> i32 {
    // SAFETY: A plain accessor of a module parameter, callable at any time.
    unsafe { bindings::rsystem_heap_pool_idle_ms() }
}

/// `rsystem_heap.zero_helpers`: helper zeroing threads (-1: automatic).
#[cfg(kapi_heap)]
pub(crate) fn system_heap_zero_helpers() -> i32 {
    // SAFETY: A plain accessor of a module parameter, callable at any time.
    unsafe { bindings::rsystem_heap_zero_helpers() }
}

/// `rsystem_heap.pool_max_mb`: the most memory the page pools keep, in MiB.
#[cfg(kapi_heap)]
pub(crate) fn system_heap_pool_max_mb() -> i32 {
    // SAFETY: A plain accessor of a module parameter, callable at any time.
    unsafe { bindings::rsystem_heap_pool_max_mb() }
}

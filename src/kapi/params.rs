// SPDX-License-Identifier: GPL-2.0

//! Module parameters.
//!
//! The parameters are declared in C (`src/<module>/params.c`) so that they are
//! visible, and where upstream allows it writable, under
//! `/sys/module/<module>/parameters/`; Rust's `module!` parameters are not.
//! The C variables are global (not static) and reach Rust through the
//! project's bindgen step, so no accessor functions are needed.

use crate::kapi::kernel::prelude::*;
use kernel::ffi::c_char;

use super::bindings;

/// Reads an `int` module parameter, as C's `READ_ONCE()` does.
///
/// # Safety
///
/// `param` must be a module parameter of this module (a global that lives as
/// long as the module), written only by the parameter code (`param_set_int()`
/// under `kernel_param_lock()`, a single aligned word store).
unsafe fn read_int(param: *const i32) -> i32 {
    // SAFETY: `param` is valid and aligned for the module's lifetime by the
    // function's requirements. A volatile word-sized load is how Rust
    // expresses `READ_ONCE()`: it is neither torn nor merged with other loads,
    // so a concurrent sysfs write is seen either before or after.
    unsafe { core::ptr::read_volatile(param) }
}

/// Turns the value of a read-only `charp` module parameter into a `CStr`.
///
/// # Safety
///
/// `param` must be a `charp` module parameter of this module with mode 0444:
/// it is set before the module's init runs and never changes while the module
/// is loaded, and it points to a NUL-terminated string that lives as long.
unsafe fn read_charp(param: *const *mut c_char) -> &'static CStr {
    // SAFETY: By the function's requirements the pointer is valid, and
    // constant while the module is loaded, and so is the string: its
    // `strlen` bytes and the NUL after them. (The kernel crates differ in
    // how they make a `CStr` from a C pointer; this is the same on both.)
    unsafe {
        let string = *param;
        CStr::from_bytes_with_nul_unchecked(core::slice::from_raw_parts(
            string.cast_const(),
            bindings::strlen(string) + 1,
        ))
    }
}

/// `rudmabuf.list_limit`: the most items a `UDMABUF_CREATE_LIST` may have.
#[cfg(kapi_udmabuf)]
pub(crate) fn udmabuf_list_limit() -> i32 {
    // SAFETY: `rudmabuf_list_limit` is an `int` module parameter of this module.
    unsafe { read_int(&raw const bindings::rudmabuf_list_limit) }
}

/// `rudmabuf.size_limit_mb`: the largest udmabuf, in MiB.
#[cfg(kapi_udmabuf)]
pub(crate) fn udmabuf_size_limit_mb() -> i32 {
    // SAFETY: `rudmabuf_size_limit_mb` is an `int` module parameter of this module.
    unsafe { read_int(&raw const bindings::rudmabuf_size_limit_mb) }
}

/// `rudmabuf.device_name`: the name of the misc device.
#[cfg(kapi_udmabuf)]
pub(crate) fn udmabuf_device_name() -> &'static CStr {
    // SAFETY: `rudmabuf_device_name` is a read-only (0444) `charp` module parameter of this
    // module.
    unsafe { read_charp(&raw const bindings::rudmabuf_device_name) }
}

/// `rsystem_heap.heap_name`: the name of the heap.
#[cfg(kapi_heap)]
pub(crate) fn system_heap_name() -> &'static CStr {
    // SAFETY: `rsystem_heap_name` is a read-only (0444) `charp` module parameter of this
    // module.
    unsafe { read_charp(&raw const bindings::rsystem_heap_name) }
}

/// `rsystem_heap.pool_low_mb`: what idle pools decay to, in MiB.
#[cfg(kapi_heap)]
pub(crate) fn system_heap_pool_low_mb() -> i32 {
    // SAFETY: `rsystem_heap_pool_low_mb` is an `int` module parameter of this module.
    unsafe { read_int(&raw const bindings::rsystem_heap_pool_low_mb) }
}

/// `rsystem_heap.pool_idle_ms`: the idle time after which the pools decay.
#[cfg(kapi_heap)]
pub(crate) fn system_heap_pool_idle_ms() -> i32 {
    // SAFETY: `rsystem_heap_pool_idle_ms` is an `int` module parameter of this module.
    unsafe { read_int(&raw const bindings::rsystem_heap_pool_idle_ms) }
}

/// `rsystem_heap.memcg_pool_max_mb`: the most memory one memory cgroup's
/// pool keeps, in MiB.
#[cfg(kapi_heap)]
pub(crate) fn system_heap_memcg_pool_max_mb() -> i32 {
    // SAFETY: `rsystem_heap_memcg_pool_max_mb` is an `int` module parameter of this module.
    unsafe { read_int(&raw const bindings::rsystem_heap_memcg_pool_max_mb) }
}

/// `rsystem_heap.zero_helpers`: helper zeroing threads (-1: automatic).
#[cfg(kapi_heap)]
pub(crate) fn system_heap_zero_helpers() -> i32 {
    // SAFETY: `rsystem_heap_zero_helpers` is an `int` module parameter of this module.
    unsafe { read_int(&raw const bindings::rsystem_heap_zero_helpers) }
}

/// `rsystem_heap.pool_max_mb`: the most memory the page pools keep, in MiB.
#[cfg(kapi_heap)]
pub(crate) fn system_heap_pool_max_mb() -> i32 {
    // SAFETY: `rsystem_heap_pool_max_mb` is an `int` module parameter of this module.
    unsafe { read_int(&raw const bindings::rsystem_heap_pool_max_mb) }
}

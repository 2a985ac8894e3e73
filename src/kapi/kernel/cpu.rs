// SPDX-License-Identifier: GPL-2.0

//! `kernel::cpu` for Linux 6.12, which lacks it (the kernel crate has
//! `nr_cpu_ids()` since 6.16): the subset the project uses, over a C
//! helper.
//!
//! C header: [include/linux/cpumask.h](srctree/include/linux/cpumask.h)

/// Returns the number of possible CPU ids (`nr_cpu_ids`): one more than the
/// highest possible CPU's.
#[cfg(kapi_heap)]
pub(crate) fn nr_cpu_ids() -> u32 {
    // SAFETY: `nr_cpu_ids` is set at boot, before modules load, and only
    // read afterwards.
    unsafe { crate::kapi::bindings::rdmabuf_nr_cpu_ids() }
}

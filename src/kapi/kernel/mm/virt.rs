// SPDX-License-Identifier: GPL-2.0

//! `kernel::mm::virt` for Linux 6.12: the subset of 7.3's that the project
//! uses, with its shape.
//!
//! 6.12's kernel crate has no VMA wrappers (`VmaRef`, `VmaNew` and the
//! `VM_*` flags arrived in 6.15). kapi reads a VMA's range and flags
//! through them; what it sets on a new VMA (`vm_ops`, private data,
//! `VM_PFNMAP`, `VM_DONTEXPAND`, `VM_DONTDUMP`) it sets in C
//! (`rdmabuf_vma_set_pfnmap`) on both kernels, so the setters of 7.3's
//! `VmaNew` are not needed here.
//!
//! C header: [include/linux/mm.h](srctree/include/linux/mm.h)

use core::ops::Deref;

use kernel::bindings;
use kernel::types::Opaque;

pub(crate) use bindings::vm_flags_t;

/// A `struct vm_area_struct` read under the mmap or VMA lock.
///
/// # Invariants
///
/// The mmap read lock or the VMA read lock (or stronger) is held for as
/// long as the reference lives.
#[repr(transparent)]
pub(crate) struct VmaRef {
    vma: Opaque<bindings::vm_area_struct>,
}

impl VmaRef {
    /// Returns the VMA at `vma`.
    ///
    /// # Safety
    ///
    /// `vma` must be valid for `'a`, with the mmap or VMA read lock (or
    /// stronger) held for at least `'a`.
    #[cfg(kapi_udmabuf)]
    pub(crate) unsafe fn from_raw<'a>(vma: *const bindings::vm_area_struct) -> &'a Self {
        // CAST: `VmaRef` is a transparent wrapper of the C struct.
        // SAFETY: By the safety requirements, the type invariant holds for
        // `'a`.
        unsafe { &*vma.cast() }
    }

    /// Returns the raw VMA.
    pub(crate) fn as_ptr(&self) -> *mut bindings::vm_area_struct {
        self.vma.get()
    }

    /// Returns the VMA's flags (`VM_*`).
    #[cfg(kapi_udmabuf)]
    pub(crate) fn flags(&self) -> vm_flags_t {
        // SAFETY: By the type invariant the lock is held, under which the
        // flags change only with the VMA write-locked.
        unsafe { (*self.as_ptr()).__bindgen_anon_2.vm_flags }
    }

    /// Returns the VMA's first address.
    pub(crate) fn start(&self) -> usize {
        // SAFETY: By the type invariant the lock is held, under which the
        // range does not change.
        unsafe { (*self.as_ptr()).__bindgen_anon_1.__bindgen_anon_1.vm_start }
    }

    /// Returns the address just past the VMA.
    pub(crate) fn end(&self) -> usize {
        // SAFETY: As in `start`.
        unsafe { (*self.as_ptr()).__bindgen_anon_1.__bindgen_anon_1.vm_end }
    }
}

/// A VMA being set up by an `mmap` file operation.
///
/// # Invariants
///
/// For as long as the reference lives, the VMA is being set up in an
/// `f_op->mmap()` hook, under the mmap write lock, not yet visible to
/// faults.
#[repr(transparent)]
pub(crate) struct VmaNew {
    vma: VmaRef,
}

impl VmaNew {
    /// Returns the VMA at `vma`, which an `mmap` hook sets up.
    ///
    /// # Safety
    ///
    /// `vma` must be undergoing its initial set-up in an `mmap` hook for
    /// `'a`.
    pub(crate) unsafe fn from_raw<'a>(vma: *mut bindings::vm_area_struct) -> &'a Self {
        // CAST: `VmaNew` is a transparent wrapper of `VmaRef`, in turn of
        // the C struct.
        // SAFETY: By the safety requirements, the type invariant holds for
        // `'a` (and `VmaRef`'s: the mmap lock is held).
        unsafe { &*vma.cast() }
    }
}

/// Every read accessor of [`VmaRef`] on a new VMA too.
impl Deref for VmaNew {
    type Target = VmaRef;

    fn deref(&self) -> &VmaRef {
        &self.vma
    }
}

/// The `VM_*` flags that kapi tests.
#[cfg(kapi_udmabuf)]
pub(crate) mod flags {
    use super::vm_flags_t;
    use kernel::bindings;

    /// `VM_SHARED`: writes reach the file (a shared mapping).
    pub(crate) const SHARED: vm_flags_t = bindings::VM_SHARED as vm_flags_t;

    /// `VM_MAYSHARE`: the mapping was asked for as shared.
    pub(crate) const MAYSHARE: vm_flags_t = bindings::VM_MAYSHARE as vm_flags_t;
}

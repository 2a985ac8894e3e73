// SPDX-License-Identifier: GPL-2.0

//! `kernel::prelude` for Linux 6.12: the kernel crate's prelude, with what
//! 7.3's has and 6.12's lacks, the subset the project uses.
//!
//! Linux 6.12's prelude names `kernel::str::CStr` as `CStr`; later kernels
//! name `core::ffi::CStr`, the type of `c"…"` literals, with the kernel's
//! methods in a `CStrExt` trait. 6.12 also lacks `EBADFD` in `error::code`,
//! the `Vec` methods `truncate` (since 6.15), `pop`, `clear`, `retain`,
//! `push_within_capacity` and `drain_all` (since 6.16),
//! `CondVar::wait_interruptible_freezable` (since 6.14) and the `pin_init`
//! crate (since 6.15; 6.12 has pin-init in `kernel::init`). The items here
//! shadow the glob or extend the kernel's types, the subset the project
//! uses, so that the same source compiles on both kernels.

pub(crate) use kernel::prelude::*;

// `c"…"` literals are `core::ffi::CStr` on both kernels; this explicit
// item shadows the glob's `kernel::str::CStr`.
pub(crate) use core::ffi::CStr;

// The `module!` of 7.3's syntax.
pub(crate) use super::module::module;

use core::ptr;

use kernel::alloc::Allocator;
#[cfg(kapi_udmabuf)]
use kernel::alloc::{
    AllocError,
    Flags, //
};
#[cfg(kapi_heap)]
use kernel::ffi::c_char;
#[cfg(kapi_heap)]
use kernel::sync::lock::{
    Backend,
    Guard, //
};
#[cfg(kapi_heap)]
use kernel::sync::CondVar;

/// The `pin_init` crate's paths the project uses, over the 6.12 kernel
/// crate's own pin-init (`kernel::init`).
pub(crate) mod pin_init {
    pub(crate) use kernel::stack_pin_init;
}

/// File descriptor in bad state (`EBADFD`).
#[cfg(kapi_udmabuf)]
pub(crate) const EBADFD: Error = {
    use core::num::NonZeroI32;
    const ERRNO: NonZeroI32 = match NonZeroI32::new(-(kernel::bindings::EBADFD as i32)) {
        Some(errno) => errno,
        None => panic!("EBADFD is 0"),
    };
    // `kernel::error::Error` is a struct of one `NonZeroI32` field: no
    // bigger than it, so that field is all of it.
    const _: () = assert!(size_of::<Error>() == size_of::<NonZeroI32>());
    // SAFETY: An `Error` is its one `NonZeroI32` field (same size, so the
    // field is at offset 0 and there is nothing else), so any non-zero
    // value is a valid `Error`; and this one keeps its invariant, an errno
    // in `-MAX_ERRNO..0` (`-EBADFD`, -77), as `Error::from_errno` (not a
    // `const fn` on 6.12) would make it.
    unsafe { core::mem::transmute::<NonZeroI32, Error>(ERRNO) }
};

/// The kernel's methods of [`CStr`] (7.3's `kernel::str::CStrExt`).
#[cfg(kapi_heap)]
pub(crate) trait CStrExt {
    /// Returns a C pointer to the string, with the kernel's `c_char`.
    fn as_char_ptr(&self) -> *const c_char;
}

#[cfg(kapi_heap)]
impl CStrExt for CStr {
    fn as_char_ptr(&self) -> *const c_char {
        self.as_ptr().cast()
    }
}

/// The error of [`VecExt::push_within_capacity`]: the vector is full; the
/// value not pushed.
pub(crate) struct PushError<T>(pub(crate) T);

impl<T> core::fmt::Debug for PushError<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Not enough capacity")
    }
}

/// 7.3's [`Vec`] methods that 6.12's lacks, the ones the project calls.
pub(crate) trait VecExt<T> {
    /// Removes the last element and returns it, `None` if empty.
    #[cfg(kapi_heap)]
    fn pop(&mut self) -> Option<T>;

    /// Drops the elements from index `len` on; nothing if there are fewer.
    #[cfg(kapi_udmabuf)]
    fn truncate(&mut self, len: usize);

    /// Drops all elements.
    #[cfg(kapi_udmabuf)]
    fn clear(&mut self);

    /// Keeps the elements for which `f` is true, in order, and drops the rest.
    fn retain(&mut self, f: impl FnMut(&mut T) -> bool);

    /// Appends `v` if there is room for it, without allocating.
    fn push_within_capacity(&mut self, v: T) -> Result<(), PushError<T>>;

    /// Removes all elements: the iterator yields them, and drops those it
    /// did not yield when it is dropped.
    #[cfg(kapi_udmabuf)]
    fn drain_all(&mut self) -> DrainAll<'_, T>;

    /// Lowers the capacity to the length or `min_capacity`, whichever is
    /// larger: the elements move into an allocation of that size.
    #[cfg(kapi_udmabuf)]
    fn shrink_to(&mut self, min_capacity: usize, flags: Flags) -> Result<(), AllocError>;

    /// Adds the `additional` elements after the last to the vector.
    ///
    /// # Safety
    ///
    /// The `additional` elements of the spare capacity after the last one
    /// must be initialised.
    #[cfg(kapi_udmabuf)]
    unsafe fn inc_len(&mut self, additional: usize);
}

/// Drops the elements of `vec` from index `len` on.
fn drop_tail<T, A: Allocator>(vec: &mut Vec<T, A>, len: usize) {
    let Some(count) = vec.len().checked_sub(len) else {
        return;
    };
    // SAFETY: `len <= vec.len()`: the first `len` elements stay valid. The
    // length is set first so that, should a `drop` panic, the vector does
    // not own the dropped elements any more.
    unsafe { vec.set_len(len) };
    // SAFETY: The `count` elements after the first `len` are valid, owned
    // by nobody now that the length excludes them, and dropped once.
    unsafe {
        ptr::drop_in_place(ptr::slice_from_raw_parts_mut(
            vec.as_mut_ptr().add(len),
            count,
        ))
    };
}

impl<T, A: Allocator> VecExt<T> for Vec<T, A> {
    #[cfg(kapi_heap)]
    fn pop(&mut self) -> Option<T> {
        let len = self.len().checked_sub(1)?;
        // SAFETY: `len < self.len()`: the element at `len` stays valid and
        // is owned by nobody once the length excludes it.
        unsafe { self.set_len(len) };
        // SAFETY: The element at `len` is valid and read once: the vector
        // no longer owns it.
        Some(unsafe { ptr::read(self.as_mut_ptr().add(len)) })
    }

    #[cfg(kapi_udmabuf)]
    fn truncate(&mut self, len: usize) {
        drop_tail(self, len);
    }

    #[cfg(kapi_udmabuf)]
    fn clear(&mut self) {
        drop_tail(self, 0);
    }

    fn retain(&mut self, mut f: impl FnMut(&mut T) -> bool) {
        let mut kept = 0;
        for index in 0..self.len() {
            if f(&mut self[index]) {
                self.swap(kept, index);
                kept += 1;
            }
        }
        drop_tail(self, kept);
    }

    fn push_within_capacity(&mut self, v: T) -> Result<(), PushError<T>> {
        let len = self.len();
        let Some(slot) = self.spare_capacity_mut().first_mut() else {
            return Err(PushError(v));
        };
        slot.write(v);
        // SAFETY: The element at `len`, the first of the spare capacity,
        // was just written.
        unsafe { self.set_len(len + 1) };
        Ok(())
    }

    #[cfg(kapi_udmabuf)]
    fn drain_all(&mut self) -> DrainAll<'_, T> {
        let len = self.len();
        // SAFETY: Length 0: the vector no longer owns its elements; the
        // iterator below takes them over.
        unsafe { self.set_len(0) };
        // SAFETY: The first `len` elements are valid and, owned by nobody
        // else, are borrowed for as long as the vector is.
        let elements = unsafe { core::slice::from_raw_parts_mut(self.as_mut_ptr(), len) };
        // INVARIANT: The elements were the vector's and are now the iterator's.
        DrainAll {
            elements: elements.iter_mut(),
        }
    }

    #[cfg(kapi_udmabuf)]
    unsafe fn inc_len(&mut self, additional: usize) {
        // SAFETY: By the function's requirements the elements up to the new
        // length are initialised.
        unsafe { self.set_len(self.len() + additional) };
    }

    #[cfg(kapi_udmabuf)]
    fn shrink_to(&mut self, min_capacity: usize, flags: Flags) -> Result<(), AllocError> {
        let capacity = core::cmp::max(self.len(), min_capacity);
        if self.capacity() <= capacity {
            return Ok(());
        }
        let mut shrunk = Vec::<T, A>::with_capacity(capacity, flags)?;
        for element in self.drain_all() {
            // There is room for every element: this never gives it back.
            if shrunk.push_within_capacity(element).is_err() {
                return Err(AllocError);
            }
        }
        *self = shrunk;
        Ok(())
    }
}

/// The iterator of [`VecExt::drain_all`].
///
/// # Invariants
///
/// It owns the elements that `elements` has not yielded yet.
#[cfg(kapi_udmabuf)]
pub(crate) struct DrainAll<'a, T> {
    elements: core::slice::IterMut<'a, T>,
}

#[cfg(kapi_udmabuf)]
impl<T> Iterator for DrainAll<'_, T> {
    type Item = T;

    fn next(&mut self) -> Option<T> {
        let element: *mut T = self.elements.next()?;
        // SAFETY: By the type invariant the element is ours; the iterator
        // has moved past it, so it is read once.
        Some(unsafe { ptr::read(element) })
    }
}

#[cfg(kapi_udmabuf)]
impl<T> Drop for DrainAll<'_, T> {
    fn drop(&mut self) {
        let rest: *mut [T] = core::mem::take(&mut self.elements).into_slice();
        // SAFETY: By the type invariant the elements not yielded are ours,
        // and dropped once: the iterator is empty now.
        unsafe { ptr::drop_in_place(rest) };
    }
}

/// 7.3's [`CondVar`] method that 6.12's lacks.
#[cfg(kapi_heap)]
pub(crate) trait CondVarExt {
    /// Releases the lock and waits for a notification, interruptible; the
    /// lock is held again on return. Returns whether a signal is pending.
    ///
    /// On 6.12 this is [`CondVar::wait_interruptible`]: the sleep is not
    /// freezable (6.12's `Guard` does not let kapi unlock it to sleep in
    /// `TASK_FREEZABLE`). The freezer wakes a kernel thread that sleeps
    /// interruptible, and that thread must then freeze: after each wait the
    /// caller must drop the lock and reach a freeze point (`try_to_freeze`)
    /// before it waits again, or a suspend fails to freeze it.
    #[must_use = "wait_interruptible_freezable returns if a signal is pending, so the caller must check the return value"]
    fn wait_interruptible_freezable<T: ?Sized, B: Backend>(
        &self,
        guard: &mut Guard<'_, T, B>,
    ) -> bool;
}

#[cfg(kapi_heap)]
impl CondVarExt for CondVar {
    fn wait_interruptible_freezable<T: ?Sized, B: Backend>(
        &self,
        guard: &mut Guard<'_, T, B>,
    ) -> bool {
        self.wait_interruptible(guard)
    }
}

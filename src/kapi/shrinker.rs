// SPDX-License-Identifier: GPL-2.0

//! Shrinkers: giving memory back under pressure.
//!
//! C header: [include/linux/shrinker.h](srctree/include/linux/shrinker.h)

use core::marker::PhantomData;
use core::ptr::NonNull;

use crate::kapi::kernel::prelude::*;
use crate::kapi::kernel::sync::Arc;
use kernel::ffi::{
    c_int,
    c_ulong, //
};

use super::bindings;

/// `SHRINK_EMPTY`: nothing to free.
const SHRINK_EMPTY: c_ulong = !0 - 1;

/// The callbacks of a shrinker, in pages.
pub(crate) trait ShrinkerOps: Send + Sync + 'static {
    /// Returns how many pages could be freed now.
    fn count(&self) -> usize;

    /// Frees up to `nr_to_scan` pages and returns how many it freed. It must
    /// not allocate or sleep on locks held while allocating.
    fn scan(&self, nr_to_scan: usize) -> usize;
}

/// A registered shrinker, unregistered and freed on drop.
///
/// # Invariants
///
/// `shrinker` was allocated with `shrinker_alloc`, registered, and has a
/// leaked `Arc<T>` (released on drop) as its private data.
pub(crate) struct Shrinker<T: ShrinkerOps> {
    shrinker: NonNull<bindings::shrinker>,
    _data: PhantomData<Arc<T>>,
}

// SAFETY: Unregistering may happen from any thread.
unsafe impl<T: ShrinkerOps> Send for Shrinker<T> {}
// SAFETY: `&Shrinker` gives no access to anything.
unsafe impl<T: ShrinkerOps> Sync for Shrinker<T> {}

impl<T: ShrinkerOps> Shrinker<T> {
    /// Registers a shrinker named `name` that calls `data`'s operations.
    pub(crate) fn register(name: &CStr, data: Arc<T>) -> Result<Self> {
        // SAFETY: `name` is a valid string, printed through "%s" into the
        // shrinker's own copy.
        let shrinker = NonNull::new(unsafe {
            bindings::shrinker_alloc(0, c"%s".as_char_ptr(), name.as_char_ptr())
        })
        .ok_or(ENOMEM)?;
        let data = Arc::into_raw(data);
        // SAFETY: `shrinker` is allocated and not yet registered, so nothing
        // else reads its fields; the private data is a leaked `Arc<T>` that
        // the callbacks borrow.
        unsafe {
            let raw = shrinker.as_ptr();
            (*raw).count_objects = Some(Self::count_objects);
            (*raw).scan_objects = Some(Self::scan_objects);
            // CAST: `DEFAULT_SEEKS` is 2.
            (*raw).seeks = bindings::DEFAULT_SEEKS as c_int;
            (*raw).private_data = data.cast_mut().cast();
            bindings::shrinker_register(raw);
        }
        // INVARIANT: Allocated, set up and registered above.
        Ok(Self {
            shrinker,
            _data: PhantomData,
        })
    }

    /// # Safety
    ///
    /// `shrinker` is registered by [`Shrinker::register`] with `T`.
    unsafe fn ops<'a>(shrinker: *mut bindings::shrinker) -> &'a T {
        // SAFETY: The private data is an `Arc<T>` that lives until the
        // shrinker is freed, after which no callback runs.
        unsafe { &*(*shrinker).private_data.cast::<T>() }
    }

    /// # Safety
    ///
    /// Called by the MM for a shrinker registered by [`Shrinker::register`].
    unsafe extern "C" fn count_objects(
        shrinker: *mut bindings::shrinker,
        _sc: *mut bindings::shrink_control,
    ) -> c_ulong {
        // SAFETY: By the safety requirements.
        match unsafe { Self::ops(shrinker) }.count() {
            0 => SHRINK_EMPTY,
            n => n as c_ulong,
        }
    }

    /// # Safety
    ///
    /// Called by the MM for a shrinker registered by [`Shrinker::register`].
    unsafe extern "C" fn scan_objects(
        shrinker: *mut bindings::shrinker,
        sc: *mut bindings::shrink_control,
    ) -> c_ulong {
        // SAFETY: By the safety requirements; `sc` is the current request.
        let (ops, nr) = unsafe { (Self::ops(shrinker), (*sc).nr_to_scan) };
        ops.scan(nr) as c_ulong
    }
}

impl<T: ShrinkerOps> Drop for Shrinker<T> {
    fn drop(&mut self) {
        // SAFETY: By the type invariant the shrinker is registered with a
        // leaked `Arc<T>`; `shrinker_free` unregisters it and waits until no
        // callback runs, after which the `Arc` can go.
        unsafe {
            let data = (*self.shrinker.as_ptr()).private_data;
            bindings::shrinker_free(self.shrinker.as_ptr());
            drop(Arc::from_raw(data.cast::<T>()));
        }
    }
}

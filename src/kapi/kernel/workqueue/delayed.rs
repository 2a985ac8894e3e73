// SPDX-License-Identifier: GPL-2.0

//! Delayed work for Linux 6.12, which its kernel crate lacks: the subset
//! rsystem_heap uses, in 7.3's shape (see the parent module).
//!
//! A delayed work item is built on 6.12's work items: its `delayed_work`
//! begins with a `work_struct`, which is the item's [`Work`] (`HasWork`
//! names it), so 6.12's `WorkItemPointer` for `Arc` runs it. What
//! `INIT_DELAYED_WORK()` does, this does in Rust with the functions the
//! macro expands to (`init_work_with_key()`, 6.12's Rust helper, and
//! `init_timer_key()` with `delayed_work_timer_fn()`), so that each
//! `new_delayed_work!` has its own name and lock classes, as the macro gives
//! each C call site; a C helper around the macro would give every delayed
//! work of the module one name and class.
//!
//! C header: [include/linux/workqueue.h](srctree/include/linux/workqueue.h)

use core::marker::PhantomData;
use core::ops::Deref;
use core::ptr;

use kernel::container_of;
use kernel::ffi::c_int;
use kernel::prelude::{
    pin_data,
    pin_init,
    PinInit, //
};
use kernel::str::CStr;
use kernel::sync::{
    Arc,
    LockClassKey, //
};
use kernel::time::Jiffies;
use kernel::types::Opaque;
use kernel::workqueue::{
    HasWork,
    RawWorkItem,
    Work,
    WorkItem,
    WorkItemPointer, //
};

use crate::kapi::bindings;

/// Creates a [`DelayedWork`] initialiser named `name` (or after its place in
/// the source), with lock classes of its own.
macro_rules! new_delayed_work {
    () => {
        $crate::kapi::kernel::workqueue::new_delayed_work!(::core::concat!(
            ::core::file!(),
            ":",
            ::core::line!()
        ))
    };
    ($name:expr) => {
        $crate::kapi::kernel::workqueue::DelayedWork::new(
            ::kernel::c_str!($name),
            ::kernel::static_lock_class!(),
            ::kernel::c_str!(::core::concat!($name, "_timer")),
            ::kernel::static_lock_class!(),
        )
    };
}
pub(crate) use new_delayed_work;

/// Implements [`HasDelayedWork`] (and with it [`HasWork`]) for the
/// [`DelayedWork`] field of a type, in the form of `impl_has_work!`:
/// `impl HasDelayedWork<Self, ID> for Type { self.field }`.
macro_rules! impl_has_delayed_work {
    ($(impl$({$($generics:tt)*})?
       HasDelayedWork<$work_type:ty $(, $id:tt)?>
       for $self:ty
       { self.$field:ident }
    )*) => {$(
        // SAFETY: `OFFSET` is the offset of the `work_struct` in the
        // `delayed_work` of `$field`, which is the pointer `raw_get_work`
        // returns; that only compiles if `$field` is a `DelayedWork` of this
        // type and id. The other methods are the trait's own.
        unsafe impl$(<$($generics)+>)? ::kernel::workqueue::HasWork<$work_type $(, $id)?>
            for $self
        {
            const OFFSET: usize = ::core::mem::offset_of!(Self, $field)
                + $crate::kapi::kernel::workqueue::DelayedWork::<$work_type $(, $id)?>::WORK_OFFSET;

            #[inline]
            unsafe fn raw_get_work(
                ptr: *mut Self,
            ) -> *mut ::kernel::workqueue::Work<$work_type $(, $id)?> {
                // SAFETY: The caller promises that `ptr` points at a valid
                // `Self`, so its field is valid too.
                let field = unsafe { ::core::ptr::addr_of_mut!((*ptr).$field) };
                let field: *mut $crate::kapi::kernel::workqueue::DelayedWork<
                    $work_type $(, $id)?
                > = field;
                // SAFETY: `field` points at a valid `DelayedWork`.
                unsafe { $crate::kapi::kernel::workqueue::DelayedWork::raw_as_work(field) }
            }
        }

        // SAFETY: The `HasWork` implementation above names the `work_struct`
        // of the `delayed_work` in `$field`.
        unsafe impl$(<$($generics)+>)?
            $crate::kapi::kernel::workqueue::HasDelayedWork<$work_type $(, $id)?> for $self {}
    )*};
}
pub(crate) use impl_has_delayed_work;

/// A kernel workqueue, with delayed work.
///
/// Wraps the kernel's C `struct workqueue_struct`; dereferences to 6.12's
/// own queue for `enqueue`.
///
/// # Invariants
///
/// The workqueue is live for as long as the reference to it.
#[repr(transparent)]
pub(crate) struct Queue(Opaque<bindings::workqueue_struct>);

// SAFETY: A workqueue may be used from any thread.
unsafe impl Send for Queue {}
// SAFETY: A workqueue may be used from any thread.
unsafe impl Sync for Queue {}

impl Queue {
    /// Enqueues a delayed work item, to run on this queue once `delay` has
    /// passed: [`WorkItem::run`] gets it back then. A work item that is
    /// already pending stays as it is, and comes back as the error.
    pub(crate) fn enqueue_delayed<W, const ID: u64>(&self, w: W, delay: Jiffies) -> W::EnqueueOutput
    where
        W: RawDelayedWorkItem<ID> + Send + 'static,
    {
        let queue = self.0.get();
        let queue_on = move |work: *mut bindings::work_struct| {
            // SAFETY: The pointer `__enqueue` passes is the `work_struct` in a
            // `delayed_work` (`RawDelayedWorkItem`), so the `delayed_work` is
            // that far back.
            let dwork = unsafe { container_of!(work, bindings::delayed_work, work) }.cast_mut();
            // SAFETY: `queue` is live (type invariant). `dwork` is valid
            // now, and if this returns true (it was not pending), until its
            // work function runs (`RawWorkItem::__enqueue` for its
            // `work_struct`, extended to the whole `delayed_work` by
            // `RawDelayedWorkItem`), which is what the timer needs.
            unsafe {
                bindings::queue_delayed_work_on(
                    // CAST: `WORK_CPU_UNBOUND` is `NR_CPUS`, an `int` in C.
                    bindings::wq_misc_consts_WORK_CPU_UNBOUND as c_int,
                    queue,
                    dwork,
                    delay,
                )
            }
        };
        // SAFETY: `queue_on` returns false only if the work item is already
        // pending. `W` is `Send` and `'static`, so the work function may run
        // on any thread at any time.
        unsafe { w.__enqueue(queue_on) }
    }
}

impl Deref for Queue {
    type Target = kernel::workqueue::Queue;

    fn deref(&self) -> &Self::Target {
        // SAFETY: The workqueue is live for as long as `self` (type
        // invariant), which is the lifetime of the returned reference.
        unsafe { kernel::workqueue::Queue::from_raw(self.0.get()) }
    }
}

/// Returns the system workqueue (`system_wq`), the one
/// `schedule_delayed_work()` uses: for work items that do not run long.
pub(crate) fn system() -> &'static Queue {
    // SAFETY: `system_wq` is set up at boot and never goes away.
    let queue = unsafe { bindings::system_wq };
    // CAST: `Queue` is a transparent `Opaque<workqueue_struct>`.
    // INVARIANT: `system_wq` lives forever.
    // SAFETY: It is a valid workqueue, so the reference is valid.
    unsafe { &*queue.cast_const().cast::<Queue>() }
}

/// A work item that a [`Queue`] can enqueue with a delay.
///
/// # Safety
///
/// Every `work_struct` pointer that [`RawWorkItem::__enqueue`] passes to its
/// closure points at the `work` field of a `delayed_work`, and the whole
/// `delayed_work` stays valid as long as `__enqueue` promises the
/// `work_struct` does.
pub(crate) unsafe trait RawDelayedWorkItem<const ID: u64>: RawWorkItem<ID> {}

// SAFETY: 6.12's `__enqueue` for `Arc<T>` passes the pointer
// `T::raw_get_work()` returns, which `HasDelayedWork` makes the `work` of a
// `delayed_work` in `T`; the leaked `Arc` keeps all of `T` valid until the
// work runs.
unsafe impl<T, const ID: u64> RawDelayedWorkItem<ID> for Arc<T> where
    T: WorkItem<ID, Pointer = Self> + HasDelayedWork<T, ID>
{
}

/// A type that has a [`DelayedWork<T, ID>`] field: implement it with
/// `impl_has_delayed_work!`.
///
/// # Safety
///
/// The [`HasWork<T, ID>`] implementation names the `work` field of the
/// `delayed_work` in a [`DelayedWork<T, ID>`] field of `Self`.
pub(crate) unsafe trait HasDelayedWork<T, const ID: u64 = 0>: HasWork<T, ID> {}

/// A delayed work item's links: a [`Work`] and its timer.
///
/// Wraps the kernel's C `struct delayed_work`.
#[pin_data]
#[repr(transparent)]
pub(crate) struct DelayedWork<T: ?Sized, const ID: u64 = 0> {
    #[pin]
    dwork: Opaque<bindings::delayed_work>,
    _inner: PhantomData<T>,
}

// SAFETY: Work items may be used from any thread; `T` is not contained.
unsafe impl<T: ?Sized, const ID: u64> Send for DelayedWork<T, ID> {}
// SAFETY: Work items may be used from any thread; `T` is not contained.
unsafe impl<T: ?Sized, const ID: u64> Sync for DelayedWork<T, ID> {}

impl<T: ?Sized, const ID: u64> DelayedWork<T, ID> {
    /// The offset of the `work_struct` in a [`DelayedWork`].
    pub(crate) const WORK_OFFSET: usize = core::mem::offset_of!(bindings::delayed_work, work);

    /// Creates a [`DelayedWork`] initialiser: use `new_delayed_work!`.
    pub(crate) fn new(
        name: &'static CStr,
        key: &'static LockClassKey,
        timer_name: &'static CStr,
        timer_key: &'static LockClassKey,
    ) -> impl PinInit<Self>
    where
        T: WorkItem<ID>,
    {
        pin_init!(Self {
            dwork <- Opaque::ffi_init(|slot: *mut bindings::delayed_work| {
                // SAFETY: `slot` is valid for writes. The work function is
                // the `WorkItemPointer`'s `run`, for the work items that
                // `T::Pointer` enqueues.
                unsafe {
                    bindings::init_work_with_key(
                        ptr::addr_of_mut!((*slot).work),
                        Some(<T::Pointer as WorkItemPointer<ID>>::run),
                        false,
                        name.as_char_ptr(),
                        lock_class(key),
                    )
                };
                // SAFETY: `slot` is valid for writes. The timer is that of a
                // `delayed_work`, which only `queue_delayed_work_on()` arms,
                // as `delayed_work_timer_fn` expects.
                unsafe {
                    bindings::init_timer_key(
                        ptr::addr_of_mut!((*slot).timer),
                        Some(bindings::delayed_work_timer_fn),
                        bindings::TIMER_IRQSAFE,
                        timer_name.as_char_ptr(),
                        lock_class(timer_key),
                    )
                };
            }),
            _inner: PhantomData,
        })
    }

    /// Returns a pointer to the [`Work`] that the `delayed_work` begins
    /// with.
    ///
    /// # Safety
    ///
    /// `ptr` is aligned and not dangling (its memory need not be
    /// initialised).
    #[inline]
    pub(crate) unsafe fn raw_as_work(ptr: *const Self) -> *mut Work<T, ID> {
        // SAFETY: By the safety requirements `ptr` points at a `DelayedWork`.
        let dwork = Opaque::raw_get(unsafe { ptr::addr_of!((*ptr).dwork) });
        // SAFETY: So `dwork` points at a `delayed_work`.
        let work = unsafe { ptr::addr_of_mut!((*dwork).work) };
        // CAST: `Work<T, ID>` is a transparent `Opaque<work_struct>`.
        work.cast()
    }
}

/// Returns the C `lock_class_key` of `key`.
fn lock_class(key: &'static LockClassKey) -> *mut bindings::lock_class_key {
    // CAST: `LockClassKey` is a transparent `Opaque<lock_class_key>` (6.12's
    // `as_ptr` is crate-private); lockdep writes to it only through its own
    // synchronisation, as `Opaque` allows.
    ptr::from_ref(key).cast_mut().cast()
}

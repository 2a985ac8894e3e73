// SPDX-License-Identifier: GPL-2.0

//! `kernel::sync::atomic` for Linux 6.12, which lacks it (the kernel crate
//! has it since 6.18): [`Atomic<T>`] with 7.3's API shape, the types,
//! orderings and operations the project uses.
//!
//! It is built over `core::sync::atomic`, as 6.12's own Rust code (binder)
//! does. The orderings follow the kernel memory model's: [`Relaxed`] and
//! [`Acquire`] are core's; [`Full`], a fully ordered operation, is a
//! `SeqCst` one, which on x86 is a locked instruction and so a full
//! barrier, and elsewhere a relaxed one between two full fences, as the
//! kernel's `__atomic_op_fence()` builds it from a relaxed one.

use core::cell::UnsafeCell;
use core::sync::atomic::{
    fence,
    AtomicBool,
    AtomicU32,
    AtomicU64,
    AtomicUsize,
    Ordering as CoreOrdering, //
};

mod private {
    /// Only this module's orderings are orderings.
    pub(crate) trait Sealed {}
}

/// No ordering beyond the operation's own atomicity.
pub(crate) struct Relaxed;

/// The load orders all the memory accesses that follow it.
#[cfg(kapi_heap)]
pub(crate) struct Acquire;

/// Fully ordered: against all the memory accesses before and after it, as
/// strong as a full barrier on each side (`smp_mb()`).
#[cfg(kapi_heap)]
pub(crate) struct Full;

/// A memory ordering of an atomic operation.
pub(crate) trait Ordering: private::Sealed {
    /// The ordering of a read-modify-write in core's terms.
    const CORE: CoreOrdering;
    /// Whether a full fence goes on each side of the operation.
    const FENCED: bool = false;
}

/// An ordering that a load may have.
pub(crate) trait AcquireOrRelaxed: Ordering {}

/// An ordering that a store may have.
pub(crate) trait ReleaseOrRelaxed: Ordering {}

impl private::Sealed for Relaxed {}
impl Ordering for Relaxed {
    const CORE: CoreOrdering = CoreOrdering::Relaxed;
}
impl AcquireOrRelaxed for Relaxed {}
impl ReleaseOrRelaxed for Relaxed {}

#[cfg(kapi_heap)]
impl private::Sealed for Acquire {}
#[cfg(kapi_heap)]
impl Ordering for Acquire {
    const CORE: CoreOrdering = CoreOrdering::Acquire;
}
#[cfg(kapi_heap)]
impl AcquireOrRelaxed for Acquire {}

#[cfg(kapi_heap)]
impl private::Sealed for Full {}
#[cfg(kapi_heap)]
impl Ordering for Full {
    const CORE: CoreOrdering = if X86 {
        CoreOrdering::SeqCst
    } else {
        CoreOrdering::Relaxed
    };
    const FENCED: bool = !X86;
}

/// Whether a `SeqCst` read-modify-write is a full barrier (a locked
/// instruction).
#[cfg(kapi_heap)]
const X86: bool = cfg!(any(target_arch = "x86", target_arch = "x86_64"));

/// Runs the read-modify-write `op` with ordering `O`.
#[inline(always)]
fn rmw<O: Ordering, R>(op: impl FnOnce(CoreOrdering) -> R) -> R {
    if O::FENCED {
        fence(CoreOrdering::SeqCst);
    }
    let result = op(O::CORE);
    if O::FENCED {
        fence(CoreOrdering::SeqCst);
    }
    result
}

/// A core atomic type and the operations on it that [`Atomic`] uses.
pub(crate) trait AtomicRepr: Sync {
    /// The plain type.
    type Value: Copy;

    /// Loads the value.
    fn load(&self, order: CoreOrdering) -> Self::Value;

    /// Stores `v`.
    fn store(&self, v: Self::Value, order: CoreOrdering);

    /// Stores `v` and returns the old value.
    #[cfg(kapi_heap)]
    fn swap(&self, v: Self::Value, order: CoreOrdering) -> Self::Value;

    /// Stores `new` if the value is `old`; returns the old value, `Ok` if
    /// it stored.
    #[cfg(CONFIG_KUNIT = "y")]
    fn compare_exchange(
        &self,
        old: Self::Value,
        new: Self::Value,
        order: CoreOrdering,
    ) -> core::result::Result<Self::Value, Self::Value>;
}

/// A core atomic integer type and its arithmetic.
pub(crate) trait AtomicArithRepr: AtomicRepr {
    /// Adds `v`, wrapping; returns the old value.
    fn fetch_add(&self, v: Self::Value, order: CoreOrdering) -> Self::Value;

    /// Subtracts `v`, wrapping; returns the old value.
    #[cfg(any(kapi_heap, CONFIG_KUNIT = "y"))]
    fn fetch_sub(&self, v: Self::Value, order: CoreOrdering) -> Self::Value;
}

/// A type that [`Atomic`] holds.
///
/// # Safety
///
/// `Repr` has the same size, alignment and bit validity as `Self`.
pub(crate) unsafe trait AtomicType: Copy {
    /// The core atomic type of `Self`.
    type Repr: AtomicRepr<Value = Self>;
}

/// Implements [`AtomicRepr`] and [`AtomicType`] for core atomic types.
macro_rules! impl_atomic {
    ($($t:ty => $repr:ty),* $(,)?) => {$(
        impl AtomicRepr for $repr {
            type Value = $t;

            #[inline(always)]
            fn load(&self, order: CoreOrdering) -> $t {
                <$repr>::load(self, order)
            }

            #[inline(always)]
            fn store(&self, v: $t, order: CoreOrdering) {
                <$repr>::store(self, v, order)
            }

            #[cfg(kapi_heap)]
            #[inline(always)]
            fn swap(&self, v: $t, order: CoreOrdering) -> $t {
                <$repr>::swap(self, v, order)
            }

            #[cfg(CONFIG_KUNIT = "y")]
            #[inline(always)]
            fn compare_exchange(
                &self,
                old: $t,
                new: $t,
                order: CoreOrdering,
            ) -> core::result::Result<$t, $t> {
                let failure = match order {
                    CoreOrdering::Release | CoreOrdering::Relaxed => CoreOrdering::Relaxed,
                    CoreOrdering::AcqRel | CoreOrdering::Acquire => CoreOrdering::Acquire,
                    _ => CoreOrdering::SeqCst,
                };
                <$repr>::compare_exchange(self, old, new, order, failure)
            }
        }

        // Core documents each atomic type to have the size and bit validity
        // of its plain type; its alignment can be larger (64-bit types on
        // 32-bit x86), so the types here are checked.
        const _: () = assert!(
            size_of::<$repr>() == size_of::<$t>() && align_of::<$repr>() == align_of::<$t>()
        );

        // SAFETY: Same size and bit validity (core's documentation), same
        // alignment (checked above).
        unsafe impl AtomicType for $t {
            type Repr = $repr;
        }
    )*};
}

impl_atomic! {
    usize => AtomicUsize,
    u64 => AtomicU64,
    u32 => AtomicU32,
    bool => AtomicBool,
}

/// Implements [`AtomicArithRepr`] for core atomic integer types.
macro_rules! impl_atomic_arith {
    ($($repr:ty),* $(,)?) => {$(
        impl AtomicArithRepr for $repr {
            #[inline(always)]
            fn fetch_add(&self, v: Self::Value, order: CoreOrdering) -> Self::Value {
                <$repr>::fetch_add(self, v, order)
            }

            #[cfg(any(kapi_heap, CONFIG_KUNIT = "y"))]
            #[inline(always)]
            fn fetch_sub(&self, v: Self::Value, order: CoreOrdering) -> Self::Value {
                <$repr>::fetch_sub(self, v, order)
            }
        }
    )*};
}

impl_atomic_arith!(AtomicUsize, AtomicU32);

/// A memory location of type `T` that is accessed atomically.
///
/// # Invariants
///
/// The value is accessed only through `T::Repr`, atomically.
#[repr(transparent)]
pub(crate) struct Atomic<T: AtomicType>(UnsafeCell<T>);

// SAFETY: All accesses to the value are atomic (type invariant), so sharing
// it between threads is no data race; `T` is a plain value type.
unsafe impl<T: AtomicType + Send> Sync for Atomic<T> {}

impl<T: AtomicType> Atomic<T> {
    /// Creates a new atomic `T`.
    pub(crate) const fn new(v: T) -> Self {
        // INVARIANT: Not accessed yet.
        Self(UnsafeCell::new(v))
    }

    /// Returns the core atomic of the value.
    #[inline(always)]
    fn repr(&self) -> &T::Repr {
        // CAST: `T::Repr` has the size, alignment and bit validity of `T`
        // (`AtomicType`), and an atomic type is an `UnsafeCell` of it.
        // SAFETY: The cell is valid for as long as `self`, and all accesses
        // to it are through `T::Repr` (type invariant), so it holds a valid
        // `T::Repr` and no access races.
        unsafe { &*self.0.get().cast::<T::Repr>() }
    }

    /// Loads the value (`READ_ONCE()` when `Relaxed`, `smp_load_acquire()`
    /// when `Acquire`).
    #[inline(always)]
    pub(crate) fn load<O: AcquireOrRelaxed>(&self, _: O) -> T {
        self.repr().load(O::CORE)
    }

    /// Stores `v` (`WRITE_ONCE()` when `Relaxed`).
    #[inline(always)]
    pub(crate) fn store<O: ReleaseOrRelaxed>(&self, v: T, _: O) {
        self.repr().store(v, O::CORE)
    }

    /// Stores `v` and returns the old value (`xchg()`).
    #[cfg(kapi_heap)]
    #[inline(always)]
    pub(crate) fn xchg<O: Ordering>(&self, v: T, _: O) -> T {
        rmw::<O, _>(|order| self.repr().swap(v, order))
    }

    /// Stores `new` if the value is `old` (`cmpxchg()`): `Ok` with the old
    /// value if it stored, else `Err` with the current value.
    #[cfg(CONFIG_KUNIT = "y")]
    #[inline(always)]
    pub(crate) fn cmpxchg<O: Ordering>(&self, old: T, new: T, _: O) -> core::result::Result<T, T> {
        rmw::<O, _>(|order| self.repr().compare_exchange(old, new, order))
    }
}

impl<T: AtomicType> Atomic<T>
where
    T::Repr: AtomicArithRepr,
{
    /// Adds `v`, wrapping, and returns the old value (`atomic_fetch_add()`).
    #[inline(always)]
    pub(crate) fn fetch_add<O: Ordering>(&self, v: T, _: O) -> T {
        rmw::<O, _>(|order| self.repr().fetch_add(v, order))
    }

    /// Subtracts `v`, wrapping, and returns the old value
    /// (`atomic_fetch_sub()`).
    #[cfg(any(kapi_heap, CONFIG_KUNIT = "y"))]
    #[inline(always)]
    pub(crate) fn fetch_sub<O: Ordering>(&self, v: T, _: O) -> T {
        rmw::<O, _>(|order| self.repr().fetch_sub(v, order))
    }
}

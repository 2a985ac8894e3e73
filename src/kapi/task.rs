// SPDX-License-Identifier: GPL-2.0

//! Kernel threads and the state of the current task.
//!
//! C header: [include/linux/kthread.h](srctree/include/linux/kthread.h)

use core::ffi::{
    c_int,
    c_void, //
};
use core::marker::PhantomData;
use core::ptr::NonNull;

use crate::kapi::kernel::prelude::*;
use crate::kapi::kernel::sync::Arc;
use kernel::error::to_result;

use super::bindings;

/// Returns whether the current task has a fatal signal (SIGKILL) pending.
pub(crate) fn fatal_signal_pending() -> bool {
    // SAFETY: `rdmabuf_fatal_signal_pending()` calls
    // `fatal_signal_pending(current)`, which reads the pending signals of
    // `current`, a task that is always live while it runs.
    unsafe { bindings::rdmabuf_fatal_signal_pending() }
}

/// Freezes the current task if the system is suspending (the freezer asks
/// every freezable task to), until it resumes. Returns whether it froze.
///
/// Sleeps: call it holding no lock. Only a [`KThread`] (made freezable) or a
/// user task freezes here; any other kernel thread returns `false`.
pub(crate) fn try_to_freeze() -> bool {
    // SAFETY: `try_to_freeze()` acts on `current`; it needs process
    // context and, as it may sleep, no lock held. Sleeping is allowed to
    // safe code in the kernel crate's model: `might_sleep()` reports a
    // spinlock held across it, and lockdep (`debug_check_no_locks_held()`)
    // any lock.
    unsafe { bindings::rdmabuf_try_to_freeze() }
}

/// A nice level: `MIN_NICE..=MAX_NICE` (`-20..=19`,
/// `include/linux/sched/prio.h`).
///
/// `sched_set_normal()` does not clamp the level it is given: it indexes
/// `sched_prio_to_weight[]` with it (`set_load_weight()`), so a level out of
/// that range reads past the table. Only this type reaches it.
///
/// # Invariants
///
/// `MIN_NICE <= self.0 <= MAX_NICE`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Nice(i32);

impl Nice {
    /// `MIN_NICE`: the most favourable level.
    const MIN: i32 = -20;
    /// `MAX_NICE`: the least favourable level.
    const MAX: i32 = 19;

    /// Returns the level `nice`, or EINVAL unless it is in `-20..=19`.
    pub(crate) fn new(nice: i32) -> Result<Self> {
        if !(Self::MIN..=Self::MAX).contains(&nice) {
            return Err(EINVAL);
        }
        // INVARIANT: Checked above.
        Ok(Self(nice))
    }

    /// Returns the level.
    pub(crate) fn get(self) -> i32 {
        self.0
    }
}

/// How a [`KThread`] is scheduled.
#[derive(Clone, Copy)]
pub(crate) enum Policy {
    /// `SCHED_NORMAL` at this nice level.
    Normal(Nice),
    /// `SCHED_IDLE`: runs only on a CPU that nothing else wants, and any
    /// normal task that wakes there preempts it at once.
    Idle,
}

/// The thread of a [`KThread`], as its `run` sees it: made only in the
/// thread itself, so that its questions are asked of a kernel thread that
/// `kthread_create_on_node()` made.
pub(crate) struct ThisThread {
    /// Not `Send`: it stands for the current task.
    _current: PhantomData<*mut ()>,
}

impl ThisThread {
    /// Returns whether the thread is asked to stop: its handle is being
    /// dropped (`kthread_stop()` was called). `run` should return soon
    /// after; a long loop asks between two steps.
    pub(crate) fn should_stop(&self) -> bool {
        // SAFETY: `kthread_should_stop()` reads `to_kthread(current)`, which
        // requires `current` to be a kernel thread made by `kthreadd`: this
        // object exists only inside `KThread::thread_fn`, which runs in the
        // thread `kthread_create_on_node()` made.
        unsafe { bindings::kthread_should_stop() }
    }
}

/// What a [`KThread`] runs, and the data it runs on.
struct Start<T> {
    data: Arc<T>,
    run: fn(&T, &ThisThread),
    stop: fn(&T),
}

/// A kernel thread calling `run(&data, &this_thread)` once, asked to return
/// with `stop(&data)` (and [`ThisThread::should_stop`]) and waited for when
/// the handle drops.
///
/// Dropping the handle is the only way to end the thread, and it waits until
/// the thread has left `run` and the module's code: safe code cannot drop
/// its owner (a module's state, say) and leave the thread running. `run`
/// must return soon after `stop` (a `run` that does not makes the drop
/// wait, never unsound); the data outlives the thread. A handle that is
/// never dropped (`core::mem::forget`) leaves the thread running, but also
/// keeps the module loaded: each handle holds a reference on the module.
///
/// # Invariants
///
/// `task` is a kernel thread created with `start` as its argument, on which
/// we hold a task reference; `start` outlives the thread (drop stops it
/// first). The handle holds a reference on the module whose code the thread
/// runs.
pub(crate) struct KThread<T: Send + Sync + 'static> {
    task: NonNull<bindings::task_struct>,
    start: KBox<Start<T>>,
}

// SAFETY: The handle only stops the thread, which any thread may do; `stop`
// takes `&T`, and `T: Sync`.
unsafe impl<T: Send + Sync + 'static> Send for KThread<T> {}
// SAFETY: `&KThread` gives no access to anything.
unsafe impl<T: Send + Sync + 'static> Sync for KThread<T> {}

impl<T: Send + Sync + 'static> KThread<T> {
    /// Creates and starts a thread called `name`, scheduled by `policy` and
    /// made freezable, that calls `run(&data, &this_thread)`; dropping the
    /// handle calls `stop(&data)`, then makes
    /// [`ThisThread::should_stop`] true and waits for `run` to return.
    pub(crate) fn run(
        name: &'static CStr,
        policy: Policy,
        data: Arc<T>,
        run: fn(&T, &ThisThread),
        stop: fn(&T),
    ) -> Result<Self> {
        let start = KBox::new(Start { data, run, stop }, GFP_KERNEL)?;
        let arg = core::ptr::from_ref::<Start<T>>(&start).cast_mut().cast();
        // SAFETY: `kthread_create_on_node()` makes a thread that will call
        // `threadfn(data)` once woken (never, if stopped first), and
        // formats its name from `namefmt` and the arguments with
        // `vsnprintf()` before it returns. `thread_fn::<T>` takes a
        // `Start<T>` as `data`: `arg` is one, in a box that stays at a fixed
        // address until the thread has exited (drop stops it before the box
        // is freed). `namefmt` is "%s" with `name`, a NUL-terminated string,
        // as its argument. It returns a task or an `ERR_PTR()`.
        let task = unsafe {
            bindings::kthread_create_on_node(
                Some(Self::thread_fn),
                arg,
                bindings::NUMA_NO_NODE,
                c"%s".as_char_ptr(),
                name.as_char_ptr(),
            )
        };
        let task = NonNull::new(kernel::error::from_err_ptr(task)?).ok_or(ENOMEM)?;
        // SAFETY: `task` is the task just made: it sleeps in `kthread()`
        // until woken or stopped, so it has not exited and its
        // `task_struct` is live; `get_task_struct()` takes a reference on
        // it, which `kthread_stop_put()` requires and drops.
        unsafe { bindings::get_task_struct(task.as_ptr()) };
        // SAFETY: `__module_get()` requires a module known to be live: this
        // runs the module's own code (its init, or code it called), so it
        // is. The reference keeps it loaded while the thread may run its
        // code.
        unsafe { bindings::__module_get(Self::module()) };
        // INVARIANT: Created with `start`, both referenced above. From here on
        // an error drops `thread`, which stops the thread before it runs.
        let thread = Self { task, start };
        match policy {
            // SAFETY: `sched_set_normal()` needs a live task (we hold a
            // reference on it) and a level in `MIN_NICE..=MAX_NICE`, which it
            // does not check: `Nice` holds only such levels. It takes the
            // task's runqueue and pi locks, from process context: this runs
            // in process context and holds no lock.
            Policy::Normal(nice) => unsafe {
                bindings::sched_set_normal(task.as_ptr(), nice.get())
            },
            Policy::Idle => {
                // Our bindgen's `struct sched_attr` (the kernel crate's is
                // opaque): `SCHED_IDLE`, everything else 0.
                let attr = bindings::sched_attr {
                    size: core::mem::size_of::<bindings::sched_attr>() as u32,
                    sched_policy: bindings::SCHED_IDLE,
                    ..Default::default()
                };
                // SAFETY: `sched_setattr_nocheck()` needs a live task (as
                // above), process context, and a `struct sched_attr` of
                // `size` bytes: `attr` is the C struct, laid out by bindgen
                // from the same header, so the cast names the same type.
                to_result(unsafe {
                    bindings::sched_setattr_nocheck(
                        task.as_ptr(),
                        core::ptr::from_ref(&attr).cast::<kernel::bindings::sched_attr>(),
                    )
                })?;
            }
        }
        // SAFETY: `wake_up_process()` needs a live task: we hold a reference.
        // It starts the thread, which calls `thread_fn(arg)`.
        unsafe { bindings::wake_up_process(task.as_ptr()) };
        Ok(thread)
    }

    /// The module whose code the thread runs: this one.
    fn module() -> *mut bindings::module {
        <crate::LocalModule as crate::kapi::kernel::ModuleMetadata>::THIS_MODULE.as_ptr()
    }

    /// # Safety
    ///
    /// `arg` is the `Start<T>` of a live [`KThread`].
    unsafe extern "C" fn thread_fn(arg: *mut c_void) -> c_int {
        // SAFETY: By the safety requirements; the `Start<T>` is freed only
        // after `kthread_stop_put()` has seen this thread exit.
        let start = unsafe { &*arg.cast::<Start<T>>() };
        set_freezable();
        // Made here, in the thread itself (see `ThisThread`).
        let this = ThisThread {
            _current: PhantomData,
        };
        (start.run)(&start.data, &this);
        0
    }
}

/// Makes the current kernel thread freezable (clears `PF_NOFREEZE`), and
/// freezes it at once if the system is suspending. Without
/// `CONFIG_FREEZER` nothing freezes, and `set_freezable()` is an empty
/// inline that bindgen does not see.
fn set_freezable() {
    #[cfg(CONFIG_FREEZER)]
    {
        // SAFETY: `set_freezable()` changes `current`'s flags under the
        // freezer's lock and may freeze (sleep): it needs process context
        // and no lock held, and the thread's function holds none yet.
        // Whether it froze says nothing to us.
        let _ = unsafe { bindings::set_freezable() };
    }
}

impl<T: Send + Sync + 'static> Drop for KThread<T> {
    fn drop(&mut self) {
        (self.start.stop)(&self.start.data);
        // SAFETY: `kthread_stop_put()` needs a thread made by
        // `kthread_create()`, on which the caller holds a reference from
        // `get_task_struct()`, stopped once: by the type invariant we hold
        // one, and only this drop stops it. It makes `kthread_should_stop()`
        // true, wakes the thread, waits until it has exited (or exits it
        // unrun) and drops the reference. Only then is `start` freed.
        unsafe { bindings::kthread_stop_put(self.task.as_ptr()) };
        // SAFETY: `module_put()` drops a reference the caller holds: by the
        // type invariant we hold one, and the thread has exited, so it runs
        // none of the module's code.
        unsafe { bindings::module_put(Self::module()) };
    }
}

#[cfg(CONFIG_KUNIT = "y")]
mod tests {
    use super::*;
    use crate::kapi::kernel::sync::atomic::{
        Atomic,
        Relaxed, //
    };
    use crate::kapi::kernel::time::Delta;
    use crate::kapi::kunit::{
        assert,
        assert_eq,
        kunit_suite, //
    };

    /// What the test thread reports.
    struct Flags {
        /// Set by `stop`.
        stop: Atomic<bool>,
        /// `run` saw `stop` (rather than giving up after two seconds).
        stopped_on_request: Atomic<bool>,
        /// `run` got to its end, after a last sleep.
        finished: Atomic<bool>,
    }

    fn run(flags: &Flags, _: &ThisThread) {
        for _ in 0..200 {
            if flags.stop.load(Relaxed) {
                flags.stopped_on_request.store(true, Relaxed);
                break;
            }
            crate::kapi::kernel::time::delay::fsleep(Delta::from_millis(10));
        }
        // Still running on its data after the request: the drop must wait.
        crate::kapi::kernel::time::delay::fsleep(Delta::from_millis(50));
        flags.finished.store(true, Relaxed);
    }

    fn stop(flags: &Flags) {
        flags.stop.store(true, Relaxed);
    }

    /// Dropping the handle, with nothing else asking the thread to end,
    /// stops it: `stop` reaches `run`, and the drop returns only after
    /// `run` did, with the thread's reference on the data and the handle's
    /// on the module given back.
    fn dropping_the_handle_stops_the_thread_and_waits_for_it() -> Result {
        let flags = Arc::new(
            Flags {
                stop: Atomic::new(false),
                stopped_on_request: Atomic::new(false),
                finished: Atomic::new(false),
            },
            GFP_KERNEL,
        )?;
        let thread = KThread::run(
            c"rsystem_heap-test",
            Policy::Normal(Nice::new(0)?),
            flags.clone(),
            run,
            stop,
        )?;
        // A handle holds the module: one that is never dropped keeps it
        // loaded rather than its code running after an unload.
        #[cfg(CONFIG_MODULE_UNLOAD)]
        // SAFETY: The module is loaded: its code runs this test.
        let refs = || unsafe { bindings::module_refcount(KThread::<Flags>::module()) };
        #[cfg(CONFIG_MODULE_UNLOAD)]
        let held = refs();
        crate::kapi::kernel::time::delay::fsleep(Delta::from_millis(20));
        drop(thread);
        #[cfg(CONFIG_MODULE_UNLOAD)]
        assert_eq!(refs(), held - 1);
        assert!(flags.finished.load(Relaxed));
        assert!(flags.stopped_on_request.load(Relaxed));
        assert!(Arc::into_unique_or_drop(flags).is_some());
        Ok(())
    }

    /// Loops until its thread is asked to stop, counting its steps.
    fn run_until_asked(steps: &Atomic<usize>, this: &ThisThread) {
        while !this.should_stop() {
            steps.fetch_add(1, Relaxed);
            crate::kapi::kernel::time::delay::fsleep(Delta::from_millis(1));
        }
    }

    /// A `run` that asks only [`ThisThread::should_stop`] (its `stop` does
    /// nothing) ends when the handle drops: `kthread_stop()` makes it true.
    fn should_stop_is_true_once_the_handle_drops() -> Result {
        let steps = Arc::new(Atomic::new(0usize), GFP_KERNEL)?;
        let thread = KThread::run(
            c"rsystem_heap-test",
            Policy::Normal(Nice::new(19)?),
            steps.clone(),
            run_until_asked,
            |_| {},
        )?;
        let mut waited = 0;
        while steps.load(Relaxed) == 0 && waited < 200 {
            crate::kapi::kernel::time::delay::fsleep(Delta::from_millis(10));
            waited += 1;
        }
        assert!(steps.load(Relaxed) > 0);
        drop(thread);
        let after = steps.load(Relaxed);
        crate::kapi::kernel::time::delay::fsleep(Delta::from_millis(20));
        assert_eq!(steps.load(Relaxed), after);
        assert!(Arc::into_unique_or_drop(steps).is_some());
        Ok(())
    }

    /// Only `MIN_NICE..=MAX_NICE` makes a [`Nice`]: `sched_set_normal()`
    /// would index `sched_prio_to_weight[]` with anything else.
    fn nice_levels_out_of_range_are_refused() -> Result {
        for level in [-20, -1, 0, 1, 19] {
            assert_eq!(Nice::new(level).map(Nice::get), Ok(level));
        }
        for level in [i32::MIN, -41, -21, 20, 40, i32::MAX] {
            assert_eq!(Nice::new(level), Err(EINVAL));
        }
        Ok(())
    }

    kunit_suite!(
        rsystem_heap_kthread,
        [
            dropping_the_handle_stops_the_thread_and_waits_for_it,
            should_stop_is_true_once_the_handle_drops,
            nice_levels_out_of_range_are_refused
        ]
    );
}

// SPDX-License-Identifier: GPL-2.0

//! Kernel threads and the state of the current task.
//!
//! C header: [include/linux/kthread.h](srctree/include/linux/kthread.h)

use core::ffi::{
    c_int,
    c_void, //
};
use core::ptr::NonNull;

use kernel::error::to_result;
use kernel::prelude::*;
use kernel::sync::Arc;

use super::bindings;

/// Returns whether the current task has a fatal signal (SIGKILL) pending.
pub(crate) fn fatal_signal_pending() -> bool {
    // SAFETY: Reads the current task's signal state.
    unsafe { bindings::rdmabuf_fatal_signal_pending() }
}

/// Freezes the current task if the system is suspending (the freezer asks
/// every freezable task to), until it resumes. Returns whether it froze.
///
/// Sleeps: call it holding no lock. Only a [`KThread`] (made freezable) or a
/// user task freezes here; any other kernel thread returns `false`.
pub(crate) fn try_to_freeze() -> bool {
    // SAFETY: A plain call into the freezer. It may sleep, which safe code
    // may do: `might_sleep` reports a spinlock held across it, and lockdep
    // (`debug_check_no_locks_held`) any lock.
    unsafe { bindings::rdmabuf_try_to_freeze() }
}

/// How a [`KThread`] is scheduled.
#[derive(Clone, Copy)]
pub(crate) enum Policy {
    /// `SCHED_NORMAL` at this nice level.
    Normal(i32),
    /// `SCHED_IDLE`: runs only on a CPU that nothing else wants, and any
    /// normal task that wakes there preempts it at once.
    Idle,
}

/// What a [`KThread`] runs, and the data it runs on.
struct Start<T> {
    data: Arc<T>,
    run: fn(&T),
    stop: fn(&T),
}

/// A kernel thread calling `run(&data)` once, asked to return with
/// `stop(&data)` and waited for when the handle drops.
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
    /// made freezable, that calls `run(&data)`; dropping the handle calls
    /// `stop(&data)` and waits for `run` to return.
    pub(crate) fn run(
        name: &'static CStr,
        policy: Policy,
        data: Arc<T>,
        run: fn(&T),
        stop: fn(&T),
    ) -> Result<Self> {
        let start = KBox::new(Start { data, run, stop }, GFP_KERNEL)?;
        let arg = core::ptr::from_ref::<Start<T>>(&start).cast_mut().cast();
        // SAFETY: `thread_fn::<T>` takes `arg`, a `Start<T>` that stays at a
        // fixed address until the thread is stopped; `name` is printed
        // through "%s", and both strings are copied before this returns.
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
        // SAFETY: `task` is the new, not yet running thread.
        unsafe { bindings::get_task_struct(task.as_ptr()) };
        // SAFETY: This runs the module's code, so the module is loaded;
        // the reference keeps it so while the thread may run its code.
        unsafe { bindings::__module_get(Self::module()) };
        // INVARIANT: Created with `start`, both referenced above. From here on
        // an error drops `thread`, which stops the thread before it runs.
        let thread = Self { task, start };
        match policy {
            // SAFETY: `task` is a live thread we hold a reference on.
            Policy::Normal(nice) => unsafe { bindings::sched_set_normal(task.as_ptr(), nice) },
            Policy::Idle => {
                // SAFETY: As above.
                to_result(unsafe { bindings::rdmabuf_sched_set_idle(task.as_ptr()) })?;
            }
        }
        // SAFETY: As above.
        unsafe { bindings::wake_up_process(task.as_ptr()) };
        Ok(thread)
    }

    /// The module whose code the thread runs: this one.
    fn module() -> *mut bindings::module {
        <crate::LocalModule as kernel::ModuleMetadata>::THIS_MODULE.as_ptr()
    }

    /// # Safety
    ///
    /// `arg` is the `Start<T>` of a live [`KThread`].
    unsafe extern "C" fn thread_fn(arg: *mut c_void) -> c_int {
        // SAFETY: By the safety requirements.
        let start = unsafe { &*arg.cast::<Start<T>>() };
        // SAFETY: We are a kernel thread.
        unsafe { bindings::rdmabuf_set_freezable() };
        (start.run)(&start.data);
        0
    }
}

impl<T: Send + Sync + 'static> Drop for KThread<T> {
    fn drop(&mut self) {
        (self.start.stop)(&self.start.data);
        // SAFETY: By the type invariant we hold a reference on the thread;
        // `kthread_stop_put` wakes it, waits for it to exit (or never start)
        // and drops the reference. Only then is `start` freed.
        unsafe { bindings::kthread_stop_put(self.task.as_ptr()) };
        // SAFETY: By the type invariant we hold a reference on the module,
        // and the thread is gone: it runs none of the module's code.
        unsafe { bindings::module_put(Self::module()) };
    }
}

#[kunit_tests(rsystem_heap_kthread)]
mod tests {
    use super::*;
    use kernel::sync::atomic::{
        Atomic,
        Relaxed, //
    };
    use kernel::time::Delta;

    /// What the test thread reports.
    struct Flags {
        /// Set by `stop`.
        stop: Atomic<bool>,
        /// `run` saw `stop` (rather than giving up after two seconds).
        stopped_on_request: Atomic<bool>,
        /// `run` got to its end, after a last sleep.
        finished: Atomic<bool>,
    }

    fn run(flags: &Flags) {
        for _ in 0..200 {
            if flags.stop.load(Relaxed) {
                flags.stopped_on_request.store(true, Relaxed);
                break;
            }
            kernel::time::delay::fsleep(Delta::from_millis(10));
        }
        // Still running on its data after the request: the drop must wait.
        kernel::time::delay::fsleep(Delta::from_millis(50));
        flags.finished.store(true, Relaxed);
    }

    fn stop(flags: &Flags) {
        flags.stop.store(true, Relaxed);
    }

    /// Dropping the handle, with nothing else asking the thread to end,
    /// stops it: `stop` reaches `run`, and the drop returns only after
    /// `run` did, with the thread's reference on the data and the handle's
    /// on the module given back.
    #[test]
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
            Policy::Normal(0),
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
        kernel::time::delay::fsleep(Delta::from_millis(20));
        drop(thread);
        #[cfg(CONFIG_MODULE_UNLOAD)]
        assert_eq!(refs(), held - 1);
        assert!(flags.finished.load(Relaxed));
        assert!(flags.stopped_on_request.load(Relaxed));
        assert!(Arc::into_unique_or_drop(flags).is_some());
        Ok(())
    }
}

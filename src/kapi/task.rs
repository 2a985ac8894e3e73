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
}

/// A kernel thread calling `run(&data)` once, stopped (and waited for) on
/// drop. `run` must return once its data says so: the owner of the data
/// tells it to stop before dropping the thread handle.
///
/// # Invariants
///
/// `task` is a kernel thread created with `start` as its argument, on which
/// we hold a task reference; `start` outlives the thread (drop stops it
/// first).
pub(crate) struct KThread<T: Send + Sync + 'static> {
    task: NonNull<bindings::task_struct>,
    start: KBox<Start<T>>,
}

// SAFETY: The handle only stops the thread, which any thread may do.
unsafe impl<T: Send + Sync + 'static> Send for KThread<T> {}
// SAFETY: `&KThread` gives no access to anything.
unsafe impl<T: Send + Sync + 'static> Sync for KThread<T> {}

impl<T: Send + Sync + 'static> KThread<T> {
    /// Creates and starts a thread called `name`, scheduled by `policy` and
    /// made freezable, that calls `run(&data)`.
    pub(crate) fn run(
        name: &'static CStr,
        policy: Policy,
        data: Arc<T>,
        run: fn(&T),
    ) -> Result<Self> {
        let start = KBox::new(Start { data, run }, GFP_KERNEL)?;
        let arg = core::ptr::from_ref::<Start<T>>(&start).cast_mut().cast();
        // SAFETY: `thread_fn::<T>` takes `arg`, a `Start<T>` that stays at a
        // fixed address until the thread is stopped.
        let task = unsafe {
            bindings::rdmabuf_kthread_create(Some(Self::thread_fn), arg, name.as_char_ptr())
        };
        let task = NonNull::new(kernel::error::from_err_ptr(task)?).ok_or(ENOMEM)?;
        // SAFETY: `task` is the new, not yet running thread.
        unsafe { bindings::get_task_struct(task.as_ptr()) };
        // INVARIANT: Created with `start` and referenced above. From here on
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
        // SAFETY: By the type invariant we hold a reference on the thread;
        // `kthread_stop_put` wakes it, waits for it to exit (or never start)
        // and drops the reference. Only then is `start` freed.
        unsafe { bindings::kthread_stop_put(self.task.as_ptr()) };
        let _ = &self.start;
    }
}

// SPDX-License-Identifier: GPL-2.0

//! `kernel::workqueue` for Linux 6.12: its work items, plus delayed work.
//!
//! Linux 6.12's kernel crate has work items (`Work`, `WorkItem`, `HasWork`,
//! `new_work!`, `Queue::enqueue`), which are re-exported here, but no
//! delayed work (the kernel crate has that since Linux 6.17). `delayed`
//! adds the subset of it the project uses, with 7.3's shape: `DelayedWork`,
//! `HasDelayedWork` through `impl_has_delayed_work!`, `new_delayed_work!`,
//! and `Queue::enqueue_delayed` for `Arc` work items on `system()`'s queue.
//! Its `Queue` is also 6.12's own queue (by `Deref`), so that `enqueue`
//! works on it as on 7.3.
//!
//! C header: [include/linux/workqueue.h](srctree/include/linux/workqueue.h)

// 6.12's work items, as they are; `Queue` and `system` are shadowed by
// `delayed`'s where it is built.
pub(crate) use kernel::workqueue::*;

// Only rsystem_heap uses delayed work: like the rest of kapi, what one
// module uses is behind its cfg, so that the other carries no dead code.
#[cfg(kapi_heap)]
mod delayed;
#[cfg(kapi_heap)]
pub(crate) use delayed::{
    impl_has_delayed_work,
    new_delayed_work,
    system,
    DelayedWork,
    HasDelayedWork,
    Queue,
    RawDelayedWorkItem, //
};

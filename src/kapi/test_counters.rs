// SPDX-License-Identifier: GPL-2.0

//! Test-only counters that KUnit cases read to check kapi's ordering rules,
//! and the flags by which cases inject faults.
//!
//! Compiled only with `CONFIG_KUNIT`. They depend on nothing else in kapi,
//! so the modules that count into them import no one that imports them
//! back. A kernel with KUnit built in runs the suites at module load, while
//! users may already be using the modules: a flag that changes behaviour is
//! a [`TaskFlag`], which holds only for the task that raised it (the case's
//! own thread, which calls the code that reads it), never for users' calls.

use kernel::sync::atomic::{
    Atomic,
    Relaxed, //
};

static LIVE_DMA_MAPPINGS: Atomic<usize> = Atomic::new(0);
static SKIP_IMPORTER_SYNCS: TaskFlag = TaskFlag::new();
#[cfg(kapi_udmabuf)]
static UNPINS: Atomic<usize> = Atomic::new(0);
#[cfg(kapi_udmabuf)]
static UNPINS_UNDER_A_DMA_MAPPING: Atomic<usize> = Atomic::new(0);

/// A test flag raised for one task: the task that raised it sees it raised,
/// every other task sees it lowered.
///
/// Holds the address of the raising task's `task_struct`, or 0.
pub(crate) struct TaskFlag(Atomic<usize>);

impl TaskFlag {
    /// A lowered flag.
    pub(crate) const fn new() -> Self {
        Self(Atomic::new(0))
    }

    /// Returns the address of the current task (never 0).
    fn current() -> usize {
        kernel::current!().as_ptr().addr()
    }

    /// Raises the flag for the current task if `raise`, else lowers it.
    pub(crate) fn set(&self, raise: bool) {
        self.0
            .store(if raise { Self::current() } else { 0 }, Relaxed);
    }

    /// Returns whether the flag is raised for the current task. A lowered
    /// flag costs a load.
    pub(crate) fn is_raised(&self) -> bool {
        let task = self.0.load(Relaxed);
        task != 0 && task == Self::current()
    }

    /// Lowers the flag if it is raised for the current task; returns
    /// whether it was (a one-shot fault).
    pub(crate) fn take(&self) -> bool {
        let task = self.0.load(Relaxed);
        task != 0 && self.0.cmpxchg(Self::current(), 0, Relaxed).is_ok()
    }
}

/// An sg table was mapped for DMA.
pub(super) fn dma_mapped() {
    LIVE_DMA_MAPPINGS.fetch_add(1, Relaxed);
}

/// An sg table was unmapped.
pub(super) fn dma_unmapped() {
    LIVE_DMA_MAPPINGS.fetch_sub(1, Relaxed);
}

/// Returns the tables mapped for DMA and not yet unmapped, in this module.
pub(crate) fn live_dma_mappings() -> usize {
    LIVE_DMA_MAPPINGS.load(Relaxed)
}

/// `folios` folios are being unpinned in one `unpin_folios()` call. Counted
/// per call, not per folio: the benchmark's kernel has KUnit built in, and
/// a per-folio count cost measurably on every release.
#[cfg(kapi_udmabuf)]
pub(super) fn unpinning(folios: usize) {
    UNPINS.fetch_add(folios, Relaxed);
    if live_dma_mappings() > 0 {
        UNPINS_UNDER_A_DMA_MAPPING.fetch_add(folios, Relaxed);
    }
}

/// Returns (folios unpinned, of which under a live DMA mapping) so far.
#[cfg(kapi_udmabuf)]
pub(crate) fn unpins() -> (usize, usize) {
    (
        UNPINS.load(Relaxed),
        UNPINS_UNDER_A_DMA_MAPPING.load(Relaxed),
    )
}

/// Makes begin/end_cpu_access that the current task calls sync no
/// importer's mapping while `skip`, as 7.3's udmabuf does (it syncs only its
/// own table): for a case to show what those semantics miss. Other tasks'
/// calls sync as always.
#[cfg(kapi_udmabuf)]
pub(crate) fn skip_importer_syncs(skip: bool) {
    SKIP_IMPORTER_SYNCS.set(skip);
}

/// Returns whether importers' mappings are left unsynced (for this task).
pub(super) fn importer_syncs_skipped() -> bool {
    SKIP_IMPORTER_SYNCS.is_raised()
}

#[cfg(kapi_heap)]
#[kernel::prelude::kunit_tests(rsystem_heap_test_flags)]
mod tests {
    use super::*;
    use crate::kapi::task::{
        KThread,
        Nice,
        Policy,
        ThisThread, //
    };
    use kernel::prelude::*;
    use kernel::sync::Arc;
    use kernel::time::Delta;

    /// A flag, and what another thread saw of it.
    struct Seen {
        flag: TaskFlag,
        raised: Atomic<bool>,
        taken: Atomic<bool>,
        done: Atomic<bool>,
    }

    fn look(seen: &Seen, _: &ThisThread) {
        seen.raised.store(seen.flag.is_raised(), Relaxed);
        seen.taken.store(seen.flag.take(), Relaxed);
        seen.done.store(true, Relaxed);
    }

    /// A flag a case raises (a fault to inject, say) holds for the case's
    /// own task: another task, as a user's would be, neither sees nor
    /// consumes it.
    #[test]
    fn a_task_flag_holds_for_the_task_that_raised_it_only() -> Result {
        let seen = Arc::new(
            Seen {
                flag: TaskFlag::new(),
                raised: Atomic::new(true),
                taken: Atomic::new(true),
                done: Atomic::new(false),
            },
            GFP_KERNEL,
        )?;
        seen.flag.set(true);
        let thread = KThread::run(
            c"rsystem_heap-kunit",
            Policy::Normal(Nice::new(0)?),
            seen.clone(),
            look,
            |_| {},
        )?;
        let mut waited = 0;
        while !seen.done.load(Relaxed) && waited < 300 {
            kernel::time::delay::fsleep(Delta::from_millis(10));
            waited += 1;
        }
        drop(thread);
        assert!(seen.done.load(Relaxed));
        assert!(!seen.raised.load(Relaxed));
        assert!(!seen.taken.load(Relaxed));
        // Here it is raised, once.
        assert!(seen.flag.is_raised());
        assert!(seen.flag.take());
        assert!(!seen.flag.take());
        assert!(!seen.flag.is_raised());
        Ok(())
    }
}

// SPDX-License-Identifier: GPL-2.0

//! `kernel::time` for Linux 6.12: the kernel crate's own, with what 7.3's
//! has and 6.12's lacks, the subset the project uses.
//!
//! 6.12 has `Jiffies` and `msecs_to_jiffies` but no `Delta` (since 6.15)
//! and no `time::delay` (`fsleep` since 6.16, `udelay` later): [`Delta`]
//! and [`delay`] are kapi's own, the delays over C helpers. Only the heap's
//! KUnit suites use them.
//!
//! C header: [include/linux/delay.h](srctree/include/linux/delay.h)

pub(crate) use kernel::time::*;

#[cfg(all(kapi_heap, CONFIG_KUNIT = "y"))]
pub(crate) mod delay;

/// A span of time, in nanoseconds.
#[cfg(all(kapi_heap, CONFIG_KUNIT = "y"))]
#[derive(Copy, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Delta {
    nanos: i64,
}

#[cfg(all(kapi_heap, CONFIG_KUNIT = "y"))]
impl Delta {
    /// No time.
    pub(crate) const ZERO: Self = Self { nanos: 0 };

    /// `micros` microseconds, saturating at the range of an `i64` of
    /// nanoseconds.
    pub(crate) const fn from_micros(micros: i64) -> Self {
        Self {
            nanos: micros.saturating_mul(1_000),
        }
    }

    /// `millis` milliseconds, saturating at the range of an `i64` of
    /// nanoseconds.
    pub(crate) const fn from_millis(millis: i64) -> Self {
        Self {
            nanos: millis.saturating_mul(1_000_000),
        }
    }

    /// The span in microseconds, rounded up.
    pub(crate) const fn as_micros_ceil(self) -> i64 {
        self.nanos.saturating_add(999) / 1_000
    }
}

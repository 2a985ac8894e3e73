// SPDX-License-Identifier: GPL-2.0

//! The tick counter, `jiffies`.
//!
//! C header: [include/linux/jiffies.h](srctree/include/linux/jiffies.h)

use super::bindings;
use crate::kapi::kernel::time::Jiffies;

/// Returns the current value of `jiffies`.
///
/// It wraps: compare two values by their wrapping difference, as C's
/// `time_after()` does.
pub(crate) fn now() -> Jiffies {
    // SAFETY: `jiffies` is a static that the timer tick updates; C reads it
    // with `READ_ONCE()`, a volatile load of an aligned word, which is what
    // this is, and such a load is not torn.
    unsafe { (&raw const bindings::jiffies).read_volatile() }
}

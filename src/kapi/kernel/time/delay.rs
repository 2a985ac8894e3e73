// SPDX-License-Identifier: GPL-2.0

//! Delay and sleep (`kernel::time::delay`, which 6.12 lacks): the subset the
//! project uses, over C helpers (`fsleep()` is a static inline, `udelay()`
//! a macro).
//!
//! C header: [include/linux/delay.h](srctree/include/linux/delay.h)

use super::Delta;
use crate::kapi::bindings;

/// Sleeps for `delta` at least, the best way for its length (`fsleep()`).
///
/// `delta` beyond `[0, i32::MAX]` microseconds is a bug; it sleeps the
/// nearest bound of that range (as 7.3's: C's `fsleep()` would take a
/// larger value as an endless sleep). Sleeps: process context only.
pub(crate) fn fsleep(delta: Delta) {
    let max = Delta::from_micros(i32::MAX as i64);
    let delta = delta.clamp(Delta::ZERO, max);
    // SAFETY: `fsleep()` may be called with any duration in process
    // context, which sleeping functions require of their callers.
    unsafe { bindings::rdmabuf_fsleep(delta.as_micros_ceil() as usize) }
}

/// Busy-waits for `delta` (`udelay()`).
///
/// `delta` beyond `[0, MAX_UDELAY_MS]` is a bug; it waits the nearest bound
/// of that range.
pub(crate) fn udelay(delta: Delta) {
    let micros = delta.max(Delta::ZERO).as_micros_ceil();
    // SAFETY: `udelay()` may be called with any duration in any context;
    // the helper bounds it by `MAX_UDELAY_MS`.
    unsafe { bindings::rdmabuf_udelay(micros as usize) }
}

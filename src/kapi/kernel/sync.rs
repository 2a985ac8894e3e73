// SPDX-License-Identifier: GPL-2.0

//! `kernel::sync` for Linux 6.12: the kernel crate's own, with what 7.3's
//! has and 6.12's lacks, the subset the project uses.
//!
//! 6.12 has `ARef` in `kernel::types` (later kernels in `sync::aref`) and
//! no `sync::atomic` (since 6.18): [`atomic`] is kapi's own, over core's
//! atomics.

pub(crate) use kernel::sync::*;

pub(crate) mod atomic;

/// Reference-counted kernel objects (6.12: in `kernel::types`).
pub(crate) mod aref {
    pub(crate) use kernel::types::{
        ARef,
        AlwaysRefCounted, //
    };
}

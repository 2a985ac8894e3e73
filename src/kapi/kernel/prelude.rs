// SPDX-License-Identifier: GPL-2.0

//! `kernel::prelude` for Linux 6.12: to be written (issue 31).

pub(crate) use kernel::prelude::*;

// The `module!` of 7.3's syntax.
pub(crate) use super::module::module;

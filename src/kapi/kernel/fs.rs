// SPDX-License-Identifier: GPL-2.0

//! `kernel::fs` for Linux 6.12: to be written (issue 31).

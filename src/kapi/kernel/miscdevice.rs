// SPDX-License-Identifier: GPL-2.0

//! `kernel::miscdevice` for Linux 6.12: to be written (issue 31).

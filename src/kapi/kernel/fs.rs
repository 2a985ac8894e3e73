// SPDX-License-Identifier: GPL-2.0

//! `kernel::fs` for Linux 6.12: open files.
//!
//! C header: [include/linux/fs.h](srctree/include/linux/fs.h)
//!
//! 6.12's kernel crate has no `fs` module (the kernel crate has `File` and
//! `LocalFile` since 6.13). This is the subset the project uses: [`File`],
//! the open file that a misc device's file operations get, [`LocalFile`],
//! a file looked up by descriptor, and the `O_*` flags of [`file::flags`].

pub(crate) mod file;

pub(crate) use file::File;
#[cfg(kapi_udmabuf)]
pub(crate) use file::LocalFile;

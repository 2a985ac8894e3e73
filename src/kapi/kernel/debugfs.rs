// SPDX-License-Identifier: GPL-2.0

//! `kernel::debugfs` for Linux 6.12: directories and read-only files shown
//! through a formatting callback.
//!
//! Linux 6.12's kernel crate has no debugfs abstraction (the kernel crate has
//! `kernel::debugfs` since Linux 6.18). This is the subset of it the project
//! uses, with its shape: [`Dir::new`] and [`Dir::read_callback_file`], whose
//! [`File`] owns the data it shows. It is built on `debugfs_create_dir()`,
//! `debugfs_create_file()` and `debugfs_remove()` (our bindgen step) and a
//! `seq_file` table in the C helpers (`rdmabuf_debugfs_show_fops`, the table
//! `DEFINE_SHOW_ATTRIBUTE()` makes, with `single_open()`), whose show
//! function calls back into [`File`]'s trampoline; a [`fmt::Write`] adapter
//! formats into the `seq_file` with `seq_write()`.
//!
//! Removal is ordered as in 7.3's: a file is removed before the data it
//! shows is dropped (`debugfs_remove()` waits for readers), and a directory
//! only once its handle and all its files are gone.
//!
//! Creation failures are silent, as debugfs wants them: a directory or file
//! that could not be created is simply absent.
//!
//! C header: [include/linux/debugfs.h](srctree/include/linux/debugfs.h)

use core::convert::Infallible;
use core::ffi::CStr;
use core::fmt;
use core::marker::PhantomPinned;
use core::ops::Deref;
use core::ptr;
use core::ptr::NonNull;

use kernel::container_of;
use kernel::error::from_err_ptr;
use kernel::ffi::c_int;
use kernel::prelude::{
    pin_data,
    pin_init,
    Pin,
    PinInit,
    GFP_KERNEL, //
};
use kernel::sync::Arc;

use crate::kapi::bindings;
#[cfg(CONFIG_DEBUG_FS)]
use crate::kapi::bindings::{
    debugfs_create_dir,
    debugfs_create_file,
    debugfs_remove, //
};

/// The mode of a read-only file: what 7.3's read-only files have.
const READ_ONLY: bindings::umode_t = 0o400;

/// A debugfs entry, removed (with all it holds) when dropped.
///
/// # Invariants
///
/// `dentry` is a debugfs dentry created for this handle, which nothing but
/// its drop removes; `_parent` keeps the directory it is in, if any, until
/// then, so that the directory's removal never takes it along first.
struct Entry {
    dentry: NonNull<bindings::dentry>,
    _parent: Option<Arc<Entry>>,
}

// SAFETY: A dentry may be removed from any thread.
unsafe impl Send for Entry {}
// SAFETY: `&Entry` only lends the dentry as the parent of new entries, which
// debugfs creates under the directory's own lock.
unsafe impl Sync for Entry {}

impl Entry {
    /// Takes `dentry`, which debugfs just created in `parent`'s directory,
    /// or returns `None` if it is an error (or null).
    fn new(dentry: *mut bindings::dentry, parent: Option<Arc<Entry>>) -> Option<Self> {
        let dentry = NonNull::new(from_err_ptr(dentry).ok()?)?;
        // INVARIANT: debugfs created `dentry` for this handle, in `parent`.
        Some(Self {
            dentry,
            _parent: parent,
        })
    }

    /// Creates the directory `name` at the root of debugfs.
    fn root_dir(name: &CStr) -> Option<Self> {
        // SAFETY: `name` is a NUL-terminated string; a null parent is the
        // root of debugfs.
        let dentry = unsafe { debugfs_create_dir(name.as_ptr().cast(), ptr::null_mut()) };
        Self::new(dentry, None)
    }

    /// Creates the read-only file `name` in `dir`, shown by the function
    /// that heads `head`.
    ///
    /// # Safety
    ///
    /// `head` is the `head` of a [`File`] that stays valid and in place until
    /// the returned entry is dropped.
    unsafe fn file(
        name: &CStr,
        dir: Arc<Entry>,
        head: *const bindings::rdmabuf_debugfs_show,
    ) -> Option<Self> {
        // SAFETY: `name` is a NUL-terminated string and `dir`'s dentry a
        // debugfs directory (type invariant), kept so by the new entry. The
        // table's show function reads the private data, `head`, only while
        // the file exists, which the caller guarantees it outlives.
        let dentry = unsafe {
            debugfs_create_file(
                name.as_ptr().cast(),
                READ_ONLY,
                dir.dentry.as_ptr(),
                head.cast_mut().cast(),
                &raw const bindings::rdmabuf_debugfs_show_fops,
            )
        };
        Self::new(dentry, Some(dir))
    }
}

impl Drop for Entry {
    fn drop(&mut self) {
        // SAFETY: By the type invariant, the dentry is still there, and only
        // this handle removes it. Removal waits until no reader is in the
        // file's operations, and every entry in a directory holds it.
        unsafe { debugfs_remove(self.dentry.as_ptr()) };
    }
}

/// The debugfs calls of a kernel without debugfs: they create nothing.
#[cfg(not(CONFIG_DEBUG_FS))]
mod no_debugfs {
    use super::bindings;

    /// `debugfs_create_dir()` without debugfs.
    ///
    /// # Safety
    ///
    /// As for the C function (this one does nothing).
    pub(super) unsafe fn debugfs_create_dir(
        _name: *const kernel::ffi::c_char,
        _parent: *mut bindings::dentry,
    ) -> *mut bindings::dentry {
        core::ptr::null_mut()
    }

    /// `debugfs_create_file()` without debugfs.
    ///
    /// # Safety
    ///
    /// As for the C function (this one does nothing).
    pub(super) unsafe fn debugfs_create_file(
        _name: *const kernel::ffi::c_char,
        _mode: bindings::umode_t,
        _parent: *mut bindings::dentry,
        _data: *mut kernel::ffi::c_void,
        _fops: *const bindings::file_operations,
    ) -> *mut bindings::dentry {
        core::ptr::null_mut()
    }

    /// `debugfs_remove()` without debugfs (never called: nothing exists).
    ///
    /// # Safety
    ///
    /// As for the C function (this one does nothing).
    pub(super) unsafe fn debugfs_remove(_dentry: *mut bindings::dentry) {}
}
#[cfg(not(CONFIG_DEBUG_FS))]
use no_debugfs::{
    debugfs_create_dir,
    debugfs_create_file,
    debugfs_remove, //
};

/// A debugfs directory, removed once this handle and all files in it are
/// dropped.
///
/// A directory that could not be created (or whose handle could not be
/// allocated) is absent, and so are the files made in it.
pub(crate) struct Dir(Option<Arc<Entry>>);

impl Dir {
    /// Creates the directory `name` at the root of debugfs.
    pub(crate) fn new(name: &CStr) -> Self {
        // If the `Arc` cannot be allocated, dropping the entry removes the
        // directory again.
        Self(Entry::root_dir(name).and_then(|entry| Arc::new(entry, GFP_KERNEL).ok()))
    }

    /// Returns the initialiser of the read-only file `name` in this
    /// directory, which owns `data` and shows it by `show`.
    ///
    /// `data` cannot fail (a value is an initialiser for every error type on
    /// 6.12, so a generic one would be left undetermined).
    pub(crate) fn read_callback_file<'a, T, F>(
        &'a self,
        name: &'a CStr,
        data: impl PinInit<T, Infallible> + 'a,
        show: &'static F,
    ) -> impl PinInit<File<T>, Infallible> + 'a
    where
        T: Send + Sync + 'static,
        F: Fn(&T, &mut fmt::Formatter<'_>) -> fmt::Result + Send + Sync,
    {
        let show: &'static Show<T> = show;
        pin_init!(File::<T> {
            entry: None,
            head: bindings::rdmabuf_debugfs_show {
                show: Some(show_file::<T>),
            },
            show,
            data <- data,
            _pin: PhantomPinned,
        })
        .pin_chain(move |file| {
            // SAFETY: Nothing is moved out of `file`: only `entry`, which is
            // not structurally pinned, is written through this pointer.
            let file: *mut File<T> = unsafe { Pin::get_unchecked_mut(file) };
            let entry = self.0.as_ref().and_then(|dir| {
                // SAFETY: `file` is pinned and initialised; it keeps the new
                // entry in its `entry` field, which is dropped before the
                // rest of it.
                unsafe { Entry::file(name, dir.clone(), &raw const (*file).head) }
            });
            // SAFETY: `file` is valid. Readers of the new file use its other
            // fields only, so this write of `entry` races with none of them.
            unsafe { (*file).entry = entry };
            Ok(())
        })
    }
}

/// The callback that shows a [`File`]'s data.
type Show<T> = dyn Fn(&T, &mut fmt::Formatter<'_>) -> fmt::Result + Send + Sync;

/// A debugfs file that owns the data it shows.
///
/// When dropped, the file is removed (which waits for its readers), and then
/// the data is dropped.
#[pin_data]
pub(crate) struct File<T: 'static> {
    /// The file, if it could be created. Dropped first.
    entry: Option<Entry>,
    /// What the file's private data points at: the C show function reads
    /// it and calls [`show_file`].
    head: bindings::rdmabuf_debugfs_show,
    /// Formats `data` when the file is read.
    show: &'static Show<T>,
    #[pin]
    data: T,
    /// The file's private data points into this object.
    #[pin]
    _pin: PhantomPinned,
}

impl<T: 'static> Deref for File<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.data
    }
}

/// Formats the data of the [`File`] that `head` heads into `m`, the
/// `seq_file` being read.
///
/// # Safety
///
/// `m` is a `seq_file` being filled by its show function, and `head` the
/// `head` of a `File<T>` whose entry is not yet removed: debugfs calls file
/// operations only while the file exists, and its removal waits for them.
unsafe extern "C" fn show_file<T: 'static>(
    m: *mut bindings::seq_file,
    head: *const bindings::rdmabuf_debugfs_show,
) -> c_int {
    // SAFETY: `head` is the `head` of a live `File<T>` (safety requirements).
    // Only the fields read here are borrowed: `entry` may still be being
    // written by `read_callback_file`.
    let (show, data) = unsafe {
        let file = container_of!(head, File<T>, head);
        ((*file).show, &(*file).data)
    };
    // INVARIANT: `m` is being filled during this call (safety requirements).
    let mut seq = SeqWriter(m);
    // What 7.3's adapter does with the result: on an overflow of the
    // seq_file's buffer, `seq_read()` shows again into a bigger one; a
    // callback's own error ends the text where it stopped.
    let _ = fmt::write(&mut seq, format_args!("{}", Shown { show, data }));
    0
}

/// Shows data by its callback, as `Display`.
struct Shown<'a, T> {
    show: &'a Show<T>,
    data: &'a T,
}

impl<T> fmt::Display for Shown<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        (self.show)(self.data, f)
    }
}

/// Writes formatted text into a `seq_file`.
///
/// # Invariants
///
/// The `seq_file` is being filled by its show function while the writer
/// exists.
struct SeqWriter(*mut bindings::seq_file);

impl fmt::Write for SeqWriter {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        // SAFETY: The `seq_file` is being filled (type invariant); `s` is
        // valid for reads of `s.len()` bytes.
        let ret = unsafe { bindings::seq_write(self.0, s.as_ptr().cast(), s.len()) };
        // Past a full buffer, nothing more is kept: `seq_read()` shows again
        // into a bigger one, so stop formatting.
        if ret == 0 {
            Ok(())
        } else {
            Err(fmt::Error)
        }
    }
}

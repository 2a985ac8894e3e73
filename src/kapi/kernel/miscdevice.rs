// SPDX-License-Identifier: GPL-2.0

//! `kernel::miscdevice` for Linux 6.12: misc devices served by Rust.
//!
//! C header: [include/linux/miscdevice.h](srctree/include/linux/miscdevice.h)
//!
//! 6.12's kernel crate has no misc device support (the kernel crate has it
//! since 6.13). This is the subset the project uses, in 7.3's shape: a
//! [`MiscDevice`] type is the private data of each open file of the device
//! (`open`, `release`, `ioctl`, `compat_ioctl`), and a pinned
//! [`MiscDeviceRegistration`] registers the device and deregisters it when
//! dropped. The file operations name the module that registers the device
//! as their owner (`crate::LocalModule`: each module has its own), so the
//! module stays loaded while a file of its device is open.

use core::ffi::CStr;
use core::marker::PhantomData;

#[cfg(kapi_udmabuf)]
use kernel::device::Device;
use kernel::error::{
    to_result,
    VTABLE_DEFAULT_ERROR, //
};
use kernel::ffi::{
    c_int,
    c_long,
    c_uint,
    c_ulong, //
};
use kernel::init::pin_init_from_closure;
use kernel::prelude::*;
use kernel::types::{
    ForeignOwnable,
    Opaque, //
};

use super::fs::File;
use super::ModuleMetadata;
use crate::kapi::bindings;

/// Options of a misc device.
#[derive(Clone, Copy)]
pub(crate) struct MiscDeviceOptions {
    /// The name of the device, in `/sys/class/misc` and in `/dev` (where
    /// devtmpfs turns each `!` of the name into a `/`).
    pub(crate) name: &'static CStr,
}

impl MiscDeviceOptions {
    /// Returns the `struct miscdevice` to register for `T`: a dynamic
    /// minor, the name, `T`'s file operations, and zero for the rest.
    fn to_raw<T: MiscDevice>(self) -> bindings::miscdevice {
        // A constant's reference, promoted to a static: the table outlives
        // every registration.
        let fops: &'static bindings::file_operations = &MiscDeviceVTable::<T>::VTABLE;
        bindings::miscdevice {
            minor: bindings::MISC_DYNAMIC_MINOR as c_int,
            // CAST: The kernel's `c_char` is `u8`; the bytes are the same.
            name: self.name.as_ptr().cast(),
            fops,
            ..Default::default()
        }
    }
}

/// A registered misc device whose files are served by `T`.
///
/// # Invariants
///
/// `inner` is a `struct miscdevice` registered with `misc_register`, which
/// stays registered (and in place: the registration is pinned) until
/// `misc_deregister` in drop.
#[repr(transparent)]
#[pin_data(PinnedDrop)]
pub(crate) struct MiscDeviceRegistration<T> {
    #[pin]
    inner: Opaque<bindings::miscdevice>,
    _t: PhantomData<T>,
}

// SAFETY: `misc_deregister` may run on another thread than `misc_register`.
unsafe impl<T> Send for MiscDeviceRegistration<T> {}
// SAFETY: The `&self` methods only read what registration set up.
unsafe impl<T> Sync for MiscDeviceRegistration<T> {}

impl<T: MiscDevice> MiscDeviceRegistration<T> {
    /// Registers a misc device with `opts`.
    pub(crate) fn register(opts: MiscDeviceOptions) -> impl PinInit<Self, Error> {
        let register = move |slot: *mut Opaque<bindings::miscdevice>| {
            let misc = Opaque::raw_get(slot);
            // SAFETY: `pin_init_from_closure` passes a slot that is valid
            // for a write.
            unsafe { misc.write(opts.to_raw::<T>()) };
            // SAFETY: `misc` is initialised, and pinned: it stays where it
            // is until the registration's drop deregisters it (or until
            // this fails, when nothing refers to it).
            to_result(unsafe { bindings::misc_register(misc) })
        };
        // SAFETY: On success the closure initialised the slot (its content
        // needs no drop: `Opaque` drops nothing); on failure nothing refers
        // to the slot.
        let inner = unsafe { pin_init_from_closure(register) };
        // INVARIANT: On success the device is registered.
        try_pin_init!(Self {
            inner <- inner,
            _t: PhantomData,
        })
    }

    /// Returns the device that the registration created (`this_device`).
    #[cfg(kapi_udmabuf)]
    pub(crate) fn device(&self) -> &Device {
        // SAFETY: By the type invariant the misc device is registered, and
        // `misc_register` set `this_device` to the device it created,
        // which lives until `misc_deregister`: longer than `&self`.
        unsafe { Device::as_ref((*self.inner.get()).this_device) }
    }
}

#[pinned_drop]
impl<T> PinnedDrop for MiscDeviceRegistration<T> {
    fn drop(self: Pin<&mut Self>) {
        // SAFETY: By the type invariant the misc device is registered.
        unsafe { bindings::misc_deregister(self.inner.get()) };
    }
}

/// The private data of each open file of a misc device, and what serves
/// the device's file operations.
#[vtable]
pub(crate) trait MiscDevice: Sized {
    /// The pointer that holds `Self` as the file's private data.
    type Ptr: ForeignOwnable + Send + Sync;

    /// Opens `file` of the device that `misc` registered, and returns its
    /// private data.
    fn open(file: &File, misc: &MiscDeviceRegistration<Self>) -> Result<Self::Ptr>;

    /// Releases `file` with its private data `device`.
    fn release(device: Self::Ptr, _file: &File) {
        drop(device);
    }

    /// Handles `ioctl(cmd, arg)` on `file`.
    fn ioctl(
        _device: <Self::Ptr as ForeignOwnable>::Borrowed<'_>,
        _file: &File,
        _cmd: u32,
        _arg: usize,
    ) -> Result<isize> {
        kernel::build_error!(VTABLE_DEFAULT_ERROR)
    }

    /// Handles `ioctl(cmd, arg)` from a 32-bit task on a 64-bit kernel.
    ///
    /// Without it such ioctls go to [`MiscDevice::ioctl`] through
    /// `compat_ptr_ioctl` (for structures of one layout in both ABIs).
    #[cfg(CONFIG_COMPAT)]
    fn compat_ioctl(
        _device: <Self::Ptr as ForeignOwnable>::Borrowed<'_>,
        _file: &File,
        _cmd: u32,
        _arg: usize,
    ) -> Result<isize> {
        kernel::build_error!(VTABLE_DEFAULT_ERROR)
    }
}

/// The file operations of the misc devices served by `T`.
struct MiscDeviceVTable<T: MiscDevice>(PhantomData<T>);

impl<T: MiscDevice> MiscDeviceVTable<T> {
    /// `open`: makes the file's private data a `T::Ptr`.
    ///
    /// # Safety
    ///
    /// `inode` and `raw_file` are the inode and the file being opened of a
    /// misc device of a [`MiscDeviceRegistration<T>`].
    unsafe extern "C" fn open(inode: *mut bindings::inode, raw_file: *mut bindings::file) -> c_int {
        // SAFETY: By the safety requirements both are valid, for a file
        // being opened.
        let ret = unsafe { bindings::generic_file_open(inode, raw_file) };
        if ret != 0 {
            return ret;
        }
        // SAFETY: `misc_open` pointed the private data at the misc device
        // before calling this, and holds the misc device list lock, so the
        // device is not deregistered meanwhile. Its `struct miscdevice` is
        // the `inner` of a `MiscDeviceRegistration<T>` (by the safety
        // requirements), which is a transparent wrapper of it.
        let misc = unsafe { &*(*raw_file).private_data.cast::<MiscDeviceRegistration<T>>() };
        // SAFETY: The file is valid while it is being opened.
        let file = unsafe { File::from_raw_file(raw_file) };
        match T::open(file, misc) {
            Ok(device) => {
                // SAFETY: The open call owns the file's private data. From
                // now on it is a `T::Ptr`, which `release` takes back.
                unsafe { (*raw_file).private_data = device.into_foreign().cast_mut() };
                0
            }
            Err(err) => err.to_errno(),
        }
    }

    /// `release`: drops the file's private data.
    ///
    /// # Safety
    ///
    /// `file` is a file being released whose `open` succeeded.
    unsafe extern "C" fn release(_inode: *mut bindings::inode, file: *mut bindings::file) -> c_int {
        // SAFETY: The file is valid; its private data is the `T::Ptr` that
        // `open` made, which the release call owns.
        let device = unsafe { <T::Ptr as ForeignOwnable>::from_foreign((*file).private_data) };
        // SAFETY: The file is valid while it is being released.
        T::release(device, unsafe { File::from_raw_file(file) });
        0
    }

    /// `unlocked_ioctl`.
    ///
    /// # Safety
    ///
    /// `file` is an open file whose `open` succeeded.
    unsafe extern "C" fn ioctl(file: *mut bindings::file, cmd: c_uint, arg: c_ulong) -> c_long {
        // SAFETY: The file is valid; its private data is the `T::Ptr` that
        // `open` made, which only `release` gives up, after every ioctl.
        let device = unsafe { <T::Ptr as ForeignOwnable>::borrow((*file).private_data) };
        // SAFETY: The file is valid for the duration of the call.
        let file = unsafe { File::from_raw_file(file) };
        match T::ioctl(device, file, cmd, arg) {
            Ok(ret) => ret,
            Err(err) => err.to_errno() as c_long,
        }
    }

    /// `compat_ioctl`.
    ///
    /// # Safety
    ///
    /// `file` is an open file whose `open` succeeded.
    #[cfg(CONFIG_COMPAT)]
    unsafe extern "C" fn compat_ioctl(
        file: *mut bindings::file,
        cmd: c_uint,
        arg: c_ulong,
    ) -> c_long {
        // SAFETY: As in `ioctl`.
        let device = unsafe { <T::Ptr as ForeignOwnable>::borrow((*file).private_data) };
        // SAFETY: The file is valid for the duration of the call.
        let file = unsafe { File::from_raw_file(file) };
        match T::compat_ioctl(device, file, cmd, arg) {
            Ok(ret) => ret,
            Err(err) => err.to_errno() as c_long,
        }
    }

    /// The file operations: the trampolines of what `T` implements, owned
    /// by this module.
    const VTABLE: bindings::file_operations = bindings::file_operations {
        owner: <crate::LocalModule as ModuleMetadata>::THIS_MODULE.as_ptr(),
        open: Some(Self::open),
        release: Some(Self::release),
        unlocked_ioctl: if T::HAS_IOCTL {
            Some(Self::ioctl)
        } else {
            None
        },
        #[cfg(CONFIG_COMPAT)]
        compat_ioctl: if T::HAS_COMPAT_IOCTL {
            Some(Self::compat_ioctl)
        } else if T::HAS_IOCTL {
            Some(bindings::compat_ptr_ioctl)
        } else {
            None
        },
        // SAFETY: All zeroes is a valid `file_operations`: null pointers
        // and `None` for every other operation.
        ..unsafe { core::mem::zeroed() }
    };
}

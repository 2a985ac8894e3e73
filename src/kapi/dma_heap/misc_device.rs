// SPDX-License-Identifier: GPL-2.0

//! The heap's own character device, for kernels whose dma-heap core a module
//! cannot add a heap to.
//!
//! C source: [drivers/dma-buf/dma-heap.c](srctree/drivers/dma-buf/dma-heap.c)
//!
//! Linux 6.12 exports nothing of `dma-heap.c` (`dma_heap_add`,
//! `dma_heap_get_drvdata` and `dma_heap_get_name` are exported, in namespace
//! `DMA_BUF_HEAP`, by later kernels: 7.3 has them). Here the heap is a misc
//! device named `dma_heap!<name>`: devtmpfs turns the `!` into a `/`
//! (`device_get_devnode`; the misc class names no node of its own), so the
//! node is `/dev/dma_heap/<name>`, where users and the kernel's dmabuf-heap
//! selftest look for heaps. Its `open` and ioctl are those of the core's
//! `dma_heap_fops` (`dma_heap_open`, `dma_heap_ioctl`), step for step, the
//! 32-bit ioctl included: callers see the errnos, the size handling of
//! older and newer `struct dma_heap_allocation_data` and the descriptor of a
//! heap added by the core.
//!
//! What differs from a heap of the core: the device is in the misc class
//! (`/sys/class/misc/dma_heap!<name>`, a misc major and minor) instead of
//! `/sys/class/dma_heap/<name>`, and nothing stops a second heap of the same
//! name (the core refuses one): devtmpfs then keeps the node of the first.
//! Like a heap of the core, it is never removed, though a misc device could
//! be: [`super::add`] keeps the module loaded all the same, so that a module
//! behaves the same on every kernel.
//!
//! Only this device uses it: the subset of the core that one heap needs.

use core::mem::offset_of;

use crate::kapi::kernel::fs::File;
use crate::kapi::kernel::miscdevice::{
    MiscDevice,
    MiscDeviceOptions,
    MiscDeviceRegistration, //
};
use crate::kapi::kernel::page::PAGE_SIZE;
use crate::kapi::kernel::prelude::*;
use crate::kapi::kernel::sync::{
    Arc,
    ArcBorrow, //
};
use crate::kapi::kernel::uaccess::{
    UserPtr,
    UserSlice, //
};
use kernel::ioctl::{
    _IOC_NR,
    _IOC_SIZE,
    _IOWR, //
};

use super::super::bindings;
use super::super::dma_buf::DmaBuf;
use super::HeapAllocator;

/// `struct dma_heap_allocation_data` of
/// [include/uapi/linux/dma-heap.h](srctree/include/uapi/linux/dma-heap.h):
/// the argument of `DMA_HEAP_IOCTL_ALLOC`. Only its layout is used: the
/// ioctl reads and writes its fields in a byte copy (see [`ioctl`]).
#[repr(C)]
struct DmaHeapAllocationData {
    len: u64,
    fd: u32,
    fd_flags: u32,
    heap_flags: u64,
}

/// `DMA_HEAP_IOCTL_ALLOC`, the only command (`dma_heap_ioctl_cmds[]`).
const DMA_HEAP_IOCTL_ALLOC: u32 = _IOWR::<DmaHeapAllocationData>(b'H' as u32, 0x0);
/// How many commands `dma_heap_ioctl_cmds[]` has.
const NR_CMDS: u32 = 1;
/// `DMA_HEAP_VALID_FD_FLAGS`: the descriptor flags a caller may ask for.
const VALID_FD_FLAGS: u32 = bindings::O_CLOEXEC | bindings::O_ACCMODE;
/// `DMA_HEAP_VALID_HEAP_FLAGS`: no heap flags are defined.
const VALID_HEAP_FLAGS: u64 = 0;
/// `IOC_IN`, `IOC_OUT`: the direction bits of an ioctl command.
const IOC_IN: u32 = bindings::_IOC_WRITE << bindings::_IOC_DIRSHIFT;
const IOC_OUT: u32 = bindings::_IOC_READ << bindings::_IOC_DIRSHIFT;
/// The core's on-stack copy of the argument (`stack_kdata`); a larger
/// argument is copied to the heap.
const STACK_KDATA: usize = 128;
/// What the misc device's name starts with: its node's directory.
const NAME_PREFIX: &[u8] = b"dma_heap!";

/// Registers the device of heap `name`, served by `allocator`, for good.
pub(super) fn add<T: HeapAllocator>(name: &'static CStr, allocator: Arc<T>) -> Result {
    // As `dma_heap_add`.
    if name.to_bytes().is_empty() {
        pr_err!("dma_heap: Cannot add heap without a name\n");
        return Err(EINVAL);
    }
    let bytes = name.to_bytes_with_nul();
    let mut misc_name = KVec::with_capacity(NAME_PREFIX.len() + bytes.len(), GFP_KERNEL)?;
    misc_name.extend_from_slice(NAME_PREFIX, GFP_KERNEL)?;
    misc_name.extend_from_slice(bytes, GFP_KERNEL)?;
    let device = KBox::pin_init(HeapDevice::new(misc_name, allocator), GFP_KERNEL)?;
    // The heap is never removed (see the module documentation): the device
    // is never deregistered, nor its memory freed.
    core::mem::forget(device);
    Ok(())
}

/// The device of one heap.
///
/// # Invariants
///
/// The misc device's name points into `name`, which holds it, NUL-terminated,
/// for as long as `misc` is registered (it is dropped after `misc`).
#[pin_data]
struct HeapDevice<T: HeapAllocator> {
    /// The registration; its files reach the allocator through it (see
    /// [`HeapDevice::of`]).
    #[pin]
    misc: MiscDeviceRegistration<HeapFile<T>>,
    /// The allocator, referenced by each open file.
    allocator: Arc<T>,
    /// The misc device's name: `dma_heap!<name>` and a NUL.
    name: KVec<u8>,
}

impl<T: HeapAllocator> HeapDevice<T> {
    /// The device named `name` (`dma_heap!<heap name>` and a NUL), registered
    /// once initialised.
    fn new(name: KVec<u8>, allocator: Arc<T>) -> impl PinInit<Self, Error> {
        try_pin_init!(&this in Self {
            name,
            allocator,
            misc <- {
                // SAFETY: `name` is initialised above (fields are initialised
                // in the order written here) and not moved: the pointer is
                // to the device's own field.
                let misc_name = unsafe { &(*this.as_ptr()).name };
                // SAFETY: `misc_name` is a heap name (a C string) after a
                // prefix without NUL: it ends with its only NUL. Its
                // memory lives while the misc device is registered, by the
                // type invariant, which is all that the name must live for.
                // INVARIANT: The registration's name is `self.name`'s.
                let misc_name = unsafe {
                    CStr::from_bytes_with_nul_unchecked(core::slice::from_raw_parts(
                        misc_name.as_ptr(),
                        misc_name.len(),
                    ))
                };
                MiscDeviceRegistration::register(MiscDeviceOptions { name: misc_name })
            },
        })
    }

    /// The device that `misc` is the registration of.
    fn of(misc: &MiscDeviceRegistration<HeapFile<T>>) -> &Self {
        let misc = core::ptr::from_ref(misc);
        // SAFETY: Only `HeapDevice::new` registers a `HeapFile<T>` device
        // (the type is private to this module), as the `misc` field of a
        // `HeapDevice<T>`, so the device is `offset_of!` bytes before it and
        // lives as long as the registration.
        unsafe {
            &*misc
                .byte_sub(offset_of!(HeapDevice<T>, misc))
                .cast::<Self>()
        }
    }
}

/// An open file of a heap's device: `file->private_data` is a reference on
/// the allocator (the core keeps the heap there; neither ever goes away).
struct HeapFile<T>(core::marker::PhantomData<T>);

#[vtable]
impl<T: HeapAllocator> MiscDevice for HeapFile<T> {
    type Ptr = Arc<T>;

    /// `dma_heap_open`: the file is not seekable.
    fn open(file: &File, misc: &MiscDeviceRegistration<Self>) -> Result<Arc<T>> {
        let raw = file.as_ptr();
        // SAFETY: `raw` is a file being opened, as `nonseekable_open` needs
        // it; it only clears mode bits of the file.
        unsafe { bindings::nonseekable_open((*raw).f_inode, raw) };
        Ok(HeapDevice::of(misc).allocator.clone())
    }

    fn ioctl(allocator: ArcBorrow<'_, T>, _file: &File, cmd: u32, arg: usize) -> Result<isize> {
        ioctl(&*allocator, cmd, arg).map(|()| 0)
    }

    /// The core's `compat_ioctl` is `dma_heap_ioctl` too, with the argument
    /// as it comes (the structure has one layout for both ABIs).
    #[cfg(CONFIG_COMPAT)]
    fn compat_ioctl(
        allocator: ArcBorrow<'_, T>,
        _file: &File,
        cmd: u32,
        arg: usize,
    ) -> Result<isize> {
        ioctl(&*allocator, cmd, arg).map(|()| 0)
    }
}

/// `dma_heap_ioctl` for command `ucmd` with argument `arg`.
///
/// As the core: a command is chosen by its number alone; the argument is
/// copied in as far as the caller's size and direction say, the rest of the
/// kernel's structure (or of the caller's larger one) reads as zero, and it
/// is copied out as far as the caller's size says.
fn ioctl<T: HeapAllocator>(allocator: &T, ucmd: u32, arg: usize) -> Result {
    if _IOC_NR(ucmd) >= NR_CMDS {
        return Err(EINVAL);
    }
    let kcmd = DMA_HEAP_IOCTL_ALLOC;
    // The delta between the caller's size of the command and the kernel's.
    let drv_size = _IOC_SIZE(kcmd);
    let mut out_size = _IOC_SIZE(ucmd);
    let mut in_size = out_size;
    if ucmd & kcmd & IOC_IN == 0 {
        in_size = 0;
    }
    if ucmd & kcmd & IOC_OUT == 0 {
        out_size = 0;
    }
    let ksize = in_size.max(out_size).max(drv_size);
    let mut stack_kdata = [0u8; STACK_KDATA];
    let mut heap_kdata;
    let kdata = if ksize > STACK_KDATA {
        heap_kdata = KVec::from_elem(0u8, ksize, GFP_KERNEL)?;
        &mut heap_kdata[..]
    } else {
        &mut stack_kdata[..ksize]
    };
    // What is not copied in stays zero.
    UserSlice::new(UserPtr::from_addr(arg), in_size)
        .reader()
        .read_slice(&mut kdata[..in_size])?;

    let (dmabuf, fd) = allocate(allocator, kdata)?;
    let written = UserSlice::new(UserPtr::from_addr(arg), out_size)
        .writer()
        .write_slice(&kdata[..out_size]);
    match written {
        Ok(()) => fd.install(dmabuf),
        Err(_) => {
            // The descriptor is given back before the buffer is put.
            drop(fd);
            drop(dmabuf);
            return Err(EFAULT);
        }
    }
    Ok(())
}

/// `dma_heap_ioctl_allocate`: checks the request in `kdata` (a
/// `struct dma_heap_allocation_data` and maybe more), allocates the buffer
/// and reserves its descriptor, whose number it stores in `kdata`.
fn allocate<T: HeapAllocator>(allocator: &T, kdata: &mut [u8]) -> Result<(DmaBuf, FdReservation)> {
    let len = read_u64(kdata, offset_of!(DmaHeapAllocationData, len))?;
    let fd = read_u32(kdata, offset_of!(DmaHeapAllocationData, fd))?;
    let fd_flags = read_u32(kdata, offset_of!(DmaHeapAllocationData, fd_flags))?;
    let heap_flags = read_u64(kdata, offset_of!(DmaHeapAllocationData, heap_flags))?;
    if fd != 0 || fd_flags & !VALID_FD_FLAGS != 0 || heap_flags & !VALID_HEAP_FLAGS != 0 {
        return Err(EINVAL);
    }
    // `PAGE_ALIGN` of the 64-bit length, wrapping as C's does, stored in a
    // `size_t`.
    let page_mask = PAGE_SIZE as u64 - 1;
    // CAST: As C's assignment to `size_t`: truncating on 32-bit kernels.
    let len = (len.wrapping_add(page_mask) & !page_mask) as usize;
    if len == 0 {
        return Err(EINVAL);
    }
    let dmabuf = allocator.allocate(len, fd_flags, heap_flags)?;
    // On failure `dmabuf` is put.
    let fd = FdReservation::get(fd_flags)?;
    write_u32(kdata, offset_of!(DmaHeapAllocationData, fd), fd.0)?;
    Ok((dmabuf, fd))
}

/// The native-endian `u64` at `offset` of `kdata`.
fn read_u64(kdata: &[u8], offset: usize) -> Result<u64> {
    let bytes = kdata.get(offset..offset + 8).ok_or(EINVAL)?;
    Ok(u64::from_ne_bytes(bytes.try_into().map_err(|_| EINVAL)?))
}

/// The native-endian `u32` at `offset` of `kdata`.
fn read_u32(kdata: &[u8], offset: usize) -> Result<u32> {
    let bytes = kdata.get(offset..offset + 4).ok_or(EINVAL)?;
    Ok(u32::from_ne_bytes(bytes.try_into().map_err(|_| EINVAL)?))
}

/// Stores `value` native-endian at `offset` of `kdata`.
fn write_u32(kdata: &mut [u8], offset: usize, value: u32) -> Result {
    kdata
        .get_mut(offset..offset + 4)
        .ok_or(EINVAL)?
        .copy_from_slice(&value.to_ne_bytes());
    Ok(())
}

/// A descriptor number reserved with `get_unused_fd_flags`, given back with
/// `put_unused_fd` unless installed.
///
/// # Invariants
///
/// `self.0` is a descriptor of the current task reserved and not installed.
struct FdReservation(u32);

impl FdReservation {
    /// Reserves a descriptor with file flags `flags` (`O_CLOEXEC`).
    fn get(flags: u32) -> Result<Self> {
        // SAFETY: Any flags are accepted (`O_CLOEXEC` is the one it uses).
        let fd = unsafe { bindings::get_unused_fd_flags(flags) };
        // INVARIANT: A non-negative result is a reserved descriptor.
        Ok(Self(u32::try_from(fd).map_err(|_| Error::from_errno(fd))?))
    }

    /// Installs `dmabuf`'s file at the descriptor, which takes over its
    /// reference.
    fn install(self, dmabuf: DmaBuf) {
        let fd = self.0;
        core::mem::forget(self);
        let dmabuf = dmabuf.into_raw();
        // SAFETY: `fd` is reserved by the type invariant and no longer given
        // back; a dma-buf reference is a reference on its file, which
        // `fd_install` consumes.
        unsafe { bindings::fd_install(fd, (*dmabuf).file) };
    }
}

impl Drop for FdReservation {
    fn drop(&mut self) {
        // SAFETY: By the type invariant the descriptor is reserved and not
        // installed.
        unsafe { bindings::put_unused_fd(self.0) };
    }
}

// SPDX-License-Identifier: GPL-2.0

//! The `dma_buf_ops` trampolines of an [`Exporter`]: each turns the C
//! call into a call of the trait, with kapi doing every mapping of the
//! buffer's pages (devices, kernel; user space in [`super::mmap`]).

use core::ffi::{
    c_int,
    c_void, //
};
use core::marker::PhantomData;

use crate::kapi::kernel::prelude::*;
use crate::kapi::kernel::sync::{
    Arc,
    ArcBorrow, //
};
use kernel::error::from_result;

use super::{
    Buffer,
    Exported,
    Exporter, //
};
use crate::kapi::bindings;
use crate::kapi::device::from_raw;
use crate::kapi::sg_table::{
    direction_from_raw,
    SGTable, //
};

/// The `dma_buf_ops` of exporter type `T` (and, in [`super::mmap`], its
/// `vm_operations_struct`).
pub(super) struct OpsTable<T>(PhantomData<T>);

impl<T: Exporter> OpsTable<T> {
    pub(super) const OPS: bindings::dma_buf_ops = bindings::dma_buf_ops {
        map_dma_buf: Some(Self::map_dma_buf),
        unmap_dma_buf: Some(Self::unmap_dma_buf),
        release: Some(Self::release),
        begin_cpu_access: Some(Self::begin_cpu_access),
        end_cpu_access: Some(Self::end_cpu_access),
        mmap: Some(Self::mmap),
        vmap: Some(Self::vmap),
        vunmap: Some(Self::vunmap),
        // Linux 6.12's `dma_buf_ops` starts with `cache_sgt_mapping`, which
        // 7.3's has not. It is left false for both exporters (6.12's udmabuf
        // sets it, its system heap does not): every map calls `map_dma_buf`
        // and gets a new mapping for its attachment, as on 7.3, which has no
        // such cache.
        // SAFETY: All-zero is a valid `dma_buf_ops` (no callbacks, flags
        // false).
        ..unsafe { core::mem::zeroed() }
    };

    /// Returns what the dma-buf's private data points to.
    ///
    /// # Safety
    ///
    /// `private` must be the private data of a live dma-buf exported by
    /// [`DmaBuf::export`] with `T` (or of a VMA that maps one).
    pub(super) unsafe fn exported<'a>(private: *mut c_void) -> ArcBorrow<'a, Exported<T>> {
        // SAFETY: By the safety requirements `private` came from
        // `Arc::into_raw` in `export`, and is taken back only in `release`,
        // which runs after every other op and after every VMA is gone (each
        // holds a reference to the dma-buf's file).
        unsafe { ArcBorrow::from_raw(private.cast::<Exported<T>>()) }
    }

    /// Returns the exporter of `dmabuf`.
    ///
    /// # Safety
    ///
    /// `dmabuf` must be a live dma-buf exported by [`DmaBuf::export`] with `T`.
    pub(super) unsafe fn of<'a>(dmabuf: *mut bindings::dma_buf) -> ArcBorrow<'a, Exported<T>> {
        // SAFETY: By the safety requirements.
        unsafe { Self::exported((*dmabuf).priv_) }
    }

    /// # Safety
    ///
    /// Called by the dma-buf core on a live dma-buf exported by [`DmaBuf::export`]
    /// with `T`.
    unsafe extern "C" fn map_dma_buf(
        attach: *mut bindings::dma_buf_attachment,
        dir: bindings::dma_data_direction,
    ) -> *mut bindings::sg_table {
        // SAFETY: The dma-buf core passes a live attachment of our dma-buf.
        let (exported, dev) = unsafe { (Self::of((*attach).dmabuf), (*attach).dev) };
        // SAFETY: The importer's device lives at least as long as its
        // attachment.
        let dev = unsafe { from_raw(dev) };
        let this = Buffer(exported);
        // The table is built and mapped here, for this attachment's device
        // and direction, and listed for begin/end_cpu_access to sync: the
        // exporter sees it but cannot hand over another.
        let map = || -> Result<SGTable<Exported<T>>> {
            let sgt = this.sg_table(dev, direction_from_raw(dir)?, T::SEGMENTS, T::CPU_SYNC)?;
            this.0
                .importers
                .lock()
                .get_or_insert_with(KVec::new)
                .push(sgt.clone(), GFP_KERNEL)?;
            T::mapped(this, &sgt);
            Ok(sgt)
        };
        match map() {
            Ok(sgt) => sgt.into_raw(),
            Err(e) => e.to_ptr(),
        }
    }

    /// # Safety
    ///
    /// Called by the dma-buf core on a live dma-buf exported by [`DmaBuf::export`]
    /// with `T`.
    unsafe extern "C" fn unmap_dma_buf(
        attach: *mut bindings::dma_buf_attachment,
        sgt: *mut bindings::sg_table,
        _dir: bindings::dma_data_direction,
    ) {
        // SAFETY: The dma-buf core passes a live attachment of our dma-buf.
        let exported = unsafe { Self::of((*attach).dmabuf) };
        // SAFETY: `sgt` is what `map_dma_buf` returned for this attachment,
        // and the table remembers its device and direction.
        let sgt = unsafe { SGTable::<Exported<T>>::from_raw(sgt) };
        if let Some(importers) = &mut *exported.importers.lock() {
            importers.retain(|m| !m.same(&sgt));
        }
        // The importer's handle, now the last: unmaps, outside the lock.
        drop(sgt);
    }

    /// # Safety
    ///
    /// Called by the dma-buf core on a live dma-buf exported by [`DmaBuf::export`]
    /// with `T`.
    #[link_section = ".text.hot"]
    unsafe extern "C" fn release(dmabuf: *mut bindings::dma_buf) {
        // SAFETY: The last reference to the dma-buf is gone: we take its
        // reference on the exporter back, which `export` made with
        // `Arc::into_raw`.
        let exported = unsafe { Arc::from_raw((*dmabuf).priv_.cast::<Exported<T>>()) };
        T::release(Buffer(exported.as_arc_borrow()));
        // Every importer has detached, and with it unmapped. A table an
        // importer leaked past its detach holds the buffer itself; the
        // list's copy would keep it forever.
        let importers = exported.importers.lock().take();
        drop(importers);
        // The buffer goes with this reference unless an importer still holds
        // a table.
        drop(exported);
    }

    /// # Safety
    ///
    /// Called by the dma-buf core on a live dma-buf exported by [`DmaBuf::export`]
    /// with `T`.
    unsafe extern "C" fn begin_cpu_access(
        dmabuf: *mut bindings::dma_buf,
        dir: bindings::dma_data_direction,
    ) -> c_int {
        // SAFETY: The dma-buf is live during its ops.
        let exported = unsafe { Self::of(dmabuf) };
        from_result(|| {
            let dir = direction_from_raw(dir)?;
            exported.vmap.invalidate();
            T::begin_cpu_access(Buffer(exported), dir)?;
            // After the exporter's own tables: a sync for the CPU of a
            // bounced mapping copies its bounce buffer over the pages, and
            // what an importer's device wrote must be the copy that stays.
            exported.sync_importers_for_cpu(dmabuf);
            Ok(0)
        })
    }

    /// # Safety
    ///
    /// Called by the dma-buf core on a live dma-buf exported by [`DmaBuf::export`]
    /// with `T`.
    unsafe extern "C" fn end_cpu_access(
        dmabuf: *mut bindings::dma_buf,
        dir: bindings::dma_data_direction,
    ) -> c_int {
        // SAFETY: The dma-buf is live during its ops.
        let exported = unsafe { Self::of(dmabuf) };
        from_result(|| {
            let dir = direction_from_raw(dir)?;
            exported.vmap.flush();
            // Each sync for the device copies the pages to that mapping's
            // bounce buffer, if any: the order does not matter.
            exported.sync_importers_for_device(dmabuf);
            T::end_cpu_access(Buffer(exported), dir).map(|()| 0)
        })
    }

    /// # Safety
    ///
    /// Called by the dma-buf core on a live dma-buf exported by [`DmaBuf::export`]
    /// with `T`.
    unsafe extern "C" fn vmap(
        dmabuf: *mut bindings::dma_buf,
        map: *mut bindings::iosys_map,
    ) -> c_int {
        // SAFETY: The dma-buf is live during its ops.
        let exported = unsafe { Self::of(dmabuf) };
        from_result(|| {
            // SAFETY: By the type invariant of `Exported`, the slot drops
            // before the exporter's pages.
            // The dma-buf's own pages (`Exported`): never more nor fewer
            // than its size.
            let addr = unsafe {
                exported
                    .vmap
                    .map(&*exported, T::VMAP_ERROR, dmabuf as usize)
            }?;
            // SAFETY: `map` is the caller's map to fill: a system-memory
            // address, as `iosys_map_set_vaddr()` sets it.
            unsafe {
                (*map).__bindgen_anon_1.vaddr = addr;
                (*map).is_iomem = false;
            }
            Ok(0)
        })
    }

    /// # Safety
    ///
    /// Called by the dma-buf core on a live dma-buf exported by [`DmaBuf::export`]
    /// with `T`.
    unsafe extern "C" fn vunmap(dmabuf: *mut bindings::dma_buf, map: *mut bindings::iosys_map) {
        // SAFETY: The dma-buf is live during its ops; `map` is the one `vmap`
        // filled with a system-memory address.
        let (exported, addr) = unsafe { (Self::of(dmabuf), (*map).__bindgen_anon_1.vaddr) };
        exported.vmap.unmap(addr);
    }
}

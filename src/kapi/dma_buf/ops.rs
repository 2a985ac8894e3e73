// SPDX-License-Identifier: GPL-2.0

//! The `dma_buf_ops` and `vm_operations_struct` trampolines of an
//! [`Exporter`]: each turns the C call into a call of the trait, with
//! kapi doing every mapping of the buffer's pages (devices, kernel, user
//! space).

use core::ffi::{
    c_int,
    c_void, //
};
use core::marker::PhantomData;

use kernel::device::Device;
use kernel::error::from_result;
#[cfg(kapi_udmabuf)]
use kernel::mm::virt::flags as vm_flags;
use kernel::mm::virt::VmaNew;
#[cfg(kapi_udmabuf)]
use kernel::mm::virt::VmaRef;
use kernel::page::PAGE_SIZE;
use kernel::prelude::*;
use kernel::sync::{
    Arc,
    ArcBorrow, //
};
use kernel::types::ForeignOwnable;

use super::{
    Buffer,
    Exported,
    Exporter,
    Mmap, //
};
use crate::kapi::bindings;
use crate::kapi::buffer_pages::BufferPages;
use crate::kapi::page_run::PhysRun;
use crate::kapi::sg_table::{
    direction_from_raw,
    SGTable, //
};

/// `VM_FAULT_SIGBUS`, `VM_FAULT_ERROR` and `VM_FAULT_FALLBACK` (checked in `src/kapi/helpers.c`:
/// the kernel crate binds neither, `VM_FAULT_ERROR` being a macro).
#[cfg(kapi_udmabuf)]
const VM_FAULT_SIGBUS: u32 = 0x02;
#[cfg(kapi_udmabuf)]
const VM_FAULT_ERROR: u32 = 0x873;
#[cfg(kapi_udmabuf)]
const VM_FAULT_FALLBACK: u32 = 0x800;

/// A VMA's range and the buffer page mapped at its start.
#[cfg(kapi_udmabuf)]
struct VmaSpan {
    start: usize,
    end: usize,
    pgoff: usize,
}

/// What the fault handlers read of a fault and of its VMA.
#[cfg(kapi_udmabuf)]
struct FaultInfo {
    vma: *mut bindings::vm_area_struct,
    span: VmaSpan,
    /// The VMA's private data: the dma-buf's (see `mmap`).
    private: *mut c_void,
    /// The buffer page and the address of the fault.
    fault_pgoff: usize,
    address: usize,
}

#[cfg(kapi_udmabuf)]
impl FaultInfo {
    /// # Safety
    ///
    /// `vmf` must be a fault being handled, in a VMA set up by `mmap`.
    unsafe fn new(vmf: *mut bindings::vm_fault) -> Self {
        // SAFETY: By the safety requirements `vmf` and its VMA are valid,
        // and the VMA is locked against changes while the fault runs.
        unsafe {
            let fault = &(*vmf).__bindgen_anon_1;
            let vma = VmaRef::from_raw(fault.vma);
            Self {
                vma: fault.vma,
                span: VmaSpan {
                    start: vma.start(),
                    end: vma.end(),
                    pgoff: (*fault.vma).vm_pgoff,
                },
                private: (*fault.vma).vm_private_data,
                fault_pgoff: fault.pgoff,
                address: fault.address,
            }
        }
    }
}

/// Returns the first page frame of the `nr` buffer pages that the VMA maps
/// at `addr` if one huge entry maps them: `addr` is aligned to `nr` pages,
/// the VMA covers them all, and they are the pages of one folio (or run)
/// from a page aligned alike. These pieces, and only these, are what
/// `huge_fault` maps.
#[cfg(kapi_udmabuf)]
fn huge_piece<P: BufferPages>(pages: &P, info: &VmaSpan, addr: usize, nr: usize) -> Option<usize> {
    let size = nr.checked_mul(PAGE_SIZE)?;
    if addr % size != 0 || addr < info.start || addr.checked_add(size)? > info.end {
        return None;
    }
    let run = pages
        .runs_from(info.pgoff + (addr - info.start) / PAGE_SIZE)
        .next()?;
    // `checked_rem`, not `%`: no division-by-zero panic call, which objtool
    // reports as a function that falls through (`nr` is never zero).
    (run.npages() >= nr && run.pfn().checked_rem(nr)? == 0).then_some(run.pfn())
}

/// Returns the pages of a PMD that a huge PFN map can take, or 0 when the
/// kernel has no huge PFN maps.
#[cfg(kapi_udmabuf)]
fn pmd_pages() -> usize {
    // SAFETY: A plain query.
    match unsafe { bindings::rdmabuf_pfnmap_pmd_order() } {
        0 => 0,
        order => 1 << order,
    }
}

/// Maps `run` at `addr` in `vma`, which is being set up, with
/// `remap_pfn_range`.
fn remap(vma: &VmaNew, addr: usize, run: PhysRun<'_>) -> Result {
    let size = run.npages() * PAGE_SIZE;
    if addr < vma.start() || addr.checked_add(size).is_none_or(|end| end > vma.end()) {
        return Err(EINVAL);
    }
    // SAFETY: `vma` is being set up under the mmap lock and not yet
    // visible to faults, so no entry is present in it; the range is inside
    // it, and the pages are a buffer's (a `PhysRun`), which the VMA's file
    // reference keeps alive.
    kernel::error::to_result(unsafe {
        bindings::remap_pfn_range(
            vma.as_ptr(),
            addr,
            run.pfn(),
            size,
            (*vma.as_ptr()).vm_page_prot,
        )
    })
}

/// The `dma_buf_ops` and `vm_operations_struct` of exporter type `T`.
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
        // SAFETY: All-zero is a valid `dma_buf_ops` (no callbacks).
        ..unsafe { core::mem::zeroed() }
    };

    #[cfg(kapi_udmabuf)]
    const VM_OPS: bindings::vm_operations_struct = bindings::vm_operations_struct {
        fault: Some(Self::fault),
        huge_fault: Some(Self::huge_fault),
        // SAFETY: All-zero is a valid `vm_operations_struct`.
        ..unsafe { core::mem::zeroed() }
    };

    /// Returns what the dma-buf's private data points to.
    ///
    /// # Safety
    ///
    /// `private` must be the private data of a live dma-buf exported by
    /// [`DmaBuf::export`] with `T` (or of a VMA that maps one).
    unsafe fn exported<'a>(private: *mut c_void) -> ArcBorrow<'a, Exported<T>> {
        // SAFETY: By the safety requirements `private` came from
        // `into_foreign` in `export`, and is taken back only in `release`,
        // which runs after every other op and after every VMA is gone (each
        // holds a reference to the dma-buf's file).
        unsafe { <Arc<Exported<T>> as ForeignOwnable>::borrow(private) }
    }

    /// Returns the exporter of `dmabuf`.
    ///
    /// # Safety
    ///
    /// `dmabuf` must be a live dma-buf exported by [`DmaBuf::export`] with `T`.
    unsafe fn of<'a>(dmabuf: *mut bindings::dma_buf) -> ArcBorrow<'a, Exported<T>> {
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
        let dev = unsafe { Device::from_raw(dev) };
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
    unsafe extern "C" fn release(dmabuf: *mut bindings::dma_buf) {
        // SAFETY: The last reference to the dma-buf is gone: we take its
        // reference on the exporter back.
        let exported = unsafe { <Arc<Exported<T>>>::from_foreign((*dmabuf).priv_) };
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

    /// # Safety
    ///
    /// Called by the dma-buf core on a live dma-buf exported by [`DmaBuf::export`]
    /// with `T`.
    unsafe extern "C" fn mmap(
        dmabuf: *mut bindings::dma_buf,
        vma: *mut bindings::vm_area_struct,
    ) -> c_int {
        // SAFETY: `vma` is the VMA being set up by the mmap call.
        let new = unsafe { VmaNew::from_raw(vma) };
        match T::MMAP {
            #[cfg(kapi_heap)]
            Mmap::AtMmap => {
                // SAFETY: The dma-buf is live during its ops.
                let exported = unsafe { Self::of(dmabuf) };
                from_result(|| Self::remap_all(&exported, new).map(|()| 0))
            }
            #[cfg(kapi_udmabuf)]
            Mmap::OnFault => {
                // Upstream udmabuf: only shared mappings.
                if new.flags() & (vm_flags::SHARED | vm_flags::MAYSHARE) == 0 {
                    return EINVAL.to_errno();
                }
                new.set_dontexpand();
                new.set_dontdump();
                // SAFETY: `vma` is being set up under the mmap lock. The VMA
                // holds a reference to the dma-buf file, so the exporter
                // outlives it and may be the VMA's private data.
                unsafe { bindings::rdmabuf_vma_set_pfnmap(vma, &Self::VM_OPS, (*dmabuf).priv_) };
                // SAFETY: The dma-buf is live during its ops.
                Self::premap(unsafe { Self::of(dmabuf) }, new);
                0
            }
        }
    }

    /// Maps the pages from the VMA's offset on, whole runs at a time, as
    /// upstream's system heap does.
    #[cfg(kapi_heap)]
    fn remap_all(exported: &Exported<T>, vma: &VmaNew) -> Result {
        // SAFETY: `vma` is a valid VMA, set up under the mmap lock.
        let pgoff = unsafe { (*vma.as_ptr()).vm_pgoff };
        let (mut addr, end) = (vma.start(), vma.end());
        for run in exported.exporter.pages().runs_from(pgoff) {
            if addr >= end {
                break;
            }
            let npages = run.npages().min((end - addr) / PAGE_SIZE);
            remap(vma, addr, run.slice(0, npages).ok_or(EINVAL)?)?;
            addr += npages * PAGE_SIZE;
        }
        Ok(())
    }

    /// Maps every page of the VMA now, with `remap_pfn_range` over
    /// physically contiguous ranges, except the pieces that `huge_fault`
    /// maps whole. This is where a first touch of a udmabuf mapping
    /// beats upstream's, which maps page by page from its first fault;
    /// what a failure leaves unmapped is left to faults, as upstream
    /// leaves it.
    #[cfg(kapi_udmabuf)]
    fn premap(exported: ArcBorrow<'_, Exported<T>>, vma: &VmaNew) {
        let pages = exported.exporter.pages();
        let span = VmaSpan {
            start: vma.start(),
            end: vma.end(),
            // SAFETY: `vma` is a valid VMA, set up under the mmap lock.
            pgoff: unsafe { (*vma.as_ptr()).vm_pgoff },
        };
        let pmd_pages = pmd_pages();
        let pmd_size = pmd_pages * PAGE_SIZE;
        // Maps `range` at `addr` but for the huge pieces in it.
        let map_range = |addr: usize, range: PhysRun<'_>| -> Result {
            let end = addr + range.npages() * PAGE_SIZE;
            let mut from = addr;
            if pmd_pages != 0 {
                let mut piece = addr.next_multiple_of(pmd_size);
                while piece < end && end - piece >= pmd_size {
                    if huge_piece(pages, &span, piece, pmd_pages).is_some() {
                        if let Some(part) =
                            range.slice((from - addr) / PAGE_SIZE, (piece - from) / PAGE_SIZE)
                        {
                            remap(vma, from, part)?;
                        }
                        from = piece + pmd_size;
                    }
                    piece += pmd_size;
                }
            }
            match range.slice((from - addr) / PAGE_SIZE, (end - from) / PAGE_SIZE) {
                Some(part) => remap(vma, from, part),
                None => Ok(()),
            }
        };
        let mut addr = span.start;
        let mut pending: Option<(usize, PhysRun<'_>)> = None;
        for run in pages.runs_from(span.pgoff) {
            if addr >= span.end {
                break;
            }
            let Some(run) = run.slice(0, run.npages().min((span.end - addr) / PAGE_SIZE)) else {
                break;
            };
            pending = match pending {
                Some((at, p)) => match p.try_merge(&run) {
                    Some(merged) => Some((at, merged)),
                    None => {
                        if map_range(at, p).is_err() {
                            return;
                        }
                        Some((addr, run))
                    }
                },
                None => Some((addr, run)),
            };
            addr += run.npages() * PAGE_SIZE;
        }
        if let Some((at, p)) = pending {
            let _ = map_range(at, p);
        }
    }

    /// Inserts the faulting page and, if it is in a piece that `huge_fault`
    /// maps whole, the rest of that piece.
    ///
    /// # Safety
    ///
    /// Called by the MM on a fault in a VMA set up by [`Self::mmap`].
    #[cfg(kapi_udmabuf)]
    unsafe extern "C" fn fault(vmf: *mut bindings::vm_fault) -> bindings::vm_fault_t {
        // SAFETY: `vmf` is the fault being handled.
        let info = unsafe { FaultInfo::new(vmf) };
        let (vma, pgoff, address) = (info.vma, info.fault_pgoff, info.address);
        // SAFETY: `mmap` set the dma-buf's private data as the VMA's; the
        // VMA's file reference keeps the dma-buf alive.
        let exported = unsafe { Self::exported(info.private) };
        let pages = exported.exporter.pages();

        let insert = |addr: usize, pfn: usize| -> u32 {
            // SAFETY: `vma` is a PFN-mapped VMA of ours and `addr` is inside it;
            // `pfn` is a page of the buffer, which outlives the VMA.
            unsafe { bindings::vmf_insert_pfn(vma, addr, pfn) }
        };

        let Some(run) = pages.runs_from(pgoff).next() else {
            return VM_FAULT_SIGBUS;
        };
        let ret = insert(address, run.pfn());
        if ret & VM_FAULT_ERROR != 0 {
            return ret;
        }

        // `mmap` mapped the VMA but for the pieces that `huge_fault` maps
        // whole, so this fault is in such a piece that could not be mapped
        // huge, or in what `mmap` failed to map (left to faults page by
        // page, as upstream leaves what its prefault failed to map). The
        // rest of the piece is mapped now, page by page with
        // `vmf_insert_pfn` (7.3 exports no batch insertion into a PFN map
        // from a fault: `remap_pfn_range` BUGs on an entry a racing fault
        // made), so that a piece costs one fault.
        let pmd_pages = pmd_pages();
        if pmd_pages != 0 {
            let piece = address & !(pmd_pages * PAGE_SIZE - 1);
            // The piece's pages are those of one run (`huge_piece`).
            if let Some(pfn) = huge_piece(pages, &info.span, piece, pmd_pages) {
                for n in 0..pmd_pages {
                    let at = piece + n * PAGE_SIZE;
                    if at != address && insert(at, pfn + n) & VM_FAULT_ERROR != 0 {
                        break;
                    }
                }
            }
        }
        ret
    }

    /// Maps a PMD (or PUD) of the buffer with one entry where the pages
    /// under it are physically contiguous and aligned, and the VMA covers
    /// it; otherwise falls back to page faults.
    ///
    /// # Safety
    ///
    /// Called by the mm on a fault in a VMA set up by [`Self::mmap`].
    #[cfg(kapi_udmabuf)]
    unsafe extern "C" fn huge_fault(
        vmf: *mut bindings::vm_fault,
        order: u32,
    ) -> bindings::vm_fault_t {
        // SAFETY: `vmf` is the fault being handled.
        let info = unsafe { FaultInfo::new(vmf) };
        let address = info.address;
        let Some(size) = 1usize
            .checked_shl(order)
            .and_then(|nr| nr.checked_mul(PAGE_SIZE))
        else {
            return VM_FAULT_FALLBACK;
        };
        let addr = address & !(size - 1);
        // SAFETY: `mmap` set the dma-buf's private data as the VMA's; the
        // VMA's file reference keeps the dma-buf alive.
        let exported = unsafe { Self::exported(info.private) };
        let Some(pfn) = huge_piece(
            exported.exporter.pages(),
            &info.span,
            addr,
            size / PAGE_SIZE,
        ) else {
            return VM_FAULT_FALLBACK;
        };
        // SAFETY: `vmf` is a fault in a PFN-mapped VMA of ours that covers
        // the whole aligned range; the pages from `pfn` on are the buffer's
        // pages mapped there, which outlive the VMA.
        unsafe { bindings::rdmabuf_vmf_insert_pfn_order(vmf, pfn, order) }
    }
}

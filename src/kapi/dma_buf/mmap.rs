// SPDX-License-Identifier: GPL-2.0

//! User-space mappings of an [`Exporter`]'s pages: the `mmap` op and, for
//! [`Mmap::AtMmapHugeAtFault`], the VMA's fault handlers.
//!
//! Both kinds map the VMA at mmap time with `remap_pfn_range`, over
//! physically contiguous ranges. A udmabuf leaves out the pieces that one
//! huge entry maps (a PMD's worth of one folio's aligned pages at an
//! aligned address): `huge_fault` maps each of those with one entry on its
//! first touch, and `fault` maps what mmap could not, page by page.
//!
//! C header: [include/linux/mm.h](srctree/include/linux/mm.h)

use core::ffi::c_int;
#[cfg(kapi_udmabuf)]
use core::ffi::c_void;

#[cfg(kapi_udmabuf)]
use crate::kapi::kernel::mm::virt::flags as vm_flags;
use crate::kapi::kernel::mm::virt::VmaNew;
#[cfg(kapi_udmabuf)]
use crate::kapi::kernel::mm::virt::VmaRef;
use crate::kapi::kernel::page::PAGE_SIZE;
use crate::kapi::kernel::prelude::*;
#[cfg(kapi_udmabuf)]
use crate::kapi::kernel::sync::ArcBorrow;
#[cfg(kapi_heap)]
use kernel::error::from_result;

use super::ops::OpsTable;
use super::{
    Exported,
    Exporter,
    Mmap, //
};
use crate::kapi::bindings;
use crate::kapi::buffer_pages::BufferPages;
use crate::kapi::page_run::PhysRun;

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
    /// Whether the fault is a write (`FAULT_FLAG_WRITE`).
    write: bool,
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
                write: (*vmf).flags & bindings::fault_flag_FAULT_FLAG_WRITE != 0,
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
/// kernel has no huge PFN maps (`RDMABUF_PMD_PFNMAP_ORDER` is then 0).
#[cfg(kapi_udmabuf)]
fn pmd_pages() -> usize {
    match bindings::RDMABUF_PMD_PFNMAP_ORDER {
        0 => 0,
        order => 1 << order,
    }
}

/// Maps `run` at `addr` in `vma`, which is being set up, with
/// `remap_pfn_range`.
///
/// Each address of a VMA is passed here at most once (`remap_all` and
/// `premap` walk the VMA forward, one range after the other).
fn remap(vma: &VmaNew, addr: usize, run: PhysRun<'_>) -> Result {
    let size = run.npages() * PAGE_SIZE;
    let end = addr.checked_add(size).ok_or(EINVAL)?;
    if addr < vma.start() || end > vma.end() {
        return Err(EINVAL);
    }
    // SAFETY: `remap_pfn_range` needs the mmap lock and a range of the VMA
    // with no entry present: `remap_pte_range` BUGs on a present PTE and
    // `remap_pmd_range` on a huge PMD. `vma` is being set up by the `mmap`
    // op, under the mmap lock: the mmap core cleared the entries of the
    // VMAs it replaces before calling the op (`vms_clean_up_area`) and
    // inserts the VMA in the tree only after it, so no fault can have
    // filled the range; and this module maps each address once (see above).
    // The range is inside the VMA (checked) and page aligned, and the pages
    // are a buffer's (a `PhysRun`), which the VMA's reference to the
    // dma-buf file keeps alive: nothing refcounts them. A private (COW) VMA
    // takes only a range that covers it whole, EINVAL otherwise (a udmabuf
    // refuses private mappings). `remap_pfn_range` sets `VM_PFNMAP`,
    // `VM_IO`, `VM_DONTEXPAND` and `VM_DONTDUMP` itself, and on failure
    // zaps what it mapped of the range.
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

impl<T: Exporter> OpsTable<T> {
    #[cfg(kapi_udmabuf)]
    const VM_OPS: bindings::vm_operations_struct = bindings::vm_operations_struct {
        fault: Some(Self::fault),
        huge_fault: Some(Self::huge_fault),
        // SAFETY: All-zero is a valid `vm_operations_struct`.
        ..unsafe { core::mem::zeroed() }
    };

    /// # Safety
    ///
    /// Called by the dma-buf core on a live dma-buf exported by [`DmaBuf::export`]
    /// with `T`.
    ///
    /// [`DmaBuf::export`]: super::DmaBuf::export
    pub(super) unsafe extern "C" fn mmap(
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
            Mmap::AtMmapHugeAtFault => {
                // Upstream udmabuf: only shared mappings.
                if new.flags() & (vm_flags::SHARED | vm_flags::MAYSHARE) == 0 {
                    return EINVAL.to_errno();
                }
                // SAFETY: `vma` is being set up under the mmap lock. The VMA
                // holds a reference to the dma-buf file, so the exporter
                // outlives it and may be the VMA's private data. Sets
                // `VM_PFNMAP`, `VM_DONTEXPAND` and `VM_DONTDUMP`, as
                // upstream udmabuf.
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
            // SAFETY: `vmf_insert_pfn` needs a `VM_PFNMAP` VMA that is not
            // a COW mapping (it BUGs otherwise) with the mmap or VMA lock
            // held, as in a fault, and returns SIGBUS for an address outside
            // the VMA: `mmap` set `VM_PFNMAP` on this shared VMA, and this
            // is its fault. It takes no reference on the page: `pfn` is a
            // page of the buffer, which outlives the VMA. A present entry
            // is left as it is (`VM_FAULT_NOPAGE`); a write to one it made
            // read-only goes through `wp_pfn_shared`, which makes it
            // writable.
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
    /// it; otherwise falls back to page faults. The entry is writable on a
    /// write fault (see `insert_huge`).
    ///
    /// # Safety
    ///
    /// Called by the mm on a fault in a VMA set up by [`Self::mmap`], for
    /// a PMD (`order` is `PMD_ORDER`) or a PUD (`PUD_ORDER`).
    #[cfg(kapi_udmabuf)]
    unsafe extern "C" fn huge_fault(
        vmf: *mut bindings::vm_fault,
        order: u32,
    ) -> bindings::vm_fault_t {
        if !huge_order(order) {
            return VM_FAULT_FALLBACK;
        }
        // SAFETY: `vmf` is the fault being handled.
        let info = unsafe { FaultInfo::new(vmf) };
        let Some(size) = 1usize
            .checked_shl(order)
            .and_then(|nr| nr.checked_mul(PAGE_SIZE))
        else {
            return VM_FAULT_FALLBACK;
        };
        let addr = info.address & !(size - 1);
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
        // SAFETY: By the safety requirements `vmf` is a fault of ours for
        // an entry of `order`, which `huge_order` accepted; `huge_piece`
        // checked that the VMA covers the whole aligned range and that the
        // pages from `pfn` on are its buffer pages, contiguous and aligned
        // to the order.
        unsafe { insert_huge(vmf, pfn, order, info.write) }
    }
}

/// Returns whether `huge_fault` maps entries of `order`: the PMD's and the
/// PUD's where the kernel has huge PFN maps of that size.
#[cfg(kapi_udmabuf)]
fn huge_order(order: u32) -> bool {
    order != 0
        && (order == bindings::RDMABUF_PMD_PFNMAP_ORDER
            || order == bindings::RDMABUF_PUD_PFNMAP_ORDER)
}

/// Inserts one huge entry for the `2^order` pages from `pfn` at the
/// fault's address rounded down to the order, writable if `write`.
///
/// # Safety
///
/// `vmf` must be a fault in a VMA set up by [`OpsTable::mmap`], handled by
/// its `huge_fault` for `order`, with [`huge_order`] true for `order`; the
/// VMA must cover the aligned range, and `pfn` must be the first of the
/// buffer's pages mapped there, `2^order` of them, contiguous and aligned
/// to the order.
#[cfg(kapi_udmabuf)]
unsafe fn insert_huge(
    vmf: *mut bindings::vm_fault,
    pfn: usize,
    order: u32,
    write: bool,
) -> bindings::vm_fault_t {
    // The contract of `vmf_insert_pfn_pmd` and `vmf_insert_pfn_pud`
    // (mm/huge_memory.c), both of which map `pfn` at the fault's address
    // rounded down to their size:
    // - the VMA is `VM_PFNMAP` xor `VM_MIXEDMAP` and not a COW mapping (they
    //   BUG otherwise): `mmap` sets `VM_PFNMAP` and refuses private
    //   mappings;
    // - they are called from `huge_fault` for their own level, whose
    //   `vmf->pmd` (`vmf->pud`) is the entry they fill, with the mmap or VMA
    //   lock held: so only the order `huge_fault` was called with is
    //   inserted;
    // - the VMA covers the whole aligned range (`insert_pmd` checks only its
    //   start), `pfn` is aligned to the size (`pfn_pmd` takes it as is) and
    //   the pages stay allocated while mapped, as nothing refcounts them:
    //   the caller's requirements; the buffer's pages outlive the VMA, which
    //   holds a reference to the dma-buf file;
    // - a present entry is left as it is unless `write`, where an entry of
    //   the same pfn is made young, dirty and writable (`VM_WRITE`): a write
    //   fault must pass `write`, or after `clear_refs` 4 write-protects
    //   `vm_page_prot` its entry stays read-only and the write faults for
    //   ever (`wp_huge_pmd` -> `huge_fault` -> present -> `VM_FAULT_NOPAGE`).
    #[cfg(CONFIG_ARCH_SUPPORTS_PMD_PFNMAP)]
    if order == bindings::RDMABUF_PMD_PFNMAP_ORDER {
        // SAFETY: See above.
        return unsafe { bindings::rdmabuf_vmf_insert_pfn_pmd(vmf, pfn, write) };
    }
    #[cfg(CONFIG_ARCH_SUPPORTS_PUD_PFNMAP)]
    if order == bindings::RDMABUF_PUD_PFNMAP_ORDER {
        // SAFETY: See above.
        return unsafe { bindings::rdmabuf_vmf_insert_pfn_pud(vmf, pfn, write) };
    }
    let _ = (vmf, pfn, order, write);
    VM_FAULT_FALLBACK
}

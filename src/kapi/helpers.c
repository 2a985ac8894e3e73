// SPDX-License-Identifier: GPL-2.0
/*
 * C helpers of the kapi layer: static inline kernel functions and macros
 * wrapped as real functions so that the Rust kapi layer can call them.
 * Compiled into each module through src/<module>/kapi_helpers.c; as the
 * Rust parts of kapi are behind cfg(kapi_udmabuf) and cfg(kapi_heap), the
 * helpers only one module uses are behind RDMABUF_KAPI_UDMABUF and
 * RDMABUF_KAPI_HEAP, which Kbuild defines for that module's object.
 */
#include <linux/dma-buf.h>
#include <linux/freezer.h>
#include <linux/fs.h>
#include <linux/highmem.h>
#include <linux/hugetlb.h>
#include <linux/iosys-map.h>
#include <linux/mm.h>
#include <linux/scatterlist.h>
#include <linux/sched/signal.h>
#include <linux/shmem_fs.h>
#include <linux/string.h>

#include "rdmabuf/helpers.h"

/* Why C: sg_set_page() is a static inline. */
void rdmabuf_sg_set_page(struct scatterlist *sg, struct page *page,
			 unsigned int len, unsigned int offset)
{
	sg_set_page(sg, page, len, offset);
}

/* Why C: pfn_to_page() is a macro. */
struct page *rdmabuf_pfn_to_page(unsigned long pfn)
{
	return pfn_to_page(pfn);
}

/* Why C: page_to_pfn() is a macro. */
unsigned long rdmabuf_page_to_pfn(struct page *page)
{
	return page_to_pfn(page);
}

/* The constants src/kapi/dma_buf/mmap.rs hard-codes (the kernel crate lacks them). */
static_assert(VM_FAULT_SIGBUS == 0x02 && VM_FAULT_ERROR == 0x873 && VM_FAULT_FALLBACK == 0x800);

/* Why C: invalidate_kernel_vmap_range() is a static inline (cache maintenance on VIVT caches). */
void rdmabuf_invalidate_kernel_vmap_range(void *vaddr, int size)
{
	invalidate_kernel_vmap_range(vaddr, size);
}

/* Why C: flush_kernel_vmap_range() is a static inline (as above). */
void rdmabuf_flush_kernel_vmap_range(void *vaddr, int size)
{
	flush_kernel_vmap_range(vaddr, size);
}

/* Why C: VmaNew cannot set vm_ops, private data or VM_PFNMAP; vm_flags_set() is a static inline. */
void rdmabuf_vma_set_pfnmap(struct vm_area_struct *vma,
			    const struct vm_operations_struct *ops, void *private)
{
	vma->vm_ops = ops;
	vma->vm_private_data = private;
	vm_flags_set(vma, VM_PFNMAP);
}

#ifdef RDMABUF_KAPI_UDMABUF
/* ---- udmabuf: pinned memfd folios ---- */

/* Why C: folio_pfn() and folio_nr_pages() are static inlines; one call on the fault path. */
unsigned long rdmabuf_folio_span(struct folio *folio, unsigned long *pfn)
{
	*pfn = folio_pfn(folio);
	return folio_nr_pages(folio);
}

/* Why C: folio_nr_pages() is a static inline; one call scans a whole pin batch. */
size_t rdmabuf_folios_same_size(struct folio *const *folios, size_t nr,
				unsigned long *nr_pages)
{
	size_t i;

	*nr_pages = nr ? folio_nr_pages(folios[0]) : 0;
	for (i = 0; i < nr && folio_nr_pages(folios[i]) == *nr_pages; i++)
		;
	return i;
}

/* Why C: memfd_get_seals() is not exported; SHMEM_I() and HUGETLBFS_I() are static inlines. */
int rdmabuf_memfd_seals(struct file *file)
{
	if (shmem_file(file))
		return SHMEM_I(file_inode(file))->seals;
#ifdef CONFIG_HUGETLBFS
	if (is_file_hugepages(file))
		return HUGETLBFS_I(file_inode(file))->seals;
#endif
	return -EINVAL;
}

#if IS_ENABLED(CONFIG_KUNIT)
/*
 * Test-only: the in-kernel shmem files of the KUnit fixtures (src/kapi
 * behind cfg(CONFIG_KUNIT = "y")).
 */

/* Why C: EMPTY_VMA_FLAGS is a macro. */
struct file *rdmabuf_shmem_file(const char *name, loff_t size)
{
	return shmem_file_setup(name, size, EMPTY_VMA_FLAGS);
}

#endif /* CONFIG_KUNIT */
#endif /* RDMABUF_KAPI_UDMABUF */

#ifdef RDMABUF_KAPI_HEAP
/* ---- Heap pages: zeroing, reclaimable counts, the zeroing thread ---- */

/* Why C: compound_order() is a static inline. */
unsigned int rdmabuf_page_order(struct page *page)
{
	return compound_order(page);
}

/* Why C: clear_highpage() and cond_resched() are static inlines. */
void rdmabuf_zero_pages(struct page *page, unsigned int order)
{
	unsigned long i;

	for (i = 0; i < (1UL << order); i++) {
		clear_highpage(page + i);
		cond_resched();
	}
}

/*
 * Why C: page_pgdat() is a static inline. Adds sign * the pages of the block
 * to its node's NR_KERNEL_MISC_RECLAIMABLE (KReclaimable in /proc/meminfo).
 */
void rdmabuf_page_count_reclaimable(struct page *page, int sign)
{
	mod_node_page_state(page_pgdat(page), NR_KERNEL_MISC_RECLAIMABLE,
			    (long)sign << compound_order(page));
}

/* Why C: fatal_signal_pending() is a static inline. */
bool rdmabuf_fatal_signal_pending(void)
{
	return fatal_signal_pending(current);
}

/* Why C: try_to_freeze() is a static inline (freezing() and a static key). */
bool rdmabuf_try_to_freeze(void)
{
	return try_to_freeze();
}
#endif /* RDMABUF_KAPI_HEAP */

// SPDX-License-Identifier: GPL-2.0
/*
 * C helpers of the kapi layer: static inline kernel functions and macros
 * wrapped as real functions so that the Rust kapi layer can call them.
 * Compiled into each module through src/<module>/kapi_helpers.c; as the
 * Rust parts of kapi are behind cfg(kapi_udmabuf) and cfg(kapi_heap), the
 * helpers only one module uses are behind RDMABUF_KAPI_UDMABUF and
 * RDMABUF_KAPI_HEAP, which Kbuild defines for that module's object.
 */
#include <linux/cpumask.h>
#include <linux/delay.h>
#include <linux/dma-buf.h>
#include <linux/dma-map-ops.h>
#include <linux/dma-mapping.h>
#include <linux/freezer.h>
#include <linux/fs.h>
#include <linux/highmem.h>
#include <linux/hugetlb.h>
#include <linux/iosys-map.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/scatterlist.h>
#include <linux/sched/signal.h>
#include <linux/seq_file.h>
#include <linux/shmem_fs.h>
#include <linux/string.h>
#include <linux/version.h>
#if LINUX_VERSION_CODE < KERNEL_VERSION(6, 13, 0)
#include <linux/pfn_t.h>
#endif

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

/*
 * Why C: VmaNew cannot set vm_ops, private data or VM_PFNMAP (and 6.12's
 * kernel crate has no VmaNew); vm_flags_set() is a static inline. The flags
 * are upstream udmabuf's.
 */
void rdmabuf_vma_set_pfnmap(struct vm_area_struct *vma,
			    const struct vm_operations_struct *ops, void *private)
{
	vma->vm_ops = ops;
	vma->vm_private_data = private;
	vm_flags_set(vma, VM_PFNMAP | VM_DONTEXPAND | VM_DONTDUMP);
}

/* Why C: dma_dev_need_sync() is a static inline (a flag bit on 7.3, a bitfield on 6.12). */
bool rdmabuf_dma_need_sync(struct device *dev)
{
	return dma_dev_need_sync(dev);
}

/*
 * Why C: dma_coerce_mask_and_coherent() is a static inline, and so is
 * dma_set_mask_and_coherent() on 6.12.
 */
int rdmabuf_dma_coerce_mask_and_coherent(struct device *dev, u64 mask)
{
	return dma_coerce_mask_and_coherent(dev, mask);
}

/*
 * Why C: dma_unmap_sgtable() is a static inline on 6.12 (7.3's kernel crate
 * has a helper for it); one helper serves both.
 */
void rdmabuf_dma_unmap_sgtable(struct device *dev, struct sg_table *sgt,
			       enum dma_data_direction dir, unsigned long attrs)
{
	dma_unmap_sgtable(dev, sgt, dir, attrs);
}

#if IS_ENABLED(CONFIG_KUNIT)
/* Why C: dev_is_dma_coherent() is a static inline (a flag bit on 7.3, a bitfield on 6.12). */
bool rdmabuf_dma_coherent(struct device *dev)
{
	return dev_is_dma_coherent(dev);
}

/*
 * Why C: sg_dma_address() and sg_dma_len() are macros on 6.12. Returns the
 * DMA address of @sg and its DMA length in @len.
 */
dma_addr_t rdmabuf_sg_dma_segment(struct scatterlist *sg, unsigned int *len)
{
	*len = sg_dma_len(sg);
	return sg_dma_address(sg);
}
#endif /* CONFIG_KUNIT */

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

/*
 * Why C: 6.12's vmf_insert_pfn_pmd() and vmf_insert_pfn_pud() take a pfn_t,
 * made by __pfn_to_pfn_t() (a static inline) as 6.12's vfio-pci makes it;
 * 7.3's take the pfn. One helper each serves both.
 */
#if LINUX_VERSION_CODE < KERNEL_VERSION(6, 13, 0)
#define RDMABUF_HUGE_PFN(pfn) __pfn_to_pfn_t(pfn, PFN_DEV)
#else
#define RDMABUF_HUGE_PFN(pfn) (pfn)
#endif

#ifdef CONFIG_ARCH_SUPPORTS_PMD_PFNMAP
vm_fault_t rdmabuf_vmf_insert_pfn_pmd(struct vm_fault *vmf, unsigned long pfn,
				      bool write)
{
	return vmf_insert_pfn_pmd(vmf, RDMABUF_HUGE_PFN(pfn), write);
}
#endif

#ifdef CONFIG_ARCH_SUPPORTS_PUD_PFNMAP
vm_fault_t rdmabuf_vmf_insert_pfn_pud(struct vm_fault *vmf, unsigned long pfn,
				      bool write)
{
	return vmf_insert_pfn_pud(vmf, RDMABUF_HUGE_PFN(pfn), write);
}
#endif

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

/*
 * Why C: get_file() is a static inline. 6.12's kernel crate has no helper
 * for it (nor a file type: src/kapi/kernel/fs/file.rs); 7.3's kapi does not
 * call this one.
 */
void rdmabuf_get_file(struct file *file)
{
	get_file(file);
}

#if IS_ENABLED(CONFIG_KUNIT)
/*
 * Test-only: the in-kernel shmem files of the KUnit fixtures (src/kapi
 * behind cfg(CONFIG_KUNIT = "y")).
 */

/*
 * Why C: EMPTY_VMA_FLAGS is a macro; 6.12's shmem_file_setup() takes the
 * flags as an unsigned long instead (no vma_flags_t).
 */
struct file *rdmabuf_shmem_file(const char *name, loff_t size)
{
#if LINUX_VERSION_CODE < KERNEL_VERSION(6, 13, 0)
	return shmem_file_setup(name, size, 0);
#else
	return shmem_file_setup(name, size, EMPTY_VMA_FLAGS);
#endif
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

/*
 * What Linux 6.12's kernel crate lacks and 7.3's has (src/kapi/kernel/):
 * kapi's own versions call these helpers.
 */
#if LINUX_VERSION_CODE < KERNEL_VERSION(6, 13, 0)
#ifdef RDMABUF_KAPI_HEAP
/* Why C: nr_cpu_ids is a macro (NR_CPUS) when the kernel has one CPU. */
unsigned int rdmabuf_nr_cpu_ids(void)
{
	return nr_cpu_ids;
}

#if IS_ENABLED(CONFIG_KUNIT)
/* Why C: fsleep() is a static inline. */
void rdmabuf_fsleep(unsigned long usecs)
{
	fsleep(usecs);
}

/* Why C: udelay() is a macro; bounded as MAX_UDELAY_MS asks of callers. */
void rdmabuf_udelay(unsigned long usecs)
{
	udelay(min(usecs, MAX_UDELAY_MS * 1000UL));
}
#endif /* CONFIG_KUNIT */
#endif /* RDMABUF_KAPI_HEAP */
#endif /* Linux 6.12 */

#if LINUX_VERSION_CODE < KERNEL_VERSION(6, 13, 0)
/*
 * Linux 6.12: the seq_file side of kapi's debugfs files
 * (src/kapi/kernel/debugfs.rs), what DEFINE_SHOW_ATTRIBUTE() makes in C.
 *
 * Why C: the table's owner must be THIS_MODULE, so that an open file holds
 * the module (debugfs calls the table's release even after the file is
 * removed), and a Rust constant cannot name this module's __this_module.
 * One table serves every file: the struct rdmabuf_debugfs_show that the
 * file's private data points at says which Rust function shows it.
 */
static int rdmabuf_debugfs_seq_show(struct seq_file *m, void *v)
{
	const struct rdmabuf_debugfs_show *file = m->private;

	return file->show(m, file);
}

static int rdmabuf_debugfs_open(struct inode *inode, struct file *file)
{
	return single_open(file, rdmabuf_debugfs_seq_show, inode->i_private);
}

const struct file_operations rdmabuf_debugfs_show_fops = {
	.owner = THIS_MODULE,
	.open = rdmabuf_debugfs_open,
	.read = seq_read,
	.llseek = seq_lseek,
	.release = single_release,
};
#endif

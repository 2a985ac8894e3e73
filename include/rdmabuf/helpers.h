/* SPDX-License-Identifier: GPL-2.0 */
/*
 * C helpers of the rdmabuf modules: wrappers for static inline kernel
 * functions and macros that Rust cannot call, and module parameter
 * accessors. Implemented in src/kapi/helpers.c and src/<module>/params.c.
 */
#ifndef RDMABUF_HELPERS_H
#define RDMABUF_HELPERS_H

#include <linux/types.h>

#include <linux/dma-direction.h>
#include <linux/gfp_types.h>
#include <linux/mm_types.h>

struct device;
struct file;
struct folio;
struct iosys_map;
struct list_head;
struct task_struct;
struct page;
struct scatterlist;
struct sg_table;
struct vm_area_struct;
struct vm_fault;
struct vm_operations_struct;

/* src/kapi/helpers.c: shared by both modules. */
void rdmabuf_sg_set_page(struct scatterlist *sg, struct page *page,
			 unsigned int len, unsigned int offset);
unsigned long rdmabuf_folio_nr_pages(struct folio *folio);
unsigned long rdmabuf_folio_span(struct folio *folio, unsigned long *pfn);
size_t rdmabuf_folios_same_size(struct folio *const *folios, size_t nr,
				unsigned long *nr_pages);
struct page *rdmabuf_pfn_to_page(unsigned long pfn);
unsigned int rdmabuf_page_order(struct page *page);
unsigned long rdmabuf_page_to_pfn(struct page *page);
int rdmabuf_memfd_seals(struct file *file);
void rdmabuf_inode_lock_shared(struct file *file);
void rdmabuf_inode_unlock_shared(struct file *file);
unsigned int rdmabuf_pfnmap_pmd_order(void);
vm_fault_t rdmabuf_vmf_insert_pfn_order(struct vm_fault *vmf, unsigned long pfn,
					unsigned int order);
void rdmabuf_vma_set_pfnmap(struct vm_area_struct *vma,
			    const struct vm_operations_struct *ops, void *private);
void rdmabuf_invalidate_kernel_vmap_range(void *vaddr, int size);
void rdmabuf_flush_kernel_vmap_range(void *vaddr, int size);
void rdmabuf_set_freezable(void);
bool rdmabuf_try_to_freeze(void);

/* Heap pages, lists of pages through page->lru, heap plumbing. */
gfp_t rdmabuf_heap_gfp(unsigned int order, bool account);
gfp_t rdmabuf_heap_gfp_nowait(unsigned int order);
void rdmabuf_zero_pages(struct page *page, unsigned int order);
void rdmabuf_pages_init(struct list_head *head);
void rdmabuf_pages_push(struct list_head *head, struct page *page);
struct page *rdmabuf_pages_pop(struct list_head *head, bool last);
struct page *rdmabuf_pages_next(struct list_head *head, struct page *page);
void rdmabuf_pages_splice(struct list_head *from, struct list_head *to);
void rdmabuf_pages_count_reclaimable(struct list_head *head, int sign);
void rdmabuf_page_count_reclaimable(struct page *page, int sign);
bool rdmabuf_fatal_signal_pending(void);
int rdmabuf_sched_set_idle(struct task_struct *task);

/* src/kapi/helpers.c, test-only (CONFIG_KUNIT). */
struct dma_buf;
struct file *rdmabuf_shmem_file(const char *name, loff_t size);
void rdmabuf_fill_pages(struct page *page, unsigned int order, int byte);
bool rdmabuf_page_is_zero(struct page *page, unsigned int order);

/* src/udmabuf/params.c */
int rudmabuf_list_limit(void);
int rudmabuf_size_limit_mb(void);
const char *rudmabuf_device_name(void);

/* src/system_heap/params.c */
const char *rsystem_heap_name(void);
int rsystem_heap_pool_max_mb(void);
int rsystem_heap_zero_helpers(void);
int rsystem_heap_pool_low_mb(void);
int rsystem_heap_pool_idle_ms(void);

#endif /* RDMABUF_HELPERS_H */

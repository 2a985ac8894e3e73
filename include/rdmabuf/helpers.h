/* SPDX-License-Identifier: GPL-2.0 */
/*
 * C helpers of the rdmabuf modules: wrappers for static inline kernel
 * functions and macros that Rust cannot call (src/kapi/helpers.c), and the
 * module parameters that kapi reads (src/<module>/params.c).
 */
#ifndef RDMABUF_HELPERS_H
#define RDMABUF_HELPERS_H

#include <linux/types.h>
#include <linux/version.h>

#include <linux/dma-direction.h>
#include <linux/gfp_types.h>
#include <linux/mm_types.h>

struct device;
struct file;
struct folio;
struct iosys_map;
struct task_struct;
struct page;
struct scatterlist;
struct sg_table;
struct vm_area_struct;
struct vm_operations_struct;

/* src/kapi/helpers.c: shared by both modules. */
void rdmabuf_sg_set_page(struct scatterlist *sg, struct page *page,
			 unsigned int len, unsigned int offset);
unsigned long rdmabuf_folio_span(struct folio *folio, unsigned long *pfn);
size_t rdmabuf_folios_same_size(struct folio *const *folios, size_t nr,
				unsigned long *nr_pages);
struct page *rdmabuf_pfn_to_page(unsigned long pfn);
unsigned int rdmabuf_page_order(struct page *page);
unsigned long rdmabuf_page_to_pfn(struct page *page);
int rdmabuf_memfd_seals(struct file *file);
void rdmabuf_get_file(struct file *file);
#if LINUX_VERSION_CODE < KERNEL_VERSION(6, 13, 0)
void rdmabuf_memfd_prepare_pin(struct file *file, loff_t start, loff_t len);
#endif
void rdmabuf_vma_set_pfnmap(struct vm_area_struct *vma,
			    const struct vm_operations_struct *ops, void *private);
bool rdmabuf_dma_need_sync(struct device *dev);
int rdmabuf_dma_coerce_mask_and_coherent(struct device *dev, u64 mask);
void rdmabuf_dma_unmap_sgtable(struct device *dev, struct sg_table *sgt,
			       enum dma_data_direction dir, unsigned long attrs);
void rdmabuf_invalidate_kernel_vmap_range(void *vaddr, int size);
void rdmabuf_flush_kernel_vmap_range(void *vaddr, int size);
bool rdmabuf_try_to_freeze(void);

/* Heap pages, heap plumbing. */
void rdmabuf_zero_pages(struct page *page, unsigned int order);
void rdmabuf_page_count_reclaimable(struct page *page, int sign);
/* Test-only (CONFIG_KUNIT). */
void rdmabuf_page_get(struct page *page);
void rdmabuf_page_put(struct page *page);
int rdmabuf_page_refs(struct page *page);
bool rdmabuf_fatal_signal_pending(void);

/* Heap: memory cgroups and the per-memcg lists of pooled blocks. */
struct mem_cgroup;
struct rdmabuf_memcg_lists;
/* One list per order the heap allocates. */
#define RDMABUF_MEMCG_LISTS 3
struct mem_cgroup *rdmabuf_memcg_get_current(void);
void rdmabuf_memcg_put(struct mem_cgroup *memcg);
void rdmabuf_memcg_get(struct mem_cgroup *memcg);
struct page *rdmabuf_alloc_pages_charged(gfp_t gfp, unsigned int order,
					 struct mem_cgroup *memcg);
unsigned long rdmabuf_memcg_margin(struct mem_cgroup *memcg);
bool rdmabuf_page_is_charged(struct page *page);
bool rdmabuf_page_charged_to(struct page *page, struct mem_cgroup *memcg);
struct rdmabuf_memcg_lists *rdmabuf_memcg_lists_create(const char *name,
							const unsigned int *orders);
void rdmabuf_memcg_lists_destroy(struct rdmabuf_memcg_lists *l);
int rdmabuf_memcg_lists_prepare(struct rdmabuf_memcg_lists *l,
				struct mem_cgroup *memcg);
bool rdmabuf_memcg_lists_add(struct rdmabuf_memcg_lists *l, unsigned int i,
			     struct page *page, unsigned long cap_pages);
struct page *rdmabuf_memcg_lists_take(struct rdmabuf_memcg_lists *l, unsigned int i,
				      struct mem_cgroup *memcg);
struct page *rdmabuf_memcg_lists_take_any(struct rdmabuf_memcg_lists *l, unsigned int i);
unsigned long rdmabuf_memcg_lists_pages(struct rdmabuf_memcg_lists *l);
unsigned long rdmabuf_memcg_lists_shrunk(struct rdmabuf_memcg_lists *l);
void rdmabuf_memcg_lists_for_each(struct rdmabuf_memcg_lists *l,
				  void (*show)(void *arg, u64 ino, unsigned long pages),
				  void *arg);

/* udmabuf: huge entries of a PFN map (CONFIG_ARCH_SUPPORTS_P[MU]D_PFNMAP). */
struct vm_fault;
vm_fault_t rdmabuf_vmf_insert_pfn_pmd(struct vm_fault *vmf, unsigned long pfn,
				      bool write);
vm_fault_t rdmabuf_vmf_insert_pfn_pud(struct vm_fault *vmf, unsigned long pfn,
				      bool write);

/* src/kapi/helpers.c, test-only (CONFIG_KUNIT). */
struct dma_buf;
struct file *rdmabuf_shmem_file(const char *name, loff_t size);
bool rdmabuf_dma_coherent(struct device *dev);
dma_addr_t rdmabuf_sg_dma_segment(struct scatterlist *sg, unsigned int *len);
int rdmabuf_dma_buf_vmap_op(struct dma_buf *dmabuf);

/* src/kapi/helpers.c, what Linux 6.12's kernel crate lacks (heap only). */
#if LINUX_VERSION_CODE < KERNEL_VERSION(6, 13, 0)
unsigned int rdmabuf_nr_cpu_ids(void);
/* Test-only (CONFIG_KUNIT). */
void rdmabuf_fsleep(unsigned long usecs);
void rdmabuf_udelay(unsigned long usecs);
#endif

#if LINUX_VERSION_CODE < KERNEL_VERSION(6, 13, 0)
/*
 * src/kapi/helpers.c, Linux 6.12: the file operations of a debugfs file
 * whose private data is a struct rdmabuf_debugfs_show. It heads the Rust
 * object that holds the shown data; show() formats that into the seq_file.
 */
struct file_operations;
struct seq_file;
struct rdmabuf_debugfs_show {
	int (*show)(struct seq_file *m, const struct rdmabuf_debugfs_show *file);
};
extern const struct file_operations rdmabuf_debugfs_show_fops;
#endif

/* Module parameters: src/udmabuf/params.c */
extern int rudmabuf_list_limit;
extern int rudmabuf_size_limit_mb;
extern char *rudmabuf_device_name;

/* Module parameters: src/system_heap/params.c */
extern char *rsystem_heap_name;
extern int rsystem_heap_pool_max_mb;
extern int rsystem_heap_zero_helpers;
extern int rsystem_heap_pool_low_mb;
extern int rsystem_heap_pool_idle_ms;
extern int rsystem_heap_memcg_pool_max_mb;

#endif /* RDMABUF_HELPERS_H */

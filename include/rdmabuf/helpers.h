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

struct device;
struct file;
struct folio;
struct iosys_map;
struct page;
struct scatterlist;
struct sg_table;
struct vm_area_struct;
struct vm_fault;
struct vm_operations_struct;

/* What the Rust side reads of a VMA. */
struct rdmabuf_vma_info {
	unsigned long start;
	unsigned long end;
	unsigned long pgoff;
	u64 flags;
	void *private;
};

/* src/kapi/helpers.c: shared by both modules. */
int rdmabuf_dma_coerce_mask_64(struct device *dev);
unsigned int rdmabuf_dma_max_seg_size(struct device *dev);
void rdmabuf_dma_sync_sgtable_for_cpu(struct device *dev, struct sg_table *sgt,
				      enum dma_data_direction dir);
void rdmabuf_dma_sync_sgtable_for_device(struct device *dev, struct sg_table *sgt,
					 enum dma_data_direction dir);
void rdmabuf_sg_set_page(struct scatterlist *sg, struct page *page,
			 unsigned int len, unsigned int offset);
unsigned long rdmabuf_folio_nr_pages(struct folio *folio);
unsigned long rdmabuf_folio_pfn(struct folio *folio);
struct page *rdmabuf_folio_page(struct folio *folio, unsigned long n);
struct page *rdmabuf_pfn_to_page(unsigned long pfn);
int rdmabuf_memfd_seals(struct file *file);
void rdmabuf_inode_lock_shared(struct file *file);
void rdmabuf_inode_unlock_shared(struct file *file);
void rdmabuf_vma_get_info(struct vm_area_struct *vma, struct rdmabuf_vma_info *info);
struct vm_area_struct *rdmabuf_vmf_get_info(struct vm_fault *vmf,
					    struct rdmabuf_vma_info *info,
					    unsigned long *pgoff,
					    unsigned long *address);
void rdmabuf_vma_set_pfnmap(struct vm_area_struct *vma,
			    const struct vm_operations_struct *ops, void *private);
void rdmabuf_iosys_map_set_vaddr(struct iosys_map *map, void *vaddr);
bool rdmabuf_freezing(void);

/* src/udmabuf/params.c */
int rudmabuf_list_limit(void);
int rudmabuf_size_limit_mb(void);
const char *rudmabuf_device_name(void);

/* src/system_heap/params.c */
const char *rsystem_heap_name(void);

#endif /* RDMABUF_HELPERS_H */

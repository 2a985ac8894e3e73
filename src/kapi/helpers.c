// SPDX-License-Identifier: GPL-2.0
/*
 * C helpers shared by both modules: static inline kernel functions and
 * macros wrapped as real functions so that the Rust kapi layer can call
 * them. Compiled into each module through src/<module>/kapi_helpers.c.
 */
#include <linux/dma-mapping.h>
#include <linux/freezer.h>
#include <linux/fs.h>
#include <linux/hugetlb.h>
#include <linux/iosys-map.h>
#include <linux/mm.h>
#include <linux/scatterlist.h>
#include <linux/shmem_fs.h>

#include "rdmabuf/helpers.h"

int rdmabuf_dma_coerce_mask_64(struct device *dev)
{
	return dma_coerce_mask_and_coherent(dev, DMA_BIT_MASK(64));
}

unsigned int rdmabuf_dma_max_seg_size(struct device *dev)
{
	return dma_get_max_seg_size(dev);
}

void rdmabuf_dma_sync_sgtable_for_cpu(struct device *dev, struct sg_table *sgt,
				      enum dma_data_direction dir)
{
	dma_sync_sgtable_for_cpu(dev, sgt, dir);
}

void rdmabuf_dma_sync_sgtable_for_device(struct device *dev, struct sg_table *sgt,
					 enum dma_data_direction dir)
{
	dma_sync_sgtable_for_device(dev, sgt, dir);
}

void rdmabuf_sg_set_page(struct scatterlist *sg, struct page *page,
			 unsigned int len, unsigned int offset)
{
	sg_set_page(sg, page, len, offset);
}

unsigned long rdmabuf_folio_nr_pages(struct folio *folio)
{
	return folio_nr_pages(folio);
}

unsigned long rdmabuf_folio_pfn(struct folio *folio)
{
	return folio_pfn(folio);
}

struct page *rdmabuf_folio_page(struct folio *folio, unsigned long n)
{
	return folio_page(folio, n);
}

struct page *rdmabuf_pfn_to_page(unsigned long pfn)
{
	return pfn_to_page(pfn);
}

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

void rdmabuf_inode_lock_shared(struct file *file)
{
	inode_lock_shared(file_inode(file));
}

void rdmabuf_inode_unlock_shared(struct file *file)
{
	inode_unlock_shared(file_inode(file));
}

/* The constants src/kapi/dma_buf.rs hard-codes. */
static_assert(VM_FAULT_SIGBUS == 0x02 && VM_FAULT_ERROR == 0x873);
static_assert(VM_SHARED == 0x08 && VM_MAYSHARE == 0x80);
static_assert(O_RDWR == 02 && O_CLOEXEC == 02000000);

void rdmabuf_vma_get_info(struct vm_area_struct *vma, struct rdmabuf_vma_info *info)
{
	info->start = vma->vm_start;
	info->end = vma->vm_end;
	info->pgoff = vma->vm_pgoff;
	info->flags = vma->vm_flags;
	info->private = vma->vm_private_data;
}

struct vm_area_struct *rdmabuf_vmf_get_info(struct vm_fault *vmf,
					    struct rdmabuf_vma_info *info,
					    unsigned long *pgoff,
					    unsigned long *address)
{
	rdmabuf_vma_get_info(vmf->vma, info);
	*pgoff = vmf->pgoff;
	*address = vmf->address;
	return vmf->vma;
}

void rdmabuf_vma_set_pfnmap(struct vm_area_struct *vma,
			    const struct vm_operations_struct *ops, void *private)
{
	vma->vm_ops = ops;
	vma->vm_private_data = private;
	vm_flags_set(vma, VM_PFNMAP | VM_DONTEXPAND | VM_DONTDUMP);
}

void rdmabuf_iosys_map_set_vaddr(struct iosys_map *map, void *vaddr)
{
	iosys_map_set_vaddr(map, vaddr);
}

bool rdmabuf_freezing(void)
{
	return freezing(current);
}

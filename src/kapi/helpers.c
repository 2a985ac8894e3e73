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
#include <linux/dma-resv.h>
#include <linux/falloc.h>
#include <linux/freezer.h>
#include <linux/fs.h>
#include <linux/highmem.h>
#include <linux/hugetlb.h>
#include <linux/iosys-map.h>
#include <linux/list_lru.h>
#include <linux/memcontrol.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/scatterlist.h>
#include <linux/sched/signal.h>
#include <linux/seq_file.h>
#include <linux/shmem_fs.h>
#include <linux/shrinker.h>
#include <linux/slab.h>
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

/*
 * Why C: dma_resv_lock() is a static inline. Calls @dmabuf's vmap op as
 * dma_buf_vmap() does, under the reservation lock, and its vunmap op if it
 * mapped; returns the op's errno. dma_buf_vmap() would WARN_ON_ONCE() on
 * the failure the KUnit cases cause on purpose. The buffer must not be
 * vmapped through the core meanwhile.
 */
int rdmabuf_dma_buf_vmap_op(struct dma_buf *dmabuf)
{
	struct iosys_map map = IOSYS_MAP_INIT_VADDR(NULL);
	int ret;

	dma_resv_lock(dmabuf->resv, NULL);
	ret = dmabuf->ops->vmap(dmabuf, &map);
	if (!ret)
		dmabuf->ops->vunmap(dmabuf, &map);
	dma_resv_unlock(dmabuf->resv);
	return ret;
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

#if LINUX_VERSION_CODE < KERNEL_VERSION(6, 13, 0)
/*
 * Why C: is_file_hugepages() and i_size_read() are inline. Linux 6.12 only
 * (fixed in 6.16): memfd_pin_folios() allocates a hugetlb page that @file
 * lacks without reserving it (memfd_alloc_folio()), so the global count of
 * reserved huge pages underflows, or VM_BUG_ON() fires with
 * CONFIG_DEBUG_VM. This allocates the missing pages of the bytes @start..
 * @start + @len (within the file's size) through fallocate first, which
 * reserves them as a write fault would. What fails here, a file not open
 * for writing included, is left to memfd_pin_folios() to report as upstream
 * does. Called without the inode lock, which fallocate takes.
 */
void rdmabuf_memfd_prepare_pin(struct file *file, loff_t start, loff_t len)
{
	loff_t size;

	if (!is_file_hugepages(file) || start < 0 || len <= 0)
		return;
	size = i_size_read(file_inode(file));
	if (start < size)
		vfs_fallocate(file, FALLOC_FL_KEEP_SIZE, start, min(len, size - start));
}
#endif

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

#if IS_ENABLED(CONFIG_KUNIT)
/*
 * Test-only. Why C: get_page(), put_page() and page_ref_count() are static
 * inlines. A KUnit case holds a reference of its own on a block's page to
 * see the block's owner drop its one.
 */
void rdmabuf_page_get(struct page *page)
{
	get_page(page);
}

void rdmabuf_page_put(struct page *page)
{
	put_page(page);
}

int rdmabuf_page_refs(struct page *page)
{
	return page_ref_count(page);
}
#endif /* CONFIG_KUNIT */

/* ---- Memory cgroups: per-memcg lists of heap blocks (src/kapi/memcg.rs) ---- */

#ifdef CONFIG_MEMCG
/*
 * Whether @memcg is the root memcg, which nothing is charged to. Linux 6.12
 * does not export root_mem_cgroup (which mem_cgroup_is_root() reads): the
 * root is the memcg without a parent.
 */
static bool rdmabuf_memcg_is_root(struct mem_cgroup *memcg)
{
	return !memcg->css.parent;
}
#endif

/*
 * Why C: get_mem_cgroup_from_current() is not exported, and
 * mem_cgroup_disabled(), memcg_kmem_online(), rcu_read_lock() and
 * css_tryget() are inline. Its body, with NULL where a
 * __GFP_ACCOUNT page would be charged to nothing: memcg or kmem accounting
 * off, or the task in the root memcg.
 */
struct mem_cgroup *rdmabuf_memcg_get_current(void)
{
#ifdef CONFIG_MEMCG
	struct mem_cgroup *memcg;

	if (mem_cgroup_disabled() || !memcg_kmem_online())
		return NULL;
again:
	rcu_read_lock();
	memcg = mem_cgroup_from_task(current);
	if (!css_tryget(&memcg->css)) {
		rcu_read_unlock();
		goto again;
	}
	rcu_read_unlock();
	if (rdmabuf_memcg_is_root(memcg)) {
		css_put(&memcg->css);
		return NULL;
	}
	return memcg;
#else
	return NULL;
#endif
}

/*
 * Why C: page_counter_read() and parent_mem_cgroup() are inline. The pages
 * that @memcg can still be charged before it or an ancestor reaches
 * memory.max.
 */
unsigned long rdmabuf_memcg_margin(struct mem_cgroup *memcg)
{
	unsigned long margin = ULONG_MAX;
#ifdef CONFIG_MEMCG
	for (; memcg && !rdmabuf_memcg_is_root(memcg); memcg = parent_mem_cgroup(memcg)) {
		unsigned long usage = page_counter_read(&memcg->memory);
		unsigned long max = READ_ONCE(memcg->memory.max);

		margin = min(margin, usage < max ? max - usage : 0);
	}
#endif
	return margin;
}

/* Why C: css_get() is a static inline. */
void rdmabuf_memcg_get(struct mem_cgroup *memcg)
{
	css_get(&memcg->css);
}

/*
 * Why C: set_active_memcg() is a static inline. Allocates a block with @gfp
 * and __GFP_ACCOUNT, charged to @memcg (which the caller holds) instead of
 * the current task's memcg.
 */
struct page *rdmabuf_alloc_pages_charged(gfp_t gfp, unsigned int order,
					 struct mem_cgroup *memcg)
{
	struct mem_cgroup *old = set_active_memcg(memcg);
	struct page *page = alloc_pages(gfp | __GFP_ACCOUNT, order);

	set_active_memcg(old);
	return page;
}

/* Why C: mem_cgroup_put() is a static inline. */
void rdmabuf_memcg_put(struct mem_cgroup *memcg)
{
	mem_cgroup_put(memcg);
}

/*
 * Why C: folio_memcg_charged() and page_folio() are inline. Whether the block
 * at @page is charged to a memory cgroup.
 */
bool rdmabuf_page_is_charged(struct page *page)
{
	return folio_memcg_charged(page_folio(page));
}

/*
 * Why C: folio_memcg() wants RCU and is inline, as is page_folio(). Whether
 * the block at @page is charged to @memcg (NULL: to no memcg).
 */
bool rdmabuf_page_charged_to(struct page *page, struct mem_cgroup *memcg)
{
	bool same;

	rcu_read_lock();
	same = folio_memcg(page_folio(page)) == memcg;
	rcu_read_unlock();
	return same;
}

/*
 * One memcg- and NUMA-aware list_lru per block order, and the shrinker they
 * set the per-memcg bits of, so that reclaim in a memcg (memory.max,
 * memory.reclaim) frees that memcg's blocks. Each block on a list is charged
 * to the memcg whose list it is on: it joins the list of its own memcg, and
 * the list_lru core moves a removed memcg's items to its parent, which the
 * object cgroup of the pages moves to as well. Blocks on the lists count in
 * NR_KERNEL_MISC_RECLAIMABLE.
 */
struct rdmabuf_memcg_lists {
	struct list_lru lru[RDMABUF_MEMCG_LISTS];
	unsigned int order[RDMABUF_MEMCG_LISTS];
	struct shrinker *shrinker;
	/* Pages on all lists, and pages the shrinker freed. */
	atomic_long_t pages;
	atomic_long_t shrunk;
};

/*
 * Objects allocated only to make the list_lru core create a memcg's lists
 * (rdmabuf_memcg_lists_prepare()): one cache for all lists of this module,
 * as a cache name may exist once, made by the first lists and destroyed
 * with the last.
 */
static DEFINE_MUTEX(rdmabuf_tickets_lock);
static struct kmem_cache *rdmabuf_tickets;
static unsigned int rdmabuf_tickets_users;

static bool rdmabuf_tickets_get(void)
{
	guard(mutex)(&rdmabuf_tickets_lock);
	if (!rdmabuf_tickets_users) {
		rdmabuf_tickets = kmem_cache_create(KBUILD_MODNAME "_memcg_lists",
						    sizeof(void *), 0, SLAB_ACCOUNT, NULL);
		if (!rdmabuf_tickets)
			return false;
	}
	rdmabuf_tickets_users++;
	return true;
}

static void rdmabuf_tickets_put(void)
{
	guard(mutex)(&rdmabuf_tickets_lock);
	if (!--rdmabuf_tickets_users) {
		kmem_cache_destroy(rdmabuf_tickets);
		rdmabuf_tickets = NULL;
	}
}

static enum lru_status rdmabuf_lru_isolate_one(struct list_head *item,
					       struct list_lru_one *list,
#if LINUX_VERSION_CODE < KERNEL_VERSION(6, 13, 0)
					       spinlock_t *lock,
#endif
					       void *arg)
{
	list_lru_isolate(list, item);
	*(struct list_head **)arg = item;
	return LRU_REMOVED;
}

/* Takes the first block of @memcg's list of @lru on node @nid. */
static struct page *rdmabuf_lru_take(struct list_lru *lru, int nid,
				     struct mem_cgroup *memcg)
{
	struct list_head *item = NULL;
	unsigned long nr = 1;

	list_lru_walk_one(lru, nid, memcg, rdmabuf_lru_isolate_one, &item, &nr);
	return item ? list_entry(item, struct page, lru) : NULL;
}

/* The block at @page has left list @i: uncounts it. */
static struct page *rdmabuf_memcg_lists_left(struct rdmabuf_memcg_lists *l,
					     unsigned int i, struct page *page)
{
	if (page) {
		atomic_long_sub(1L << l->order[i], &l->pages);
		rdmabuf_page_count_reclaimable(page, -1);
	}
	return page;
}

/* Frees a block that left list @i; returns its pages. */
static unsigned long rdmabuf_memcg_lists_free(unsigned int order, struct page *page)
{
	__free_pages(page, order);
	return 1UL << order;
}

static unsigned long rdmabuf_memcg_lists_count(struct shrinker *shrinker,
					       struct shrink_control *sc)
{
	struct rdmabuf_memcg_lists *l = shrinker->private_data;
	unsigned long pages = 0;
	unsigned int i;

	for (i = 0; i < RDMABUF_MEMCG_LISTS; i++)
		pages += list_lru_shrink_count(&l->lru[i], sc) << l->order[i];
	return pages ?: SHRINK_EMPTY;
}

/* Frees whole blocks of sc's memcg and node, largest first. */
static unsigned long rdmabuf_memcg_lists_scan(struct shrinker *shrinker,
					      struct shrink_control *sc)
{
	struct rdmabuf_memcg_lists *l = shrinker->private_data;
	unsigned long freed = 0;
	unsigned int i;

	for (i = 0; i < RDMABUF_MEMCG_LISTS && freed < sc->nr_to_scan; i++) {
		struct page *page;

		while (freed < sc->nr_to_scan &&
		       (page = rdmabuf_memcg_lists_left(l, i,
				rdmabuf_lru_take(&l->lru[i], sc->nid, sc->memcg))))
			freed += rdmabuf_memcg_lists_free(l->order[i], page);
	}
	atomic_long_add(freed, &l->shrunk);
	return freed ?: SHRINK_STOP;
}

/*
 * Why C: list_lru_init_memcg() and kmem_cache_create() are macros, the
 * shrinker flags BIT() macros, and list_lru_shrink_count() (the shrinker's
 * count) is inline. The order is the one the list_lru core needs: the
 * shrinker is allocated (its id assigned), the lists take it, then it is
 * registered.
 */
struct rdmabuf_memcg_lists *rdmabuf_memcg_lists_create(const char *name,
							const unsigned int *orders)
{
	struct rdmabuf_memcg_lists *l = kzalloc(sizeof(*l), GFP_KERNEL);
	unsigned int i, ready = 0;

	if (!l)
		return NULL;
	if (!rdmabuf_tickets_get()) {
		kfree(l);
		return NULL;
	}
	l->shrinker = shrinker_alloc(SHRINKER_MEMCG_AWARE | SHRINKER_NUMA_AWARE,
				     "%s", name);
	if (!l->shrinker)
		goto free;
	for (ready = 0; ready < RDMABUF_MEMCG_LISTS; ready++) {
		l->order[ready] = orders[ready];
		if (list_lru_init_memcg(&l->lru[ready], l->shrinker))
			goto free;
	}
	l->shrinker->count_objects = rdmabuf_memcg_lists_count;
	l->shrinker->scan_objects = rdmabuf_memcg_lists_scan;
	l->shrinker->seeks = DEFAULT_SEEKS;
	l->shrinker->private_data = l;
	shrinker_register(l->shrinker);
	return l;
free:
	for (i = 0; i < ready; i++)
		list_lru_destroy(&l->lru[i]);
	shrinker_free(l->shrinker);
	rdmabuf_tickets_put();
	kfree(l);
	return NULL;
}

/*
 * Takes the first block of list @i of any memcg, on any node; NULL when the
 * list is empty everywhere.
 */
struct page *rdmabuf_memcg_lists_take_any(struct rdmabuf_memcg_lists *l, unsigned int i)
{
	int nid;

	for_each_node_state(nid, N_MEMORY) {
		struct list_head *item = NULL;
		unsigned long nr = 1;

		list_lru_walk_node(&l->lru[i], nid, rdmabuf_lru_isolate_one, &item, &nr);
		if (item)
			return rdmabuf_memcg_lists_left(l, i, list_entry(item, struct page, lru));
	}
	return NULL;
}

/*
 * Unregisters the shrinker (waiting for running callbacks), frees every
 * block still listed, and the lists.
 */
void rdmabuf_memcg_lists_destroy(struct rdmabuf_memcg_lists *l)
{
	unsigned int i;
	struct page *page;

	shrinker_free(l->shrinker);
	for (i = 0; i < RDMABUF_MEMCG_LISTS; i++) {
		while ((page = rdmabuf_memcg_lists_take_any(l, i)))
			rdmabuf_memcg_lists_free(l->order[i], page);
		list_lru_destroy(&l->lru[i]);
	}
	rdmabuf_tickets_put();
	kfree(l);
}

/*
 * Why C: whether a memcg's lists exist is static in mm/list_lru.c
 * (memcg_list_lru_allocated()), memcg_kmem_id() is inline, and
 * memcg_list_lru_alloc() is not exported: an accounted allocation from a
 * cache with an lru creates them (__memcg_slab_post_alloc_hook()), for the
 * current task's memcg, which @memcg must be. kmem_cache_alloc_lru() is an
 * alloc_hooks() macro. Returns 0 or -ENOMEM.
 */
int rdmabuf_memcg_lists_prepare(struct rdmabuf_memcg_lists *l,
				struct mem_cgroup *memcg)
{
#ifdef CONFIG_MEMCG
	int id = memcg_kmem_id(memcg);
	unsigned int i;

	for (i = 0; i < RDMABUF_MEMCG_LISTS; i++) {
		void *ticket;

		if (id < 0 || xa_load(&l->lru[i].xa, id))
			continue;
		ticket = kmem_cache_alloc_lru(rdmabuf_tickets, &l->lru[i], GFP_KERNEL_ACCOUNT);
		if (!ticket)
			return -ENOMEM;
		kmem_cache_free(rdmabuf_tickets, ticket);
	}
#endif
	return 0;
}

/* The pages on @memcg's lists, on all nodes. */
static unsigned long rdmabuf_memcg_lists_pages_of(struct rdmabuf_memcg_lists *l,
						  struct mem_cgroup *memcg)
{
	unsigned long pages = 0;
	unsigned int i;
	int nid;

	for (i = 0; i < RDMABUF_MEMCG_LISTS; i++)
		for_each_node_state(nid, N_MEMORY)
			pages += list_lru_count_one(&l->lru[i], nid, memcg) << l->order[i];
	return pages;
}

/*
 * Why C: folio_memcg() wants RCU and is inline, as are page_to_nid() and
 * INIT_LIST_HEAD(). Adds the block at @page (of order l->order[@i]) to the
 * list of its own memcg on its node, unless it is not charged, that memcg's
 * lists do not exist (it never prepared them), or that memcg would then hold
 * more than @cap_pages. Returns whether it did; the block stays the caller's
 * if not. Concurrent adds for one memcg may each pass the cap check: the cap
 * can be passed by one block per adding thread.
 */
bool rdmabuf_memcg_lists_add(struct rdmabuf_memcg_lists *l, unsigned int i,
			     struct page *page, unsigned long cap_pages)
{
	bool added = false;
#ifdef CONFIG_MEMCG
	struct mem_cgroup *memcg;
	int id;

	rcu_read_lock();
	memcg = folio_memcg(page_folio(page));
	if (!memcg || rdmabuf_memcg_is_root(memcg))
		goto out;
	id = memcg_kmem_id(memcg);
	if (id < 0 || !xa_load(&l->lru[i].xa, id))
		goto out;
	if (rdmabuf_memcg_lists_pages_of(l, memcg) + (1UL << l->order[i]) > cap_pages)
		goto out;
	rdmabuf_page_count_reclaimable(page, 1);
	atomic_long_add(1L << l->order[i], &l->pages);
	INIT_LIST_HEAD(&page->lru);
	added = list_lru_add(&l->lru[i], &page->lru, page_to_nid(page), memcg);
	if (!added)
		rdmabuf_memcg_lists_left(l, i, page);
out:
	rcu_read_unlock();
#endif
	return added;
}

/*
 * Why C: numa_node_id() and for_each_node_state() are inline and a macro.
 * Takes a block from @memcg's list @i: of this CPU's node first, then of the
 * others.
 */
struct page *rdmabuf_memcg_lists_take(struct rdmabuf_memcg_lists *l, unsigned int i,
				      struct mem_cgroup *memcg)
{
	int here = numa_node_id(), nid;
	struct page *page = rdmabuf_lru_take(&l->lru[i], here, memcg);

	if (page)
		return rdmabuf_memcg_lists_left(l, i, page);
	for_each_node_state(nid, N_MEMORY) {
		if (nid == here)
			continue;
		page = rdmabuf_lru_take(&l->lru[i], nid, memcg);
		if (page)
			return rdmabuf_memcg_lists_left(l, i, page);
	}
	return NULL;
}

/* Pages on all lists; pages the shrinker freed. */
unsigned long rdmabuf_memcg_lists_pages(struct rdmabuf_memcg_lists *l)
{
	return atomic_long_read(&l->pages);
}

unsigned long rdmabuf_memcg_lists_shrunk(struct rdmabuf_memcg_lists *l)
{
	return atomic_long_read(&l->shrunk);
}

/*
 * Why C: css_for_each_descendant_pre(), mem_cgroup_from_css() and
 * cgroup_ino() are macros and inline. Calls @show with the cgroup inode and
 * the pages of each memcg whose lists hold blocks, under RCU: @show must not
 * sleep. The root's lists hold only blocks reparented from a removed
 * top-level memcg.
 */
void rdmabuf_memcg_lists_for_each(struct rdmabuf_memcg_lists *l,
				  void (*show)(void *arg, u64 ino, unsigned long pages),
				  void *arg)
{
#ifdef CONFIG_MEMCG
	struct cgroup_subsys_state *root, *css;

	if (mem_cgroup_disabled())
		return;
	rcu_read_lock();
	/* The root memcg, found from the reader's (see rdmabuf_memcg_is_root()). */
	root = &mem_cgroup_from_task(current)->css;
	while (root->parent)
		root = root->parent;
	css_for_each_descendant_pre(css, root) {
		struct mem_cgroup *memcg = mem_cgroup_from_css(css);
		unsigned long pages;

		pages = rdmabuf_memcg_lists_pages_of(l, memcg);
		if (pages)
			show(arg, cgroup_ino(css->cgroup), pages);
	}
	rcu_read_unlock();
#endif
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

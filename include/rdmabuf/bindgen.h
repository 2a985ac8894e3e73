/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Input of the project's bindgen step (see Kbuild): the kernel APIs that
 * kernel::bindings lacks, the C helpers of src/kapi/helpers.c and a few
 * constants.
 */
#include <linux/debugfs.h>
#include <linux/dma-buf.h>
#include <linux/dma-heap.h>
#include <linux/dma-mapping.h>
#include <linux/freezer.h>
#include <linux/kthread.h>
#include <linux/memfd.h>
#include <linux/miscdevice.h>
#include <linux/mm.h>
#include <linux/scatterlist.h>
#include <linux/swiotlb.h>
#include <linux/vmalloc.h>
#include <uapi/linux/sched/types.h>

#include "rdmabuf/helpers.h"

/*
 * Constants that bindgen cannot take from macros: clang evaluates these
 * initialisers (as rust/bindings/bindings_helper.h does for GFP flags).
 * Never compiled: this header is bindgen's input only.
 *
 * The orders of the huge entries a PFN map can use, 0 where the kernel has
 * none of that size (PMD_ORDER and PUD_ORDER expand to arch shifts that are
 * function-like macros on arm64).
 */
const unsigned int RDMABUF_PMD_PFNMAP_ORDER =
	IS_ENABLED(CONFIG_ARCH_SUPPORTS_PMD_PFNMAP) ? PMD_ORDER : 0;
const unsigned int RDMABUF_PUD_PFNMAP_ORDER =
	IS_ENABLED(CONFIG_ARCH_SUPPORTS_PUD_PFNMAP) ? PUD_ORDER : 0;

/*
 * GFP flags that kernel::bindings lacks (src/kapi/pages.rs composes upstream
 * system_heap.c's masks from them).
 */
const gfp_t RDMABUF_GFP_HIGHUSER = GFP_HIGHUSER;
const gfp_t RDMABUF_GFP_NORETRY = __GFP_NORETRY;
const gfp_t RDMABUF_GFP_COMP = __GFP_COMP;
const gfp_t RDMABUF_GFP_RECLAIM = __GFP_RECLAIM;
const gfp_t RDMABUF_GFP_DIRECT_RECLAIM = __GFP_DIRECT_RECLAIM;
const gfp_t RDMABUF_GFP_ACCOUNT = __GFP_ACCOUNT;

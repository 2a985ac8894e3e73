/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Input of the project's bindgen step (see Kbuild): the kernel APIs that
 * kernel::bindings lacks, and the C helpers of src/kapi/helpers.c.
 */
#include <linux/dma-buf.h>
#include <linux/dma-heap.h>
#include <linux/dma-mapping.h>
#include <linux/freezer.h>
#include <linux/kthread.h>
#include <linux/memfd.h>
#include <linux/mm.h>
#include <linux/scatterlist.h>
#include <linux/vmalloc.h>
#include <uapi/linux/sched/types.h>

#include "rdmabuf/helpers.h"

/*
 * GFP flags that kernel::bindings lacks, as constants bindgen evaluates
 * (src/kapi/pages.rs composes upstream system_heap.c's masks from them).
 * Never compiled: this header is bindgen's input only.
 */
const gfp_t RDMABUF_GFP_HIGHUSER = GFP_HIGHUSER;
const gfp_t RDMABUF_GFP_NORETRY = __GFP_NORETRY;
const gfp_t RDMABUF_GFP_COMP = __GFP_COMP;
const gfp_t RDMABUF_GFP_RECLAIM = __GFP_RECLAIM;
const gfp_t RDMABUF_GFP_DIRECT_RECLAIM = __GFP_DIRECT_RECLAIM;
const gfp_t RDMABUF_GFP_ACCOUNT = __GFP_ACCOUNT;

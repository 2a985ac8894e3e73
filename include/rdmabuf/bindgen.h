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
#include <linux/swiotlb.h>
#include <linux/vmalloc.h>

#include "rdmabuf/helpers.h"

/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Input of the project's bindgen step (see Kbuild): the kernel APIs that
 * kernel::bindings lacks, the C helpers of src/kapi/helpers.c and a few
 * constants.
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

#include "rdmabuf/helpers.h"

/*
 * Constants that bindgen cannot take from macros: clang evaluates these
 * initialisers (as rust/bindings/bindings_helper.h does for GFP flags),
 * where PMD_ORDER and PUD_ORDER expand to arch shifts that are
 * function-like macros on arm64. The orders of the huge entries a PFN map
 * can use, 0 where the kernel has none of that size.
 */
const unsigned int RDMABUF_PMD_PFNMAP_ORDER =
	IS_ENABLED(CONFIG_ARCH_SUPPORTS_PMD_PFNMAP) ? PMD_ORDER : 0;
const unsigned int RDMABUF_PUD_PFNMAP_ORDER =
	IS_ENABLED(CONFIG_ARCH_SUPPORTS_PUD_PFNMAP) ? PUD_ORDER : 0;

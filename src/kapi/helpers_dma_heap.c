// SPDX-License-Identifier: GPL-2.0
/*
 * C helpers of the kapi layer that use the dma-heap core (namespace
 * DMA_BUF_HEAP): compiled only into the modules that import it.
 */
#include <linux/dma-heap.h>

#include "rdmabuf/helpers.h"

bool rdmabuf_dma_heap_mem_accounting(void)
{
	return READ_ONCE(mem_accounting);
}

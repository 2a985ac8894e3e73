// SPDX-License-Identifier: GPL-2.0
/*
 * Module parameters of rsystem_heap, declared in C so that they are
 * visible under /sys/module/rsystem_heap/parameters/.
 */
#include <linux/module.h>

#include "rdmabuf/helpers.h"

static char *heap_name = "system";
module_param(heap_name, charp, 0444);
MODULE_PARM_DESC(heap_name, "Name of the heap (/dev/dma_heap/<name>). Default is system.");

const char *rsystem_heap_name(void)
{
	return heap_name;
}

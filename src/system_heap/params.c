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

static int pool_max_mb = 256;
module_param(pool_max_mb, int, 0644);
MODULE_PARM_DESC(pool_max_mb, "Most memory kept in the zeroed page pools, in MiB (0: no pooling). Default is 256.");

static int pool_low_mb = 32;
module_param(pool_low_mb, int, 0644);
MODULE_PARM_DESC(pool_low_mb, "What the pools decay to when idle, in MiB. Default is 32.");

static int pool_idle_ms = 5000;
module_param(pool_idle_ms, int, 0644);
MODULE_PARM_DESC(pool_idle_ms, "Idle time (no allocation or release) after which the pools decay to pool_low_mb, in ms (0: never). Default is 5000.");

static int zero_helpers = -1;
module_param(zero_helpers, int, 0444);
MODULE_PARM_DESC(zero_helpers, "Helper threads that zero a large backlog beside the zeroing thread (-1: one per further CPU, at most 3). Default is -1.");

int rsystem_heap_zero_helpers(void)
{
	return READ_ONCE(zero_helpers);
}

int rsystem_heap_pool_low_mb(void)
{
	return READ_ONCE(pool_low_mb);
}

int rsystem_heap_pool_idle_ms(void)
{
	return READ_ONCE(pool_idle_ms);
}

int rsystem_heap_pool_max_mb(void)
{
	return READ_ONCE(pool_max_mb);
}

const char *rsystem_heap_name(void)
{
	return heap_name;
}

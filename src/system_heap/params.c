// SPDX-License-Identifier: GPL-2.0
/*
 * Module parameters of rsystem_heap, declared in C so that they are
 * visible under /sys/module/rsystem_heap/parameters/. The variables are not
 * static: kapi reads them through bindgen (src/kapi/params.rs).
 */
#include <linux/module.h>

#include "rdmabuf/helpers.h"
#include "rdmabuf/upstream_defaults.h"

char *rsystem_heap_name = RDMABUF_HEAP_NAME;
module_param_named(heap_name, rsystem_heap_name, charp, 0444);
MODULE_PARM_DESC(heap_name, "Name of the heap (/dev/dma_heap/<name>). Default is " RDMABUF_HEAP_NAME ".");

int rsystem_heap_pool_max_mb = 256;
module_param_named(pool_max_mb, rsystem_heap_pool_max_mb, int, 0644);
MODULE_PARM_DESC(pool_max_mb, "Most memory kept in the zeroed page pools, in MiB (0: no pooling). Default is 256.");

int rsystem_heap_pool_low_mb = 32;
module_param_named(pool_low_mb, rsystem_heap_pool_low_mb, int, 0644);
MODULE_PARM_DESC(pool_low_mb, "What the pools decay to when idle, in MiB. Default is 32.");

int rsystem_heap_pool_idle_ms = 5000;
module_param_named(pool_idle_ms, rsystem_heap_pool_idle_ms, int, 0644);
MODULE_PARM_DESC(pool_idle_ms, "Idle time (no allocation or release) after which the pools decay to pool_low_mb, in ms (0: never). Default is 5000.");

int rsystem_heap_memcg_pool_max_mb = 64;
module_param_named(memcg_pool_max_mb, rsystem_heap_memcg_pool_max_mb, int, 0644);
MODULE_PARM_DESC(memcg_pool_max_mb, "With dma_heap.mem_accounting, most memory one memory cgroup's pool keeps (still charged to it), in MiB (0: no pooling of charged pages). Default is 64.");

int rsystem_heap_zero_helpers = -1;
module_param_named(zero_helpers, rsystem_heap_zero_helpers, int, 0444);
MODULE_PARM_DESC(zero_helpers, "Helper threads that zero a large backlog beside the zeroing thread (-1: one per further CPU, at most 3). Default is -1.");

/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The parameter defaults where upstream Linux 6.12 and 7.3 differ: the
 * drivers' src/<module>/params.c take them from here, so that the one
 * kernel-version switch of the parameters is in kapi's headers.
 */
#ifndef RDMABUF_UPSTREAM_DEFAULTS_H
#define RDMABUF_UPSTREAM_DEFAULTS_H

#include <linux/limits.h>
#include <linux/version.h>

#if LINUX_VERSION_CODE < KERNEL_VERSION(6, 13, 0)
/* udmabuf.c of 6.12 limits a buffer to 64 MiB. */
#define RDMABUF_SIZE_LIMIT_MB		64
#define RDMABUF_SIZE_LIMIT_MB_TEXT	"64"
/*
 * 6.12 builds its C system heap in (CONFIG_DMABUF_HEAPS_SYSTEM is bool) as
 * /dev/dma_heap/system: ours takes the name it has beside the C heap on
 * 7.3 (tools/bench).
 */
#define RDMABUF_HEAP_NAME		"rsystem"
#else
#define RDMABUF_SIZE_LIMIT_MB		INT_MAX
#define RDMABUF_SIZE_LIMIT_MB_TEXT	"INT_MAX"
#define RDMABUF_HEAP_NAME		"system"
#endif

#endif /* RDMABUF_UPSTREAM_DEFAULTS_H */

// SPDX-License-Identifier: GPL-2.0
/*
 * Module parameters of rudmabuf. They live in C because parameters declared
 * with Rust's module! macro are not visible in sysfs, and upstream udmabuf's
 * list_limit and size_limit_mb are writable at runtime (mode 0644). The
 * variables are not static: kapi reads them through bindgen
 * (src/kapi/params.rs), so no accessor functions are needed.
 */
#include <linux/module.h>

#include "rdmabuf/helpers.h"
#include "rdmabuf/upstream_defaults.h"

int rudmabuf_list_limit = 1024;
module_param_named(list_limit, rudmabuf_list_limit, int, 0644);
MODULE_PARM_DESC(list_limit, "udmabuf_create_list->count limit. Default is 1024.");

/* Upstream udmabuf's default and description: 64 on 6.12, INT_MAX on 7.3. */
int rudmabuf_size_limit_mb = RDMABUF_SIZE_LIMIT_MB;
module_param_named(size_limit_mb, rudmabuf_size_limit_mb, int, 0644);
MODULE_PARM_DESC(size_limit_mb,
		 "Max size of a dmabuf, in megabytes. Default is " RDMABUF_SIZE_LIMIT_MB_TEXT ".");

char *rudmabuf_device_name = "udmabuf";
module_param_named(device_name, rudmabuf_device_name, charp, 0444);
MODULE_PARM_DESC(device_name, "Name of the misc device (/dev/<name>). Default is udmabuf.");

// SPDX-License-Identifier: GPL-2.0
/*
 * Module parameters of rudmabuf. They live in C because parameters declared
 * with Rust's module! macro are not visible in sysfs, and upstream udmabuf's
 * list_limit and size_limit_mb are writable at runtime (mode 0644).
 */
#include <linux/limits.h>
#include <linux/module.h>

#include "rdmabuf/helpers.h"

static int list_limit = 1024;
module_param(list_limit, int, 0644);
MODULE_PARM_DESC(list_limit, "udmabuf_create_list->count limit. Default is 1024.");

static int size_limit_mb = INT_MAX;
module_param(size_limit_mb, int, 0644);
MODULE_PARM_DESC(size_limit_mb, "Max size of a dmabuf, in megabytes. Default is INT_MAX.");

static char *device_name = "udmabuf";
module_param(device_name, charp, 0444);
MODULE_PARM_DESC(device_name, "Name of the misc device (/dev/<name>). Default is udmabuf.");

int rudmabuf_list_limit(void)
{
	return READ_ONCE(list_limit);
}

int rudmabuf_size_limit_mb(void)
{
	return READ_ONCE(size_limit_mb);
}

const char *rudmabuf_device_name(void)
{
	return device_name;
}

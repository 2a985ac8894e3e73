/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Small helpers shared by the rdmabuf selftests and the demo.
 */
#ifndef RDMABUF_TEST_H
#define RDMABUF_TEST_H

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/utsname.h>
#include <drm/drm.h>

#define UDMABUF_DEV	"/dev/udmabuf"
/*
 * Our heap's node, /dev/dma_heap/<heap_name> (see rdmabuf_find_heap()):
 * "system" by default on 7.3, "rsystem" on 6.12, where the C heap is built
 * in as "system".
 */
#define HEAP_NAME_PARAM	"/sys/module/rsystem_heap/parameters/heap_name"
static char rdmabuf_heap_dev[128] = "/dev/dma_heap/system";
#define HEAP_DEV	rdmabuf_heap_dev

/*
 * The running kernel's page size and default huge page size (hugetlbfs'
 * default, the PMD size: 4 KiB and 2 MiB on x86_64, 16 KiB and 32 MiB on
 * arm64 with 16 KiB pages), read once when the program starts.
 */
static unsigned long rdmabuf_page_sz, rdmabuf_hpage_sz;
#define PAGE_SZ		rdmabuf_page_sz
#define HPAGE_SZ	rdmabuf_hpage_sz

/* Reads up to len - 1 bytes of a text file into buf, NUL-terminated; -1 on error. */
static inline ssize_t read_text(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = read(fd, buf, len - 1);
	close(fd);
	buf[n > 0 ? n : 0] = '\0';
	return n;
}

/* Reads the first number of a text file, or returns -1. */
static inline long read_long(const char *path)
{
	char buf[64];

	return read_text(path, buf, sizeof(buf)) > 0 ? strtol(buf, NULL, 10) : -1;
}

/*
 * Reads the value of `key` from a file of "name value" or "name: value"
 * lines (/proc/vmstat, /proc/meminfo, our debugfs stats), or returns -1.
 */
static inline long read_keyed(const char *path, const char *key)
{
	char line[256];
	FILE *f = fopen(path, "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		size_t len = strcspn(line, ": \t");

		if (len == strlen(key) && !strncmp(line, key, len)) {
			fclose(f);
			return strtol(line + len + strspn(line + len, ": \t"), NULL, 10);
		}
	}
	fclose(f);
	return -1;
}

/* Our debugfs stats files use the same format. */
#define read_stat read_keyed

/*
 * The running kernel's version as major * 1000 + minor (6012 for 6.12,
 * 7003 for 7.3): where upstream behaviour differs between the kernels, a
 * test expects the behaviour of the kernel it runs on.
 */
static long rdmabuf_kernel_version;
#define KERNEL_VERSION_IS(major, minor) (rdmabuf_kernel_version == (major) * 1000 + (minor))

__attribute__((constructor)) static void rdmabuf_read_page_sizes(void)
{
	long kb = read_keyed("/proc/meminfo", "Hugepagesize");
	struct utsname u;
	unsigned int major, minor;

	if (!uname(&u) && sscanf(u.release, "%u.%u", &major, &minor) == 2)
		rdmabuf_kernel_version = major * 1000L + minor;

	rdmabuf_page_sz = (unsigned long)sysconf(_SC_PAGESIZE);
	/* Without hugetlbfs, the PMD size: 8-byte entries in a page. */
	rdmabuf_hpage_sz = kb > 0 ? (unsigned long)kb << 10 : rdmabuf_page_sz / 8 * rdmabuf_page_sz;
}

/* HEAP_DEV: the node of the heap that rsystem_heap's heap_name names. */
__attribute__((constructor)) static void rdmabuf_find_heap(void)
{
	char name[64];

	if (read_text(HEAP_NAME_PARAM, name, sizeof(name)) > 0) {
		name[strcspn(name, "\n")] = '\0';
		snprintf(rdmabuf_heap_dev, sizeof(rdmabuf_heap_dev), "/dev/dma_heap/%s", name);
	}
}

/* Writes a string to a sysfs/procfs file; returns 0 or -1. */
static inline int write_str(const char *path, const char *value)
{
	int fd = open(path, O_WRONLY);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = write(fd, value, strlen(value));
	close(fd);
	return n == (ssize_t)strlen(value) ? 0 : -1;
}

/* Opens the vgem DRM device (a real dma-buf importer), or returns -1. */
static inline int open_vgem(void)
{
	for (int i = 0; i < 16; i++) {
		char path[32], name[8] = "";
		drm_version_t v = { .name = name, .name_len = sizeof(name) - 1 };
		int fd;

		snprintf(path, sizeof(path), "/dev/dri/card%d", i);
		fd = open(path, O_RDWR | O_CLOEXEC);
		if (fd < 0)
			continue;
		if (!ioctl(fd, DRM_IOCTL_VERSION, &v) && !strcmp(name, "vgem"))
			return fd;
		close(fd);
	}
	return -1;
}

#endif /* RDMABUF_TEST_H */

// SPDX-License-Identifier: GPL-2.0
/*
 * The `make run` demo: shows what the rdmabuf modules provide, and uses them.
 */
#include <dirent.h>
#include <sys/ioctl.h>
#include <sys/sysmacros.h>
#include <linux/memfd.h>
#include <linux/dma-heap.h>
#include <linux/udmabuf.h>

#include "rdmabuf_test.h"

static void show_file(const char *title, const char *path)
{
	char line[256];
	FILE *f = fopen(path, "r");

	printf("  %s (%s):\n", title, path);
	if (!f) {
		printf("    unavailable: %s\n", strerror(errno));
		return;
	}
	while (fgets(line, sizeof(line), f))
		printf("    %s", line);
	fclose(f);
}

static void show_params(const char *module)
{
	char path[256];
	struct dirent *d;
	DIR *dir;

	snprintf(path, sizeof(path), "/sys/module/%s/parameters", module);
	dir = opendir(path);
	if (!dir) {
		printf("  %s: not loaded\n", module);
		return;
	}
	printf("  %s parameters:\n", module);
	while ((d = readdir(dir))) {
		char file[512], value[128] = "";
		struct stat st;
		FILE *f;

		if (d->d_name[0] == '.')
			continue;
		snprintf(file, sizeof(file), "%s/%s", path, d->d_name);
		stat(file, &st);
		f = fopen(file, "r");
		if (f) {
			if (!fgets(value, sizeof(value), f))
				value[0] = 0;
			fclose(f);
		}
		value[strcspn(value, "\n")] = 0;
		printf("    %-16s = %-12s (mode %o)\n", d->d_name, value, st.st_mode & 0777);
	}
	closedir(dir);
}

static void show_devices(void)
{
	struct stat st;
	struct dirent *d;
	DIR *dir;

	printf("== devices\n");
	if (!stat(UDMABUF_DEV, &st))
		printf("  %s: char device %u:%u\n", UDMABUF_DEV, major(st.st_rdev), minor(st.st_rdev));
	else
		printf("  %s: missing (%s)\n", UDMABUF_DEV, strerror(errno));
	dir = opendir("/dev/dma_heap");
	if (dir) {
		while ((d = readdir(dir)))
			if (d->d_name[0] != '.')
				printf("  /dev/dma_heap/%s\n", d->d_name);
		closedir(dir);
	} else {
		printf("  /dev/dma_heap: no heaps registered\n");
	}
}

/* A udmabuf from two ranges of one memfd, seen through both mappings. */
static int demo_udmabuf(void)
{
	const size_t size = 8 * PAGE_SZ;
	struct {
		struct udmabuf_create_list head;
		struct udmabuf_create_item items[2];
	} list = { .head = { .flags = UDMABUF_FLAGS_CLOEXEC, .count = 2 } };
	char *mem, *buf;
	int devfd, memfd, ubuf;

	printf("== udmabuf\n");
	memfd = memfd_create("demo", MFD_ALLOW_SEALING);
	if (memfd < 0 || ftruncate(memfd, size) || fcntl(memfd, F_ADD_SEALS, F_SEAL_SHRINK)) {
		perror("memfd");
		return 1;
	}
	mem = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
	for (int p = 0; p < 8; p++)
		snprintf(mem + p * PAGE_SZ, PAGE_SZ, "memfd page %d", p);
	printf("  memfd: 8 pages, sealed F_SEAL_SHRINK, page p says \"memfd page p\"\n");

	devfd = open(UDMABUF_DEV, O_RDWR);
	if (devfd < 0) {
		perror(UDMABUF_DEV);
		return 1;
	}
	/* Pages 6-7 first, then pages 1-3. */
	list.items[0] = (struct udmabuf_create_item){ .memfd = memfd, .offset = 6 * PAGE_SZ,
						      .size = 2 * PAGE_SZ };
	list.items[1] = (struct udmabuf_create_item){ .memfd = memfd, .offset = 1 * PAGE_SZ,
						      .size = 3 * PAGE_SZ };
	ubuf = ioctl(devfd, UDMABUF_CREATE_LIST, &list);
	if (ubuf < 0) {
		perror("UDMABUF_CREATE_LIST");
		return 1;
	}
	printf("  UDMABUF_CREATE_LIST [memfd pages 6-7, memfd pages 1-3] -> dma-buf fd %d\n", ubuf);
	show_file("rudmabuf stats", "/sys/kernel/debug/rudmabuf/stats");

	buf = mmap(NULL, 5 * PAGE_SZ, PROT_READ | PROT_WRITE, MAP_SHARED, ubuf, 0);
	if (buf == MAP_FAILED) {
		perror("mmap udmabuf");
		return 1;
	}
	for (int p = 0; p < 5; p++)
		printf("  udmabuf page %d reads \"%s\"\n", p, buf + p * PAGE_SZ);
	snprintf(buf + 2 * PAGE_SZ, 64, "written through the udmabuf");
	printf("  wrote udmabuf page 2; memfd page 1 now reads \"%s\"\n", mem + PAGE_SZ);

	munmap(buf, 5 * PAGE_SZ);
	close(ubuf);
	close(devfd);
	munmap(mem, size);
	close(memfd);
	show_file("rudmabuf stats after close", "/sys/kernel/debug/rudmabuf/stats");
	return 0;
}

/* Waits up to 10 s for the heap's deferred-free thread to finish. */
static void wait_heap_idle(void)
{
	for (int i = 0; i < 100; i++) {
		if (read_stat("/sys/kernel/debug/rsystem_heap/stats", "queued_pages") == 0)
			return;
		usleep(100 * 1000);
	}
}

/* A heap buffer: allocated, mapped, checked zero, freed; pool stats around it. */
static int demo_heap(void)
{
	struct dma_heap_allocation_data data = {
		.len = 4 << 20, .fd_flags = O_RDWR | O_CLOEXEC,
	};
	unsigned char *map;
	size_t nonzero = 0;
	int heapfd;

	printf("== dma-buf heap\n");
	heapfd = open(HEAP_DEV, O_RDONLY | O_CLOEXEC);
	if (heapfd < 0) {
		perror(HEAP_DEV);
		return 1;
	}
	show_file("rsystem_heap stats before", "/sys/kernel/debug/rsystem_heap/stats");
	if (ioctl(heapfd, DMA_HEAP_IOCTL_ALLOC, &data)) {
		perror("DMA_HEAP_IOCTL_ALLOC");
		return 1;
	}
	printf("  DMA_HEAP_IOCTL_ALLOC 4 MiB -> dma-buf fd %u\n", data.fd);
	map = mmap(NULL, data.len, PROT_READ | PROT_WRITE, MAP_SHARED, data.fd, 0);
	if (map == MAP_FAILED) {
		perror("mmap heap buffer");
		return 1;
	}
	for (size_t i = 0; i < data.len; i++)
		nonzero += map[i] != 0;
	printf("  mapped it: %zu non-zero bytes; filling it with 0xa5\n", nonzero);
	memset(map, 0xa5, data.len);
	munmap(map, data.len);
	close(data.fd);
	printf("  closed it: the deferred-free thread zeroes its pages into the pools\n");
	wait_heap_idle();
	show_file("rsystem_heap stats after the free", "/sys/kernel/debug/rsystem_heap/stats");
	data.fd = 0;	/* an input of 0 is required */
	if (ioctl(heapfd, DMA_HEAP_IOCTL_ALLOC, &data) == 0) {
		map = mmap(NULL, data.len, PROT_READ, MAP_SHARED, data.fd, 0);
		nonzero = 0;
		for (size_t i = 0; map != MAP_FAILED && i < data.len; i++)
			nonzero += map[i] != 0;
		printf("  allocated 4 MiB again (from the pool): %zu non-zero bytes\n", nonzero);
		close(data.fd);
	}
	close(heapfd);
	return 0;
}

int main(void)
{
	int ret;

	printf("rdmabuf demo\n");
	show_devices();
	printf("== modules\n");
	show_params("rudmabuf");
	show_params("rsystem_heap");
	ret = demo_udmabuf();
	ret |= demo_heap();
	return ret;
}

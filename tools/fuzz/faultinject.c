// SPDX-License-Identifier: GPL-2.0
/*
 * Fault injection: failslab and fail_page_alloc armed for this task only
 * (make-it-fail) while it creates udmabufs and allocates heap buffers.
 *
 *   faultinject [ROUNDS]
 *
 * The failure points must be set up first (see tools/fuzz/debug-run.sh):
 * task-filter=Y, probability and interval. Every call must either succeed
 * or fail with an errno (ENOMEM, or EINTR/EFAULT where a fault hits the
 * copy or signal paths); the caller checks afterwards that pins are
 * balanced, our counters are back to zero and kmemleak finds nothing.
 */
#include <sys/ioctl.h>
#include <linux/dma-heap.h>
#include <linux/memfd.h>
#include <linux/udmabuf.h>

#include <linux/dma-buf.h>

#include "rdmabuf_test.h"

/*
 * /proc/self/make-it-fail, opened once before any fault is armed: opening
 * it while armed allocates a struct file, which failslab may fail, and the
 * task would then stay armed.
 */
static int fail_fd = -1;

static void make_it_fail(int on)
{
	if (pwrite(fail_fd, on ? "1" : "0", 1, 0) != 1) {
		perror("faultinject: make-it-fail");
		exit(1);
	}
}

/*
 * DMA mapping failures: in a swiotlb=force boot, DMA_BUF_IOCTL_SYNC maps the
 * whole udmabuf through the bounce buffer, so buffers from 1 MiB to 256 MiB
 * (sixteen times the debug boot's 16 MiB swiotlb, bounced while other buffers
 * hold slots) fail to map once it is full. Each failure must be an errno
 * (EIO from the DMA layer, ENOMEM), the buffer must stay usable, and the
 * pins and memory are checked by the caller's leak checks.
 */
static void dma_mapping_failures(int devfd, long *unexpected)
{
	struct dma_buf_sync sync = { .flags = DMA_BUF_SYNC_START | DMA_BUF_SYNC_RW };
	size_t max = 256UL << 20;
	int memfd = memfd_create("fi-dma", MFD_ALLOW_SEALING);
	int held[8], nheld = 0;
	long mapped = 0, failed = 0;

	if (memfd < 0 || ftruncate(memfd, max) || fcntl(memfd, F_ADD_SEALS, F_SEAL_SHRINK)) {
		perror("fi-dma memfd");
		(*unexpected)++;
		return;
	}
	for (size_t size = 1UL << 20; size <= max; size *= 2) {
		struct udmabuf_create c = { .memfd = memfd, .size = size };
		int fd = ioctl(devfd, UDMABUF_CREATE, &c);

		if (fd < 0) {
			fprintf(stderr, "faultinject: dma: create %zu: %s\n", size, strerror(errno));
			(*unexpected)++;
			continue;
		}
		if (ioctl(fd, DMA_BUF_IOCTL_SYNC, &sync) == 0) {
			mapped++;
			/* Keep it mapped (it holds swiotlb slots) for the next sizes. */
			if (nheld < 8) {
				held[nheld++] = fd;
				continue;
			}
		} else if (errno == EIO || errno == ENOMEM) {
			failed++;
		} else {
			fprintf(stderr, "faultinject: dma: sync %zu: errno %d (%s)\n", size, errno,
				strerror(errno));
			(*unexpected)++;
		}
		close(fd);
	}
	while (nheld)
		close(held[--nheld]);
	close(memfd);
	printf("faultinject: dma_maps=%ld dma_map_failures=%ld\n", mapped, failed);
}

int main(int argc, char **argv)
{
	int rounds = argc > 1 ? atoi(argv[1]) : 300;
	int devfd = open(UDMABUF_DEV, O_RDWR), heapfd = open(HEAP_DEV, O_RDONLY);
	long ok = 0, failed = 0, unexpected = 0;
	int memfd, hugefd;

	if (devfd < 0 || heapfd < 0) {
		perror("open devices");
		return 1;
	}
	fail_fd = open("/proc/self/make-it-fail", O_WRONLY | O_CLOEXEC);
	if (fail_fd < 0) {
		perror("open /proc/self/make-it-fail");
		return 1;
	}
	memfd = memfd_create("fi", MFD_ALLOW_SEALING);
	hugefd = memfd_create("fi-huge", MFD_ALLOW_SEALING | MFD_HUGETLB);
	if (memfd < 0 || hugefd < 0 || ftruncate(memfd, 64 * PAGE_SZ) ||
	    ftruncate(hugefd, 2 * HPAGE_SZ) || fcntl(memfd, F_ADD_SEALS, F_SEAL_SHRINK) ||
	    fcntl(hugefd, F_ADD_SEALS, F_SEAL_SHRINK)) {
		perror("memfds");
		return 1;
	}
	for (int r = 0; r < rounds; r++) {
		struct {
			struct udmabuf_create_list head;
			struct udmabuf_create_item items[3];
		} l = { .head = { .count = 3 } };
		struct dma_heap_allocation_data d = {
			.len = PAGE_SZ * (1 + (r * 37) % 600), .fd_flags = O_RDWR,
		};
		int fd, e;

		l.items[0] = (struct udmabuf_create_item){ .memfd = memfd, .size = 32 * PAGE_SZ };
		l.items[1] = (struct udmabuf_create_item){ .memfd = hugefd, .offset = PAGE_SZ,
							   .size = HPAGE_SZ };
		l.items[2] = (struct udmabuf_create_item){ .memfd = memfd, .offset = 8 * PAGE_SZ,
							   .size = 16 * PAGE_SZ };
		make_it_fail(1);
		fd = ioctl(devfd, UDMABUF_CREATE_LIST, &l);
		e = errno;
		make_it_fail(0);
		if (fd >= 0) {
			ok++;
			close(fd);
		} else {
			failed++;
			if (e != ENOMEM && e != EFAULT && e != EINTR && e != EINVAL) {
				unexpected++;
				fprintf(stderr, "faultinject: create: errno %d (%s)\n", e, strerror(e));
			}
		}
		make_it_fail(1);
		fd = ioctl(heapfd, DMA_HEAP_IOCTL_ALLOC, &d);
		e = errno;
		make_it_fail(0);
		if (fd >= 0) {
			ok++;
			close(d.fd);
		} else {
			failed++;
			if (e != ENOMEM && e != EFAULT && e != EINTR) {
				unexpected++;
				fprintf(stderr, "faultinject: heap: errno %d (%s)\n", e, strerror(e));
			}
		}
	}
	printf("faultinject: rounds=%d calls=%ld ok=%ld failed_with_errno=%ld unexpected=%ld\n",
	       rounds, ok + failed, ok, failed, unexpected);
	dma_mapping_failures(devfd, &unexpected);
	return unexpected ? 1 : 0;
}

// SPDX-License-Identifier: GPL-2.0
/*
 * A seeded fuzzer for rudmabuf and rsystem_heap.
 *
 *   fuzz [-s SEED] [-i ITERATIONS] [-t SECONDS] [-j THREADS]
 *
 * Each thread runs random sequences of valid and invalid operations on
 * /dev/udmabuf and /dev/dma_heap/system: UDMABUF_CREATE(_LIST) with random
 * memfds (shmem and hugetlbfs), seals, offsets, sizes, counts and flags;
 * heap allocations of random sizes and flags; mmap/munmap at random offsets
 * and lengths with page touches; DMA_BUF_IOCTL_SYNC and DMA_BUF_SET_NAME
 * with random arguments; dup and close in random order; PRIME import into
 * vgem; memfds closed while udmabufs over them live. Thread i draws from
 * xorshift64*(SEED + i), so a seed reproduces each thread's sequence.
 * Every failed call must fail with an errno from the drivers' documented
 * set; any other errno is counted as unexpected and fails the run.
 */
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <time.h>
#include <sys/ioctl.h>
#include <linux/dma-buf.h>
#include <linux/dma-heap.h>
#include <linux/memfd.h>
#include <linux/udmabuf.h>
#include <drm/drm.h>

#include "rdmabuf_test.h"

#define SLOTS		16
#define MAX_ITEMS	8

static uint64_t seed = 1;
static long iterations = 2000;
static double seconds = 0;
static int threads = 4;
static int vgem = -1;
static volatile int stop;

struct stats {
	long ops, ok, failed, unexpected, bad_inputs;
	long by_errno[256];
};

struct ctx {
	uint64_t rng;
	int devfd, heapfd;
	int memfds[4];
	size_t memfd_size[4];
	int bufs[SLOTS];
	size_t buf_size[SLOTS];
	struct stats st;
};

static uint64_t next(struct ctx *c)
{
	c->rng ^= c->rng >> 12;
	c->rng ^= c->rng << 25;
	c->rng ^= c->rng >> 27;
	return c->rng * 0x2545F4914F6CDD1DULL;
}

static uint64_t pick(struct ctx *c, uint64_t n)
{
	return n ? next(c) % n : 0;
}

/* The errnos the drivers and the dma-buf core may return for bad input or
 * memory shortage (EIO: a DMA mapping that does not fit the swiotlb). */
static int expected_errno(int e)
{
	switch (e) {
	case EINVAL: case EBADFD: case EBADF: case EFAULT: case ENOMEM:
	case ENOTTY: case EINTR: case EBUSY: case ENODEV: case EACCES:
	case EPERM: case ENOSPC: case E2BIG: case ENXIO: case EOVERFLOW:
	case EAGAIN: case EIO:
		return 1;
	}
	return 0;
}

static void account(struct ctx *c, int ret, int bad)
{
	c->st.ops++;
	c->st.bad_inputs += bad;
	if (ret >= 0) {
		c->st.ok++;
		return;
	}
	c->st.failed++;
	c->st.by_errno[errno & 255]++;
	if (!expected_errno(errno)) {
		c->st.unexpected++;
		fprintf(stderr, "fuzz: unexpected errno %d (%s)\n", errno, strerror(errno));
	}
}

static void new_memfd(struct ctx *c, int slot)
{
	int huge = pick(c, 4) == 0;
	size_t size = huge ? HPAGE_SZ * (1 + pick(c, 2)) : PAGE_SZ * (1 + pick(c, 64));
	unsigned int seals = pick(c, 8) ? F_SEAL_SHRINK : (unsigned int)pick(c, 32);
	int fd = memfd_create("fuzz", MFD_ALLOW_SEALING | (huge ? MFD_HUGETLB : 0));

	if (c->memfds[slot] >= 0)
		close(c->memfds[slot]);	/* udmabufs over it live on */
	c->memfds[slot] = -1;
	if (fd < 0)
		return;
	if (ftruncate(fd, size) || (seals && fcntl(fd, F_ADD_SEALS, seals & ~F_SEAL_SEAL))) {
		close(fd);
		return;
	}
	c->memfds[slot] = fd;
	c->memfd_size[slot] = size;
}

static void keep(struct ctx *c, int fd, size_t size)
{
	int slot = pick(c, SLOTS);

	if (fd < 0)
		return;
	if (c->bufs[slot] >= 0)
		close(c->bufs[slot]);
	c->bufs[slot] = fd;
	c->buf_size[slot] = size;
}

static uint64_t rand_len(struct ctx *c, size_t limit, int *bad)
{
	switch (pick(c, 10)) {
	case 0: *bad = 1; return pick(c, limit + 1);		/* unaligned */
	case 1: *bad = 1; return 0;
	case 2: *bad = 1; return limit + PAGE_SZ;		/* past the end */
	case 3: *bad = 1; return ~0ULL - pick(c, 4096);
	default: return PAGE_SZ * (1 + pick(c, limit / PAGE_SZ));
	}
}

static void op_create(struct ctx *c)
{
	struct {
		struct udmabuf_create_list head;
		struct udmabuf_create_item items[MAX_ITEMS];
	} l;
	int count = pick(c, 6) ? 1 + pick(c, MAX_ITEMS) : 0;
	int bad = count == 0, fd;
	size_t total = 0;

	memset(&l, 0, sizeof(l));
	for (int i = 0; i < count; i++) {
		int slot = pick(c, 4);
		size_t msize = c->memfd_size[slot];
		uint64_t off = msize > PAGE_SZ ? PAGE_SZ * pick(c, msize / PAGE_SZ) : 0;

		l.items[i].memfd = pick(c, 20) ? (unsigned int)c->memfds[slot] : (unsigned int)pick(c, 1000);
		l.items[i].offset = pick(c, 20) ? off : next(c);
		l.items[i].size = rand_len(c, msize - (off < msize ? off : 0), &bad);
		total += l.items[i].size;
	}
	l.head.count = pick(c, 30) ? (unsigned int)count : (unsigned int)next(c);
	l.head.flags = pick(c, 2) ? UDMABUF_FLAGS_CLOEXEC : (uint32_t)pick(c, 4);
	if (count == 1 && pick(c, 2)) {
		struct udmabuf_create one = {
			.memfd = l.items[0].memfd, .flags = l.head.flags,
			.offset = l.items[0].offset, .size = l.items[0].size,
		};
		fd = ioctl(c->devfd, UDMABUF_CREATE, pick(c, 50) ? (void *)&one : (void *)8);
	} else {
		fd = ioctl(c->devfd, UDMABUF_CREATE_LIST, pick(c, 50) ? (void *)&l : (void *)16);
	}
	account(c, fd, bad);
	keep(c, fd, total);
}

static void op_heap(struct ctx *c)
{
	struct dma_heap_allocation_data d = {
		.len = pick(c, 8) ? PAGE_SZ * (1 + pick(c, 2048)) : next(c) >> pick(c, 64),
		.fd_flags = pick(c, 10) ? O_RDWR | O_CLOEXEC : (uint32_t)next(c),
		.heap_flags = pick(c, 10) ? 0 : next(c),
	};
	int bad = d.fd_flags != (O_RDWR | O_CLOEXEC) || d.heap_flags;

	if (d.len > (64UL << 20)) {	/* keep memory bounded */
		d.len = 0;
		bad = 1;
	}
	account(c, ioctl(c->heapfd, DMA_HEAP_IOCTL_ALLOC, &d), bad);
	if (d.fd > 0)
		keep(c, d.fd, d.len);
}

/* An address where `len` bytes would start on a 2 MiB boundary, or NULL. */
static void *pmd_aligned_hint(size_t len)
{
	unsigned char *area = mmap(NULL, len + HPAGE_SZ, PROT_NONE,
				   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	uintptr_t aligned;

	if (area == MAP_FAILED)
		return NULL;
	aligned = ((uintptr_t)area + HPAGE_SZ - 1) & ~(uintptr_t)(HPAGE_SZ - 1);
	munmap(area, len + HPAGE_SZ);
	return (void *)aligned;
}

static void op_mmap(struct ctx *c)
{
	int slot = pick(c, SLOTS), fd = c->bufs[slot];
	size_t size = c->buf_size[slot];
	size_t pages = size / PAGE_SZ ? size / PAGE_SZ : 1;
	size_t off = PAGE_SZ * pick(c, pages + 1), len = PAGE_SZ * (1 + pick(c, pages));
	int shared = pick(c, 5) != 0;
	unsigned char *map;

	if (fd < 0)
		return;
	/* Half the time at a 2 MiB-aligned hint, where huge mappings apply. */
	map = mmap(pick(c, 2) ? pmd_aligned_hint(len) : NULL, len, PROT_READ | PROT_WRITE,
		   shared ? MAP_SHARED : MAP_PRIVATE, fd, off);
	account(c, map == MAP_FAILED ? -1 : 0, off + len > size || !shared);
	if (map == MAP_FAILED)
		return;
	/* Touch pages inside the buffer only (past it is SIGBUS, as upstream). */
	for (size_t p = 0; off + p < size && p < len; p += PAGE_SZ * (1 + pick(c, 8)))
		map[p] ^= (unsigned char)next(c);
	/*
	 * Sometimes punch a page out (splitting a huge mapping), touch again.
	 * Another thread may map something into the hole at once, so the rest
	 * is unmapped around it.
	 */
	if (pick(c, 3) == 0 && len > PAGE_SZ) {
		size_t hole = PAGE_SZ * (1 + pick(c, len / PAGE_SZ - 1));

		munmap(map + hole, PAGE_SZ);
		if (off < size)
			map[0] ^= (unsigned char)next(c);
		munmap(map, hole);
		if (hole + PAGE_SZ < len)
			munmap(map + hole + PAGE_SZ, len - hole - PAGE_SZ);
		return;
	}
	munmap(map, len);
}

static void op_sync(struct ctx *c)
{
	int fd = c->bufs[pick(c, SLOTS)];
	struct dma_buf_sync s = { .flags = pick(c, 4) ? (pick(c, 2) ? DMA_BUF_SYNC_START : DMA_BUF_SYNC_END) |
					     (1 + pick(c, 3)) : next(c) };

	if (fd >= 0)
		account(c, ioctl(fd, DMA_BUF_IOCTL_SYNC, &s), pick(c, 4) == 0);
}

static void op_name(struct ctx *c)
{
	char name[40];
	int fd = c->bufs[pick(c, SLOTS)];

	for (unsigned int i = 0; i < sizeof(name); i++)
		name[i] = 'a' + pick(c, 26);
	name[pick(c, sizeof(name))] = 0;
	if (fd >= 0)
		account(c, ioctl(fd, DMA_BUF_SET_NAME_B, name), 0);
}

static void op_dup_close(struct ctx *c)
{
	int slot = pick(c, SLOTS);

	if (c->bufs[slot] < 0)
		return;
	if (pick(c, 2)) {
		keep(c, dup(c->bufs[slot]), c->buf_size[slot]);
	} else {
		close(c->bufs[slot]);
		c->bufs[slot] = -1;
	}
}

static void op_vgem(struct ctx *c)
{
	struct drm_prime_handle import = { .fd = c->bufs[pick(c, SLOTS)] };
	struct drm_gem_close gclose = { 0 };
	int ret;

	if (vgem < 0 || import.fd < 0)
		return;
	ret = ioctl(vgem, DRM_IOCTL_PRIME_FD_TO_HANDLE, &import);
	account(c, ret, 0);
	if (!ret) {
		gclose.handle = import.handle;
		ioctl(vgem, DRM_IOCTL_GEM_CLOSE, &gclose);
	}
}

static void *worker(void *arg)
{
	struct ctx *c = arg;

	c->devfd = open(UDMABUF_DEV, O_RDWR | O_CLOEXEC);
	c->heapfd = open(HEAP_DEV, O_RDONLY | O_CLOEXEC);
	for (int i = 0; i < 4; i++) {
		c->memfds[i] = -1;
		new_memfd(c, i);
	}
	for (int i = 0; i < SLOTS; i++)
		c->bufs[i] = -1;
	for (long n = 0; (!iterations || n < iterations) && !stop; n++) {
		switch (pick(c, 16)) {
		case 0 ... 4: op_create(c); break;
		case 5 ... 6: op_heap(c); break;
		case 7 ... 9: op_mmap(c); break;
		case 10: op_sync(c); break;
		case 11: op_name(c); break;
		case 12 ... 13: op_dup_close(c); break;
		case 14: op_vgem(c); break;
		case 15: new_memfd(c, pick(c, 4)); break;
		}
	}
	for (int i = 0; i < SLOTS; i++)
		if (c->bufs[i] >= 0)
			close(c->bufs[i]);
	for (int i = 0; i < 4; i++)
		if (c->memfds[i] >= 0)
			close(c->memfds[i]);
	close(c->devfd);
	close(c->heapfd);
	return NULL;
}

static void on_alarm(int sig)
{
	stop = 1;
}

int main(int argc, char **argv)
{
	struct ctx *ctx;
	pthread_t *tid;
	struct stats total = { 0 };
	int opt;

	seed = (uint64_t)time(NULL);
	while ((opt = getopt(argc, argv, "s:i:t:j:")) != -1) {
		switch (opt) {
		case 's': seed = strtoull(optarg, NULL, 0); break;
		case 'i': iterations = atol(optarg); break;
		case 't': seconds = atof(optarg); iterations = 0; break;
		case 'j': threads = atoi(optarg); break;
		default:
			fprintf(stderr, "usage: fuzz [-s seed] [-i iterations] [-t seconds] [-j threads]\n");
			return 2;
		}
	}
	printf("fuzz: seed=%llu threads=%d %s=%g\n", (unsigned long long)seed, threads,
	       seconds ? "seconds" : "iterations", seconds ? seconds : (double)iterations);
	fflush(stdout);
	signal(SIGBUS, SIG_IGN);
	if (seconds) {
		signal(SIGALRM, on_alarm);
		alarm((unsigned int)seconds);
	}
	vgem = open_vgem();
	ctx = calloc(threads, sizeof(*ctx));
	tid = calloc(threads, sizeof(*tid));
	for (int i = 0; i < threads; i++) {
		ctx[i].rng = (seed + i) * 0x9E3779B97F4A7C15ULL | 1;
		pthread_create(&tid[i], NULL, worker, &ctx[i]);
	}
	for (int i = 0; i < threads; i++) {
		pthread_join(tid[i], NULL);
		total.ops += ctx[i].st.ops;
		total.ok += ctx[i].st.ok;
		total.failed += ctx[i].st.failed;
		total.unexpected += ctx[i].st.unexpected;
		total.bad_inputs += ctx[i].st.bad_inputs;
		for (int e = 0; e < 256; e++)
			total.by_errno[e] += ctx[i].st.by_errno[e];
	}
	printf("fuzz: seed=%llu ops=%ld ok=%ld failed=%ld bad_inputs=%ld unexpected=%ld\n",
	       (unsigned long long)seed, total.ops, total.ok, total.failed, total.bad_inputs,
	       total.unexpected);
	for (int e = 0; e < 256; e++)
		if (total.by_errno[e])
			printf("fuzz:   errno %-3d %-28s %ld\n", e, strerror(e), total.by_errno[e]);
	return total.unexpected ? 1 : 0;
}

// SPDX-License-Identifier: GPL-2.0
/*
 * rdmabuf benchmark: the C drivers against ours, in one boot, interleaved.
 *
 * Runs inside the VM with the built-in C udmabuf (/dev/udmabuf), the C
 * system heap (/dev/dma_heap/system), rudmabuf as /dev/rudmabuf and
 * rsystem_heap as /dev/dma_heap/rsystem. Each figure is sampled REPS times
 * per driver, alternating C, ours, C, ours, so that drift hits both alike.
 * Prints one CSV row per sample on stdout:
 *   bench-csv: workload,driver,rep,value,unit
 * and progress on stderr.
 */
#include <stdint.h>
#include <time.h>
#include <sys/ioctl.h>
#include <linux/dma-buf.h>
#include <linux/dma-heap.h>
#include <linux/memfd.h>
#include <linux/udmabuf.h>
#include <drm/drm.h>

#include "rdmabuf_test.h"

#define MB		(1UL << 20)
#define GB		(1UL << 30)
#define OUR_STATS	"/sys/kernel/debug/rsystem_heap/stats"
#define UDMABUF_STATS	"/sys/kernel/debug/rudmabuf/stats"

static int reps = 7;

struct driver {
	const char *name;
	const char *heap;
	const char *udmabuf;
	int heapfd, devfd;
};

static struct driver drivers[2] = {
	{ .name = "C", .heap = "/dev/dma_heap/system", .udmabuf = "/dev/udmabuf" },
	{ .name = "rust", .heap = "/dev/dma_heap/rsystem", .udmabuf = "/dev/rudmabuf" },
};

/*
 * The test kernel finds no HPET to calibrate the TSC against, so its clock
 * ticks in jiffies. Under QEMU TCG the guest's TSC follows the host's, at a
 * constant rate: time with rdtsc, calibrated against the kernel clock over
 * two seconds (0.2% error at worst).
 */
static double tsc_per_us;

static uint64_t rdtsc(void)
{
	uint32_t lo, hi;

	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return (uint64_t)hi << 32 | lo;
}

static double mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static void calibrate(void)
{
	double t0 = mono_us(), t1;
	uint64_t c0 = rdtsc();

	do
		t1 = mono_us();
	while (t1 - t0 < 2e6);
	tsc_per_us = (rdtsc() - c0) / (t1 - t0);
	fprintf(stderr, "# TSC: %.1f MHz\n", tsc_per_us);
}

static double now_us(void)
{
	return rdtsc() / tsc_per_us;
}

static void row(const char *workload, const struct driver *d, int rep, double value,
		const char *unit)
{
	printf("bench-csv: %s,%s,%d,%.3f,%s\n", workload, d->name, rep, value, unit);
	fflush(stdout);
}

static void die(const char *what)
{
	fprintf(stderr, "bench: %s: %s\n", what, strerror(errno));
	exit(1);
}

static int heap_alloc(struct driver *d, size_t len)
{
	struct dma_heap_allocation_data data = { .len = len, .fd_flags = O_RDWR | O_CLOEXEC };

	if (ioctl(d->heapfd, DMA_HEAP_IOCTL_ALLOC, &data) < 0)
		die("DMA_HEAP_IOCTL_ALLOC");
	return data.fd;
}

/*
 * Waits for our zeroing threads to be idle. It sleeps at least once whoever
 * is measured next: a sample that follows a longer sleep costs more under
 * TCG, so when only ours slept here (its last release still queued), our
 * cold 4 KiB samples were 1.7-2.1x C's and, with the same sleep for both,
 * 1.1x.
 */
static void settle(void)
{
	int i = 0;

	do
		usleep(10 * 1000);
	while (++i < 300 && (read_stat(OUR_STATS, "queued_pages") > 0 ||
			     read_stat(OUR_STATS, "owed_blocks") > 0 ||
			     read_stat(OUR_STATS, "zeroing_blocks") > 0));
}

/*
 * The cold state: both drivers' pools empty, after the same idle pause (our
 * settle() may sleep too; the pause keeps that from making only our sample
 * follow a sleep).
 */
static void drain_pools(void)
{
	settle();
	usleep(20 * 1000);
	write_str("/proc/sys/vm/drop_caches", "3");
}

static const char *size_name(size_t len)
{
	static char buf[16];

	if (len >= MB)
		snprintf(buf, sizeof(buf), "%zuM", len / MB);
	else
		snprintf(buf, sizeof(buf), "%zuK", len / 1024);
	return buf;
}

/*
 * 1. Heap allocate+close latency in three states. A 4 KiB allocation takes
 * tens of microseconds, within the guest's timer and interrupt noise: each
 * of its samples is the median of SMALL_ROUNDS rounds, each in the same
 * state. The median, not the mean: under TCG a quarter to half of the
 * rounds, with either driver, stall for some 100 us (the emulator, not the
 * driver), and how many of 16 rounds do moves a mean by more than the
 * difference being measured.
 */
#define SMALL_ROUNDS 16

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* The median of n values (n > 0); sorts them. */
static double median(double *v, int n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static const char *states[] = { "cold", "warm", "burst" };

/* Puts driver d in state s (an index into states) for a len-byte buffer. */
static void prepare(unsigned int s, struct driver *d, size_t len)
{
	if (s == 0) {
		drain_pools();
	} else if (s == 1) {
		/* Steady churn: a few rounds at a frame-like pace. */
		for (int w = 0; w < 4; w++) {
			close(heap_alloc(d, len));
			usleep(2000);
		}
	} else {
		/* A burst of frees of up to 128 MiB just before. */
		int n = len >= 128 * MB ? 1 : (int)(128 * MB / len);
		int fds[64];

		n = n > 64 ? 64 : n;
		for (int i = 0; i < n; i++)
			fds[i] = heap_alloc(d, len);
		for (int i = 0; i < n; i++)
			close(fds[i]);
	}
}

static void heap_latency(void)
{
	static const size_t sizes[] = { 4096, MB, 8 * MB, 32 * MB };
	char name[64];

	for (unsigned int s = 0; s < 3; s++) {
		for (unsigned int z = 0; z < 4; z++) {
			size_t len = sizes[z];
			int rounds = len < MB ? SMALL_ROUNDS : 1;

			snprintf(name, sizeof(name), "heap_alloc_%s_%s", states[s], size_name(len));
			fprintf(stderr, "# %s\n", name);
			for (int rep = 0; rep < reps; rep++) {
				for (int k = 0; k < 2; k++) {
					struct driver *d = &drivers[k];
					double t[SMALL_ROUNDS];

					for (int r = 0; r < rounds; r++) {
						double t0;

						prepare(s, d, len);
						t0 = now_us();
						close(heap_alloc(d, len));
						t[r] = now_us() - t0;
					}
					row(name, d, rep, median(t, rounds), "us");
				}
			}
		}
	}
	drain_pools();
}

/*
 * 1b. Allocation after an idle pause, at a pace the zeroing threads can
 * follow: one buffer of a size after a pause, and a camera-style set of six
 * 8 MiB buffers after 1.5 s. Each sample follows one round of the same
 * allocation released just before the pause.
 *
 * The 4 KiB case is the floor of the others: C zeroes one page there, so
 * its figure is what C's path costs after the pause without the zeroing
 * (the buffer, the dma-buf export, the descriptor). report.py sets each
 * paced target against it.
 */
static void heap_paced(void)
{
	static const struct {
		const char *name;
		size_t len;
		int n, pause_ms;
	} cases[] = {
		{ "heap_alloc_paced_4K_100ms", 4096, 1, 100 },
		{ "heap_alloc_paced_1M_100ms", MB, 1, 100 },
		{ "heap_alloc_paced_8M_300ms", 8 * MB, 1, 300 },
		{ "heap_alloc_paced_32M_800ms", 32 * MB, 1, 800 },
		{ "heap_alloc_frameset_6x8M_1500ms", 8 * MB, 6, 1500 },
	};
	int fds[6];

	for (unsigned int c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		fprintf(stderr, "# %s\n", cases[c].name);
		for (int rep = 0; rep < reps; rep++) {
			for (int k = 0; k < 2; k++) {
				struct driver *d = &drivers[k];
				double t0, t;

				for (int i = 0; i < cases[c].n; i++)
					fds[i] = heap_alloc(d, cases[c].len);
				for (int i = 0; i < cases[c].n; i++)
					close(fds[i]);
				usleep(cases[c].pause_ms * 1000);
				t0 = now_us();
				for (int i = 0; i < cases[c].n; i++)
					fds[i] = heap_alloc(d, cases[c].len);
				t = now_us() - t0;
				for (int i = 0; i < cases[c].n; i++)
					close(fds[i]);
				row(cases[c].name, d, rep, t, "us");
			}
		}
	}
	drain_pools();
}

/* 2. and 3. Heap first touch of 32 MiB, and the caller-visible release. */
static void heap_touch_and_release(void)
{
	fprintf(stderr, "# heap_first_touch_32M, heap_release\n");
	for (int rep = 0; rep < reps; rep++) {
		for (int k = 0; k < 2; k++) {
			struct driver *d = &drivers[k];
			size_t len = 32 * MB;
			int fd = heap_alloc(d, len);
			double t0 = now_us();
			unsigned char *map = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);

			if (map == MAP_FAILED)
				die("mmap heap");
			for (size_t off = 0; off < len; off += PAGE_SZ)
				map[off] = 1;
			row("heap_first_touch_32M", d, rep, now_us() - t0, "us");
			munmap(map, len);
			t0 = now_us();
			close(fd);
			row("heap_release_32M", d, rep, now_us() - t0, "us");

			fd = heap_alloc(d, 8 * MB);
			t0 = now_us();
			close(fd);
			row("heap_release_8M", d, rep, now_us() - t0, "us");

			/*
			 * A release after an idle moment: a buffer allocated and
			 * released once after 250 ms without heap use (our
			 * zeroing thread has parked by then).
			 */
			usleep(250 * 1000);
			fd = heap_alloc(d, MB);
			t0 = now_us();
			close(fd);
			row("heap_release_1M_idle_250ms", d, rep, now_us() - t0, "us");
			settle();
		}
	}
	drain_pools();
}

static int make_memfd(size_t size, unsigned int flags)
{
	int fd = memfd_create("bench", MFD_ALLOW_SEALING | flags);
	unsigned char *map;

	if (fd < 0 || ftruncate(fd, size) || fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK))
		die("memfd");
	/* Populate it, so that creation measures pinning, not page faults. */
	map = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED)
		die("mmap memfd");
	for (size_t off = 0; off < size; off += PAGE_SZ)
		map[off] = (unsigned char)(off / PAGE_SZ);
	munmap(map, size);
	return fd;
}

struct list {
	struct udmabuf_create_list head;
	struct udmabuf_create_item items[256];
};

static int create_list(struct driver *d, struct list *l)
{
	int fd = ioctl(d->devfd, UDMABUF_CREATE_LIST, l);

	if (fd < 0)
		die("UDMABUF_CREATE_LIST");
	return fd;
}

static void one_item(struct list *l, int memfd, size_t size)
{
	memset(l, 0, sizeof(*l));
	l->head.count = 1;
	l->items[0] = (struct udmabuf_create_item){ .memfd = memfd, .size = size };
}

/* Times UDMABUF_CREATE_LIST + close of a list held on the heap. */
static void time_list(const char *name, struct udmabuf_create_list *list)
{
	fprintf(stderr, "# %s\n", name);
	for (int rep = 0; rep < reps; rep++) {
		for (int k = 0; k < 2; k++) {
			double t0 = now_us();
			int fd = ioctl(drivers[k].devfd, UDMABUF_CREATE_LIST, list);

			if (fd < 0)
				die(name);
			close(fd);
			row(name, &drivers[k], rep, now_us() - t0, "us");
		}
	}
}

/* 4., 5. and 6. udmabuf creation, first touch, vgem import, metadata. */
static void udmabuf_cases(void)
{
	int shm64 = make_memfd(64 * MB, 0), shm256 = make_memfd(256 * MB, 0);
	int hugetlb, thp, vgem = open_vgem();
	static struct list l;

	write_str("/sys/kernel/mm/transparent_hugepage/shmem_enabled", "always");
	thp = make_memfd(GB, 0);
	write_str("/sys/kernel/mm/transparent_hugepage/shmem_enabled", "never");
	hugetlb = make_memfd(GB, MFD_HUGETLB);

	struct { const char *name; int memfd; size_t size; } cases[] = {
		{ "udmabuf_create_64M_shmem", shm64, 64 * MB },
		{ "udmabuf_create_1G_thp", thp, GB },
		{ "udmabuf_create_1G_hugetlb", hugetlb, GB },
	};
	for (unsigned int c = 0; c < 3; c++) {
		fprintf(stderr, "# %s\n", cases[c].name);
		for (int rep = 0; rep < reps; rep++) {
			for (int k = 0; k < 2; k++) {
				double t0;

				one_item(&l, cases[c].memfd, cases[c].size);
				t0 = now_us();
				close(create_list(&drivers[k], &l));
				row(cases[c].name, &drivers[k], rep, now_us() - t0, "us");
			}
		}
	}

	fprintf(stderr, "# udmabuf_create_list_256_items\n");
	for (int rep = 0; rep < reps; rep++) {
		for (int k = 0; k < 2; k++) {
			double t0;

			memset(&l, 0, sizeof(l));
			l.head.count = 256;
			for (int i = 0; i < 256; i++)
				l.items[i] = (struct udmabuf_create_item){
					.memfd = shm64, .offset = (255 - i) * 256 * 1024UL,
					.size = 64 * 1024 };
			t0 = now_us();
			close(create_list(&drivers[k], &l));
			row("udmabuf_create_list_256_items", &drivers[k], rep, now_us() - t0, "us");
		}
	}

	/* The default list_limit's worth: 1024 items of 64 KiB, all of shm64. */
	{
		size_t n = 1024;
		struct udmabuf_create_list *mid = calloc(1, sizeof(*mid) +
							 n * sizeof(struct udmabuf_create_item));

		if (!mid)
			die("calloc");
		mid->count = n;
		for (size_t i = 0; i < n; i++)
			mid->list[i] = (struct udmabuf_create_item){
				.memfd = shm64, .offset = (n - 1 - i) * 64 * 1024UL,
				.size = 64 * 1024 };
		time_list("udmabuf_create_list_1024_items", mid);
		free(mid);
	}

	/*
	 * What VM tools do: one item per guest page, list_limit raised to
	 * 65536 on both drivers. The list is 1.5 MiB, on the heap.
	 */
	{
		size_t n = 65536, len = sizeof(struct udmabuf_create_list) +
					 n * sizeof(struct udmabuf_create_item);
		struct udmabuf_create_list *big = calloc(1, len);

		if (!big)
			die("calloc");
		write_str("/sys/module/udmabuf/parameters/list_limit", "65536");
		write_str("/sys/module/rudmabuf/parameters/list_limit", "65536");
		big->count = n;
		for (size_t i = 0; i < n; i++)
			big->list[i] = (struct udmabuf_create_item){
				.memfd = shm256, .offset = i * PAGE_SZ, .size = PAGE_SZ };
		time_list("udmabuf_create_list_65536_items", big);
		write_str("/sys/module/udmabuf/parameters/list_limit", "1024");
		write_str("/sys/module/rudmabuf/parameters/list_limit", "1024");
		free(big);
	}

	/*
	 * The whole life of a buffer a program reads once: create, mmap (at
	 * whatever address the kernel picks), read every page.
	 */
	struct { const char *name; int memfd; size_t size; } reads[] = {
		{ "udmabuf_create_mmap_read_64M_shmem", shm64, 64 * MB },
		{ "udmabuf_create_mmap_read_256M_hugetlb", hugetlb, 256 * MB },
	};
	for (unsigned int c = 0; c < 2; c++) {
		fprintf(stderr, "# %s\n", reads[c].name);
		for (int rep = 0; rep < reps; rep++) {
			for (int k = 0; k < 2; k++) {
				volatile unsigned char sum = 0;
				unsigned char *map;
				double t0 = now_us();
				int fd;

				one_item(&l, reads[c].memfd, reads[c].size);
				fd = create_list(&drivers[k], &l);
				map = mmap(NULL, reads[c].size, PROT_READ, MAP_SHARED, fd, 0);
				if (map == MAP_FAILED)
					die("mmap udmabuf");
				for (size_t off = 0; off < reads[c].size; off += PAGE_SZ)
					sum += map[off];
				munmap(map, reads[c].size);
				close(fd);
				row(reads[c].name, &drivers[k], rep, now_us() - t0, "us");
			}
		}
	}

	fprintf(stderr, "# udmabuf_first_touch_256M\n");
	for (int rep = 0; rep < reps; rep++) {
		for (int k = 0; k < 2; k++) {
			int fd;
			double t0;
			unsigned char *map;
			volatile unsigned char sum = 0;

			one_item(&l, shm256, 256 * MB);
			fd = create_list(&drivers[k], &l);
			t0 = now_us();
			map = mmap(NULL, 256 * MB, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
			if (map == MAP_FAILED)
				die("mmap udmabuf");
			for (size_t off = 0; off < 256 * MB; off += PAGE_SZ)
				sum += map[off];
			row("udmabuf_first_touch_256M", &drivers[k], rep, now_us() - t0, "us");
			munmap(map, 256 * MB);
			close(fd);
		}
	}

	/*
	 * First touch of a 1 GiB hugetlbfs udmabuf mapped at a 2 MiB-aligned
	 * address (the hint a program passes for huge mappings), and the page
	 * tables that costs: the process's VmPTE, which unlike PageTables in
	 * /proc/meminfo drops at munmap, not after an RCU grace period.
	 */
	fprintf(stderr, "# udmabuf_first_touch_1G_hugetlb\n");
	for (int rep = 0; rep < reps; rep++) {
		for (int k = 0; k < 2; k++) {
			volatile unsigned char sum = 0;
			unsigned char *area, *map;
			long pt0, pt1;
			double t0;
			int fd;

			one_item(&l, hugetlb, GB);
			fd = create_list(&drivers[k], &l);
			area = mmap(NULL, GB + 2 * MB, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
			if (area == MAP_FAILED)
				die("mmap reserve");
			munmap(area, GB + 2 * MB);
			area = (unsigned char *)(((uintptr_t)area + 2 * MB - 1) & ~(uintptr_t)(2 * MB - 1));
			pt0 = read_keyed("/proc/self/status", "VmPTE");
			t0 = now_us();
			map = mmap(area, GB, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
			if (map == MAP_FAILED)
				die("mmap udmabuf");
			for (size_t off = 0; off < GB; off += PAGE_SZ)
				sum += map[off];
			row("udmabuf_first_touch_1G_hugetlb", &drivers[k], rep, now_us() - t0, "us");
			/* The same loop again, all mapped: the cost of the touches. */
			t0 = now_us();
			for (size_t off = 0; off < GB; off += PAGE_SZ)
				sum += map[off];
			row("udmabuf_retouch_1G_hugetlb", &drivers[k], rep, now_us() - t0, "us");
			pt1 = read_keyed("/proc/self/status", "VmPTE");
			row("udmabuf_page_tables_1G_hugetlb", &drivers[k], rep, (pt1 - pt0) * 1024.0,
			    "bytes");
			munmap(map, GB);
			close(fd);
		}
	}

	if (vgem >= 0) {
		fprintf(stderr, "# udmabuf_vgem_import_1G_hugetlb\n");
		for (int rep = 0; rep < reps; rep++) {
			for (int k = 0; k < 2; k++) {
				struct drm_prime_handle import = { 0 };
				struct drm_gem_close gclose = { 0 };
				double t0;

				one_item(&l, hugetlb, GB);
				import.fd = create_list(&drivers[k], &l);
				t0 = now_us();
				if (ioctl(vgem, DRM_IOCTL_PRIME_FD_TO_HANDLE, &import))
					die("PRIME import");
				gclose.handle = import.handle;
				ioctl(vgem, DRM_IOCTL_GEM_CLOSE, &gclose);
				row("udmabuf_vgem_import_1G_hugetlb", &drivers[k], rep,
				    now_us() - t0, "us");
				close(import.fd);
			}
		}
	}
	/* No sg-entry row: vgem in 7.3 imports without mapping, so the two
	 * drivers' entries cannot be counted through one importer (see
	 * tools/bench/README.md). */

	/* Metadata: ours from debugfs; C's from its allocation sizes: a page
	 * pointer and a folio pointer per page (two kvmalloc'd arrays of
	 * pagecount entries) plus struct udmabuf (56 bytes on x86-64). */
	struct { const char *name; int memfd; size_t size; } meta[] = {
		{ "udmabuf_metadata_64M_shmem", shm64, 64 * MB },
		{ "udmabuf_metadata_1G_thp", thp, GB },
		{ "udmabuf_metadata_1G_hugetlb", hugetlb, GB },
	};
	for (unsigned int c = 0; c < 3; c++) {
		long before = read_stat(UDMABUF_STATS, "metadata_bytes");
		int fd;

		one_item(&l, meta[c].memfd, meta[c].size);
		fd = create_list(&drivers[1], &l);
		row(meta[c].name, &drivers[0], 0, 16.0 * (meta[c].size / PAGE_SZ) + 56, "bytes");
		row(meta[c].name, &drivers[1], 0,
		    read_stat(UDMABUF_STATS, "metadata_bytes") - before, "bytes");
		close(fd);
	}
	close(shm64);
	close(shm256);
	close(thp);
	close(hugetlb);
}

/* bench [REPS [heap|udmabuf]]: the second argument runs one half only. */
int main(int argc, char **argv)
{
	const char *only = argc > 2 ? argv[2] : NULL;

	if (argc > 1)
		reps = atoi(argv[1]);
	for (int k = 0; k < 2; k++) {
		drivers[k].heapfd = open(drivers[k].heap, O_RDONLY | O_CLOEXEC);
		drivers[k].devfd = open(drivers[k].udmabuf, O_RDWR | O_CLOEXEC);
		if (drivers[k].heapfd < 0 || drivers[k].devfd < 0) {
			fprintf(stderr, "bench: %s or %s missing\n", drivers[k].heap,
				drivers[k].udmabuf);
			return 1;
		}
	}
	calibrate();
	if (!only || !strcmp(only, "heap")) {
		heap_latency();
		heap_paced();
		heap_touch_and_release();
	}
	if (!only || !strcmp(only, "udmabuf"))
		udmabuf_cases();
	return 0;
}

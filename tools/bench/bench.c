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
 *
 * `bench REPS heap-accounted` runs in a boot with dma_heap.mem_accounting=1
 * (both heaps then charge a buffer's pages to the allocating task's memory
 * cgroup): a few heap rows, taken by one worker process per driver in a
 * cgroup of its own, and printed with the suffix "_accounted".
 */
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <linux/magic.h>
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
#define ACCOUNTING	"/sys/module/dma_heap/parameters/mem_accounting"
#define CGROUPS		"/sys/fs/cgroup"
#define BENCH_CGROUP	CGROUPS "/bench"

static int reps = 7;
/* The third argument: take only the rows whose names start with it. */
static const char *row_prefix;

struct driver {
	const char *name;
	const char *heap;
	const char *udmabuf;
	const char *cgroup;	/* the heap-accounted mode's worker's, under BENCH_CGROUP */
	int heapfd, devfd;
};

static struct driver drivers[2] = {
	{ .name = "C", .heap = "/dev/dma_heap/system", .udmabuf = "/dev/udmabuf", .cgroup = "c" },
	{ .name = "rust", .heap = "/dev/dma_heap/rsystem", .udmabuf = "/dev/rudmabuf",
	  .cgroup = "ours" },
};

/*
 * The heap-accounted mode. Each driver's samples are taken by a worker
 * process in its own cgroup (BENCH_CGROUP/c, BENCH_CGROUP/ours), so that
 * each heap's buffers are charged to a memcg of their own. The parent keeps
 * the interleaving (C, ours, C, ...): it asks one worker at a time for one
 * sample over a pipe, and the worker runs the same code as a sample of the
 * unaccounted row of the same name, times it and sends the figures back.
 */
static bool accounted;

/* The rows of that mode, without their "_accounted" suffix. */
static const char *const accounted_rows[] = {
	"heap_alloc_warm_1M", "heap_alloc_warm_8M", "heap_alloc_paced_8M_300ms",
	"heap_alloc_frameset_6x8M_1500ms", "heap_alloc_cold_4K", "heap_alloc_cold_1M",
	"heap_alloc_cold_8M", "heap_release_8M",
};

/* What the parent asks a worker for: one sample of one kind. */
enum sample_kind { SAMPLE_LATENCY, SAMPLE_PACED, SAMPLE_TOUCH_RELEASE };

struct request {
	int kind;
	int rep;
	unsigned int a, b;	/* latency: state and size indexes; paced: the case */
};

/* What it sends back: the figures the sample's row() calls gave. */
#define MAX_FIGURES	4

struct reply {
	int n;
	struct figure {
		char workload[64];
		char unit[8];
		double value;
	} fig[MAX_FIGURES];
};

/* In a worker: where row() puts its figures. */
static struct reply *collect;

/* A worker's pipes, as the parent holds them. */
static struct worker {
	pid_t pid;
	int req, rep;
} workers[2];

/* Whether this run takes the samples of workload `name`. */
static bool wanted(const char *name)
{
	if (row_prefix && strncmp(name, row_prefix, strlen(row_prefix)))
		return false;
	if (!accounted)
		return true;
	for (size_t i = 0; i < sizeof(accounted_rows) / sizeof(accounted_rows[0]); i++)
		if (!strcmp(name, accounted_rows[i]))
			return true;
	return false;
}

/* What this run's rows are named with after the workload. */
static const char *suffix(void)
{
	return accounted ? "_accounted" : "";
}

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
	if (collect) {
		struct figure *f;

		if (collect->n == MAX_FIGURES) {
			fprintf(stderr, "bench: more than %d figures in one sample\n", MAX_FIGURES);
			exit(1);
		}
		f = &collect->fig[collect->n++];
		snprintf(f->workload, sizeof(f->workload), "%s", workload);
		snprintf(f->unit, sizeof(f->unit), "%s", unit);
		f->value = value;
		return;
	}
	if (!wanted(workload))
		return;
	printf("bench-csv: %s%s,%s,%d,%.3f,%s\n", workload, suffix(), d->name, rep, value, unit);
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

/*
 * A cold allocation of 1 MiB or more is one zeroing of fresh pages by both
 * drivers, a millisecond or more under TCG, and a single round of it moves
 * by more than the difference between them (cold 1 MiB read 0.98-1.33x in
 * four runs of one build): each cold sample is the median of COLD_ROUNDS
 * rounds. The other states keep one round: a burst's preparation alone
 * allocates 128 MiB.
 */
#define COLD_ROUNDS 4

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

static const size_t latency_sizes[] = { 4096, MB, 8 * MB, 32 * MB };

static void latency_name(char *name, size_t size, unsigned int s, unsigned int z)
{
	snprintf(name, size, "heap_alloc_%s_%s", states[s], size_name(latency_sizes[z]));
}

/*
 * With BENCH_FOOTPRINT set (tools/bench/footprint.sh), each timed round of
 * a latency sample is bracketed by stores to two addresses that the TCG
 * plugin tools/bench/footprint.c watches: it counts what the emulator ran
 * between them on that vCPU (instructions, translated blocks, distinct code
 * and data pages). The process stays on CPU 0, so the window is one vCPU's.
 */
#define FOOTPRINT_START 0x5a5a00000000UL
static volatile unsigned char *footprint;

/* Maps the marker page and pins this process, once, if asked to. */
static void footprint_init(void)
{
	cpu_set_t cpu0;

	if (footprint || !getenv("BENCH_FOOTPRINT"))
		return;
	footprint = mmap((void *)FOOTPRINT_START, 4096, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE | MAP_POPULATE, -1, 0);
	if (footprint == MAP_FAILED)
		die("mmap footprint marker");
	CPU_ZERO(&cpu0);
	CPU_SET(0, &cpu0);
	if (sched_setaffinity(0, sizeof(cpu0), &cpu0))
		die("sched_setaffinity");
}

/* Opens (stop false) or closes a footprint window of `name` for driver d. */
static void footprint_mark(const char *name, struct driver *d, bool stop)
{
	if (!footprint)
		return;
	if (!stop) {
		printf("bench-footprint: %s%s,%s\n", name, suffix(), d->name);
		fflush(stdout);
	}
	footprint[stop ? 64 : 0] = 1;
}

/* One sample of heap_alloc_<state s>_<size z> for driver d. */
static void latency_sample(struct driver *d, int rep, unsigned int s, unsigned int z)
{
	size_t len = latency_sizes[z];
	int rounds = len < MB ? SMALL_ROUNDS : s == 0 ? COLD_ROUNDS : 1;
	double t[SMALL_ROUNDS];
	char name[64];

	latency_name(name, sizeof(name), s, z);
	footprint_init();
	for (int r = 0; r < rounds; r++) {
		double t0;

		prepare(s, d, len);
		footprint_mark(name, d, false);
		t0 = now_us();
		close(heap_alloc(d, len));
		t[r] = now_us() - t0;
		footprint_mark(name, d, true);
	}
	row(name, d, rep, median(t, rounds), "us");
}

/*
 * Takes one sample of a kind for drivers[k]: here, or in its worker in the
 * heap-accounted mode (defined below, with the workers).
 */
static void sample(int k, int rep, enum sample_kind kind, unsigned int a, unsigned int b);

static void heap_latency(void)
{
	char name[64];

	for (unsigned int s = 0; s < 3; s++) {
		for (unsigned int z = 0; z < 4; z++) {
			latency_name(name, sizeof(name), s, z);
			if (!wanted(name))
				continue;
			fprintf(stderr, "# %s%s\n", name, suffix());
			for (int rep = 0; rep < reps; rep++)
				for (int k = 0; k < 2; k++)
					sample(k, rep, SAMPLE_LATENCY, s, z);
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
static const struct {
	const char *name;
	size_t len;
	int n, pause_ms;
} paced_cases[] = {
	{ "heap_alloc_paced_4K_100ms", 4096, 1, 100 },
	{ "heap_alloc_paced_1M_100ms", MB, 1, 100 },
	{ "heap_alloc_paced_8M_300ms", 8 * MB, 1, 300 },
	{ "heap_alloc_paced_32M_800ms", 32 * MB, 1, 800 },
	{ "heap_alloc_frameset_6x8M_1500ms", 8 * MB, 6, 1500 },
};

/* One sample of paced case c for driver d. */
static void paced_sample(struct driver *d, int rep, unsigned int c)
{
	int fds[6];
	double t0, t;

	for (int i = 0; i < paced_cases[c].n; i++)
		fds[i] = heap_alloc(d, paced_cases[c].len);
	for (int i = 0; i < paced_cases[c].n; i++)
		close(fds[i]);
	usleep(paced_cases[c].pause_ms * 1000);
	t0 = now_us();
	for (int i = 0; i < paced_cases[c].n; i++)
		fds[i] = heap_alloc(d, paced_cases[c].len);
	t = now_us() - t0;
	for (int i = 0; i < paced_cases[c].n; i++)
		close(fds[i]);
	row(paced_cases[c].name, d, rep, t, "us");
}

static void heap_paced(void)
{
	for (unsigned int c = 0; c < sizeof(paced_cases) / sizeof(paced_cases[0]); c++) {
		if (!wanted(paced_cases[c].name))
			continue;
		fprintf(stderr, "# %s%s\n", paced_cases[c].name, suffix());
		for (int rep = 0; rep < reps; rep++)
			for (int k = 0; k < 2; k++)
				sample(k, rep, SAMPLE_PACED, c, 0);
	}
	drain_pools();
}

/* 2. and 3. Heap first touch of 32 MiB, and the caller-visible release. */
/*
 * The first touch of a pooled 32 MiB buffer moves by more than the
 * difference between the drivers from one sample to the next (one round a
 * sample: 0.61x and 1.53x in two runs of one build, C's own spread 53-64%):
 * each sample is the median of TOUCH_ROUNDS rounds, each after the heap
 * settled, as the first. The last round's buffer is the one whose release
 * is timed.
 */
#define TOUCH_ROUNDS 4

static void touch_and_release(struct driver *d, int rep)
{
	size_t len = 32 * MB;
	double touch[TOUCH_ROUNDS], t0;
	int fd = -1;

	for (int r = 0; r < TOUCH_ROUNDS; r++) {
		unsigned char *map;

		if (r > 0) {
			close(fd);
			settle();
		}
		fd = heap_alloc(d, len);
		t0 = now_us();
		map = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		if (map == MAP_FAILED)
			die("mmap heap");
		for (size_t off = 0; off < len; off += PAGE_SZ)
			map[off] = 1;
		touch[r] = now_us() - t0;
		munmap(map, len);
	}
	row("heap_first_touch_32M", d, rep, median(touch, TOUCH_ROUNDS), "us");
	t0 = now_us();
	close(fd);
	row("heap_release_32M", d, rep, now_us() - t0, "us");

	fd = heap_alloc(d, 8 * MB);
	t0 = now_us();
	close(fd);
	row("heap_release_8M", d, rep, now_us() - t0, "us");

	/*
	 * A release after an idle moment: a buffer allocated and released
	 * once after 250 ms without heap use (our zeroing thread has parked
	 * by then).
	 */
	usleep(250 * 1000);
	fd = heap_alloc(d, MB);
	t0 = now_us();
	close(fd);
	row("heap_release_1M_idle_250ms", d, rep, now_us() - t0, "us");
	settle();
}

/*
 * In the heap-accounted mode the whole sequence runs, so that the 8 MiB
 * release follows what it follows here, and only heap_release_8M is kept.
 */
static void heap_touch_and_release(void)
{
	if (!wanted("heap_first_touch_32M") && !wanted("heap_release_32M") &&
	    !wanted("heap_release_8M") && !wanted("heap_release_1M_idle_250ms"))
		return;
	fprintf(stderr, accounted ? "# heap_release_8M_accounted\n" :
				    "# heap_first_touch_32M, heap_release\n");
	for (int rep = 0; rep < reps; rep++)
		for (int k = 0; k < 2; k++)
			sample(k, rep, SAMPLE_TOUCH_RELEASE, 0, 0);
	drain_pools();
}

/* One sample of a kind for driver d, in this process. */
static void take_sample(struct driver *d, const struct request *q)
{
	switch (q->kind) {
	case SAMPLE_LATENCY:
		latency_sample(d, q->rep, q->a, q->b);
		break;
	case SAMPLE_PACED:
		paced_sample(d, q->rep, q->a);
		break;
	case SAMPLE_TOUCH_RELEASE:
		touch_and_release(d, q->rep);
		break;
	}
}

/* Reads exactly len bytes; -1 on an error or an early end of file. */
static int read_full(int fd, void *buf, size_t len)
{
	for (size_t done = 0; done < len;) {
		ssize_t n = read(fd, (char *)buf + done, len - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		done += n;
	}
	return 0;
}

static void sample(int k, int rep, enum sample_kind kind, unsigned int a, unsigned int b)
{
	struct request q = { .kind = kind, .rep = rep, .a = a, .b = b };
	struct reply r;

	if (!accounted) {
		take_sample(&drivers[k], &q);
		return;
	}
	if (write(workers[k].req, &q, sizeof(q)) != sizeof(q) ||
	    read_full(workers[k].rep, &r, sizeof(r))) {
		fprintf(stderr, "bench: the worker of %s stopped\n", drivers[k].name);
		exit(1);
	}
	for (int i = 0; i < r.n && i < MAX_FIGURES; i++)
		row(r.fig[i].workload, &drivers[k], rep, r.fig[i].value, r.fig[i].unit);
}

static void cgroup_path(char *path, size_t size, const struct driver *d, const char *file)
{
	snprintf(path, size, "%s/%s%s%s", BENCH_CGROUP, d->cgroup, file ? "/" : "", file ? file : "");
}

static void make_dir(const char *path)
{
	if (mkdir(path, 0755) && errno != EEXIST)
		die(path);
}

/*
 * cgroup2 at /sys/fs/cgroup, unless mounted there already, with the memory
 * controller for BENCH_CGROUP and its children.
 */
static void setup_cgroups(void)
{
	char path[128];
	struct statfs fs;

	make_dir(CGROUPS);
	if ((statfs(CGROUPS, &fs) || fs.f_type != CGROUP2_SUPER_MAGIC) &&
	    mount("none", CGROUPS, "cgroup2", 0, NULL))
		die("mount cgroup2 on " CGROUPS);
	if (write_str(CGROUPS "/cgroup.subtree_control", "+memory"))
		die("+memory in " CGROUPS "/cgroup.subtree_control");
	make_dir(BENCH_CGROUP);
	if (write_str(BENCH_CGROUP "/cgroup.subtree_control", "+memory"))
		die("+memory in " BENCH_CGROUP "/cgroup.subtree_control");
	for (int k = 0; k < 2; k++) {
		cgroup_path(path, sizeof(path), &drivers[k], NULL);
		make_dir(path);
	}
}

/*
 * A worker: moves itself into its driver's cgroup, checks that an
 * allocation is charged there, then takes the samples the parent asks for
 * until the parent closes the request pipe.
 */
static void worker(int k, int req, int rep)
{
	struct driver *d = &drivers[k];
	char procs[128], current[128];
	struct request q;
	struct reply r;
	long before, after;
	int fd;

	cgroup_path(procs, sizeof(procs), d, "cgroup.procs");
	cgroup_path(current, sizeof(current), d, "memory.current");
	if (write_str(procs, "0"))
		die(procs);
	before = read_long(current);
	fd = heap_alloc(d, 8 * MB);
	after = read_long(current);
	close(fd);
	if (before < 0 || after - before < (long)(8 * MB)) {
		fprintf(stderr, "bench: %s's 8 MiB buffer charged %ld bytes to %s (%ld before)\n",
			d->name, after - before, current, before);
		exit(1);
	}
	fprintf(stderr, "# %s in %s/%s: an 8 MiB buffer charged %ld KiB there\n",
		d->name, BENCH_CGROUP, d->cgroup, (after - before) >> 10);
	collect = &r;
	while (!read_full(req, &q, sizeof(q))) {
		memset(&r, 0, sizeof(r));
		take_sample(d, &q);
		if (write(rep, &r, sizeof(r)) != sizeof(r))
			die("reply to the parent");
	}
	exit(0);
}

static void start_workers(void)
{
	char value[8] = "";

	if (read_text(ACCOUNTING, value, sizeof(value)) <= 0 || value[0] != 'Y') {
		fprintf(stderr, "bench: heap-accounted needs dma_heap.mem_accounting=1 (%s: %s)\n",
			ACCOUNTING, value[0] ? value : "absent");
		exit(1);
	}
	setup_cgroups();
	/* A worker that died is reported, not a SIGPIPE. */
	signal(SIGPIPE, SIG_IGN);
	for (int k = 0; k < 2; k++) {
		int req[2], rep[2];
		pid_t pid;

		if (pipe(req) || pipe(rep))
			die("pipe");
		fflush(stdout);
		pid = fork();
		if (pid < 0)
			die("fork");
		if (!pid) {
			/*
			 * Only its own pipes: the parent's end of the other's
			 * request pipe must close with the parent's.
			 */
			for (int j = 0; j < k; j++) {
				close(workers[j].req);
				close(workers[j].rep);
			}
			close(req[1]);
			close(rep[0]);
			worker(k, req[0], rep[1]);
		}
		close(req[0]);
		close(rep[1]);
		workers[k] = (struct worker){ .pid = pid, .req = req[1], .rep = rep[0] };
	}
}

/* Ends the workers; shows what the cgroups and our pools held at the end. */
static void stop_workers(void)
{
	char path[128];
	int status, failed = 0;

	for (int k = 0; k < 2; k++) {
		cgroup_path(path, sizeof(path), &drivers[k], "memory.current");
		fprintf(stderr, "# %s/%s memory.current at the end: %ld KiB\n", BENCH_CGROUP,
			drivers[k].cgroup, read_long(path) >> 10);
	}
	/* -1: not in the stats (a driver before issue 33's pools). */
	fprintf(stderr, "# ours at the end: memcg_pool_pages %ld, memcg_alloc_from_pool %ld\n",
		read_stat(OUR_STATS, "memcg_pool_pages"),
		read_stat(OUR_STATS, "memcg_alloc_from_pool"));
	fprintf(stderr, "# ours at the end: alloc_from_pool %ld, alloc_from_buddy %ld\n",
		read_stat(OUR_STATS, "alloc_from_pool"), read_stat(OUR_STATS, "alloc_from_buddy"));
	for (int k = 0; k < 2; k++) {
		close(workers[k].req);
		close(workers[k].rep);
	}
	for (int k = 0; k < 2; k++)
		if (waitpid(workers[k].pid, &status, 0) != workers[k].pid ||
		    !WIFEXITED(status) || WEXITSTATUS(status))
			failed = 1;
	for (int k = 0; k < 2; k++) {
		cgroup_path(path, sizeof(path), &drivers[k], NULL);
		rmdir(path);
	}
	rmdir(BENCH_CGROUP);
	if (failed) {
		fprintf(stderr, "bench: a worker failed\n");
		exit(1);
	}
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

/*
 * bench [REPS [heap|udmabuf|heap-accounted [ROW]]]: the second argument runs
 * one half only, or the accounted heap rows (which need no udmabuf device);
 * the third, only the rows whose names start with ROW (an A/B of one row).
 */
int main(int argc, char **argv)
{
	const char *only = argc > 2 ? argv[2] : NULL;
	bool udmabuf;

	row_prefix = argc > 3 ? argv[3] : NULL;

	if (argc > 1)
		reps = atoi(argv[1]);
	accounted = only && !strcmp(only, "heap-accounted");
	/* The heap rows need no udmabuf device. */
	udmabuf = !only || !strcmp(only, "udmabuf");
	for (int k = 0; k < 2; k++) {
		drivers[k].heapfd = open(drivers[k].heap, O_RDONLY | O_CLOEXEC);
		drivers[k].devfd = -1;
		if (udmabuf)
			drivers[k].devfd = open(drivers[k].udmabuf, O_RDWR | O_CLOEXEC);
		if (drivers[k].heapfd < 0 || (udmabuf && drivers[k].devfd < 0)) {
			fprintf(stderr, "bench: %s or %s missing\n", drivers[k].heap,
				drivers[k].udmabuf);
			return 1;
		}
	}
	calibrate();
	if (accounted) {
		start_workers();
		heap_latency();
		heap_paced();
		heap_touch_and_release();
		stop_workers();
		return 0;
	}
	if (!only || !strcmp(only, "heap")) {
		heap_latency();
		heap_paced();
		heap_touch_and_release();
	}
	if (!only || !strcmp(only, "udmabuf"))
		udmabuf_cases();
	return 0;
}

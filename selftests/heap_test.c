// SPDX-License-Identifier: GPL-2.0
/*
 * rsystem_heap selftests (kselftest harness, TAP output).
 *
 * Allocation sizes and flags, mappings, sync, zeroed pages under churn from
 * four threads, pools drained under memory pressure, allocation past
 * available memory, and memory-cgroup accounting (when the dma-heap core's
 * mem_accounting is on); beside the C system heap, the same answer to every
 * request as it gives.
 */
#include <dirent.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <linux/dma-buf.h>
#include <linux/dma-heap.h>

#include "kselftest_harness.h"
#include "rdmabuf_test.h"

#define STATS		"/sys/kernel/debug/rsystem_heap/stats"
#define ACCOUNTING	"/sys/module/dma_heap/parameters/mem_accounting"
#define MB		(1UL << 20)

static int heap_alloc(int heapfd, size_t len, unsigned int fd_flags)
{
	struct dma_heap_allocation_data data = {
		.len = len, .fd_flags = fd_flags, .heap_flags = 0,
	};

	if (ioctl(heapfd, DMA_HEAP_IOCTL_ALLOC, &data) < 0)
		return -1;
	return data.fd;
}

static long pooled_pages(void)
{
	return read_stat(STATS, "pool_pages_order8") + read_stat(STATS, "pool_pages_order4") +
	       read_stat(STATS, "pool_pages_order0");
}

/*
 * Waits up to 20 s for the zeroing threads to empty the queue, replace the
 * 1 MiB blocks allocations took from it, and pool the last block (read in
 * this order: a block leaves the queue, and a debt is taken, only after it
 * is counted in zeroing_blocks).
 */
static int wait_queue_empty(void)
{
	for (int i = 0; i < 200; i++) {
		if (read_stat(STATS, "queued_pages") == 0 && read_stat(STATS, "owed_blocks") == 0 &&
		    read_stat(STATS, "zeroing_blocks") == 0)
			return 0;
		usleep(100 * 1000);
	}
	return -1;
}

static int all_zero(const unsigned char *p, size_t len)
{
	const uint64_t *w = (const uint64_t *)p;

	for (size_t i = 0; i < len / 8; i++)
		if (w[i])
			return 0;
	return 1;
}

FIXTURE(heap) {
	int heapfd;
};

FIXTURE_SETUP(heap)
{
	self->heapfd = open(HEAP_DEV, O_RDONLY | O_CLOEXEC);
	ASSERT_GE(self->heapfd, 0) TH_LOG("open %s: %s", HEAP_DEV, strerror(errno));
}

FIXTURE_TEARDOWN(heap)
{
	close(self->heapfd);
}

TEST_F_TIMEOUT(heap, sizes_flags_and_mappings, 60)
{
	size_t sizes[] = { PAGE_SZ, 64 * 1024, MB, 8 * MB, 33 * MB + PAGE_SZ };

	for (unsigned int i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		int fd = heap_alloc(self->heapfd, sizes[i], O_RDWR | O_CLOEXEC);
		unsigned char *map, *part;

		ASSERT_GE(fd, 0) TH_LOG("alloc %zu: %s", sizes[i], strerror(errno));
		EXPECT_EQ((off_t)sizes[i], lseek(fd, 0, SEEK_END));
		EXPECT_EQ(FD_CLOEXEC, fcntl(fd, F_GETFD) & FD_CLOEXEC);
		map = mmap(NULL, sizes[i], PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		ASSERT_NE(MAP_FAILED, map);
		EXPECT_TRUE(all_zero(map, sizes[i]));
		for (size_t off = 0; off < sizes[i]; off += PAGE_SZ)
			map[off] = (unsigned char)(off / PAGE_SZ + 1);
		/* A mapping at a page offset sees the same pages. */
		if (sizes[i] > PAGE_SZ) {
			size_t off = sizes[i] - PAGE_SZ;

			part = mmap(NULL, PAGE_SZ, PROT_READ, MAP_SHARED, fd, off);
			ASSERT_NE(MAP_FAILED, part);
			EXPECT_EQ(map[off], part[0]);
			munmap(part, PAGE_SZ);
		}
		munmap(map, sizes[i]);
		close(fd);
	}
	/* Without O_CLOEXEC. */
	{
		int fd = heap_alloc(self->heapfd, PAGE_SZ, O_RDWR);

		ASSERT_GE(fd, 0);
		EXPECT_EQ(0, fcntl(fd, F_GETFD) & FD_CLOEXEC);
		close(fd);
	}
}

TEST_F(heap, bad_requests)
{
	struct dma_heap_allocation_data data = { .len = PAGE_SZ, .fd_flags = O_RDWR };

	errno = 0;
	EXPECT_EQ(-1, heap_alloc(self->heapfd, 0, O_RDWR));
	EXPECT_EQ(EINVAL, errno);
	data.heap_flags = 1;
	EXPECT_EQ(-1, ioctl(self->heapfd, DMA_HEAP_IOCTL_ALLOC, &data));
	EXPECT_EQ(EINVAL, errno);
	data.heap_flags = 0;
	data.fd_flags = O_TRUNC;
	EXPECT_EQ(-1, ioctl(self->heapfd, DMA_HEAP_IOCTL_ALLOC, &data));
	EXPECT_EQ(EINVAL, errno);
}

TEST_F_TIMEOUT(heap, cpu_access_sync, 60)
{
	int fd = heap_alloc(self->heapfd, 2 * MB, O_RDWR);
	struct dma_buf_sync sync;

	ASSERT_GE(fd, 0);
	for (int i = 0; i < 3; i++) {
		sync.flags = DMA_BUF_SYNC_START | DMA_BUF_SYNC_RW;
		EXPECT_EQ(0, ioctl(fd, DMA_BUF_IOCTL_SYNC, &sync));
		sync.flags = DMA_BUF_SYNC_END | DMA_BUF_SYNC_RW;
		EXPECT_EQ(0, ioctl(fd, DMA_BUF_IOCTL_SYNC, &sync));
	}
	close(fd);
}

struct churn {
	int heapfd;
	int seed;
	int dirty;	/* buffers that were not zero when handed out */
	int errors;
};

static void *churn_thread(void *arg)
{
	const size_t sizes[] = { PAGE_SZ, 68 * 1024, MB, 2 * MB + 8 * 1024 };
	struct churn *c = arg;

	for (int i = 0; i < 40; i++) {
		size_t len = sizes[(c->seed + i) % 4];
		int fd = heap_alloc(c->heapfd, len, O_RDWR);
		unsigned char *map;

		if (fd < 0) {
			c->errors++;
			continue;
		}
		map = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		if (map == MAP_FAILED) {
			c->errors++;
			close(fd);
			continue;
		}
		if (!all_zero(map, len))
			c->dirty++;
		memset(map, 0xa5 ^ c->seed, len);
		munmap(map, len);
		close(fd);
	}
	return NULL;
}

TEST_F_TIMEOUT(heap, reused_pages_are_zero_from_4_threads, 120)
{
	struct churn c[4];
	pthread_t t[4];
	long from_pool = read_stat(STATS, "alloc_from_pool");

	for (int i = 0; i < 4; i++) {
		c[i] = (struct churn){ .heapfd = self->heapfd, .seed = i };
		ASSERT_EQ(0, pthread_create(&t[i], NULL, churn_thread, &c[i]));
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		EXPECT_EQ(0, c[i].dirty);
		EXPECT_EQ(0, c[i].errors);
	}
	/* The pools really served some of them. */
	EXPECT_GT(read_stat(STATS, "alloc_from_pool"), from_pool);
}

/*
 * Pages counted as reclaimable kernel memory outside slab: the heap's pooled
 * and queued pages, part of KReclaimable in /proc/meminfo. The per-CPU
 * deltas are folded in first: unfolded, the figure lags or reads 0.
 */
#define PARAMS "/sys/module/rsystem_heap/parameters/"

static long misc_reclaimable_pages(void)
{
	write_str("/proc/sys/vm/stat_refresh", "1");
	return read_keyed("/proc/vmstat", "nr_kernel_misc_reclaimable");
}

TEST_F_TIMEOUT(heap, pools_drain_under_memory_pressure, 120)
{
	long free_before, free_after, kr_before, kr_pooled, kr_after, pooled, kr_kb;
	long idle_ms = read_long(PARAMS "pool_idle_ms");
	char buf[32];
	int fds[8];

	/* No idle decay while the figures are compared, however slow the host. */
	ASSERT_GE(idle_ms, 0);
	ASSERT_EQ(0, write_str(PARAMS "pool_idle_ms", "0"));
	/*
	 * Start from nothing reclaimable: what earlier tests freed is zeroed
	 * and pooled, then given back; two clean looks 100 ms apart. The heaps
	 * that the KUnit cases made at module load may still hold queued pages
	 * until their pending idle work runs (at once now that decay is off).
	 * Nothing else in this kernel counts NR_KERNEL_MISC_RECLAIMABLE.
	 */
	for (int i = 0, clean = 0; clean < 2; i++) {
		ASSERT_LT(i, 300);
		ASSERT_EQ(0, wait_queue_empty());
		ASSERT_EQ(0, write_str("/proc/sys/vm/drop_caches", "3"));
		usleep(100 * 1000);
		clean = !pooled_pages() && !read_stat(STATS, "queued_pages") &&
				!misc_reclaimable_pages() ? clean + 1 : 0;
	}
	free_before = read_keyed("/proc/meminfo", "MemFree");
	kr_before = misc_reclaimable_pages();
	ASSERT_GE(kr_before, 0);
	for (int i = 0; i < 8; i++) {
		fds[i] = heap_alloc(self->heapfd, 32 * MB, O_RDWR);
		ASSERT_GE(fds[i], 0);
	}
	for (int i = 0; i < 8; i++)
		close(fds[i]);
	ASSERT_EQ(0, wait_queue_empty());
	pooled = pooled_pages();
	kr_pooled = misc_reclaimable_pages();
	kr_kb = read_keyed("/proc/meminfo", "KReclaimable");
	TH_LOG("after freeing 256 MiB: %ld pooled pages; nr_kernel_misc_reclaimable %ld -> %ld, KReclaimable %ld kB",
	       pooled, kr_before, kr_pooled, kr_kb);
	EXPECT_GT(pooled, 0);
	/* Exactly the pooled pages (the queue is empty) are reclaimable. */
	EXPECT_EQ(pooled, kr_pooled - kr_before);
	EXPECT_GE(kr_kb, kr_pooled * (long)(PAGE_SZ / 1024));
	ASSERT_EQ(0, write_str("/proc/sys/vm/drop_caches", "3"));
	EXPECT_EQ(0, pooled_pages());
	EXPECT_EQ(0, read_stat(STATS, "queued_pages"));
	free_after = read_keyed("/proc/meminfo", "MemFree");
	kr_after = misc_reclaimable_pages();
	TH_LOG("MemFree before %ld kB, after %ld kB; nr_kernel_misc_reclaimable after %ld",
	       free_before, free_after, kr_after);
	/* Everything came back (MemFree may grow: drop_caches frees more). */
	EXPECT_GT(free_after, free_before - 8 * 1024);
	EXPECT_EQ(kr_before, kr_after);
	snprintf(buf, sizeof(buf), "%ld", idle_ms);
	write_str(PARAMS "pool_idle_ms", buf);
}


/*
 * Idle pools decay to the low watermark (pool_low_mb) once no allocation or
 * release happened for pool_idle_ms, shortened here to 300 ms.
 */
TEST_F_TIMEOUT(heap, idle_pools_decay_to_the_low_watermark, 120)
{
	long low_mb = read_long(PARAMS "pool_low_mb");
	long idle_ms = read_long(PARAMS "pool_idle_ms");
	long decayed = read_stat(STATS, "decayed_pages");
	long low_pages = 8 * MB / PAGE_SZ, pooled = 0;
	int fds[4];

	ASSERT_GE(low_mb, 0);
	ASSERT_GE(idle_ms, 0);
	ASSERT_EQ(0, write_str(PARAMS "pool_low_mb", "8"));
	ASSERT_EQ(0, write_str(PARAMS "pool_idle_ms", "300"));
	for (int i = 0; i < 4; i++) {
		fds[i] = heap_alloc(self->heapfd, 16 * MB, O_RDWR);
		ASSERT_GE(fds[i], 0);
	}
	for (int i = 0; i < 4; i++)
		close(fds[i]);
	ASSERT_EQ(0, wait_queue_empty());
	EXPECT_GT(pooled_pages(), low_pages);
	/* A hang guard only: the decay comes within two idle periods. */
	for (int i = 0; i < 600; i++) {
		pooled = pooled_pages();
		if (pooled <= low_pages)
			break;
		usleep(100 * 1000);
	}
	TH_LOG("pooled after idling: %ld pages (low watermark %ld), decayed %ld",
	       pooled, low_pages, read_stat(STATS, "decayed_pages") - decayed);
	EXPECT_LE(pooled, low_pages);
	EXPECT_GT(read_stat(STATS, "decayed_pages"), decayed);
	/* Not below the watermark by more than one 1 MiB block. */
	EXPECT_GT(pooled, low_pages - (long)(MB / PAGE_SZ));

	char buf[32];

	snprintf(buf, sizeof(buf), "%ld", low_mb);
	write_str(PARAMS "pool_low_mb", buf);
	snprintf(buf, sizeof(buf), "%ld", idle_ms);
	write_str(PARAMS "pool_idle_ms", buf);
}

/*
 * The zeroing threads freeze promptly with a backlog queued: a suspend to
 * the freezer (pm_test=freezer: freeze every freezable task, then thaw) is
 * started while they zero 512 MiB of released buffers. The write succeeds,
 * a zeroing thread froze between two blocks with pages still queued
 * (zeroing_freezes and freeze_backlog_pages: without a freeze point inside
 * the zeroing loop, the threads freeze only once the queue is empty), and
 * the kernel threads froze within a third of pm_freeze_timeout.
 */
#define POWER "/sys/power/"
#define PM_TEST_DELAY "/sys/module/suspend/parameters/pm_test_delay"
#define FROZEN_MSG "Freezing remaining freezable tasks completed (elapsed "

/* The elapsed ms of the last freeze of kernel threads logged after `fd`'s
 * position (a /dev/kmsg reader), -2 if one failed, or -1 if none is seen. */
static long kmsg_freeze_ms(int fd)
{
	char rec[1024];
	long ms = -1;
	ssize_t n;

	while ((n = read(fd, rec, sizeof(rec) - 1)) > 0 || (n < 0 && errno == EPIPE)) {
		unsigned int sec, msec;
		char *at;

		if (n < 0)
			continue;
		rec[n] = 0;
		if (strstr(rec, "refusing to freeze"))
			ms = -2;
		at = strstr(rec, FROZEN_MSG);
		if (at && sscanf(at + strlen(FROZEN_MSG), "%u.%u", &sec, &msec) == 2 && ms != -2)
			ms = sec * 1000L + msec;
	}
	return ms;
}

TEST_F_TIMEOUT(heap, zeroing_threads_freeze_with_a_backlog, 60)
{
	const size_t chunk = 32 * MB, total = 16 * chunk;
	long timeout_ms = read_long(POWER "pm_freeze_timeout");
	long delay = read_long(PM_TEST_DELAY), freezes, queued = 0, frozen_ms;
	int fds[16], kmsg, ret, err;
	char buf[32];

	if (access(POWER "pm_test", W_OK) || delay < 0 || timeout_ms <= 0)
		SKIP(return, "no pm_test=freezer in this kernel (CONFIG_PM_DEBUG, CONFIG_SUSPEND)");
	ASSERT_EQ(0, wait_queue_empty());
	freezes = read_stat(STATS, "zeroing_freezes");
	ASSERT_GE(freezes, 0);
	for (size_t i = 0; i < total / chunk; i++) {
		fds[i] = heap_alloc(self->heapfd, chunk, O_RDWR);
		ASSERT_GE(fds[i], 0);
	}
	for (size_t i = 0; i < total / chunk; i++)
		close(fds[i]);
	/* Freeze once the threads zero: not while the worker is parked (it
	 * would freeze in its wait, with nothing to show for the loop). */
	for (int i = 0; i < 2000 && !read_stat(STATS, "zeroing_blocks"); i++)
		usleep(1000);
	kmsg = open("/dev/kmsg", O_RDONLY | O_NONBLOCK);
	ASSERT_GE(kmsg, 0);
	lseek(kmsg, 0, SEEK_END);
	ASSERT_EQ(0, write_str(PM_TEST_DELAY, "0"));
	ASSERT_EQ(0, write_str(POWER "pm_test", "freezer"));
	queued = read_stat(STATS, "queued_pages");
	ret = write_str(POWER "state", "freeze");
	err = errno;
	write_str(POWER "pm_test", "none");
	snprintf(buf, sizeof(buf), "%ld", delay);
	write_str(PM_TEST_DELAY, buf);
	frozen_ms = kmsg_freeze_ms(kmsg);
	close(kmsg);
	TH_LOG("freeze with %ld of %zu pages queued: %s; kernel threads frozen in %ld ms (timeout %ld ms); zeroing_freezes %ld -> %ld, backlog at the last %ld pages",
	       queued, total / PAGE_SZ, ret ? strerror(err) : "done", frozen_ms, timeout_ms,
	       freezes, read_stat(STATS, "zeroing_freezes"), read_stat(STATS, "freeze_backlog_pages"));
	EXPECT_EQ(0, ret);
	EXPECT_GT(queued, 0);
	EXPECT_GT(read_stat(STATS, "zeroing_freezes"), freezes);
	EXPECT_GT(read_stat(STATS, "freeze_backlog_pages"), 0);
	EXPECT_GE(frozen_ms, 0);
	EXPECT_LT(frozen_ms, timeout_ms / 3);
	EXPECT_EQ(0, wait_queue_empty());
}

/*
 * Reserves huge pages until about `free_mb` MiB of memory is left free, so
 * that running out of memory is cheap whatever the guest's size and the
 * host's speed. Returns the previous huge page count, or -1.
 */
static long squeeze_memory(long free_mb)
{
	long before = read_long("/proc/sys/vm/nr_hugepages");
	long avail_mb = read_keyed("/proc/meminfo", "MemAvailable") / 1024;
	char want[32];

	if (before < 0 || avail_mb < 0)
		return -1;
	if (avail_mb > free_mb) {
		snprintf(want, sizeof(want), "%ld",
			 before + (avail_mb - free_mb) / (long)(HPAGE_SZ >> 20));
		write_str("/proc/sys/vm/nr_hugepages", want);
	}
	return before;
}

TEST_F_TIMEOUT(heap, allocating_past_memory_fails_cleanly, 180)
{
	long total_kb = read_keyed("/proc/meminfo", "MemTotal");
	long hugepages, avail_kb;
	char restore[32];
	int status, fd;
	pid_t pid;

	ASSERT_GT(total_kb, 0);
	/* Give the pools back and leave about 384 MiB free. */
	ASSERT_EQ(0, write_str("/proc/sys/vm/drop_caches", "3"));
	hugepages = squeeze_memory(384);
	ASSERT_GE(hugepages, 0);
	avail_kb = read_keyed("/proc/meminfo", "MemAvailable");
	TH_LOG("MemAvailable with %ld huge pages reserved: %ld kB",
	       read_long("/proc/sys/vm/nr_hugepages"), avail_kb);
	EXPECT_LT(avail_kb, 1024 * 1024);
	/* The child is the OOM killer's choice, not us or init. */
	write_str("/proc/self/oom_score_adj", "-1000");
	pid = fork();
	ASSERT_GE(pid, 0);
	if (!pid) {
		write_str("/proc/self/oom_score_adj", "1000");
		fd = heap_alloc(self->heapfd, (size_t)total_kb * 1024 * 2, O_RDWR);
		_exit(fd < 0 && errno == ENOMEM ? 0 : fd < 0 ? 2 : 3);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	snprintf(restore, sizeof(restore), "%ld", hugepages);
	write_str("/proc/sys/vm/nr_hugepages", restore);
	if (WIFEXITED(status)) {
		EXPECT_EQ(0, WEXITSTATUS(status)) TH_LOG("alloc past memory: exit %d",
							  WEXITSTATUS(status));
	} else {
		EXPECT_EQ(SIGKILL, WTERMSIG(status));
	}
	/* The system is still usable. */
	fd = heap_alloc(self->heapfd, 4 * MB, O_RDWR);
	EXPECT_GE(fd, 0);
	close(fd);
	write_str("/proc/self/oom_score_adj", "0");
}

static int accounting_on(void)
{
	char v[4] = "";
	FILE *f = fopen(ACCOUNTING, "r");

	if (!f)
		return 0;
	if (!fgets(v, sizeof(v), f))
		v[0] = 0;
	fclose(f);
	return v[0] == 'Y';
}

/* Runs in a boot with dma_heap.mem_accounting=1 (see tools/check.sh). */
TEST(memcg_accounting)
{
	const char *cg = "/sys/fs/cgroup/heaptest";
	char procs[128], current[128], max[128];
	int heapfd, to_parent[2], to_child[2], status;
	long before, during, after, pooled;
	pid_t pid;

	if (access(ACCOUNTING, F_OK))
		SKIP(return, "this kernel has no dma_heap.mem_accounting (Linux 6.12)");
	if (!accounting_on())
		SKIP(return, "dma_heap.mem_accounting is off in this boot");

	mkdir("/sys/fs/cgroup", 0755);
	mount("none", "/sys/fs/cgroup", "cgroup2", 0, NULL);
	ASSERT_EQ(0, write_str("/sys/fs/cgroup/cgroup.subtree_control", "+memory"));
	mkdir(cg, 0755);
	snprintf(procs, sizeof(procs), "%s/cgroup.procs", cg);
	snprintf(current, sizeof(current), "%s/memory.current", cg);
	snprintf(max, sizeof(max), "%s/memory.max", cg);
	heapfd = open(HEAP_DEV, O_RDONLY);
	ASSERT_GE(heapfd, 0);
	pooled = pooled_pages();

	/* A child in the cgroup: its 64 MiB are charged there, and uncharged
	 * on release without passing through the pools. One pipe each way:
	 * the child says when it is in the cgroup and when it holds the
	 * buffer; the parent reads memory.current at each step. */
	ASSERT_EQ(0, pipe(to_parent));
	ASSERT_EQ(0, pipe(to_child));
	pid = fork();
	ASSERT_GE(pid, 0);
	if (!pid) {
		char c;
		int fd;

		write_str(procs, "0");
		if (write(to_parent[1], "m", 1) != 1 || read(to_child[0], &c, 1) != 1)
			_exit(2);
		fd = heap_alloc(heapfd, 64 * MB, O_RDWR);
		if (write(to_parent[1], fd >= 0 ? "y" : "n", 1) != 1 ||
		    read(to_child[0], &c, 1) != 1)
			_exit(2);
		close(fd);
		_exit(fd >= 0 ? 0 : 1);
	}
	{
		char c = 0;

		ASSERT_EQ(1, read(to_parent[0], &c, 1));
		before = read_long(current);
		ASSERT_EQ(1, write(to_child[1], "g", 1));
		ASSERT_EQ(1, read(to_parent[0], &c, 1));
		ASSERT_EQ('y', c);
		during = read_long(current);
		ASSERT_EQ(1, write(to_child[1], "x", 1));
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_EQ(0, WEXITSTATUS(status));
	usleep(200 * 1000);
	after = read_long(current);
	TH_LOG("memory.current: %ld before, %ld with 64 MiB, %ld after", before, during, after);
	EXPECT_GE(during - before, (long)(64 * MB));
	EXPECT_LT(after, during - (long)(60 * MB));
	EXPECT_EQ(pooled, pooled_pages());

	/* Over the cgroup's limit: the child fails or is killed, we are fine. */
	ASSERT_EQ(0, write_str(max, "33554432"));
	pid = fork();
	ASSERT_GE(pid, 0);
	if (!pid) {
		int fd;

		write_str(procs, "0");
		fd = heap_alloc(heapfd, 64 * MB, O_RDWR);
		_exit(fd < 0 ? 0 : 1);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_TRUE((WIFEXITED(status) && WEXITSTATUS(status) == 0) ||
		    (WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL));
	{
		int fd = heap_alloc(heapfd, 64 * MB, O_RDWR);

		EXPECT_GE(fd, 0) TH_LOG("outside the cgroup: %s", strerror(errno));
		close(fd);
	}
	close(heapfd);
}

/* What one request to a heap node did: the ioctl's or syscall's result. */
struct heap_call {
	long ret;
	int err;
	int fd_returned;	/* a descriptor came back in the structure */
	int fds_added;		/* descriptors the call left open */
	int cloexec;		/* the returned descriptor is close-on-exec */
	unsigned char after[8];	/* bytes the kernel copied back past the fields */
};

static int open_fds(void)
{
	int n = 0;
	DIR *d = opendir("/proc/self/fd");

	while (d && readdir(d))
		n++;
	if (d)
		closedir(d);
	return n;
}

#define HEAP_CALLS 24

/*
 * Request `c` on heap node `dev`: an allocation with one thing changed (the
 * command's number, type, direction or size, a field, the argument's
 * memory), or a file operation the node has no handler for.
 */
static struct heap_call heap_call(const char *dev, int c)
{
	struct heap_call r = { 0 };
	unsigned char buf[256] = { 0 }, *big = NULL, *ro = NULL;
	struct dma_heap_allocation_data *d = (void *)buf;
	unsigned long cmd = DMA_HEAP_IOCTL_ALLOC;
	void *arg = buf;
	size_t after = 16;
	int hfd = open(dev, O_RDONLY | O_CLOEXEC);
	char ch;

	if (hfd < 0) {
		r.ret = -2;
		return r;
	}
	d->len = PAGE_SZ;
	d->fd_flags = O_RDWR | O_CLOEXEC;
	switch (c) {
	case 1: cmd = _IO('H', 1); break;			/* no such command */
	case 2: cmd = _IOC(_IOC_READ | _IOC_WRITE, 'H', 2, 24); break;
	case 3: d->len = 0; break;
	case 4: d->len = ~0ULL; break;				/* PAGE_ALIGN wraps to 0 */
	case 5: d->len = 1; break;
	case 6: d->fd = 5; break;
	case 7: d->fd_flags = O_NONBLOCK; break;
	case 8: d->fd_flags = O_WRONLY; break;
	case 9: d->heap_flags = 1; break;
	case 10: cmd = _IOC(_IOC_NONE, 'H', 0, 0); break;	/* nothing copied in */
	case 11: cmd = _IOC(_IOC_READ | _IOC_WRITE, 'X', 0, 24); break; /* type unchecked */
	case 12: cmd = _IOC(_IOC_READ, 'H', 0, 24); break;	/* not copied in */
	case 13: cmd = _IOC(_IOC_WRITE, 'H', 0, 24); break;	/* not copied out */
	case 14: /* an older, shorter structure: the rest reads as zero */
		cmd = _IOC(_IOC_READ | _IOC_WRITE, 'H', 0, 16);
		memset(buf + 16, 0xcd, 8);
		break;
	case 15: /* a newer, longer one (copied to the kernel's heap) */
		cmd = _IOC(_IOC_READ | _IOC_WRITE, 'H', 0, 200);
		memset(buf + 24, 0xab, 200 - 24);
		after = 100;
		break;
	case 16: /* the largest size a command can have */
		cmd = _IOC(_IOC_READ | _IOC_WRITE, 'H', 0, 16383);
		big = malloc(16383);
		memcpy(big, buf, 24);
		memset(big + 24, 0x11, 16383 - 24);
		arg = big;
		after = 100;
		break;
	case 17: arg = NULL; break;
	case 18: /* readable, not writable: copied in, not out */
		ro = mmap(NULL, PAGE_SZ, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		memcpy(ro, buf, 24);
		mprotect(ro, PAGE_SZ, PROT_READ);
		arg = ro;
		break;
	case 19: r.ret = lseek(hfd, 0, SEEK_SET); goto syscall;
	case 20: r.ret = pread(hfd, &ch, 1, 0); goto syscall;
	case 21: r.ret = read(hfd, &ch, 1); goto syscall;
	case 22: r.ret = write(hfd, &ch, 1); goto syscall;
	case 23:
		r.ret = mmap(NULL, PAGE_SZ, PROT_READ, MAP_SHARED, hfd, 0) == MAP_FAILED ? -1 : 0;
		goto syscall;
	}
	r.fds_added = open_fds();
	r.ret = ioctl(hfd, cmd, arg);
	r.err = r.ret < 0 ? errno : 0;
	r.fds_added = open_fds() - r.fds_added;
	if (arg && (arg == buf || arg == big)) {
		struct dma_heap_allocation_data *o = arg;

		r.fd_returned = o->fd != 0;
		memcpy(r.after, (unsigned char *)arg + after, sizeof(r.after));
		if (o->fd) {
			r.cloexec = !!(fcntl(o->fd, F_GETFD) & FD_CLOEXEC);
			close(o->fd);
		}
	}
	free(big);
	if (ro)
		munmap(ro, PAGE_SZ);
	close(hfd);
	return r;
syscall:
	r.err = r.ret < 0 ? errno : 0;
	close(hfd);
	return r;
}

/*
 * Where the C system heap runs beside ours (built in on 6.12), ours answers
 * every request as it does: same results, errnos, descriptors and copies.
 */
TEST(requests_answered_as_by_the_c_heap)
{
	const char *c_heap = "/dev/dma_heap/system";

	if (!strcmp(HEAP_DEV, c_heap) || access(c_heap, F_OK))
		SKIP(return, "no C system heap beside ours");
	for (int c = 0; c < HEAP_CALLS; c++) {
		struct heap_call want = heap_call(c_heap, c), got = heap_call(HEAP_DEV, c);

		ASSERT_NE(-2, want.ret);
		ASSERT_NE(-2, got.ret);
		EXPECT_EQ(want.ret, got.ret) TH_LOG("request %d", c);
		EXPECT_EQ(want.err, got.err) TH_LOG("request %d: C %s, ours %s", c,
						    strerror(want.err), strerror(got.err));
		EXPECT_EQ(want.fd_returned, got.fd_returned) TH_LOG("request %d", c);
		EXPECT_EQ(want.fds_added, got.fds_added) TH_LOG("request %d", c);
		EXPECT_EQ(want.cloexec, got.cloexec) TH_LOG("request %d", c);
		EXPECT_EQ(0, memcmp(want.after, got.after, sizeof(want.after)))
			TH_LOG("request %d: other bytes copied back", c);
	}
}

TEST(module_stays_loaded)
{
	char name[64] = "";
	FILE *f = fopen(HEAP_NAME_PARAM, "r");

	ASSERT_NE(NULL, f) TH_LOG("rsystem_heap is not loaded: %s", strerror(errno));
	ASSERT_NE(NULL, fgets(name, sizeof(name), f));
	fclose(f);
	/* The default name: 6.12's C heap is built in as "system". */
	EXPECT_STREQ(KERNEL_VERSION_IS(6, 12) ? "rsystem\n" : "system\n", name);
	/* A dma-heap cannot be removed: the module refuses to unload. */
	errno = 0;
	EXPECT_EQ(-1, syscall(SYS_delete_module, "rsystem_heap", O_NONBLOCK));
	EXPECT_EQ(EWOULDBLOCK, errno);
}

TEST_HARNESS_MAIN

// SPDX-License-Identifier: GPL-2.0
/*
 * rsystem_heap selftests (kselftest harness, TAP output).
 *
 * Allocation sizes and flags, mappings, sync, zeroed pages under churn from
 * four threads, pools drained under memory pressure, allocation past
 * available memory, and memory-cgroup accounting and per-memcg pools (when
 * the dma-heap core's mem_accounting is on); beside the C system heap, the
 * same answer to every request as it gives.
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

/*
 * Memory-cgroup tests: they run in a boot with dma_heap.mem_accounting=1
 * (tools/check.sh), where heap pages are charged to the allocating task's
 * memory cgroup, and are skipped elsewhere. run-tests.sh mounts cgroup2 at
 * /sys/fs/cgroup and makes rsh/ with the memory controller on for its
 * children; a test run on its own does the same if it is missing. Forked
 * children move themselves into rsh/a, rsh/b or rsh/c; pages they free are
 * zeroed by the heap's thread and pooled, still charged, in their own
 * memcg's pool (debugfs memcg_pools: "<cgroup inode> <pages>"), which only
 * that memcg's allocations take from.
 */
#define CG		"/sys/fs/cgroup"
#define RSH		CG "/rsh"
#define CG_A		RSH "/a"
#define CG_B		RSH "/b"
#define CG_C		RSH "/c"
#define HEAPTEST	CG "/heaptest"
#define MEMCG_POOLS	"/sys/kernel/debug/rsystem_heap/memcg_pools"
#define PAGEMAP_PFN	((1ULL << 55) - 1)
#define PAGEMAP_PRESENT	(1ULL << 63)

/* The cgroup2 mount and rsh/ with +memory for its children (run-tests.sh
 * makes them); 0 or -1. */
static int memcg_mount(void)
{
	if (access(CG "/cgroup.subtree_control", F_OK)) {
		mkdir(CG, 0755);
		if (mount("none", CG, "cgroup2", 0, NULL))
			return -1;
	}
	if (write_str(CG "/cgroup.subtree_control", "+memory"))
		return -1;
	if (mkdir(RSH, 0755) && errno != EEXIST)
		return -1;
	return write_str(RSH "/cgroup.subtree_control", "+memory");
}

/* Makes cgroup `path` (or keeps it) with no limit; 0 or -1. */
static int cg_make(const char *path)
{
	char max[128];

	if (mkdir(path, 0755) && errno != EEXIST)
		return -1;
	snprintf(max, sizeof(max), "%s/memory.max", path);
	return write_str(max, "max");
}

/* Removes cgroup `path` if it exists (its tasks were reaped: a moment's
 * EBUSY while they leave is waited out). */
static void cg_remove(const char *path)
{
	for (int i = 0; i < 50 && rmdir(path) && errno == EBUSY; i++)
		usleep(20 * 1000);
}

/* Reads `file` of cgroup `path` (memory.current, a key of memory.events). */
static long cg_read(const char *path, const char *file, const char *key)
{
	char name[160];

	snprintf(name, sizeof(name), "%s/%s", path, file);
	return key ? read_keyed(name, key) : read_long(name);
}

/* The cgroup's inode, as /proc/kpagecgroup and memcg_pools give it; 0 if none. */
static unsigned long long cg_ino(const char *path)
{
	struct stat st;

	return stat(path, &st) ? 0 : (unsigned long long)st.st_ino;
}

/*
 * Pages in the memcg pool of the cgroup whose inode is `ino`: 0 when
 * memcg_pools has no line for it, -1 without the file. The numbers after
 * the inode are added up (one total, or one per order).
 */
static long memcg_pool_of(unsigned long long ino)
{
	FILE *f = fopen(MEMCG_POOLS, "r");
	char line[256];
	long pages = 0;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		char *p = line, *end;

		if (strtoull(p, &end, 10) != ino || end == p)
			continue;
		for (p = end;; p = end) {
			long n = strtol(p, &end, 10);

			if (end == p)
				break;
			pages += n;
		}
	}
	fclose(f);
	return pages;
}

/* Writes `bytes` to the cgroup's memory.reclaim: 0, or the write's errno
 * (EAGAIN: it could not reclaim all of it). */
static int cg_reclaim(const char *path, const char *bytes)
{
	char name[160];
	int fd, err = 0;

	snprintf(name, sizeof(name), "%s/memory.reclaim", path);
	fd = open(name, O_WRONLY);
	if (fd < 0)
		return errno;
	if (write(fd, bytes, strlen(bytes)) != (ssize_t)strlen(bytes))
		err = errno;
	close(fd);
	return err;
}

/* Empty pools to start from: released pages zeroed and pooled, then every
 * pool, global and per memcg, given back. */
static int drain_pools(void)
{
	int ret = wait_queue_empty();

	return write_str("/proc/sys/vm/drop_caches", "2") ? -1 : ret;
}

/*
 * What a child does in its cgroup (shared memory, written by the child):
 * allocate bufs[].count buffers of bufs[].len bytes and hold them all; with
 * `check`, map each, check that every byte is zero, write 0xA5, and look up
 * each page's memcg through /proc/self/pagemap and /proc/kpagecgroup,
 * which must be `ino`.
 */
#define JOB_FDS 512
struct job {
	int heapfd;
	struct { size_t len; int count; } bufs[2];
	int check;
	unsigned long long ino;
	/* Results. */
	int err;			/* errno of the first failed step */
	const char *step;		/* which */
	long pages;			/* pages checked */
	long dirty;			/* not zero when handed out */
	long foreign;			/* charged to another memcg */
	unsigned long long foreign_ino;	/* the first of those */
	long unresolved;		/* no pfn in pagemap */
};

/* Child exit codes and kid_run() results besides 0. */
enum { KID_NO_CGROUP = 10, KID_FAILED, KID_LOST };

static int job_fail(struct job *j, const char *step)
{
	j->err = errno;
	j->step = step;
	return KID_FAILED;
}

/* The checks of one mapped buffer of `len` bytes (see struct job). */
static int job_check(struct job *j, unsigned char *map, size_t len)
{
	size_t npages = len / PAGE_SZ;
	uint64_t *pm = malloc(npages * sizeof(*pm)), *cg = malloc(npages * sizeof(*cg));
	int pmfd = open("/proc/self/pagemap", O_RDONLY), kfd = open("/proc/kpagecgroup", O_RDONLY);
	int ret = 0;

	if (!pm || !cg || pmfd < 0 || kfd < 0) {
		ret = job_fail(j, "pagemap or kpagecgroup");
		goto out;
	}
	for (size_t i = 0; i < npages; i++)
		if (!all_zero(map + i * PAGE_SZ, PAGE_SZ))
			j->dirty++;
	memset(map, 0xa5, len);
	if (pread(pmfd, pm, npages * sizeof(*pm), (uintptr_t)map / PAGE_SZ * sizeof(*pm)) !=
	    (ssize_t)(npages * sizeof(*pm))) {
		ret = job_fail(j, "pagemap read");
		goto out;
	}
	/* kpagecgroup in runs of consecutive pfns (a chunk is contiguous). */
	for (size_t i = 0, n; i < npages; i += n) {
		uint64_t pfn = pm[i] & PAGEMAP_PFN;

		for (n = 1; i + n < npages && (pm[i + n] & PAGEMAP_PFN) == pfn + n; n++)
			;
		if (!(pm[i] & PAGEMAP_PRESENT) || !pfn) {
			j->unresolved += n;
			memset(cg + i, 0, n * sizeof(*cg));
			continue;
		}
		if (pread(kfd, cg + i, n * sizeof(*cg), pfn * sizeof(*cg)) !=
		    (ssize_t)(n * sizeof(*cg))) {
			ret = job_fail(j, "kpagecgroup read");
			goto out;
		}
		for (size_t k = i; k < i + n; k++) {
			if (cg[k] == j->ino)
				continue;
			if (!j->foreign++)
				j->foreign_ino = cg[k];
		}
	}
	j->pages += npages;
out:
	free(pm);
	free(cg);
	if (pmfd >= 0)
		close(pmfd);
	if (kfd >= 0)
		close(kfd);
	return ret;
}

static int job_run(struct job *j)
{
	int fds[JOB_FDS], nfds = 0, ret = 0;

	for (int b = 0; b < 2; b++) {
		for (int i = 0; i < j->bufs[b].count && nfds < JOB_FDS; i++) {
			fds[nfds] = heap_alloc(j->heapfd, j->bufs[b].len, O_RDWR | O_CLOEXEC);
			if (fds[nfds] < 0)
				return job_fail(j, "allocation");
			nfds++;
		}
	}
	for (int b = 0, i = 0; j->check && !ret && b < 2; b++) {
		for (int k = 0; k < j->bufs[b].count && !ret; k++, i++) {
			size_t len = j->bufs[b].len;
			unsigned char *map = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED,
						  fds[i], 0);

			if (map == MAP_FAILED)
				return job_fail(j, "mmap");
			ret = job_check(j, map, len);
			munmap(map, len);
		}
	}
	return ret;
}

/*
 * A child in a cgroup, in three steps: kid_start() forks it and returns
 * once it moved itself into `cgroup` (0, or KID_NO_CGROUP or KID_LOST);
 * kid_run() lets it run `job` and returns its result while it holds its
 * buffers (KID_LOST if it died: an OOM kill); kid_finish() lets it close
 * them and exit, and returns its wait status. The parent, in the root
 * cgroup, reads the cgroups' figures between the steps.
 */
struct kid {
	pid_t pid;
	int up, down;
};

static int kid_wait_byte(struct kid *k)
{
	unsigned char c;

	return read(k->up, &c, 1) == 1 ? c : KID_LOST;
}

static int kid_start(struct kid *k, const char *cgroup, struct job *job)
{
	int up[2], down[2];
	char procs[160];

	snprintf(procs, sizeof(procs), "%s/cgroup.procs", cgroup);
	k->pid = -1;
	job->err = 0;
	job->step = NULL;
	job->pages = job->dirty = job->foreign = job->unresolved = 0;
	job->foreign_ino = 0;
	if (pipe(up))
		return KID_LOST;
	if (pipe(down)) {
		close(up[0]);
		close(up[1]);
		return KID_LOST;
	}
	k->pid = fork();
	if (!k->pid) {
		unsigned char c = write_str(procs, "0") ? KID_NO_CGROUP : 0;
		int ret;

		close(up[0]);
		close(down[1]);
		/* Each step waits for the parent's byte (other children may
		 * hold copies of this pipe: no end of file to wait for). */
		if (write(up[1], &c, 1) != 1 || c || read(down[0], &c, 1) != 1)
			_exit(c ? c : KID_LOST);
		c = ret = job_run(job);
		if (write(up[1], &c, 1) != 1 || read(down[0], &c, 1) != 1)
			_exit(KID_LOST);
		_exit(ret);
	}
	close(up[1]);
	close(down[0]);
	k->up = up[0];
	k->down = down[1];
	if (k->pid < 0) {
		close(k->up);
		close(k->down);
		return KID_LOST;
	}
	return kid_wait_byte(k);
}

static int kid_run(struct kid *k)
{
	return write(k->down, "r", 1) == 1 ? kid_wait_byte(k) : KID_LOST;
}

static int kid_finish(struct kid *k)
{
	int status = -1;

	if (k->pid <= 0)
		return -1;
	/* EPIPE if it died (SIGPIPE is ignored in the fixture). */
	if (write(k->down, "x", 1) != 1 && errno != EPIPE)
		kill(k->pid, SIGKILL);
	if (waitpid(k->pid, &status, 0) != k->pid)
		status = -1;
	close(k->up);
	close(k->down);
	return status;
}

/* A child that takes `count` buffers of `len` bytes in `cgroup` and releases
 * them, waiting until their pages are pooled; its result (0 on success). */
static int kid_pool(struct job *job, const char *cgroup, size_t len, int count)
{
	struct kid k;
	int ret, status;

	job->bufs[0].len = len;
	job->bufs[0].count = count;
	job->bufs[1].count = 0;
	job->check = 0;
	ret = kid_start(&k, cgroup, job);
	if (!ret)
		ret = kid_run(&k);
	status = kid_finish(&k);
	if (!ret && !(WIFEXITED(status) && !WEXITSTATUS(status)))
		ret = KID_LOST;
	wait_queue_empty();
	return ret;
}

FIXTURE(memcg) {
	int heapfd;
	long idle_ms;
	struct job *job;
};

FIXTURE_SETUP(memcg)
{
	if (access(ACCOUNTING, F_OK))
		SKIP(return, "this kernel has no dma_heap.mem_accounting (Linux 6.12)");
	if (!accounting_on())
		SKIP(return, "dma_heap.mem_accounting is off in this boot");
	ASSERT_EQ(0, memcg_mount()) TH_LOG("cgroup2 with memory at %s: %s", RSH, strerror(errno));
	signal(SIGPIPE, SIG_IGN);
	self->heapfd = open(HEAP_DEV, O_RDONLY | O_CLOEXEC);
	ASSERT_GE(self->heapfd, 0);
	/* Shared with the children, first touched here: charged to no memcg. */
	self->job = mmap(NULL, sizeof(*self->job), PROT_READ | PROT_WRITE,
			 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, self->job);
	memset(self->job, 0, sizeof(*self->job));
	self->job->heapfd = self->heapfd;
	ASSERT_EQ(0, drain_pools());
	/* No idle decay while pools are looked at, however slow the host. */
	self->idle_ms = read_long(PARAMS "pool_idle_ms");
	ASSERT_GE(self->idle_ms, 0);
	ASSERT_EQ(0, write_str(PARAMS "pool_idle_ms", "0"));
}

FIXTURE_TEARDOWN(memcg)
{
	char buf[32];

	drain_pools();
	cg_remove(CG_A);
	cg_remove(CG_B);
	cg_remove(CG_C);
	cg_remove(HEAPTEST);
	snprintf(buf, sizeof(buf), "%ld", self->idle_ms);
	write_str(PARAMS "pool_idle_ms", buf);
	close(self->heapfd);
}

/*
 * The accounted 64 MiB of a child in heaptest: charged there while held,
 * and, once released, kept charged in heaptest's own pool (up to
 * memcg_pool_max_mb), not in the global pools, until memory.reclaim gives
 * them back. Over the cgroup's limit the child fails or is killed, and we
 * are fine.
 */
TEST_F_TIMEOUT(memcg, memcg_accounting, 60)
{
	long max_mb = read_long(PARAMS "memcg_pool_max_mb");
	long before, during, after, reclaimed, pooled, in_pool, want;
	unsigned long long ino;
	struct kid k;
	int status, err = 0;
	char bytes[32];

	ASSERT_EQ(0, cg_make(HEAPTEST));
	ino = cg_ino(HEAPTEST);
	pooled = pooled_pages();
	EXPECT_GE(max_mb, 0) TH_LOG("no memcg_pool_max_mb parameter");
	want = (long)((max_mb >= 0 && max_mb < 64 ? max_mb : 64) * MB / PAGE_SZ);

	self->job->bufs[0].len = 64 * MB;
	self->job->bufs[0].count = 1;
	ASSERT_EQ(0, kid_start(&k, HEAPTEST, self->job));
	before = cg_read(HEAPTEST, "memory.current", NULL);
	EXPECT_EQ(0, kid_run(&k)) TH_LOG("allocation of 64 MiB in heaptest: %s",
					  strerror(self->job->err));
	during = cg_read(HEAPTEST, "memory.current", NULL);
	status = kid_finish(&k);
	EXPECT_TRUE(WIFEXITED(status) && !WEXITSTATUS(status));
	ASSERT_EQ(0, wait_queue_empty());
	after = cg_read(HEAPTEST, "memory.current", NULL);
	in_pool = memcg_pool_of(ino);
	TH_LOG("memory.current: %ld before, %ld with 64 MiB, %ld after; heaptest's pool %ld pages (want %ld, memcg_pool_max_mb %ld)",
	       before, during, after, in_pool, want, max_mb);
	EXPECT_GE(during - before, (long)(64 * MB));
	EXPECT_GE(in_pool, want);
	/* Still charged while pooled (the child's own memory is gone). */
	EXPECT_GT(after, before + want * (long)PAGE_SZ - (long)(4 * MB));
	EXPECT_EQ(pooled, pooled_pages());

	/* memory.reclaim gives the pool back (EAGAIN: not all in one go). */
	reclaimed = after;
	for (int i = 0; i < 5 && reclaimed >= before + (long)(4 * MB); i++) {
		snprintf(bytes, sizeof(bytes), "%ld", reclaimed);
		err = cg_reclaim(HEAPTEST, bytes);
		EXPECT_TRUE(!err || err == EAGAIN) TH_LOG("memory.reclaim: %s", strerror(err));
		reclaimed = cg_read(HEAPTEST, "memory.current", NULL);
	}
	TH_LOG("after memory.reclaim: memory.current %ld, pool %ld pages", reclaimed,
	       memcg_pool_of(ino));
	EXPECT_LT(reclaimed, before + (long)(4 * MB));
	EXPECT_EQ(pooled, pooled_pages());

	/* Over the cgroup's limit: the child fails or is killed, we are fine. */
	ASSERT_EQ(0, drain_pools());
	ASSERT_EQ(0, write_str(HEAPTEST "/memory.max", "33554432"));
	ASSERT_EQ(0, kid_start(&k, HEAPTEST, self->job));
	kid_run(&k);
	status = kid_finish(&k);
	EXPECT_TRUE((WIFEXITED(status) && WEXITSTATUS(status) == KID_FAILED) ||
		    (WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL))
		TH_LOG("64 MiB over a 32 MiB limit: status %#x", status);
	{
		int fd = heap_alloc(self->heapfd, 64 * MB, O_RDWR);

		EXPECT_GE(fd, 0) TH_LOG("outside the cgroup: %s", strerror(errno));
		close(fd);
	}
}

/*
 * How far a cgroup's memory.current may lag or lead its pages: charges go
 * through per-CPU stocks of up to MEMCG_CHARGE_BATCH (64) pages, and byte
 * stocks of less than a page.
 */
static long charge_slack(void)
{
	return (64 + 1) * sysconf(_SC_NPROCESSORS_ONLN) * (long)PAGE_SZ;
}

/*
 * Children in rsh/a and rsh/b take turns, `rounds` each: allocate `count`
 * buffers of `len` bytes, check every byte is zero (the other cgroup's
 * child wrote 0xA5 over its pages) and hold them while the parent looks.
 * No page crosses from one cgroup to the other, shown by charge accounting:
 * the other cgroup's pool does not change, neither while the child holds
 * its buffers nor after it released them; and what the child's cgroup is
 * charged covers its pool and everything it holds (pages of the other's
 * pool would still be charged to the other: they would be missing from
 * its own charge growth). Where pagemap shows the pages' pfns (not for
 * VM_PFNMAP mappings such as the heap's, which it reports as holes),
 * /proc/kpagecgroup must also name the child's own cgroup for each page.
 * From each cgroup's second turn on, its allocation is served from its own
 * pool.
 */
static void take_turns(struct __test_metadata *_metadata, struct job *job, size_t len, int count,
		       int rounds)
{
	const char *cgs[2] = { CG_A, CG_B };
	unsigned long long ino[2] = { cg_ino(CG_A), cg_ino(CG_B) };
	const long held = count * (long)(len / PAGE_SZ), slack = charge_slack();
	long pages = 0, dirty = 0, foreign = 0, unresolved = 0, grew = 0;
	int failed = 0, crossed = 0, uncharged = 0, seen[2] = { 0, 0 };
	char first_failure[160] = "", first_cross[256] = "";

	ASSERT_NE(0ULL, ino[0]);
	ASSERT_NE(0ULL, ino[1]);
	ASSERT_EQ(0, drain_pools());
	for (int r = 0; r < 2 * rounds; r++) {
		const int x = r % 2, y = 1 - x;
		long from_pool = read_stat(STATS, "memcg_alloc_from_pool");
		long px0, py0, px1, py1, py2, cx0, cx1, cx2, cy2, fresh;
		struct kid k;
		int ret, status;

		job->bufs[0].len = len;
		job->bufs[0].count = count;
		job->bufs[1].count = 0;
		job->check = 1;
		job->ino = ino[x];
		ret = kid_start(&k, cgs[x], job);
		px0 = memcg_pool_of(ino[x]);
		py0 = memcg_pool_of(ino[y]);
		cx0 = cg_read(cgs[x], "memory.current", NULL);
		if (!ret)
			ret = kid_run(&k);
		/* The child holds its buffers. */
		px1 = memcg_pool_of(ino[x]);
		py1 = memcg_pool_of(ino[y]);
		cx1 = cg_read(cgs[x], "memory.current", NULL);
		status = kid_finish(&k);
		if (!ret && !(WIFEXITED(status) && !WEXITSTATUS(status)))
			ret = KID_LOST;
		if (ret && !failed++)
			snprintf(first_failure, sizeof(first_failure),
				 "round %d in %s: result %d, status %#x, at %s: %s", r, cgs[x],
				 ret, status, job->step ? job->step : "-", strerror(job->err));
		pages += job->pages;
		dirty += job->dirty;
		unresolved += job->unresolved;
		if (job->foreign && !foreign)
			TH_LOG("round %d in %s: %ld pages charged to inode %llu, not %llu", r,
			       cgs[x], job->foreign, job->foreign_ino, ino[x]);
		foreign += job->foreign;
		if (r >= 2 && read_stat(STATS, "memcg_alloc_from_pool") > from_pool)
			grew++;
		/* Released pages are pooled before the other cgroup's turn. */
		wait_queue_empty();
		py2 = memcg_pool_of(ino[y]);
		cx2 = cg_read(cgs[x], "memory.current", NULL);
		cy2 = cg_read(cgs[y], "memory.current", NULL);
		for (int c = 0; c < 2; c++)
			seen[c] |= memcg_pool_of(ino[c]) > 0;
		/* Held pages that did not come out of x's pool were charged anew. */
		fresh = held - (px0 > px1 ? px0 - px1 : 0);
		if (!ret && (py1 != py0 || py2 != py0 || cx1 - cx0 < fresh * (long)PAGE_SZ - slack) &&
		    !crossed++)
			snprintf(first_cross, sizeof(first_cross),
				 "round %d in %s: the other's pool %ld -> %ld held -> %ld released; own pool %ld -> %ld, memory.current %ld -> %ld holding %ld pages (%ld fresh)",
				 r, cgs[x], py0, py1, py2, px0, px1, cx0, cx1, held, fresh);
		/* Pooled pages stay charged to their cgroup. */
		if (cx2 < memcg_pool_of(ino[x]) * (long)PAGE_SZ - slack ||
		    cy2 < memcg_pool_of(ino[y]) * (long)PAGE_SZ - slack)
			uncharged++;
	}
	TH_LOG("%d x %zu KiB, %d rounds in each of a and b: %ld pages checked, %ld dirty; %d rounds where pages crossed, %d where pools exceeded charges; %ld of %d later rounds served from the pool; pools seen: a %d, b %d; kpagecgroup: %ld pages charged elsewhere, %ld without a pfn in pagemap",
	       count, len >> 10, rounds, pages, dirty, crossed, uncharged, grew, 2 * rounds - 2,
	       seen[0], seen[1], foreign, unresolved);
	EXPECT_EQ(0, failed) TH_LOG("%d rounds failed, first: %s", failed, first_failure);
	EXPECT_EQ(2 * rounds * held, pages);
	EXPECT_EQ(0, dirty);
	EXPECT_EQ(0, crossed) TH_LOG("first: %s", first_cross);
	EXPECT_EQ(0, uncharged);
	EXPECT_EQ(0, foreign);
	EXPECT_EQ(2 * rounds - 2, grew);
	EXPECT_TRUE(seen[0] && seen[1]);
}

/*
 * The charge check needs more pages per turn than the charge counters'
 * slack: 8 MiB, then 64 buffers of four pages (order-0 chunks, from the
 * order-0 pools: 256 pages, where 64 would be within the slack of two
 * CPUs).
 */
TEST_F_TIMEOUT(memcg, memcg_pools_never_cross, 180)
{
	ASSERT_EQ(0, access("/proc/kpagecgroup", R_OK));
	ASSERT_EQ(0, cg_make(CG_A));
	ASSERT_EQ(0, cg_make(CG_B));
	take_turns(_metadata, self->job, 8 * MB, 1, 6);
	ASSERT_GT(64 * 4 * (long)PAGE_SZ, charge_slack());
	take_turns(_metadata, self->job, 4 * PAGE_SZ, 64, 6);
}

/*
 * At memory.max a cgroup's own pool is reclaimed before anything fails: a
 * pools 24 MiB, then gets 8 MiB of room above what it is charged. Its
 * child takes 8 MiB from the pool and 16 MiB more in buffers of 255 pages
 * (order-4 and order-0 chunks, which its order-8 pool does not serve):
 * fresh charges, which at the limit reclaim a's remaining pool, and no OOM
 * kill. b's pool is not touched. With a's pool drained, an allocation over
 * memory.max fails with ENOMEM or gets the child killed, as with the C
 * heap.
 */
TEST_F_TIMEOUT(memcg, memcg_limit, 90)
{
	const size_t odd = 255 * PAGE_SZ;
	long pa0, pa1, pb0, pb1, cur, oom0, oom1, max0, max1, from_pool, base, left;
	unsigned long long ia, ib;
	struct kid k;
	int ret, status;
	char max[32];

	ASSERT_EQ(0, cg_make(CG_A));
	ASSERT_EQ(0, cg_make(CG_B));
	ia = cg_ino(CG_A);
	ib = cg_ino(CG_B);
	base = cg_read(CG_A, "memory.current", NULL);
	ASSERT_EQ(0, kid_pool(self->job, CG_B, 8 * MB, 1));
	ASSERT_EQ(0, kid_pool(self->job, CG_A, 24 * MB, 1));
	pa0 = memcg_pool_of(ia);
	pb0 = memcg_pool_of(ib);
	cur = cg_read(CG_A, "memory.current", NULL);
	EXPECT_GE(pa0, (long)(24 * MB / PAGE_SZ));
	EXPECT_GE(pb0, (long)(8 * MB / PAGE_SZ));
	snprintf(max, sizeof(max), "%ld", cur + (long)(8 * MB));
	ASSERT_EQ(0, write_str(CG_A "/memory.max", max));
	oom0 = cg_read(CG_A, "memory.events", "oom_kill");
	max0 = cg_read(CG_A, "memory.events", "max");
	from_pool = read_stat(STATS, "memcg_alloc_from_pool");

	self->job->bufs[0].len = 8 * MB;
	self->job->bufs[0].count = 1;
	self->job->bufs[1].len = odd;
	self->job->bufs[1].count = (int)(16 * MB / odd);
	self->job->check = 0;
	ASSERT_EQ(0, kid_start(&k, CG_A, self->job));
	ret = kid_run(&k);
	pa1 = memcg_pool_of(ia);
	pb1 = memcg_pool_of(ib);
	oom1 = cg_read(CG_A, "memory.events", "oom_kill");
	max1 = cg_read(CG_A, "memory.events", "max");
	TH_LOG("a: memory.max %s; holding 8 MiB + %d x %zu KiB: result %d (%s), memory.current %ld, pool %ld -> %ld pages, events max %ld -> %ld, oom_kill %ld -> %ld; b's pool %ld -> %ld",
	       max, self->job->bufs[1].count, odd >> 10, ret, strerror(self->job->err),
	       cg_read(CG_A, "memory.current", NULL), pa0, pa1, max0, max1, oom0, oom1, pb0, pb1);
	status = kid_finish(&k);
	EXPECT_EQ(0, ret);
	EXPECT_TRUE(WIFEXITED(status) && !WEXITSTATUS(status)) TH_LOG("status %#x", status);
	EXPECT_EQ(oom0, oom1);
	EXPECT_GT(read_stat(STATS, "memcg_alloc_from_pool"), from_pool);
	/* Less left than the 8 MiB taken from it would leave: reclaimed. */
	EXPECT_LT(pa1, pa0 - (long)(8 * MB / PAGE_SZ));
	EXPECT_EQ(pb0, pb1);

	/* Over memory.max with nothing pooled: ENOMEM or the OOM killer. */
	ASSERT_EQ(0, drain_pools());
	EXPECT_EQ(0, memcg_pool_of(ia));
	self->job->bufs[0].len = (size_t)cur + 16 * MB;
	self->job->bufs[1].count = 0;
	ASSERT_EQ(0, kid_start(&k, CG_A, self->job));
	ret = kid_run(&k);
	status = kid_finish(&k);
	TH_LOG("a: %zu MiB over memory.max %s: result %d (%s), status %#x, oom_kill %ld",
	       self->job->bufs[0].len >> 20, max, ret, strerror(self->job->err), status,
	       cg_read(CG_A, "memory.events", "oom_kill"));
	EXPECT_TRUE((WIFEXITED(status) && WEXITSTATUS(status) == KID_FAILED &&
		     self->job->err == ENOMEM) ||
		    (WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL));
	/* Nothing of it stays charged (the per-CPU charge caches aside). */
	ASSERT_EQ(0, drain_pools());
	left = cg_read(CG_A, "memory.current", NULL);
	TH_LOG("a: memory.current %ld at first, %ld at the end", base, left);
	EXPECT_LT(left, base + (long)(8 * MB));
}

/*
 * Memory pressure on one cgroup (memory.reclaim) shrinks that cgroup's
 * pool (the memcg-aware shrinker) and leaves its sibling's alone.
 */
TEST_F_TIMEOUT(memcg, memcg_pressure_shrinks_own_pool, 60)
{
	long pa0, pa1, pb0, pb1, freed;
	unsigned long long ia, ib;
	int err;

	ASSERT_EQ(0, cg_make(CG_A));
	ASSERT_EQ(0, cg_make(CG_B));
	ia = cg_ino(CG_A);
	ib = cg_ino(CG_B);
	ASSERT_EQ(0, kid_pool(self->job, CG_A, 32 * MB, 1));
	ASSERT_EQ(0, kid_pool(self->job, CG_B, 16 * MB, 1));
	pa0 = memcg_pool_of(ia);
	pb0 = memcg_pool_of(ib);
	freed = read_stat(STATS, "memcg_shrinker_freed_pages");
	err = cg_reclaim(CG_A, "64M");
	pa1 = memcg_pool_of(ia);
	pb1 = memcg_pool_of(ib);
	TH_LOG("memory.reclaim 64M in a: %s; a's pool %ld -> %ld pages, b's %ld -> %ld, memcg_shrinker_freed_pages +%ld",
	       err ? strerror(err) : "done", pa0, pa1, pb0, pb1,
	       read_stat(STATS, "memcg_shrinker_freed_pages") - freed);
	EXPECT_TRUE(!err || err == EAGAIN) TH_LOG("memory.reclaim: %s", strerror(err));
	EXPECT_GE(pa0, (long)(32 * MB / PAGE_SZ));
	EXPECT_GE(pb0, (long)(16 * MB / PAGE_SZ));
	EXPECT_LT(pa1, pa0);
	EXPECT_EQ(pb0, pb1);
}

/*
 * A cgroup removed with pages in its pool: the kernel moves them to the
 * parent's pool (list_lru reparenting) with their charge, and the idle
 * decay frees them; nothing stays charged, and the dying memcg goes away.
 */
TEST_F_TIMEOUT(memcg, memcg_rmdir_with_pooled_pages, 90)
{
	long pc, pr = 0, rsh_before, rsh_after = 0, dying0, dying = 0;
	unsigned long long ic, ir = cg_ino(RSH);
	int fd, i;

	/* Earlier tests' removed cgroups may still be dying: give them 5 s. */
	for (i = 0; i < 50 && read_keyed(CG "/cgroup.stat", "nr_dying_descendants") > 0; i++)
		usleep(100 * 1000);
	ASSERT_EQ(0, cg_make(CG_C));
	ic = cg_ino(CG_C);
	ASSERT_EQ(0, kid_pool(self->job, CG_C, 32 * MB, 1));
	pc = memcg_pool_of(ic);
	EXPECT_GE(pc, (long)(32 * MB / PAGE_SZ));
	rsh_before = cg_read(RSH, "memory.current", NULL);
	dying0 = read_keyed(CG "/cgroup.stat", "nr_dying_descendants");
	ASSERT_EQ(0, rmdir(CG_C)) TH_LOG("rmdir %s: %s", CG_C, strerror(errno));
	/* The memcg goes offline (and its lists move) after rmdir returns. */
	for (i = 0; i < 50; i++) {
		pr = memcg_pool_of(ir);
		if (pr >= pc && memcg_pool_of(ic) <= 0)
			break;
		usleep(100 * 1000);
	}
	TH_LOG("c's pool of %ld pages after rmdir: rsh's pool %ld pages (%d ms), c's %ld", pc, pr,
	       i * 100, memcg_pool_of(ic));
	EXPECT_GE(pr, (long)(32 * MB / PAGE_SZ));

	/* Idle decay after 300 ms; a release (in our root cgroup) arms it. */
	ASSERT_EQ(0, write_str(PARAMS "pool_idle_ms", "300"));
	fd = heap_alloc(self->heapfd, PAGE_SZ, O_RDWR);
	EXPECT_GE(fd, 0);
	close(fd);
	for (i = 0; i < 50; i++) {
		pr = memcg_pool_of(ir);
		rsh_after = cg_read(RSH, "memory.current", NULL);
		if (pr == 0 && rsh_after <= rsh_before - (long)(30 * MB))
			break;
		usleep(100 * 1000);
	}
	TH_LOG("after %d ms at pool_idle_ms 300: rsh's pool %ld pages, rsh's memory.current %ld -> %ld, memcg_decayed_pages %ld",
	       i * 100, pr, rsh_before, rsh_after, read_stat(STATS, "memcg_decayed_pages"));
	EXPECT_EQ(0, pr);
	EXPECT_LE(rsh_after, rsh_before - (long)(30 * MB));
	ASSERT_EQ(0, write_str(PARAMS "pool_idle_ms", "0"));

	/* Dying memcgs may linger for other reasons: logged, not failed. */
	for (i = 0; i < 50; i++) {
		dying = read_keyed(CG "/cgroup.stat", "nr_dying_descendants");
		if (dying <= dying0)
			break;
		usleep(100 * 1000);
	}
	TH_LOG("nr_dying_descendants: %ld before rmdir, %ld after %d ms%s", dying0, dying, i * 100,
	       dying > dying0 ? " (c's memcg still dying: not counted as a failure)" : "");
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

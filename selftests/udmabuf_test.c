// SPDX-License-Identifier: GPL-2.0
/*
 * rudmabuf selftests (kselftest harness, TAP output).
 *
 * Every bad input gets upstream's errno; data is coherent between a memfd
 * and the udmabuf over it for shmem, THP shmem and hugetlbfs; lists, sync,
 * vgem import, module lifetime and the table size in debugfs.
 */
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <linux/dma-buf.h>
#include <linux/memfd.h>
#include <linux/udmabuf.h>
#include <drm/drm.h>

#include "kselftest_harness.h"
#include "rdmabuf_test.h"

#define STATS		"/sys/kernel/debug/rudmabuf/stats"
#define PARAMS		"/sys/module/rudmabuf/parameters/"
#define THP_SHMEM	"/sys/kernel/mm/transparent_hugepage/shmem_enabled"

enum backing { SHMEM, THP, HUGETLB };

/* A sealed memfd of `size` bytes, each page tagged with its index. */
static int make_memfd(enum backing b, size_t size, unsigned int seals)
{
	unsigned int flags = MFD_ALLOW_SEALING | (b == HUGETLB ? MFD_HUGETLB : 0);
	int fd = memfd_create("rudmabuf-test", flags);

	if (fd < 0)
		return -1;
	if (ftruncate(fd, size) || (seals && fcntl(fd, F_ADD_SEALS, seals))) {
		close(fd);
		return -1;
	}
	return fd;
}

static int create_one(int devfd, int memfd, uint64_t offset, uint64_t size, uint32_t flags)
{
	struct udmabuf_create c = {
		.memfd = memfd, .flags = flags, .offset = offset, .size = size,
	};

	return ioctl(devfd, UDMABUF_CREATE, &c);
}

struct list {
	struct udmabuf_create_list head;
	struct udmabuf_create_item items[64];
};

static int create_list(int devfd, struct list *l)
{
	return ioctl(devfd, UDMABUF_CREATE_LIST, l);
}

/* Page-tags `size` bytes of `map`: byte i of page p is (p * 7 + i + salt). */
static void fill(unsigned char *map, size_t size, unsigned int salt)
{
	for (size_t off = 0; off < size; off += 512)
		map[off] = (unsigned char)((off / PAGE_SZ) * 7 + off + salt);
}

static int same(const unsigned char *a, const unsigned char *b, size_t size)
{
	for (size_t off = 0; off < size; off += 512)
		if (a[off] != b[off])
			return 0;
	return 1;
}

static void *map_fd(int fd, size_t size, off_t off)
{
	return mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, off);
}

FIXTURE(udmabuf) {
	int devfd;
	char size_limit_mb[32];	/* the limit to restore, if a test raised it */
};

FIXTURE_SETUP(udmabuf)
{
	self->devfd = open(UDMABUF_DEV, O_RDWR);
	ASSERT_GE(self->devfd, 0) TH_LOG("open %s: %s", UDMABUF_DEV, strerror(errno));
}

FIXTURE_TEARDOWN(udmabuf)
{
	if (self->size_limit_mb[0])
		write_str(PARAMS "size_limit_mb", self->size_limit_mb);
	close(self->devfd);
}

/*
 * Lets a test make buffers of `mb` MiB, as a user would: raises
 * size_limit_mb where it is lower (Linux 6.12's default is 64 MiB), and the
 * teardown puts it back.
 */
static int allow_buffers_of_mb(char *saved, size_t len, long mb)
{
	char value[32];

	if (read_long(PARAMS "size_limit_mb") >= mb)
		return 0;
	if (read_text(PARAMS "size_limit_mb", saved, len) <= 0)
		return -1;
	snprintf(value, sizeof(value), "%ld", mb);
	return write_str(PARAMS "size_limit_mb", value);
}

/*
 * For the tests whose buffers grow with the huge page size (at most 16 huge
 * pages: 512 MiB with arm64's 32 MiB ones, over 6.12's default limit).
 */
#define ALLOW_HUGE_BUFFERS()							\
	ASSERT_EQ(0, allow_buffers_of_mb(self->size_limit_mb, sizeof(self->size_limit_mb), \
					 (long)((16 * HPAGE_SZ) >> 20)))

/* ---- Bad input: upstream's errno for each case ---- */

#define EXPECT_ERRNO(err, call) do {					\
		errno = 0;						\
		EXPECT_EQ(-1, (call));					\
		EXPECT_EQ(err, errno) TH_LOG("got %s", strerror(errno)); \
	} while (0)

TEST_F(udmabuf, unknown_ioctl_is_enotty)
{
	int arg = 0;

	EXPECT_ERRNO(ENOTTY, ioctl(self->devfd, _IOW('u', 0x44, int), &arg));
	EXPECT_ERRNO(ENOTTY, ioctl(self->devfd, 0, 0));
}

TEST_F(udmabuf, bad_geometry_is_einval)
{
	int memfd = make_memfd(SHMEM, 16 * PAGE_SZ, F_SEAL_SHRINK);

	ASSERT_GE(memfd, 0);
	EXPECT_ERRNO(EINVAL, create_one(self->devfd, memfd, 1, PAGE_SZ, 0));
	EXPECT_ERRNO(EINVAL, create_one(self->devfd, memfd, 0, PAGE_SZ + 1, 0));
	EXPECT_ERRNO(EINVAL, create_one(self->devfd, memfd, 0, 0, 0));
	/* Past the end of the file, and an offset that is negative as loff_t. */
	EXPECT_ERRNO(EINVAL, create_one(self->devfd, memfd, 0, 17 * PAGE_SZ, 0));
	EXPECT_ERRNO(EINVAL, create_one(self->devfd, memfd, 16 * PAGE_SZ, PAGE_SZ, 0));
	EXPECT_ERRNO(EINVAL, create_one(self->devfd, memfd, 1ULL << 63, PAGE_SZ, 0));
	EXPECT_ERRNO(EINVAL, create_one(self->devfd, memfd, ~(PAGE_SZ - 1), PAGE_SZ, 0));
	/* Page counts that would overflow. */
	EXPECT_ERRNO(EINVAL, create_one(self->devfd, memfd, 0, ~(PAGE_SZ - 1), 0));
	close(memfd);
}

TEST_F(udmabuf, list_limits_are_einval)
{
	int memfd = make_memfd(SHMEM, 16 * PAGE_SZ, F_SEAL_SHRINK);
	struct list l = { 0 };

	ASSERT_GE(memfd, 0);
	/* No items at all. */
	EXPECT_ERRNO(EINVAL, create_list(self->devfd, &l));
	/* An empty item among good ones gives a zero-sized contribution only. */
	l.head.count = 2;
	l.items[0] = (struct udmabuf_create_item){ .memfd = memfd, .size = 0 };
	l.items[1] = (struct udmabuf_create_item){ .memfd = memfd, .size = 0 };
	EXPECT_ERRNO(EINVAL, create_list(self->devfd, &l));
	/* More items than list_limit, checked before the items are read. */
	ASSERT_EQ(0, write_str(PARAMS "list_limit", "2"));
	l.head.count = 3;
	EXPECT_ERRNO(EINVAL, create_list(self->devfd, &l));
	l.head.count = 1u << 31;
	EXPECT_ERRNO(EINVAL, create_list(self->devfd, &l));
	ASSERT_EQ(0, write_str(PARAMS "list_limit", "1024"));
	/* A zero-sized item after a good one: upstream's pin gives EINVAL. */
	l.head.count = 2;
	l.items[0] = (struct udmabuf_create_item){ .memfd = memfd, .size = PAGE_SZ };
	l.items[1] = (struct udmabuf_create_item){ .memfd = memfd, .size = 0 };
	EXPECT_ERRNO(EINVAL, create_list(self->devfd, &l));
	l.items[0] = (struct udmabuf_create_item){ .memfd = memfd, .size = 0 };
	l.items[1] = (struct udmabuf_create_item){ .memfd = memfd, .size = PAGE_SZ };
	EXPECT_ERRNO(EINVAL, create_list(self->devfd, &l));
	/* One unaligned item spoils the list. */
	l.head.count = 2;
	l.items[0] = (struct udmabuf_create_item){ .memfd = memfd, .size = PAGE_SZ };
	l.items[1] = (struct udmabuf_create_item){ .memfd = memfd, .offset = 100, .size = PAGE_SZ };
	EXPECT_ERRNO(EINVAL, create_list(self->devfd, &l));
	close(memfd);
}

TEST_F(udmabuf, size_limit_is_einval)
{
	const size_t mb = 1UL << 20;
	int memfd = make_memfd(SHMEM, 2 * mb, F_SEAL_SHRINK);
	int buf;

	ASSERT_GE(memfd, 0);
	/* The teardown restores the limit. */
	ASSERT_LT(0, read_text(PARAMS "size_limit_mb", self->size_limit_mb,
			       sizeof(self->size_limit_mb)));
	/* A limit of 1 MiB: a page more fails, 1 MiB exactly does not. */
	ASSERT_EQ(0, write_str(PARAMS "size_limit_mb", "1"));
	EXPECT_ERRNO(EINVAL, create_one(self->devfd, memfd, 0, mb + PAGE_SZ, 0));
	buf = create_one(self->devfd, memfd, 0, mb, 0);
	EXPECT_GE(buf, 0);
	close(buf);
	close(memfd);
}

TEST_F(udmabuf, bad_files_are_ebadfd)
{
	int pipefd[2];

	EXPECT_ERRNO(EBADFD, create_one(self->devfd, 9999, 0, PAGE_SZ, 0));
	EXPECT_ERRNO(EBADFD, create_one(self->devfd, -1, 0, PAGE_SZ, 0));
	ASSERT_EQ(0, pipe(pipefd));
	EXPECT_ERRNO(EBADFD, create_one(self->devfd, pipefd[0], 0, PAGE_SZ, 0));
	EXPECT_ERRNO(EBADFD, create_one(self->devfd, self->devfd, 0, PAGE_SZ, 0));
	close(pipefd[0]);
	close(pipefd[1]);
}

TEST_F(udmabuf, seals_are_checked)
{
	struct { unsigned int seals; int err; } cases[] = {
		{ 0, EINVAL },
		{ F_SEAL_GROW, EINVAL },
		{ F_SEAL_SHRINK | F_SEAL_WRITE, EINVAL },
		{ F_SEAL_SHRINK | F_SEAL_FUTURE_WRITE, EINVAL },
		{ F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL, 0 },
	};

	for (unsigned int i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int memfd = make_memfd(SHMEM, PAGE_SZ, cases[i].seals);
		int buf;

		ASSERT_GE(memfd, 0);
		errno = 0;
		buf = create_one(self->devfd, memfd, 0, PAGE_SZ, 0);
		if (cases[i].err) {
			EXPECT_EQ(-1, buf);
			EXPECT_EQ(cases[i].err, errno) TH_LOG("seals %#x", cases[i].seals);
		} else {
			EXPECT_GE(buf, 0);
			close(buf);
		}
		close(memfd);
	}
}

TEST_F(udmabuf, bad_user_pointers_are_efault)
{
	int memfd = make_memfd(SHMEM, PAGE_SZ, F_SEAL_SHRINK);
	struct udmabuf_create_list *tail;
	char *page;

	ASSERT_GE(memfd, 0);
	EXPECT_ERRNO(EFAULT, ioctl(self->devfd, UDMABUF_CREATE, NULL));
	EXPECT_ERRNO(EFAULT, ioctl(self->devfd, UDMABUF_CREATE_LIST, (void *)8));
	/* A header at the end of a page, its items on an unmapped page. */
	page = mmap(NULL, 2 * PAGE_SZ, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, page);
	munmap(page + PAGE_SZ, PAGE_SZ);
	tail = (void *)(page + PAGE_SZ - sizeof(*tail));
	tail->flags = 0;
	tail->count = 1;
	EXPECT_ERRNO(EFAULT, ioctl(self->devfd, UDMABUF_CREATE_LIST, tail));
	munmap(page, PAGE_SZ);
	close(memfd);
}

/* ---- Data through both mappings ---- */

struct backing_case {
	enum backing backing;
	size_t memfd_size;
	size_t offset;
	size_t size;
};

static void check_coherent(struct __test_metadata *_metadata, int devfd,
			   const struct backing_case *c)
{
	int memfd = make_memfd(c->backing, c->memfd_size, F_SEAL_SHRINK);
	unsigned char *mem, *buf;
	int ubuf;

	ASSERT_GE(memfd, 0) TH_LOG("memfd: %s", strerror(errno));
	mem = map_fd(memfd, c->memfd_size, 0);
	ASSERT_NE(MAP_FAILED, mem);
	fill(mem, c->memfd_size, 1);

	ubuf = create_one(devfd, memfd, c->offset, c->size, UDMABUF_FLAGS_CLOEXEC);
	ASSERT_GE(ubuf, 0) TH_LOG("create: %s", strerror(errno));
	EXPECT_EQ(FD_CLOEXEC, fcntl(ubuf, F_GETFD) & FD_CLOEXEC);
	EXPECT_EQ((off_t)c->size, lseek(ubuf, 0, SEEK_END));
	buf = map_fd(ubuf, c->size, 0);
	ASSERT_NE(MAP_FAILED, buf);

	/* memfd -> udmabuf */
	EXPECT_TRUE(same(mem + c->offset, buf, c->size));
	/* udmabuf -> memfd */
	fill(buf, c->size, 99);
	EXPECT_TRUE(same(mem + c->offset, buf, c->size));
	/* A mapping at a page offset sees the same pages. */
	if (c->size > 2 * PAGE_SZ) {
		unsigned char *part = map_fd(ubuf, PAGE_SZ, c->size - 2 * PAGE_SZ);

		ASSERT_NE(MAP_FAILED, part);
		EXPECT_TRUE(same(mem + c->offset + c->size - 2 * PAGE_SZ, part, PAGE_SZ));
		munmap(part, PAGE_SZ);
	}
	/* Private mappings are refused, as upstream. */
	EXPECT_EQ(MAP_FAILED, mmap(NULL, PAGE_SZ, PROT_READ, MAP_PRIVATE, ubuf, 0));
	EXPECT_EQ(EINVAL, errno);

	munmap(buf, c->size);
	munmap(mem, c->memfd_size);
	close(ubuf);
	close(memfd);
}

TEST_F_TIMEOUT(udmabuf, shmem_data_is_coherent, 120)
{
	struct backing_case c = { SHMEM, 64 * PAGE_SZ, 3 * PAGE_SZ, 40 * PAGE_SZ };

	check_coherent(_metadata, self->devfd, &c);
}

TEST_F_TIMEOUT(udmabuf, thp_shmem_data_is_coherent, 120)
{
	/* Offsets inside a PMD-sized folio and across folio boundaries. */
	struct backing_case c = { THP, 8 * HPAGE_SZ, HPAGE_SZ / 2 + 5 * PAGE_SZ, 5 * HPAGE_SZ };
	long folios;
	int memfd, ubuf;

	ALLOW_HUGE_BUFFERS();
	ASSERT_EQ(0, write_str(THP_SHMEM, "always"));
	check_coherent(_metadata, self->devfd, &c);

	/* The pages really are large folios: far fewer folios than pages. */
	memfd = make_memfd(THP, 4 * HPAGE_SZ, F_SEAL_SHRINK);
	ASSERT_GE(memfd, 0);
	ubuf = create_one(self->devfd, memfd, 0, 4 * HPAGE_SZ, 0);
	ASSERT_GE(ubuf, 0);
	folios = read_stat(STATS, "pinned_folios");
	EXPECT_LE(folios, 16) TH_LOG("%ld folios pinned for 4 THPs", folios);
	close(ubuf);
	close(memfd);
	write_str(THP_SHMEM, "never");
}

TEST_F_TIMEOUT(udmabuf, hugetlb_data_is_coherent, 120)
{
	struct backing_case inside = { HUGETLB, 4 * HPAGE_SZ, 7 * PAGE_SZ, 20 * PAGE_SZ };
	struct backing_case across = { HUGETLB, 4 * HPAGE_SZ, HPAGE_SZ - 3 * PAGE_SZ,
				       2 * HPAGE_SZ + 6 * PAGE_SZ };

	ALLOW_HUGE_BUFFERS();
	check_coherent(_metadata, self->devfd, &inside);
	check_coherent(_metadata, self->devfd, &across);
}

/*
 * A hugetlbfs memfd that nothing has mapped has no pages and no reservation:
 * the pin allocates the pages. Linux 6.12's memfd_pin_folios() takes them
 * from the free pool without reserving them (the global reservation count
 * underflows, a BUG with CONFIG_DEBUG_VM; fixed in 6.16, "mm/memfd: reserve
 * hugetlb folios before allocation"). HugePages_Rsvd stays as it was, and
 * every page goes back to the pool once both files are closed.
 */
TEST_F_TIMEOUT(udmabuf, hugetlb_pages_pinned_before_any_fault_keep_reservations, 120)
{
	long rsvd = read_keyed("/proc/meminfo", "HugePages_Rsvd");
	long free_pages = read_keyed("/proc/meminfo", "HugePages_Free");
	int memfd = make_memfd(HUGETLB, 4 * HPAGE_SZ, F_SEAL_SHRINK);
	int ubuf;

	ASSERT_GE(memfd, 0) TH_LOG("hugetlbfs memfd: %s", strerror(errno));
	ASSERT_GE(free_pages, 2) TH_LOG("%ld free huge pages", free_pages);
	ubuf = create_one(self->devfd, memfd, HPAGE_SZ, 2 * HPAGE_SZ, 0);
	ASSERT_GE(ubuf, 0) TH_LOG("create: %s", strerror(errno));
	EXPECT_EQ(rsvd, read_keyed("/proc/meminfo", "HugePages_Rsvd"));
	EXPECT_EQ(free_pages - 2, read_keyed("/proc/meminfo", "HugePages_Free"));
	close(ubuf);
	close(memfd);
	EXPECT_EQ(rsvd, read_keyed("/proc/meminfo", "HugePages_Rsvd"));
	EXPECT_EQ(free_pages, read_keyed("/proc/meminfo", "HugePages_Free"));
}

/* ---- Lists ---- */

TEST_F_TIMEOUT(udmabuf, list_of_many_items_over_one_memfd, 120)
{
	size_t size = 256 * PAGE_SZ;
	int memfd = make_memfd(SHMEM, size, F_SEAL_SHRINK);
	unsigned char *mem, *buf;
	struct list l = { .head = { .count = 64 } };
	size_t total = 0;
	int ubuf;

	ASSERT_GE(memfd, 0);
	mem = map_fd(memfd, size, 0);
	ASSERT_NE(MAP_FAILED, mem);
	fill(mem, size, 3);
	/* Items in reverse order, of 1..4 pages, one range used twice. */
	for (unsigned int i = 0; i < 64; i++) {
		l.items[i].memfd = memfd;
		l.items[i].offset = (63 - i) * 4 * PAGE_SZ;
		l.items[i].size = (i % 4 + 1) * PAGE_SZ;
		total += l.items[i].size;
	}
	l.items[63].offset = l.items[0].offset;
	ubuf = create_list(self->devfd, &l);
	ASSERT_GE(ubuf, 0) TH_LOG("create_list: %s", strerror(errno));
	buf = map_fd(ubuf, total, 0);
	ASSERT_NE(MAP_FAILED, buf);
	for (size_t i = 0, at = 0; i < 64; at += l.items[i].size, i++)
		EXPECT_TRUE(same(mem + l.items[i].offset, buf + at, l.items[i].size));
	munmap(buf, total);
	munmap(mem, size);
	close(ubuf);
	close(memfd);
}

/*
 * A VM's list: one item per guest page, the items following each other in
 * one memfd. The driver pins such runs as one range under one lookup of the
 * descriptor: the result is the same pages, and errors still come item by
 * item, in order.
 */
TEST_F_TIMEOUT(udmabuf, items_that_continue_each_other, 120)
{
	size_t n = 1024, size = n * PAGE_SZ, hsize = 2 * HPAGE_SZ;
	struct udmabuf_create_list *l = calloc(1, sizeof(*l) + n * sizeof(l->list[0]));
	int memfd = make_memfd(SHMEM, size, F_SEAL_SHRINK);
	int huge = make_memfd(HUGETLB, hsize, F_SEAL_SHRINK);
	long before = read_stat(STATS, "table_bytes");
	unsigned char *mem, *hmem, *buf;
	int ubuf;

	ASSERT_NE(NULL, l);
	ASSERT_GE(memfd, 0);
	ASSERT_GE(huge, 0) TH_LOG("hugetlbfs: %s", strerror(errno));
	mem = map_fd(memfd, size, 0);
	hmem = map_fd(huge, hsize, 0);
	ASSERT_NE(MAP_FAILED, mem);
	ASSERT_NE(MAP_FAILED, hmem);
	fill(mem, size, 5);
	fill(hmem, hsize, 6);

	/* 1024 one-page items, in file order: the buffer is the memfd. */
	l->count = n;
	for (size_t i = 0; i < n; i++)
		l->list[i] = (struct udmabuf_create_item){
			.memfd = memfd, .offset = i * PAGE_SZ, .size = PAGE_SZ };
	ubuf = ioctl(self->devfd, UDMABUF_CREATE_LIST, l);
	ASSERT_GE(ubuf, 0) TH_LOG("create_list: %s", strerror(errno));
	/* A pointer per page and one segment: 8 bytes a page, not 16. */
	EXPECT_LE(read_stat(STATS, "table_bytes") - before, (long)(n * 8 + 64));
	EXPECT_EQ((long)n, read_stat(STATS, "pinned_folios"));
	buf = map_fd(ubuf, size, 0);
	ASSERT_NE(MAP_FAILED, buf);
	EXPECT_TRUE(same(mem, buf, size));
	munmap(buf, size);
	close(ubuf);

	/*
	 * Two halves of one 2 MiB huge page: in file order one pin of the
	 * folio, in reverse order two; the same bytes either way.
	 */
	l->count = 2;
	for (int reverse = 0; reverse < 2; reverse++) {
		for (int i = 0; i < 2; i++)
			l->list[i] = (struct udmabuf_create_item){ .memfd = huge,
				.offset = (reverse ? 1 - i : i) * HPAGE_SZ / 2, .size = HPAGE_SZ / 2 };
		ubuf = ioctl(self->devfd, UDMABUF_CREATE_LIST, l);
		ASSERT_GE(ubuf, 0) TH_LOG("create_list: %s", strerror(errno));
		EXPECT_EQ(reverse ? 2 : 1, read_stat(STATS, "pinned_folios"));
		buf = map_fd(ubuf, HPAGE_SZ, 0);
		ASSERT_NE(MAP_FAILED, buf);
		for (int i = 0; i < 2; i++)
			EXPECT_TRUE(same(hmem + l->list[i].offset, buf + i * HPAGE_SZ / 2,
					 HPAGE_SZ / 2));
		munmap(buf, HPAGE_SZ);
		close(ubuf);
	}

	/* Errors, as upstream gives them item by item. */
	l->count = 3;
	l->list[0] = (struct udmabuf_create_item){ .memfd = memfd, .size = PAGE_SZ };
	l->list[1] = (struct udmabuf_create_item){ .memfd = memfd, .offset = PAGE_SZ,
						  .size = PAGE_SZ };
	l->list[2] = (struct udmabuf_create_item){ .memfd = 1000, .offset = 2 * PAGE_SZ,
						  .size = PAGE_SZ };
	EXPECT_ERRNO(EBADFD, ioctl(self->devfd, UDMABUF_CREATE_LIST, l));
	/* An empty item between two that would continue each other. */
	l->list[1].size = 0;
	l->list[2] = (struct udmabuf_create_item){ .memfd = memfd, .offset = PAGE_SZ,
						  .size = PAGE_SZ };
	EXPECT_ERRNO(EINVAL, ioctl(self->devfd, UDMABUF_CREATE_LIST, l));
	/* Continuing past the end of the file. */
	l->count = 2;
	l->list[0] = (struct udmabuf_create_item){ .memfd = memfd, .offset = size - PAGE_SZ,
						  .size = PAGE_SZ };
	l->list[1] = (struct udmabuf_create_item){ .memfd = memfd, .offset = size,
						  .size = PAGE_SZ };
	EXPECT_ERRNO(EINVAL, ioctl(self->devfd, UDMABUF_CREATE_LIST, l));
	/* A bad item after good ones leaves nothing pinned. */
	EXPECT_EQ(0, read_stat(STATS, "pinned_pages"));
	EXPECT_EQ(0, read_stat(STATS, "buffers"));

	munmap(mem, size);
	munmap(hmem, hsize);
	close(memfd);
	close(huge);
	free(l);
}

TEST_F_TIMEOUT(udmabuf, list_over_several_memfds_and_backings, 120)
{
	int fds[3];
	unsigned char *mems[3], *buf;
	size_t sizes[3] = { 32 * PAGE_SZ, 2 * HPAGE_SZ, 16 * PAGE_SZ };
	enum backing kinds[3] = { SHMEM, HUGETLB, SHMEM };
	struct list l = { .head = { .count = 3, .flags = 0 } };
	size_t at = 0, total = 0;
	int ubuf;

	ALLOW_HUGE_BUFFERS();
	for (int i = 0; i < 3; i++) {
		fds[i] = make_memfd(kinds[i], sizes[i], F_SEAL_SHRINK);
		ASSERT_GE(fds[i], 0);
		mems[i] = map_fd(fds[i], sizes[i], 0);
		ASSERT_NE(MAP_FAILED, mems[i]);
		fill(mems[i], sizes[i], 10 + i);
		l.items[i].memfd = fds[i];
		l.items[i].offset = PAGE_SZ;
		l.items[i].size = sizes[i] - 2 * PAGE_SZ;
		total += l.items[i].size;
	}
	ubuf = create_list(self->devfd, &l);
	ASSERT_GE(ubuf, 0) TH_LOG("create_list: %s", strerror(errno));
	EXPECT_EQ(0, fcntl(ubuf, F_GETFD) & FD_CLOEXEC);
	/* The memfds may go away: the buffer keeps its pages. */
	for (int i = 0; i < 3; i++)
		close(fds[i]);
	buf = map_fd(ubuf, total, 0);
	ASSERT_NE(MAP_FAILED, buf);
	for (int i = 0; i < 3; at += l.items[i].size, i++)
		EXPECT_TRUE(same(mems[i] + PAGE_SZ, buf + at, l.items[i].size));
	munmap(buf, total);
	for (int i = 0; i < 3; i++)
		munmap(mems[i], sizes[i]);
	close(ubuf);
}

/* ---- dma-buf ops ---- */

TEST_F(udmabuf, cpu_access_sync)
{
	int memfd = make_memfd(SHMEM, 8 * PAGE_SZ, F_SEAL_SHRINK);
	struct dma_buf_sync sync;
	int ubuf;

	ASSERT_GE(memfd, 0);
	ubuf = create_one(self->devfd, memfd, 0, 8 * PAGE_SZ, 0);
	ASSERT_GE(ubuf, 0);
	/* end before any begin: upstream has no table yet and says EINVAL. */
	sync.flags = DMA_BUF_SYNC_END | DMA_BUF_SYNC_RW;
	EXPECT_ERRNO(EINVAL, ioctl(ubuf, DMA_BUF_IOCTL_SYNC, &sync));
	for (int i = 0; i < 3; i++) {
		sync.flags = DMA_BUF_SYNC_START | DMA_BUF_SYNC_RW;
		EXPECT_EQ(0, ioctl(ubuf, DMA_BUF_IOCTL_SYNC, &sync));
		sync.flags = DMA_BUF_SYNC_END | DMA_BUF_SYNC_RW;
		EXPECT_EQ(0, ioctl(ubuf, DMA_BUF_IOCTL_SYNC, &sync));
	}
	sync.flags = DMA_BUF_SYNC_START | DMA_BUF_SYNC_READ;
	EXPECT_EQ(0, ioctl(ubuf, DMA_BUF_IOCTL_SYNC, &sync));
	/* Bad flags are the dma-buf core's EINVAL. */
	sync.flags = 0x100;
	EXPECT_ERRNO(EINVAL, ioctl(ubuf, DMA_BUF_IOCTL_SYNC, &sync));
	close(ubuf);
	close(memfd);
}

/* Whether this boot bounces every DMA mapping (swiotlb=force). */
static int swiotlb_forced(void)
{
	char cmdline[4096] = "";
	FILE *f = fopen("/proc/cmdline", "r");

	if (f) {
		if (!fgets(cmdline, sizeof(cmdline), f))
			cmdline[0] = 0;
		fclose(f);
	}
	return strstr(cmdline, "swiotlb=") && strstr(cmdline, "force");
}

/*
 * DMA_BUF_IOCTL_SYNC maps the whole buffer for the misc device. Under
 * bouncing, 128 MiB does not fit in the swiotlb: the C driver returns EIO
 * and keeps working; so must we (this was a NULL pointer dereference).
 */
TEST_F_TIMEOUT(udmabuf, sync_larger_than_the_bounce_buffer, 120)
{
	size_t size = 128UL << 20;
	int memfd = make_memfd(SHMEM, size, F_SEAL_SHRINK);
	struct dma_buf_sync sync = { .flags = DMA_BUF_SYNC_START | DMA_BUF_SYNC_RW };
	int ubuf, ret;

	ASSERT_GE(memfd, 0);
	ASSERT_EQ(0, allow_buffers_of_mb(self->size_limit_mb, sizeof(self->size_limit_mb), size >> 20));
	ubuf = create_one(self->devfd, memfd, 0, size, 0);
	ASSERT_GE(ubuf, 0);
	errno = 0;
	ret = ioctl(ubuf, DMA_BUF_IOCTL_SYNC, &sync);
	if (swiotlb_forced()) {
		EXPECT_EQ(-1, ret);
		EXPECT_NE(0, errno);
		TH_LOG("bounced: %s", strerror(errno));
		/* No table was kept: END has none to sync, as upstream. */
		sync.flags = DMA_BUF_SYNC_END | DMA_BUF_SYNC_RW;
		EXPECT_ERRNO(EINVAL, ioctl(ubuf, DMA_BUF_IOCTL_SYNC, &sync));
	} else {
		EXPECT_EQ(0, ret);
		sync.flags = DMA_BUF_SYNC_END | DMA_BUF_SYNC_RW;
		EXPECT_EQ(0, ioctl(ubuf, DMA_BUF_IOCTL_SYNC, &sync));
	}
	close(ubuf);
	/* The system is still usable: a small buffer syncs. */
	ubuf = create_one(self->devfd, memfd, 0, 16 * PAGE_SZ, 0);
	ASSERT_GE(ubuf, 0);
	sync.flags = DMA_BUF_SYNC_START | DMA_BUF_SYNC_RW;
	EXPECT_EQ(0, ioctl(ubuf, DMA_BUF_IOCTL_SYNC, &sync));
	sync.flags = DMA_BUF_SYNC_END | DMA_BUF_SYNC_RW;
	EXPECT_EQ(0, ioctl(ubuf, DMA_BUF_IOCTL_SYNC, &sync));
	close(ubuf);
	close(memfd);
}

/* As upstream, a udmabuf is named after the misc device ("udmabuf"). */
TEST_F(udmabuf, exporter_name_in_fdinfo)
{
	int memfd = make_memfd(SHMEM, PAGE_SZ, F_SEAL_SHRINK);
	char path[64], line[128];
	int ubuf, found = 0;
	FILE *f;

	ASSERT_GE(memfd, 0);
	ubuf = create_one(self->devfd, memfd, 0, PAGE_SZ, 0);
	ASSERT_GE(ubuf, 0);
	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", ubuf);
	f = fopen(path, "r");
	ASSERT_NE(NULL, f);
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, "exp_name:", 9))
			found = !strcmp(line + 9 + strspn(line + 9, " \t"), "udmabuf\n");
	fclose(f);
	EXPECT_TRUE(found);
	close(ubuf);
	close(memfd);
}

TEST_F_TIMEOUT(udmabuf, sg_table_merges_then_splits_at_max_segment, 120)
{
	const size_t size = 4UL << 20;
	int memfd = make_memfd(HUGETLB, 2 * HPAGE_SZ, F_SEAL_SHRINK);
	struct dma_buf_sync sync = { .flags = DMA_BUF_SYNC_START | DMA_BUF_SYNC_RW };
	int ubuf;

	ASSERT_GE(memfd, 0);
	/* 4 MiB across the boundary of two huge pages (all of both on
	 * x86_64): small enough to bounce through the 16 MiB swiotlb. */
	ubuf = create_one(self->devfd, memfd, HPAGE_SZ - size / 2, size, 0);
	ASSERT_GE(ubuf, 0);
	/* The CPU-access table is built for the misc device, whose maximum
	 * segment is the DMA API's default 64 KiB: 64 entries (not one per
	 * page, nor one per folio). */
	ASSERT_EQ(0, ioctl(ubuf, DMA_BUF_IOCTL_SYNC, &sync));
	EXPECT_EQ((long)(size / (64 << 10)), read_stat(STATS, "last_sg_entries"));
	sync.flags = DMA_BUF_SYNC_END | DMA_BUF_SYNC_RW;
	EXPECT_EQ(0, ioctl(ubuf, DMA_BUF_IOCTL_SYNC, &sync));
	close(ubuf);
	close(memfd);
}

TEST_F_TIMEOUT(udmabuf, import_into_vgem, 120)
{
	int memfd = make_memfd(HUGETLB, 4 * HPAGE_SZ, F_SEAL_SHRINK);
	struct drm_prime_handle import = { .flags = 0 };
	struct drm_gem_close gclose = { 0 };
	int vgem, ubuf;

	ALLOW_HUGE_BUFFERS();
	vgem = open_vgem();
	ASSERT_GE(vgem, 0) TH_LOG("no vgem device");
	ASSERT_GE(memfd, 0);
	ubuf = create_one(self->devfd, memfd, PAGE_SZ, 4 * HPAGE_SZ - 2 * PAGE_SZ, 0);
	ASSERT_GE(ubuf, 0);
	/* PRIME import attaches (vgem in 7.3 imports without mapping). */
	import.fd = ubuf;
	ASSERT_EQ(0, ioctl(vgem, DRM_IOCTL_PRIME_FD_TO_HANDLE, &import))
		TH_LOG("import: %s", strerror(errno));
	gclose.handle = import.handle;
	EXPECT_EQ(0, ioctl(vgem, DRM_IOCTL_GEM_CLOSE, &gclose));
	close(ubuf);
	close(memfd);
	close(vgem);
}

/* ---- Lifetime and metadata ---- */

TEST_F(udmabuf, rmmod_refused_while_a_buffer_lives)
{
	int memfd = make_memfd(SHMEM, PAGE_SZ, F_SEAL_SHRINK);
	int ubuf;

	ASSERT_GE(memfd, 0);
	ubuf = create_one(self->devfd, memfd, 0, PAGE_SZ, 0);
	ASSERT_GE(ubuf, 0);
	/* Only the buffer holds the module now. */
	close(self->devfd);
	self->devfd = open("/dev/null", O_RDONLY);
	errno = 0;
	EXPECT_EQ(-1, syscall(SYS_delete_module, "rudmabuf", O_NONBLOCK));
	EXPECT_EQ(EWOULDBLOCK, errno);
	close(ubuf);
	close(memfd);
}

/*
 * Maps `size` bytes of `fd` from `off` at a huge-page-aligned address plus
 * `skew` bytes: the address hint a program passes to get huge mappings
 * (dma-buf files cannot choose the address themselves).
 */
static unsigned char *map_at_pmd(int fd, size_t size, off_t off, size_t skew)
{
	size_t span = size + HPAGE_SZ + skew;
	unsigned char *area = mmap(NULL, span, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	unsigned char *want;

	if (area == MAP_FAILED)
		return MAP_FAILED;
	want = (unsigned char *)(((uintptr_t)area + HPAGE_SZ - 1) & ~(uintptr_t)(HPAGE_SZ - 1)) + skew;
	munmap(area, span);
	return mmap(want, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED_NOREPLACE, fd, off);
}

/*
 * Touches every page of `map` (checking it against `ref`) and returns how
 * many kB of page tables that cost.
 */
/*
 * This process's page tables, in kB: VmPTE is exact and immediate, where
 * PageTables in /proc/meminfo lags by per-CPU deltas and RCU-freed tables.
 */
static long page_tables_kb(void)
{
	return read_keyed("/proc/self/status", "VmPTE");
}

/*
 * Reads the mapping and returns the page tables it cost since @before, the
 * VmPTE taken before the mmap: whether the driver maps at mmap time or at
 * the first fault.
 */
static long touch_page_tables(unsigned char *map, const unsigned char *ref, size_t size,
			      long before, int *mismatch)
{
	*mismatch = !same(map, ref, size);
	return page_tables_kb() - before;
}

/*
 * Where a PMD-sized piece of the buffer is a physically contiguous, aligned
 * run (hugetlbfs pages, THP) and the VMA is aligned to match, it is mapped
 * with one PMD: no page table. Everywhere else, page by page, with the same
 * data. One page table (a page) maps one huge page's worth of PTEs: 16 huge
 * pages mapped with PTEs cost 16 page tables (64 kB on x86_64, 256 kB with
 * 16 KiB pages).
 */
TEST_F_TIMEOUT(udmabuf, huge_mappings_where_they_fit, 120)
{
	const long n = 16, table_kb = PAGE_SZ / 1024;
	size_t size = n * HPAGE_SZ;
	int memfd = make_memfd(HUGETLB, size, F_SEAL_SHRINK);
	unsigned char *ref, *map;
	int ubuf, mismatch;
	long kb, before;

	ALLOW_HUGE_BUFFERS();
	ASSERT_GE(memfd, 0);
	ref = map_fd(memfd, size, 0);
	ASSERT_NE(MAP_FAILED, ref);
	fill(ref, size, 11);
	ubuf = create_one(self->devfd, memfd, 0, size, 0);
	ASSERT_GE(ubuf, 0);

	/* Aligned: PMDs only. */
	before = page_tables_kb();
	map = map_at_pmd(ubuf, size, 0, 0);
	ASSERT_NE(MAP_FAILED, map);
	kb = touch_page_tables(map, ref, size, before, &mismatch);
	TH_LOG("aligned %ld huge pages of hugetlbfs: %ld kB of page tables", n, kb);
	EXPECT_EQ(0, mismatch);
	EXPECT_LT(kb, 4 * table_kb);
	munmap(map, size);

	/* The VMA starts mid-huge-page: page tables, the same data. */
	before = page_tables_kb();
	map = map_at_pmd(ubuf, size - HPAGE_SZ, 0, PAGE_SZ);
	ASSERT_NE(MAP_FAILED, map);
	kb = touch_page_tables(map, ref, size - HPAGE_SZ, before, &mismatch);
	TH_LOG("skewed by a page: %ld kB of page tables", kb);
	EXPECT_EQ(0, mismatch);
	EXPECT_GE(kb, (n - 1) * table_kb);
	munmap(map, size - HPAGE_SZ);

	/* An aligned VMA at a buffer offset inside a huge page: no PMD. */
	before = page_tables_kb();
	map = map_at_pmd(ubuf, 4 * HPAGE_SZ, 3 * PAGE_SZ, 0);
	ASSERT_NE(MAP_FAILED, map);
	kb = touch_page_tables(map, ref + 3 * PAGE_SZ, 4 * HPAGE_SZ, before, &mismatch);
	TH_LOG("offset 3 pages: %ld kB of page tables", kb);
	EXPECT_EQ(0, mismatch);
	EXPECT_GE(kb, 4 * table_kb);
	munmap(map, 4 * HPAGE_SZ);

	/* The second huge page of the buffer at an aligned address: PMDs. */
	before = page_tables_kb();
	map = map_at_pmd(ubuf, 2 * HPAGE_SZ, HPAGE_SZ, 0);
	ASSERT_NE(MAP_FAILED, map);
	kb = touch_page_tables(map, ref + HPAGE_SZ, 2 * HPAGE_SZ, before, &mismatch);
	EXPECT_EQ(0, mismatch);
	EXPECT_LE(kb, table_kb);
	/* Writes through the PMD reach the memfd. */
	map[HPAGE_SZ + 5] = 0x5c;
	EXPECT_EQ(0x5c, ref[2 * HPAGE_SZ + 5]);
	munmap(map, 2 * HPAGE_SZ);

	close(ubuf);
	munmap(ref, size);
	close(memfd);
}

/*
 * A list mixing small shmem pages and hugetlbfs pages, mapped aligned:
 * PMDs where the huge pages fall on huge-page boundaries of the mapping,
 * page tables for the rest, every page right.
 */
TEST_F_TIMEOUT(udmabuf, huge_and_small_folios_in_one_mapping, 120)
{
	const size_t h1 = HPAGE_SZ;
	int small = make_memfd(SHMEM, h1, F_SEAL_SHRINK);
	int huge = make_memfd(HUGETLB, 4 * h1, F_SEAL_SHRINK);
	unsigned char *s, *h, *map;
	struct list l = { .head = { .count = 3 } };
	int ubuf;

	ALLOW_HUGE_BUFFERS();
	ASSERT_GE(small, 0);
	ASSERT_GE(huge, 0);
	s = map_fd(small, h1, 0);
	h = map_fd(huge, 4 * h1, 0);
	ASSERT_NE(MAP_FAILED, s);
	ASSERT_NE(MAP_FAILED, h);
	fill(s, h1, 3);
	fill(h, 4 * h1, 5);
	/* A huge page's worth of small pages, two huge pages, half a huge
	 * page starting a quarter into one. */
	l.items[0] = (struct udmabuf_create_item){ .memfd = small, .size = h1 };
	l.items[1] = (struct udmabuf_create_item){ .memfd = huge, .offset = h1,
						   .size = 2 * h1 };
	l.items[2] = (struct udmabuf_create_item){ .memfd = huge, .offset = 3 * h1 + h1 / 4,
						   .size = h1 / 2 };
	ubuf = create_list(self->devfd, &l);
	ASSERT_GE(ubuf, 0);
	map = map_at_pmd(ubuf, 3 * h1 + h1 / 2, 0, 0);
	ASSERT_NE(MAP_FAILED, map);
	EXPECT_TRUE(same(map, s, h1));
	EXPECT_TRUE(same(map + h1, h + h1, 2 * h1));
	EXPECT_TRUE(same(map + 3 * h1, h + 3 * h1 + h1 / 4, h1 / 2));
	munmap(map, 3 * h1 + h1 / 2);
	close(ubuf);
	munmap(s, h1);
	munmap(h, 4 * h1);
	close(small);
	close(huge);
}

/*
 * Writes through huge entries after soft-dirty tracking starts.
 *
 * `echo 4 > /proc/PID/clear_refs` (CRIU's pre-dump does it) clears
 * VM_SOFTDIRTY and write-protects the VMA's vm_page_prot
 * (vma_wants_writenotify()). It leaves the entries already present alone
 * (its page walk skips VM_PFNMAP VMAs), so what it changes is the next
 * fault: a huge piece first touched after it must still end up writable,
 * whether its first touch is a write or a read and then a write. A PMD
 * inserted read-only for a write fault is a write fault that never ends:
 * wp_huge_pmd() calls huge_fault again, whose insert finds the entry present
 * and returns VM_FAULT_NOPAGE, and the write retries forever. The writes run
 * in a child that a watchdog kills: a hang is a failure, not a stuck run.
 *
 * Only x86_64 exercises the hang: arm64 has no soft-dirty tracking
 * (ARCH_HAS_SOFT_DIRTY), VM_SOFTDIRTY is 0 there and clear_refs 4 leaves
 * vm_page_prot writable. The test runs there all the same, as a check of
 * writes through huge entries.
 */
#define WP_PIECES	4
#define WP_WATCHDOG_S	30

/* The PMD size the kernel reports for THP, or 0 without THP. */
static size_t thp_pmd_size(void)
{
	long size = read_long("/sys/kernel/mm/transparent_hugepage/hpage_pmd_size");

	return size > 0 ? (size_t)size : 0;
}

/* Maps `size` bytes of `fd` at an address aligned to `align`. */
static unsigned char *map_aligned(int fd, size_t size, size_t align)
{
	size_t span = size + align;
	unsigned char *area = mmap(NULL, span, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	unsigned char *want;

	if (area == MAP_FAILED)
		return MAP_FAILED;
	want = (unsigned char *)(((uintptr_t)area + align - 1) & ~(uintptr_t)(align - 1));
	munmap(area, span);
	return mmap(want, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED_NOREPLACE, fd, 0);
}

/* What the child is doing, for the parent to say where it hung. */
static const char *const wp_steps[] = {
	"mmap", "a write before clear_refs", "clear_refs 4", "a write through the present entry",
	"a first touch that writes", "a read", "a write after the read", "another first write",
	"the page tables after the writes",
};

/*
 * The child: maps `ubuf` (WP_PIECES huge pieces of `huge` bytes) at an
 * aligned address, checks that mmap left the huge pieces to the fault
 * handler and that the faults mapped them huge (no page table per piece),
 * and writes around a clear_refs 4, noting each step in `*step`. Returns
 * 0, or 1 + the step that failed.
 */
static int write_around_clear_refs(int ubuf, size_t huge, volatile int *step)
{
	long table_kb = (long)(PAGE_SZ / 1024), before = page_tables_kb(), kb;
	volatile unsigned char *map;

	*step = 0;
	map = map_aligned(ubuf, WP_PIECES * huge, huge);
	if (map == MAP_FAILED) {
		fprintf(stderr, "# mmap: %s\n", strerror(errno));
		return 1;
	}
	/*
	 * mmap maps the VMA with remap_pfn_range but for the huge pieces:
	 * had it mapped them, no fault would reach huge_fault. A page table
	 * per piece is what PTEs would cost; PMDs cost at most the PMD
	 * tables of the range (one, two across a 1 GiB boundary).
	 */
	kb = page_tables_kb() - before;
	if (kb >= WP_PIECES * table_kb) {
		fprintf(stderr, "# mmap mapped the huge pieces: %ld kB of page tables\n", kb);
		return 1;
	}
	*step = 1;
	map[1] = 0xa1;
	*step = 2;
	if (write_str("/proc/self/clear_refs", "4")) {
		fprintf(stderr, "# clear_refs 4: %s\n", strerror(errno));
		return 3;
	}
	*step = 3;
	map[2] = 0xa2;
	*step = 4;
	map[huge + 3] = 0xa3;
	*step = 5;
	if (map[2 * huge + 4] != 0x5a)
		return 6;
	*step = 6;
	map[2 * huge + 4] = 0xa4;
	*step = 7;
	map[3 * huge + 5] = 0xa5;
	*step = 8;
	kb = page_tables_kb() - before;
	if (kb >= WP_PIECES * table_kb) {
		fprintf(stderr, "# not mapped huge: %ld kB of page tables\n", kb);
		return 9;
	}
	return 0;
}

/* Runs the child under a watchdog: a child still writing after it is killed. */
static void check_writes_after_clear_refs(struct __test_metadata *_metadata, int devfd,
					  enum backing b, size_t huge)
{
	size_t size = WP_PIECES * huge;
	int memfd = make_memfd(b, size, F_SEAL_SHRINK);
	volatile int *step;
	unsigned char *ref;
	int ubuf, status = 0;
	pid_t child;
	long ms;

	ASSERT_GE(memfd, 0) TH_LOG("memfd: %s", strerror(errno));
	/* Pinned first: a THP memfd is then made of PMD-sized folios. */
	ubuf = create_one(devfd, memfd, 0, size, 0);
	ASSERT_GE(ubuf, 0) TH_LOG("create: %s", strerror(errno));
	ref = map_fd(memfd, size, 0);
	ASSERT_NE(MAP_FAILED, ref);
	ref[2 * huge + 4] = 0x5a;
	step = mmap(NULL, PAGE_SZ, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, step);

	child = fork();
	ASSERT_GE(child, 0);
	if (child == 0)
		_exit(write_around_clear_refs(ubuf, huge, step));
	for (ms = 0; ms < WP_WATCHDOG_S * 1000; ms += 10) {
		if (waitpid(child, &status, WNOHANG) == child)
			break;
		usleep(10000);
	}
	if (ms >= WP_WATCHDOG_S * 1000) {
		kill(child, SIGKILL);
		waitpid(child, &status, 0);
	}
	ASSERT_LT(ms, WP_WATCHDOG_S * 1000)
		TH_LOG("still at \"%s\" after %d s: a fault that never ends; killed",
		       wp_steps[*step], WP_WATCHDOG_S);
	ASSERT_TRUE(WIFEXITED(status)) TH_LOG("child status %#x", status);
	ASSERT_EQ(0, WEXITSTATUS(status))
		TH_LOG("child failed at \"%s\"", wp_steps[WEXITSTATUS(status) - 1]);
	munmap((void *)step, PAGE_SZ);
	/* Every write reached the memfd. */
	EXPECT_EQ(0xa1, ref[1]);
	EXPECT_EQ(0xa2, ref[2]);
	EXPECT_EQ(0xa3, ref[huge + 3]);
	EXPECT_EQ(0xa4, ref[2 * huge + 4]);
	EXPECT_EQ(0xa5, ref[3 * huge + 5]);
	munmap(ref, size);
	close(ubuf);
	close(memfd);
}

/* The bracketed choice of a sysfs file of choices, in `out`. */
static int read_choice(const char *path, char *out, size_t len)
{
	char buf[128], *from, *to;
	ssize_t n = read_text(path, buf, sizeof(buf));

	from = n > 0 ? strchr(buf, '[') : NULL;
	to = from ? strchr(from, ']') : NULL;
	if (!to || (size_t)(to - from) > len)
		return -1;
	snprintf(out, len, "%.*s", (int)(to - from - 1), from + 1);
	return 0;
}

TEST_F_TIMEOUT(udmabuf, thp_writes_after_clear_refs, 120)
{
	size_t huge = thp_pmd_size();
	char was[32];

	ALLOW_HUGE_BUFFERS();
	if (!huge || read_choice(THP_SHMEM, was, sizeof(was)))
		SKIP(return, "no THP shmem in this kernel");
	ASSERT_EQ(0, write_str(THP_SHMEM, "always"));
	check_writes_after_clear_refs(_metadata, self->devfd, THP, huge);
	write_str(THP_SHMEM, was);
}

TEST_F_TIMEOUT(udmabuf, hugetlb_writes_after_clear_refs, 120)
{
	long kb = read_keyed("/proc/meminfo", "Hugepagesize");
	long free_pages = read_keyed("/proc/meminfo", "HugePages_Free");

	ALLOW_HUGE_BUFFERS();
	if (kb <= 0)
		SKIP(return, "no hugetlbfs in this kernel");
	if (free_pages < WP_PIECES)
		SKIP(return, "%ld free huge pages of %ld kB, %d needed", free_pages, kb, WP_PIECES);
	check_writes_after_clear_refs(_metadata, self->devfd, HUGETLB, (size_t)kb << 10);
}

TEST_F_TIMEOUT(udmabuf, table_is_small_for_1g_hugetlb, 120)
{
	size_t size = 1UL << 30;
	long want_folios = size / HPAGE_SZ;
	long before = read_stat(STATS, "table_bytes"), bytes, folios, pages;
	int memfd = make_memfd(HUGETLB, size, F_SEAL_SHRINK);
	int ubuf;

	ASSERT_GE(before, 0) TH_LOG("no %s", STATS);
	ASSERT_GE(memfd, 0) TH_LOG("1 GiB of hugetlbfs: %s", strerror(errno));
	ASSERT_EQ(0, allow_buffers_of_mb(self->size_limit_mb, sizeof(self->size_limit_mb), size >> 20));
	ubuf = create_one(self->devfd, memfd, 0, size, 0);
	ASSERT_GE(ubuf, 0) TH_LOG("create: %s", strerror(errno));
	bytes = read_stat(STATS, "table_bytes") - before;
	folios = read_stat(STATS, "pinned_folios");
	pages = read_stat(STATS, "pinned_pages");
	TH_LOG("1 GiB hugetlbfs udmabuf: %ld table bytes, %ld folios, %ld pages",
	       bytes, folios, pages);
	/* A pointer per folio and one segment. */
	EXPECT_LE(bytes, want_folios * 8 + 64);
	EXPECT_EQ(want_folios, folios);
	EXPECT_EQ((long)(size / PAGE_SZ), pages);
	close(ubuf);
	EXPECT_EQ(0, read_stat(STATS, "buffers"));
	EXPECT_EQ(0, read_stat(STATS, "pinned_pages"));
	close(memfd);
}

TEST(params_visible_and_writable)
{
	struct { const char *name; long value; } params[] = {
		/* Upstream's defaults: Linux 6.12 limits a buffer to 64 MiB. */
		{ "list_limit", 1024 },
		{ "size_limit_mb", KERNEL_VERSION_IS(6, 12) ? 64 : 2147483647L },
	};
	char path[256];
	struct stat st;

	for (unsigned int i = 0; i < sizeof(params) / sizeof(params[0]); i++) {
		snprintf(path, sizeof(path), PARAMS "%s", params[i].name);
		ASSERT_EQ(0, stat(path, &st)) TH_LOG("%s: %s", path, strerror(errno));
		EXPECT_EQ(0644U, st.st_mode & 0777);
		EXPECT_EQ(params[i].value, read_long(path));
	}
}

TEST_HARNESS_MAIN

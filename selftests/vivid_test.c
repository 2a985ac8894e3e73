// SPDX-License-Identifier: GPL-2.0
/*
 * A real importer: the kernel's vivid test driver captures into our dma-bufs
 * (kselftest harness, TAP output).
 *
 * vivid's capture queue imports V4L2_MEMORY_DMABUF buffers through
 * videobuf2. With vivid's module parameter allocators=0 (vmalloc) it
 * dma_buf_vmap()s them; with allocators=1 (dma-contig) it also maps the
 * attachment (dma_buf_map_attachment()) and refuses at VIDIOC_QBUF a buffer
 * whose DMA addresses are not contiguous for the whole plane (EFAULT), or
 * whose mapping fails (EINVAL). Either way vivid's thread writes its test
 * pattern into every frame with the CPU, through the vmap.
 *
 * For udmabufs over shmem and hugetlbfs and for system-heap buffers, the
 * program queues the buffers, streams a few frames and checks that every
 * frame holds vivid's 75% colour bars, read through the memfd (udmabuf) or
 * through mmap of the dma-buf (heap), and that nothing past the frame was
 * written. The allocator mode is read from vivid's parameters.
 *
 * What dma-contig accepts depends on the DMA addresses, which the program
 * predicts from the physical addresses (/proc/self/pagemap): vivid's device
 * has a 32-bit DMA mask, so memory above 4 GiB, and every buffer when the
 * kernel runs with swiotlb=force, is bounced through swiotlb. Unbounced, a
 * buffer is accepted exactly when it is physically contiguous. Bounced, each
 * sg entry gets its own bounce slots (at most 256 KiB): whether they are
 * contiguous depends on swiotlb's allocator, so a udmabuf may be accepted
 * (and then the pattern must arrive) or refused with EFAULT. These are the
 * outcomes of the C udmabuf. A heap buffer is one order-8 chunk (1 MiB
 * with 4 KiB pages) whose sg entries respect the device's segment limit, so
 * it behaves the same; the C system heap gives one entry for the chunk
 * (beyond vivid's 64 KiB limit), which cannot bounce at all (EINVAL).
 */
#include <poll.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <linux/dma-buf.h>
#include <linux/dma-heap.h>
#include <linux/memfd.h>
#include <linux/udmabuf.h>
#include <linux/videodev2.h>

#include "kselftest_harness.h"
#include "rdmabuf_test.h"

#define VIVID_ALLOCATORS	"/sys/module/vivid/parameters/allocators"
/* vivid's private control (drivers/media/test-drivers/vivid/vivid-ctrls.c). */
#define VIVID_CID_OSD_TEXT_MODE	(0x00f0f000 + 1)
#define OSD_TEXT_NONE		2

#define WIDTH		320U
#define HEIGHT		180U
#define MAX_BUFS	8U
#define FRAMES		6
#define FILL		0xa5
#define POLL_MS		20000	/* a hang guard only */
#define HEAP_BUF_SZ	(256 * PAGE_SZ)	/* one order-8 chunk of the system heap */
#define DMA32_LIMIT	(1ULL << 32)	/* vivid's DMA mask with allocators=1 */

/* 75% colour bars, BT.601 limited range: Y, Cb, Cr of each of the 8 bars. */
static const unsigned char bars[8][3] = {
	{ 180, 128, 128 },	/* white */
	{ 162,  44, 142 },	/* yellow */
	{ 131, 156,  44 },	/* cyan */
	{ 112,  72,  58 },	/* green */
	{  84, 184, 198 },	/* magenta */
	{  65, 100, 212 },	/* red */
	{  35, 212, 114 },	/* blue */
	{  16, 128, 128 },	/* black */
};

enum backing { SHMEM, HUGETLB, HEAP };

struct vbuf {
	int dbuf;		/* the dma-buf queued to vivid */
	unsigned char *cpu;	/* the memory, through the memfd or the dma-buf */
	size_t size;
	int expect;		/* QBUF: 0 ok, E* that errno, -E* ok or that errno */
};

/* Finds vivid's capture node, or returns -1. */
static int open_vivid(void)
{
	for (int i = 0; i < 64; i++) {
		struct v4l2_capability cap = { 0 };
		char path[32];
		int fd;

		snprintf(path, sizeof(path), "/dev/video%d", i);
		fd = open(path, O_RDWR | O_CLOEXEC);
		if (fd < 0)
			continue;
		if (!ioctl(fd, VIDIOC_QUERYCAP, &cap) && !strcmp((char *)cap.driver, "vivid") &&
		    (cap.device_caps & V4L2_CAP_VIDEO_CAPTURE) &&
		    (cap.device_caps & V4L2_CAP_STREAMING))
			return fd;
		close(fd);
	}
	return -1;
}

/* Whether the kernel was booted with swiotlb=...,force. */
static int swiotlb_forced(void)
{
	char line[4096] = { 0 };
	int fd = open("/proc/cmdline", O_RDONLY);
	char *p;

	if (fd < 0)
		return 0;
	if (read(fd, line, sizeof(line) - 1) < 0)
		line[0] = 0;
	close(fd);
	for (p = line; (p = strstr(p, "swiotlb=")); p++) {
		size_t len = strcspn(p, " \n");
		char word[256] = { 0 };

		memcpy(word, p, len < sizeof(word) - 1 ? len : sizeof(word) - 1);
		if (strstr(word, "force") && !strstr(word, "noforce"))
			return 1;
	}
	return 0;
}

/*
 * Physical layout of the (faulted-in) mapping [addr, addr + len): whether it
 * is contiguous, and its highest physical address plus one. Returns -1 when
 * the page frames are not readable.
 */
static int phys_layout(const void *addr, size_t len, int *contig, uint64_t *end)
{
	int fd = open("/proc/self/pagemap", O_RDONLY);
	uint64_t prev = 0;
	int ret = 0;

	if (fd < 0)
		return -1;
	*contig = 1;
	*end = 0;
	for (size_t off = 0; off < len; off += PAGE_SZ) {
		uint64_t e, pfn;

		if (pread(fd, &e, sizeof(e), ((uintptr_t)addr + off) / PAGE_SZ * 8) != sizeof(e) ||
		    !(e & (1ULL << 63)) || !(pfn = e & ((1ULL << 55) - 1))) {
			ret = -1;
			break;
		}
		if (off && pfn != prev + 1)
			*contig = 0;
		prev = pfn;
		if ((pfn + 1) * PAGE_SZ > *end)
			*end = (pfn + 1) * PAGE_SZ;
	}
	close(fd);
	return ret;
}

static int sync_dbuf(int dbuf, uint64_t flags)
{
	struct dma_buf_sync s = { .flags = flags };

	return ioctl(dbuf, DMA_BUF_IOCTL_SYNC, &s);
}

/* Fills a buffer with FILL, bracketed by CPU-access syncs for heap buffers. */
static int fill(const struct vbuf *b, int heap)
{
	if (heap && sync_dbuf(b->dbuf, DMA_BUF_SYNC_START | DMA_BUF_SYNC_WRITE))
		return -1;
	memset(b->cpu, FILL, b->size);
	if (heap && sync_dbuf(b->dbuf, DMA_BUF_SYNC_END | DMA_BUF_SYNC_WRITE))
		return -1;
	return 0;
}

/*
 * Checks one YUYV frame against the colour bars: every row identical, each
 * bar uniform with the expected values (±2), and the rest of the buffer
 * still FILL. Returns NULL or what is wrong.
 */
static const char *check_frame(const unsigned char *p, size_t size, const struct v4l2_format *f,
			       char *why, size_t whylen)
{
	unsigned int bpl = f->fmt.pix.bytesperline, w = f->fmt.pix.width;

	for (unsigned int x = 0; x < w; x++) {
		const unsigned char *px = p + x * 2;
		const unsigned char *want = bars[x * 8 / w];
		int y = px[0], c = px[1];	/* Y0 Cb Y1 Cr */
		int wc = want[(x & 1) ? 2 : 1];

		if (abs(y - want[0]) > 2 || abs(c - wc) > 2) {
			snprintf(why, whylen, "row 0 pixel %u: Y %d C%s %d, want %d %d", x, y,
				 (x & 1) ? "r" : "b", c, want[0], wc);
			return why;
		}
	}
	for (unsigned int row = 1; row < f->fmt.pix.height; row++) {
		if (memcmp(p, p + row * bpl, w * 2)) {
			snprintf(why, whylen, "row %u differs from row 0", row);
			return why;
		}
	}
	for (size_t off = f->fmt.pix.sizeimage; off < size; off++) {
		if (p[off] != FILL) {
			snprintf(why, whylen, "byte %zu past the frame written", off);
			return why;
		}
	}
	return NULL;
}

FIXTURE(vivid) {
	int vfd;
	int contig_mode;	/* vivid allocators=1: dma-contig */
	int bounce;		/* swiotlb=force */
	struct v4l2_format fmt;
	unsigned int count;
	struct vbuf bufs[MAX_BUFS];
	int memfd, heapfd, udmabuf;
	unsigned char *map;
	size_t map_len;
};

FIXTURE_SETUP(vivid)
{
	struct v4l2_streamparm parm = { .type = V4L2_BUF_TYPE_VIDEO_CAPTURE };
	struct v4l2_requestbuffers req = {
		.count = 3, .type = V4L2_BUF_TYPE_VIDEO_CAPTURE, .memory = V4L2_MEMORY_DMABUF,
	};
	struct v4l2_control osd = { .id = VIVID_CID_OSD_TEXT_MODE, .value = OSD_TEXT_NONE };
	struct v4l2_queryctrl q = { .id = VIVID_CID_OSD_TEXT_MODE };
	long mode = read_long(VIVID_ALLOCATORS);

	self->memfd = self->heapfd = self->udmabuf = -1;
	self->map = MAP_FAILED;
	for (unsigned int i = 0; i < MAX_BUFS; i++)
		self->bufs[i].dbuf = -1;
	self->vfd = open_vivid();
	if (self->vfd < 0)
		SKIP(return, "no vivid capture device (load vivid.ko)");
	ASSERT_TRUE(mode == 0 || mode == 1) TH_LOG("vivid allocators=%ld", mode);
	self->contig_mode = mode == 1;
	self->bounce = swiotlb_forced();
	TH_LOG("vivid allocators=%ld (%s)%s", mode, mode ? "dma-contig" : "vmalloc",
	       self->bounce ? ", swiotlb=force" : "");

	/* A webcam input: 320x180, its smallest size in 6.12 and 7.3 alike. */
	self->fmt.type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
	self->fmt.fmt.pix.width = WIDTH;
	self->fmt.fmt.pix.height = HEIGHT;
	self->fmt.fmt.pix.pixelformat = V4L2_PIX_FMT_YUYV;
	self->fmt.fmt.pix.field = V4L2_FIELD_NONE;
	ASSERT_EQ(0, ioctl(self->vfd, VIDIOC_S_FMT, &self->fmt)) TH_LOG("S_FMT: %s", strerror(errno));
	ASSERT_EQ(WIDTH, self->fmt.fmt.pix.width);
	ASSERT_EQ(HEIGHT, self->fmt.fmt.pix.height);
	ASSERT_EQ(V4L2_PIX_FMT_YUYV, self->fmt.fmt.pix.pixelformat);
	ASSERT_GE(self->fmt.fmt.pix.bytesperline, WIDTH * 2);
	ASSERT_GE(self->fmt.fmt.pix.sizeimage, self->fmt.fmt.pix.bytesperline * HEIGHT);
	/* The default test pattern (75% colour bars), no text over it. */
	ASSERT_EQ(0, ioctl(self->vfd, VIDIOC_QUERYCTRL, &q));
	ASSERT_STREQ("OSD Text Mode", (char *)q.name);
	ASSERT_EQ(0, ioctl(self->vfd, VIDIOC_S_CTRL, &osd));
	/* 30 frames per second rather than the webcam's default 5. */
	ASSERT_EQ(0, ioctl(self->vfd, VIDIOC_G_PARM, &parm));
	parm.parm.capture.timeperframe = (struct v4l2_fract){ 1, 30 };
	ASSERT_EQ(0, ioctl(self->vfd, VIDIOC_S_PARM, &parm));

	ASSERT_EQ(0, ioctl(self->vfd, VIDIOC_REQBUFS, &req)) TH_LOG("REQBUFS: %s", strerror(errno));
	ASSERT_GE(req.count, 2U);
	ASSERT_LE(req.count, MAX_BUFS);
	self->count = req.count;
}

FIXTURE_TEARDOWN(vivid)
{
	struct v4l2_requestbuffers req = {
		.count = 0, .type = V4L2_BUF_TYPE_VIDEO_CAPTURE, .memory = V4L2_MEMORY_DMABUF,
	};
	int type = V4L2_BUF_TYPE_VIDEO_CAPTURE;

	if (self->vfd < 0)
		return;
	ioctl(self->vfd, VIDIOC_STREAMOFF, &type);
	/* Detaches (and unmaps) every dma-buf. */
	EXPECT_EQ(0, ioctl(self->vfd, VIDIOC_REQBUFS, &req));
	close(self->vfd);
	for (unsigned int i = 0; i < MAX_BUFS; i++) {
		struct vbuf *b = &self->bufs[i];

		if (b->dbuf < 0)
			continue;
		if (self->heapfd >= 0 && b->cpu && b->cpu != MAP_FAILED)
			munmap(b->cpu, b->size);
		close(b->dbuf);
	}
	if (self->map != MAP_FAILED)
		munmap(self->map, self->map_len);
	if (self->memfd >= 0)
		close(self->memfd);
	if (self->heapfd >= 0)
		close(self->heapfd);
	if (self->udmabuf >= 0)
		close(self->udmabuf);
}

/*
 * What vivid's VIDIOC_QBUF gives for a buffer: 0, an errno, or -errno when
 * either success or that errno is right: it depends on swiotlb's allocator
 * (see the top of the file), or on a physical address that user space
 * cannot see. Returns -ENOENT when the prediction is impossible.
 */
static int expected_qbuf(struct __test_metadata *_metadata, FIXTURE_DATA(vivid) *self,
			 const struct vbuf *b, enum backing backing)
{
	uint64_t end;
	int contig;

	if (!self->contig_mode)
		return 0;
	/*
	 * A heap buffer of HEAP_BUF_SZ is one chunk, mapped with
	 * remap_pfn_range, which pagemap does not show. Its sg entries respect
	 * vivid's 64 KiB segment limit (the C heap gives one entry for the chunk, which
	 * DMA_API_DEBUG reports, and which cannot bounce: EINVAL): accepted
	 * unbounced, and bounced when swiotlb's slots happen to be contiguous.
	 */
	if (backing == HEAP)
		return -EFAULT;
	if (phys_layout(b->cpu, b->size, &contig, &end)) {
		TH_LOG("page frames not readable from /proc/self/pagemap");
		return -ENOENT;
	}
	if (!self->bounce && end <= DMA32_LIMIT)
		return contig ? 0 : EFAULT;
	return -EFAULT;
}

/*
 * Queues every buffer, streams FRAMES frames and checks each of them.
 * Returns when a queued buffer was refused as expected.
 */
static void stream(struct __test_metadata *_metadata, FIXTURE_DATA(vivid) *self,
		   enum backing backing)
{
	const char *names[] = { "shmem udmabuf", "hugetlb udmabuf", "heap buffer" };
	int type = V4L2_BUF_TYPE_VIDEO_CAPTURE, heap = backing == HEAP;
	unsigned int refused = 0, accepted = 0;
	char why[128];

	for (unsigned int i = 0; i < self->count; i++) {
		struct vbuf *b = &self->bufs[i];
		struct v4l2_buffer vb = {
			.index = i, .type = V4L2_BUF_TYPE_VIDEO_CAPTURE,
			.memory = V4L2_MEMORY_DMABUF, .m.fd = b->dbuf, .length = b->size,
		};
		int ret;

		ASSERT_EQ(0, fill(b, heap));
		b->expect = expected_qbuf(_metadata, self, b, backing);
		ASSERT_NE(-ENOENT, b->expect);
		errno = 0;
		ret = ioctl(self->vfd, VIDIOC_QBUF, &vb);
		TH_LOG("%s %u: QBUF %s (expected %s%s)", names[backing], i,
		       ret ? strerror(errno) : "ok", b->expect < 0 ? "ok or " : "",
		       b->expect ? strerror(abs(b->expect)) : "ok");
		if (b->expect < 0) {
			if (ret)
				EXPECT_EQ(-b->expect, errno);
		} else if (b->expect) {
			ASSERT_EQ(-1, ret);
			EXPECT_EQ(b->expect, errno);
		} else {
			ASSERT_EQ(0, ret);
		}
		if (ret)
			refused++;
		else
			accepted++;
	}
	if (refused)
		return;

	ASSERT_EQ(0, ioctl(self->vfd, VIDIOC_STREAMON, &type));
	for (unsigned int n = 0; n < FRAMES; n++) {
		struct pollfd pfd = { .fd = self->vfd, .events = POLLIN };
		struct v4l2_buffer vb = {
			.type = V4L2_BUF_TYPE_VIDEO_CAPTURE, .memory = V4L2_MEMORY_DMABUF,
		};
		const char *bad;
		struct vbuf *b;

		ASSERT_EQ(1, poll(&pfd, 1, POLL_MS)) TH_LOG("no frame %u within %d ms", n, POLL_MS);
		ASSERT_EQ(0, ioctl(self->vfd, VIDIOC_DQBUF, &vb)) TH_LOG("DQBUF: %s", strerror(errno));
		ASSERT_LT(vb.index, self->count);
		EXPECT_EQ(0U, vb.flags & V4L2_BUF_FLAG_ERROR);
		EXPECT_EQ(self->fmt.fmt.pix.sizeimage, vb.bytesused);
		b = &self->bufs[vb.index];
		EXPECT_EQ(b->dbuf, vb.m.fd);
		/*
		 * vivid writes with the CPU through its vmap. With dma-contig it
		 * does so while the buffer is mapped for its device, against the
		 * DMA API's ownership rule, so a CPU sync (begin_cpu_access syncs
		 * the heap's mapped attachments, as upstream) would rightly bring
		 * back the device's view: under bouncing, the bounce buffer. Read
		 * what vivid wrote without it then.
		 */
		if (heap && !self->contig_mode)
			ASSERT_EQ(0, sync_dbuf(b->dbuf, DMA_BUF_SYNC_START | DMA_BUF_SYNC_READ));
		bad = check_frame(b->cpu, b->size, &self->fmt, why, sizeof(why));
		if (heap && !self->contig_mode)
			ASSERT_EQ(0, sync_dbuf(b->dbuf, DMA_BUF_SYNC_END | DMA_BUF_SYNC_READ));
		EXPECT_EQ(NULL, bad) TH_LOG("frame %u (sequence %u, buffer %u): %s", n,
					    vb.sequence, vb.index, bad);
		/* Every frame must be written afresh. */
		ASSERT_EQ(0, fill(b, heap));
		vb.m.fd = b->dbuf;
		vb.length = b->size;
		ASSERT_EQ(0, ioctl(self->vfd, VIDIOC_QBUF, &vb)) TH_LOG("requeue: %s", strerror(errno));
	}
	EXPECT_EQ(0, ioctl(self->vfd, VIDIOC_STREAMOFF, &type));
	TH_LOG("%u frames checked in %u %ss", FRAMES, accepted, names[backing]);
}

/* One udmabuf per `chunk` bytes of a sealed memfd. */
/*
 * One memfd, and a udmabuf of `size` bytes every `stride` bytes of it, one
 * per buffer.
 */
static void make_udmabufs(struct __test_metadata *_metadata, FIXTURE_DATA(vivid) *self,
			  enum backing backing, size_t stride, size_t size)
{
	unsigned int flags = MFD_ALLOW_SEALING | (backing == HUGETLB ? MFD_HUGETLB : 0);

	self->map_len = stride * self->count;
	self->udmabuf = open(UDMABUF_DEV, O_RDWR | O_CLOEXEC);
	ASSERT_GE(self->udmabuf, 0) TH_LOG("open %s: %s", UDMABUF_DEV, strerror(errno));
	self->memfd = memfd_create("vivid-test", flags);
	ASSERT_GE(self->memfd, 0);
	ASSERT_EQ(0, ftruncate(self->memfd, self->map_len));
	ASSERT_EQ(0, fcntl(self->memfd, F_ADD_SEALS, F_SEAL_SHRINK));
	self->map = mmap(NULL, self->map_len, PROT_READ | PROT_WRITE, MAP_SHARED,
			 self->memfd, 0);
	ASSERT_NE(MAP_FAILED, self->map) TH_LOG("mmap: %s", strerror(errno));
	/* Allocate the pages before the udmabufs pin them. */
	memset(self->map, FILL, self->map_len);
	for (unsigned int i = 0; i < self->count; i++) {
		struct udmabuf_create c = {
			.memfd = self->memfd, .offset = i * stride, .size = size,
		};
		struct vbuf *b = &self->bufs[i];

		b->dbuf = ioctl(self->udmabuf, UDMABUF_CREATE, &c);
		ASSERT_GE(b->dbuf, 0) TH_LOG("UDMABUF_CREATE: %s", strerror(errno));
		b->cpu = self->map + i * stride;
		b->size = size;
	}
}

TEST_F(vivid, shmem_udmabuf)
{
	size_t chunk = (self->fmt.fmt.pix.sizeimage + PAGE_SZ - 1) & ~(PAGE_SZ - 1);

	make_udmabufs(_metadata, self, SHMEM, chunk, chunk);
	stream(_metadata, self, SHMEM);
}

TEST_F(vivid, hugetlb_udmabuf)
{
	long free_pages = read_keyed("/proc/meminfo", "HugePages_Free");
	size_t frame = (self->fmt.fmt.pix.sizeimage + PAGE_SZ - 1) & ~(PAGE_SZ - 1);

	ASSERT_LE(self->fmt.fmt.pix.sizeimage, HPAGE_SZ);
	if (free_pages < (long)self->count)
		SKIP(return, "%ld free huge pages, %u needed (set /proc/sys/vm/nr_hugepages)",
		     free_pages, self->count);
	/* A frame's worth at the start of each huge page: a whole 32 MiB
	 * page (16 KiB pages) would not bounce through a 16 MiB swiotlb. */
	make_udmabufs(_metadata, self, HUGETLB, HPAGE_SZ, frame);
	stream(_metadata, self, HUGETLB);
}

TEST_F(vivid, heap_buffer)
{
	ASSERT_LE(self->fmt.fmt.pix.sizeimage, HEAP_BUF_SZ);
	self->heapfd = open(HEAP_DEV, O_RDONLY | O_CLOEXEC);
	ASSERT_GE(self->heapfd, 0) TH_LOG("open %s: %s", HEAP_DEV, strerror(errno));
	for (unsigned int i = 0; i < self->count; i++) {
		struct dma_heap_allocation_data data = {
			.len = HEAP_BUF_SZ, .fd_flags = O_RDWR | O_CLOEXEC,
		};
		struct vbuf *b = &self->bufs[i];

		ASSERT_EQ(0, ioctl(self->heapfd, DMA_HEAP_IOCTL_ALLOC, &data))
			TH_LOG("DMA_HEAP_IOCTL_ALLOC: %s", strerror(errno));
		b->dbuf = data.fd;
		b->size = HEAP_BUF_SZ;
		b->cpu = mmap(NULL, b->size, PROT_READ | PROT_WRITE, MAP_SHARED, b->dbuf, 0);
		ASSERT_NE(MAP_FAILED, b->cpu) TH_LOG("mmap: %s", strerror(errno));
	}
	stream(_metadata, self, HEAP);
}

TEST_HARNESS_MAIN

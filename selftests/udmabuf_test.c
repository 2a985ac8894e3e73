// SPDX-License-Identifier: GPL-2.0
/*
 * rudmabuf selftests (kselftest harness, TAP output).
 */
#include <sys/ioctl.h>
#include <linux/udmabuf.h>

#include "kselftest_harness.h"
#include "rdmabuf_test.h"

FIXTURE(udmabuf) {
	int devfd;
};

FIXTURE_SETUP(udmabuf)
{
	self->devfd = open(UDMABUF_DEV, O_RDWR);
	ASSERT_GE(self->devfd, 0) TH_LOG("open %s: %s", UDMABUF_DEV, strerror(errno));
}

FIXTURE_TEARDOWN(udmabuf)
{
	close(self->devfd);
}

TEST_F(udmabuf, unknown_ioctl_is_enotty)
{
	int arg = 0;

	EXPECT_EQ(-1, ioctl(self->devfd, _IOW('u', 0x44, int), &arg));
	EXPECT_EQ(ENOTTY, errno);
	EXPECT_EQ(-1, ioctl(self->devfd, 0, 0));
	EXPECT_EQ(ENOTTY, errno);
}

TEST(params_visible_and_writable)
{
	const char *dir = "/sys/module/rudmabuf/parameters";
	struct { const char *name; long value; } params[] = {
		{ "list_limit", 1024 }, { "size_limit_mb", 2147483647L },
	};
	char path[256];
	struct stat st;

	for (unsigned int i = 0; i < sizeof(params) / sizeof(params[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, params[i].name);
		ASSERT_EQ(0, stat(path, &st)) TH_LOG("%s: %s", path, strerror(errno));
		EXPECT_EQ(0644U, st.st_mode & 0777);
		EXPECT_EQ(params[i].value, read_long(path));
	}
}

TEST_HARNESS_MAIN

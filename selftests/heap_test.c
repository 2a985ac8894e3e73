// SPDX-License-Identifier: GPL-2.0
/*
 * rsystem_heap selftests (kselftest harness, TAP output).
 */
#include "kselftest_harness.h"
#include "rdmabuf_test.h"

TEST(module_loaded_with_heap_name)
{
	char name[64] = "";
	FILE *f = fopen("/sys/module/rsystem_heap/parameters/heap_name", "r");

	ASSERT_NE(NULL, f) TH_LOG("rsystem_heap is not loaded: %s", strerror(errno));
	ASSERT_NE(NULL, fgets(name, sizeof(name), f));
	fclose(f);
	EXPECT_STREQ("system\n", name);
}

TEST_HARNESS_MAIN

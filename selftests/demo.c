// SPDX-License-Identifier: GPL-2.0
/*
 * The `make run` demo: shows what the rdmabuf modules provide.
 */
#include <dirent.h>
#include <sys/sysmacros.h>

#include "rdmabuf_test.h"

static void show_params(const char *module)
{
	char path[256];
	struct dirent *d;
	DIR *dir;

	snprintf(path, sizeof(path), "/sys/module/%s/parameters", module);
	dir = opendir(path);
	if (!dir) {
		printf("  %s: not loaded\n", module);
		return;
	}
	printf("  %s parameters:\n", module);
	while ((d = readdir(dir))) {
		char file[512], value[128] = "";
		struct stat st;
		FILE *f;

		if (d->d_name[0] == '.')
			continue;
		snprintf(file, sizeof(file), "%s/%s", path, d->d_name);
		stat(file, &st);
		f = fopen(file, "r");
		if (f) {
			if (!fgets(value, sizeof(value), f))
				value[0] = 0;
			fclose(f);
		}
		value[strcspn(value, "\n")] = 0;
		printf("    %-14s = %-12s (mode %o)\n", d->d_name, value, st.st_mode & 0777);
	}
	closedir(dir);
}

int main(void)
{
	struct stat st;
	struct dirent *d;
	DIR *dir;

	printf("rdmabuf demo\n");
	printf("== devices\n");
	if (!stat(UDMABUF_DEV, &st))
		printf("  %s: char device %u:%u\n", UDMABUF_DEV, major(st.st_rdev), minor(st.st_rdev));
	else
		printf("  %s: missing (%s)\n", UDMABUF_DEV, strerror(errno));
	dir = opendir("/dev/dma_heap");
	if (dir) {
		while ((d = readdir(dir)))
			if (d->d_name[0] != '.')
				printf("  /dev/dma_heap/%s\n", d->d_name);
		closedir(dir);
	} else {
		printf("  /dev/dma_heap: no heaps registered\n");
	}
	printf("== modules\n");
	show_params("rudmabuf");
	show_params("rsystem_heap");
	return 0;
}

// SPDX-License-Identifier: GPL-2.0
/*
 * getconf PAGESIZE for the busybox guest (busybox has no getconf): prints
 * the page size the running kernel gives userspace.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc != 2 || (strcmp(argv[1], "PAGESIZE") && strcmp(argv[1], "PAGE_SIZE"))) {
		fprintf(stderr, "usage: getconf PAGESIZE\n");
		return 2;
	}
	printf("%ld\n", sysconf(_SC_PAGESIZE));
	return 0;
}

#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Builds the benchmark program for the guest: a static bench.c against the
# kernel tree's UAPI headers.
#
#   tools/bench/build.sh KDIR OUT
set -euo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
[ $# -eq 2 ] || { sed -n '3,7p' "$0"; exit 2; }
. "$top/tools/toolchain.env"
gcc -static -O2 -Wall -Wextra -Wno-unused-parameter -D_GNU_SOURCE -isystem "$1/usr/include" \
	-I"$top/selftests/lib" -o "$2" "$top/tools/bench/bench.c"

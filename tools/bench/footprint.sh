#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# What each driver's timed rounds run under the emulator, counted rather
# than timed: a heap-only boot (C's system_heap.ko beside ours, as in `make
# bench`) with the TCG plugin tools/bench/footprint.c, and bench.c with
# BENCH_FOOTPRINT set. Prints, per row and driver, the medians over its
# rounds of the instructions, translated blocks (run and distinct), page
# crossings between blocks, and the distinct code and data pages and lines.
# Every round of a row gives the same counts but the first, so one boot
# says it; these are what an instruction count (ab.sh --icount) does not
# show: under TCG a distinct block or code page costs a lookup after each
# context switch.
#
#   tools/bench/footprint.sh KDIR OURS.ko ROW [REPS [MODE]]
#
# ROW is a prefix of the latency rows (heap_alloc_cold_4K, ...); MODE is
# `heap` (default) or `heap-accounted`. The guest runs several times slower
# with the plugin.
set -euo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
[ $# -ge 3 ] || { sed -n '3,18p' "$0"; exit 2; }
kdir=$1 ours=$2 row=$3 reps=${4:-2} mode=${5:-heap}
work=$top/build/bench-footprint
rm -rf "$work" && mkdir -p "$work/guest"
gcc -O2 -Wall -Wextra -Wno-unused-parameter -shared -fPIC -fvisibility=hidden \
	-o "$work/footprint.so" "$top/tools/bench/footprint.c"
"$top/tools/bench/build.sh" "$kdir" "$work/guest/bench"
cp "$kdir/drivers/dma-buf/heaps/system_heap.ko" "$work/guest/"
cp "$ours" "$work/guest/rsystem_heap.ko"
append=""
[ "$mode" = heap-accounted ] && append=dma_heap.mem_accounting=1
"$top/tools/vm/run" --kdir "$kdir" --add "$work/guest" --timeout 1800 --prealloc \
	--plugin "$work/footprint.so,$work/plugin.log" ${append:+--append "$append"} \
	--log "$work/console.log" -- \
	"insmod system_heap.ko && insmod rsystem_heap.ko heap_name=rsystem && \
	 BENCH_FOOTPRINT=1 ./bench $reps $mode $row" >/dev/null
# The n-th window the bench opened is the n-th line the plugin printed.
grep -a '^bench-footprint: ' "$work/console.log" | sed 's/^bench-footprint: //' | tr -d '\r' \
	>"$work/windows.txt"
grep -a '^footprint ' "$work/plugin.log" >"$work/counts.txt"
/usr/bin/python3 - "$work/windows.txt" "$work/counts.txt" <<'EOF'
import statistics, sys
from collections import defaultdict
windows = open(sys.argv[1]).read().split()
counts = open(sys.argv[2]).read().splitlines()
if len(windows) != len(counts):
    sys.exit(f"footprint: {len(windows)} windows opened, {len(counts)} counted")
v = defaultdict(lambda: defaultdict(list))
for window, line in zip(windows, counts):
    f = line.split()[1:]
    for name, value in zip(f[::2], f[1::2]):
        v[window][name].append(int(value))
for window in v:
    print(window.ljust(36), " ".join(f"{k} {statistics.median(x):g}" for k, x in v[window].items()))
EOF

#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# A/B of two builds of rsystem_heap.ko on some heap rows: heap-only boots
# (both heaps, C's system_heap.ko beside ours, interleaved as in `make
# bench`), alternating the two builds boot by boot, so that drift of the
# host hits both alike. Prints each boot's ratio (ours/C, paired) per row,
# then each build's ratios over its boots.
#
#   tools/bench/ab.sh [--icount] KDIR A.ko B.ko ROW [BOOTS [REPS [MODE]]]
#
# ROW is a prefix of the rows to take (bench.c's third argument); MODE is
# `heap` (default) or `heap-accounted` (the boot with
# dma_heap.mem_accounting=1). With --icount the VMs count instructions as
# time (tools/vm/run --icount): every figure is then an instruction count,
# the same in every boot, which tells a change in the work done from the
# emulator's noise, but shows nothing of memory, cache or TLB costs.
set -euo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
icount=()
[ "${1:-}" = --icount ] && { icount=(--icount); shift; }
[ $# -ge 4 ] || { sed -n '3,18p' "$0"; exit 2; }
kdir=$1 a=$2 b=$3 row=$4 boots=${5:-3} reps=${6:-9} mode=${7:-heap}
work=$top/build/bench-ab
mkdir -p "$work"
"$top/tools/bench/build.sh" "$kdir" "$work/bench"
append=""
[ "$mode" = heap-accounted ] && append=dma_heap.mem_accounting=1

for i in $(seq 1 "$boots"); do
	for build in A B; do
		ko=$a
		[ "$build" = B ] && ko=$b
		dir=$work/$build
		rm -rf "$dir" && mkdir -p "$dir"
		cp "$kdir/drivers/dma-buf/heaps/system_heap.ko" "$work/bench" "$dir/"
		cp "$ko" "$dir/rsystem_heap.ko"
		"$top/tools/vm/run" --kdir "$kdir" --add "$dir" --timeout 900 --prealloc "${icount[@]}" \
			${append:+--append "$append"} --log "$dir/console.log" -- \
			"insmod system_heap.ko && insmod rsystem_heap.ko heap_name=rsystem && \
			 ./bench $reps $mode $row" >/dev/null
		grep -a '^bench-csv: ' "$dir/console.log" | sed 's/^bench-csv: //' | tr -d '\r' |
			sed "s/^/$build,$i,/" >>"$work/samples.csv.new"
	done
done
mv "$work/samples.csv.new" "$work/samples.csv"
/usr/bin/python3 - "$work/samples.csv" "$top/tools/bench" <<'EOF'
import csv, math, statistics, sys
from collections import defaultdict
sys.path.insert(0, sys.argv[2])
from report import paired_ratio
# A boot's ratio: the median over its reps of ours over C's sample of the
# same rep, taken just before.
v = defaultdict(dict)
for build, boot, workload, driver, rep, value, unit in csv.reader(open(sys.argv[1])):
    v[(workload, build, boot)].setdefault(rep, {})[driver] = float(value)
ratios = defaultdict(list)
for (workload, build, boot) in sorted(v):
    r = paired_ratio(v[(workload, build, boot)].values())
    if math.isnan(r):
        continue
    ratios[(workload, build)].append(r)
    print(f"boot {boot} {build} {workload}: {r:.3f}")
for (workload, build), rs in sorted(ratios.items()):
    print(f"{build} {workload}: " + " ".join(f"{r:.3f}" for r in rs) +
          f"  median {statistics.median(rs):.3f}")
EOF

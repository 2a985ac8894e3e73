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
#   tools/bench/footprint.sh [--blocks] KDIR OURS.ko ROW [REPS [MODE]]
#
# ROW is a prefix of the latency rows (heap_alloc_cold_4K, ...); MODE is
# `heap` (default) or `heap-accounted`. The guest runs several times slower
# with the plugin. With --blocks, each driver's last round of each row is
# also broken down by function (the guest's /proc/kallsyms for the modules,
# System.map for the kernel): distinct blocks per function, and the code
# pages of the kernel, each module and the bench.
set -euo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
blocks=0
[ "${1:-}" = --blocks ] && { blocks=1; shift; }
[ $# -ge 3 ] || { sed -n '3,22p' "$0"; exit 2; }
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
plugin_args="" symbols=""
if [ $blocks = 1 ]; then
	plugin_args=,blocks=on
	# The modules' symbols and where the kernel's text starts (KASLR).
	symbols="; grep -E '\[(rsystem_heap|system_heap)\]| T _text\$' /proc/kallsyms | \
		sed 's/^/bench-sym: /'"
fi
"$top/tools/vm/run" --kdir "$kdir" --add "$work/guest" --timeout 1800 --prealloc \
	--plugin "$work/footprint.so$plugin_args,$work/plugin.log" ${append:+--append "$append"} \
	--log "$work/console.log" -- \
	"insmod system_heap.ko && insmod rsystem_heap.ko heap_name=rsystem && \
	 BENCH_FOOTPRINT=1 ./bench $reps $mode $row $symbols" >/dev/null
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
[ $blocks = 1 ] || exit 0
grep -a '^bench-sym: ' "$work/console.log" | sed 's/^bench-sym: //' | tr -d '\r' >"$work/symbols.txt"
grep -a '^footprint-blocks' "$work/plugin.log" >"$work/blocks.txt"
/usr/bin/python3 - "$work/windows.txt" "$work/blocks.txt" "$work/symbols.txt" "$kdir/System.map" <<'EOF'
import bisect, sys
from collections import Counter, defaultdict
windows = open(sys.argv[1]).read().split()
rounds = [l.split()[1:] for l in open(sys.argv[2])]
syms, text = [], None
for line in open(sys.argv[3]):
    f = line.split()
    if len(f) == 3 and f[2] == "_text":
        text = int(f[0], 16)
    elif len(f) >= 4:
        syms.append((int(f[0], 16), f[2], f[3].strip("[]")))
smap = [l.split() for l in open(sys.argv[4])]
base = next(int(a, 16) for a, t, n in smap if n == "_text")
syms += [(int(a, 16) - base + text, n, "kernel") for a, t, n in smap if t in "tTwW"]
syms.sort()
addrs = [a for a, _, _ in syms]
# Each window's last round: the plugin's n-th line is the n-th window.
last = dict(zip(windows, rounds))
for window, blocks in last.items():
    funcs, pages = Counter(), defaultdict(set)
    for b in blocks:
        i = bisect.bisect_right(addrs, int(b, 16)) - 1
        # Below the first symbol: the bench's own code.
        _, name, owner = syms[i] if i >= 0 else (0, "-", "user")
        funcs[(owner, name)] += 1
        pages[owner].add(int(b, 16) >> 12)
    print(f"{window}: {len(blocks)} distinct blocks")
    for owner in sorted(pages):
        n = sum(c for (o, _), c in funcs.items() if o == owner)
        print(f"  {owner}: {n} blocks on {len(pages[owner])} pages")
        for (o, name), c in funcs.most_common():
            if o == owner:
                print(f"    {c:4} {name[:120]}")
EOF

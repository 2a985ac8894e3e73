#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# Runs inside the debug-kernel VM (make check-debug), after run-tests.sh:
# the seeded fuzzer, fault injection, and the module lifecycle loop, each
# followed by the leak checks. Prints rdmabuf-result lines like run-tests.sh
# and a closing summary with the figures.
#
#   debug-run.sh SEED FUZZ_SECONDS FAULT_ROUNDS LIFECYCLE_LOOPS
seed=${1:-1}
fuzz_seconds=${2:-60}
fault_rounds=${3:-300}
loops=${4:-100}

result() { echo "rdmabuf-result: $1 $2"; }
check() { if [ "$1" = 0 ]; then result PASS "$2"; else result FAIL "$2"; fi; }
# Waits up to 10 s for the heap's free queue to empty and for the last
# udmabuf to be released: a release can come a little after the program
# exits (an fput deferred to a worker, e.g. vgem dropping an import).
settle() {
	for _ in $(seq 100); do
		[ "$(awk '$1 == "queued_pages:" { print $2 }' /sys/kernel/debug/rsystem_heap/stats)" = 0 ] &&
			[ "$(awk '$1 == "buffers:" { print $2 }' /sys/kernel/debug/rudmabuf/stats)" = 0 ] &&
			return
		sleep 0.1
	done
}

# Pins balanced, rudmabuf's counters at zero, kmemleak quiet.
leak_checks() {
	settle
	echo 1 >/proc/sys/vm/stat_refresh
	acq=$(awk '$1 == "nr_foll_pin_acquired" { print $2 }' /proc/vmstat)
	rel=$(awk '$1 == "nr_foll_pin_released" { print $2 }' /proc/vmstat)
	echo "# $1: nr_foll_pin_acquired=$acq nr_foll_pin_released=$rel"
	[ "$acq" = "$rel" ]; check $? "$1/pins-balanced"
	live=$(awk '$1 != "last_sg_entries:" && $2 != 0' /sys/kernel/debug/rudmabuf/stats)
	[ -z "$live" ]; check $? "$1/rudmabuf-counters-zero"
	# kmemleak reports objects unreferenced for 5 s or more, after two scans.
	sleep 6
	echo scan >/sys/kernel/debug/kmemleak
	echo scan >/sys/kernel/debug/kmemleak
	leaks=$(grep -c '^unreferenced object' /sys/kernel/debug/kmemleak)
	echo "# $1: kmemleak: $leaks unreferenced objects"
	[ "$leaks" = 0 ] || head -n 40 /sys/kernel/debug/kmemleak
	total_leaks=$((total_leaks + leaks))
	[ "$leaks" = 0 ]; check $? "$1/kmemleak-clean"
	echo clear >/sys/kernel/debug/kmemleak
}
total_leaks=0

echo 64 >/proc/sys/vm/nr_hugepages
# Anything from boot and the suites before us is not ours to judge here.
echo scan >/sys/kernel/debug/kmemleak
echo clear >/sys/kernel/debug/kmemleak

# 1. The fuzzer, four threads.
# Not through a pipe: busybox sh has no pipefail, and the check is on the
# program's own exit status.
./fuzz -s "$seed" -t "$fuzz_seconds" -j 4 >/tmp/fuzz.out 2>&1
status=$?
cat /tmp/fuzz.out
check $status fuzz/no-unexpected-errno
leak_checks fuzz

# 2. Fault injection for this task only, while creating and allocating.
budget=1000000
for f in failslab fail_page_alloc; do
	d=/sys/kernel/debug/$f
	echo Y >$d/task-filter
	echo 20 >$d/probability
	echo 1 >$d/interval
	echo $budget >$d/times
	echo 0 >$d/verbose
	echo N >$d/ignore-gfp-wait
done
echo N >/sys/kernel/debug/fail_page_alloc/ignore-gfp-highmem
echo 0 >/sys/kernel/debug/fail_page_alloc/min-order
./faultinject "$fault_rounds" >/tmp/fault.out 2>&1
status=$?
cat /tmp/fault.out
check $status faultinject/errno-only
injected=0
for f in failslab fail_page_alloc; do
	left=$(cat /sys/kernel/debug/$f/times)
	injected=$((injected + budget - left))
	echo 0 >/sys/kernel/debug/$f/probability
done
echo "# faults injected: $injected"
[ "$injected" -gt 0 ]; check $? faultinject/faults-were-injected
# This boot bounces every DMA mapping through a 16 MiB swiotlb: the largest
# udmabufs cannot be mapped, and each failure came back as an errno.
dma_failures=$(sed -n 's/.*dma_map_failures=\([0-9]*\).*/\1/p' /tmp/fault.out | tail -n1)
[ "${dma_failures:-0}" -gt 0 ]; check $? faultinject/dma-mapping-failures-seen
leak_checks faultinject

# 3. Lifecycle: rudmabuf unloaded and loaded again with buffers in between.
# The last reference to a buffer can be dropped a little after the fuzzer
# exits (an fput deferred to a worker, e.g. from vgem's import), so rmmod
# gets up to 5 s; a buffer that really leaked keeps the module busy longer.
unload() {
	for _ in $(seq 50); do
		rmmod rudmabuf 2>/dev/null && return 0
		sleep 0.1
	done
	rmmod rudmabuf
}
ok=0
for i in $(seq "$loops"); do
	unload || break
	insmod /modules/rudmabuf.ko || break
	./fuzz -s "$((seed + i))" -i 10 -j 1 >/dev/null || break
	ok=$((ok + 1))
done
echo "# lifecycle: $ok of $loops unload/load rounds"
[ "$ok" = "$loops" ]; check $? lifecycle/unload-load-rounds
leak_checks lifecycle

ops=$(sed -n 's/.*ops=\([0-9]*\).*/\1/p' /tmp/fuzz.out | tail -n1)
bad=$(sed -n 's/.*bad_inputs=\([0-9]*\).*/\1/p' /tmp/fuzz.out | tail -n1)
echo "# reliability: seed=$seed fuzz_ops=${ops:-0} bad_inputs=${bad:-0} faults_injected=$injected" \
	"dma_map_failures=${dma_failures:-0} lifecycle_rounds=$ok leaks=$total_leaks"

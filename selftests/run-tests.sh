#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# Runs inside the test VM (see tools/vm/run) with rudmabuf and rsystem_heap
# loaded. Prints the KTAP results of the modules' KUnit suites (they ran when
# the modules were loaded) and the TAP output of the selftests, and after each
# test case one normalised line for tools/check.sh to count:
#   rdmabuf-result: PASS|FAIL|SKIP <source>/<name>
#
#   run-tests.sh [own|conformance|vivid|all|accounting]     (default: all)
#
# `accounting` runs the memory-cgroup case, in a boot with
# dma_heap.mem_accounting=1. `vivid` (part of `all`) loads the kernel's vivid
# test driver from ./vivid (modules in the order of ./vivid/order, as
# tools/check.sh copies them) once per videobuf2 allocator and streams into
# our buffers (vivid_test).
what=${1:-all}

result() { echo "rdmabuf-result: $1 $2"; }

# Normalise TAP/KTAP test lines at the given indent; $1 = indent, $2 = prefix.
tap_results() {
	awk -v indent="$1" -v prefix="$2" '
	{
		line = $0
		if (substr(line, 1, length(indent)) != indent) next
		line = substr(line, length(indent) + 1)
		if (line !~ /^(not )?ok [0-9]+/) next
		status = (line ~ /^not ok/) ? "FAIL" : "PASS"
		if (line ~ /# *SKIP/) status = "SKIP"
		sub(/^(not )?ok [0-9]+ *-? */, "", line)
		sub(/ *#.*$/, "", line)
		gsub(/[ \t]+/, "_", line)
		printf "rdmabuf-result: %s %s/%s\n", status, prefix, line
	}'
}

kunit() {
	found=0
	for dir in /sys/kernel/debug/kunit/rudmabuf_* /sys/kernel/debug/kunit/rsystem_heap_*; do
		[ -f "$dir/results" ] || continue
		found=1
		suite=$(basename "$dir")
		cat "$dir/results"
		tap_results "    " "kunit/$suite" <"$dir/results"
	done
	[ "$found" = 1 ] || result FAIL kunit/no-suites-found
	# The kernel log's timestamps time each case (tools/tests/times.py).
	dmesg | grep -E '^\[ *[0-9.]+\] +(# Subtest: (rudmabuf|rsystem_heap)|(not )?ok [0-9]+ )' |
		sed 's/^/rdmabuf-kunit: /'
}

# Prefixes each line with the guest's uptime, for the test time table
# (tools/tests/times.py reads "rdmabuf-stamp: UPTIME LINE" on the console).
stamp() {
	while IFS= read -r line; do
		read -r up _ </proc/uptime
		echo "rdmabuf-stamp: $up $line"
	done
}

# Run one TAP-printing program under a time limit; a crash, a kill or a
# non-zero exit without a failed test line counts as a failure of its own,
# except a known stop: with known_stop="MESSAGE|CASE..." set, an exit whose
# output ends with MESSAGE records each CASE as skipped.
#   run_tap NAME TIMEOUT COMMAND...
known_stop=
run_tap() {
	name=$1 limit=$2
	shift 2
	out=/tmp/tap.$$
	echo "rdmabuf-program: $name $limit"
	{ timeout -s KILL "$limit" "$@" 2>&1; echo $? >/tmp/rc.$$; } | stamp >"$out"
	rc=$(cat /tmp/rc.$$)
	sed 's/^rdmabuf-stamp: [0-9.]* //' "$out" | tee "$out.plain"
	grep '^rdmabuf-stamp: ' "$out"
	tap_results "" "$name" <"$out.plain" | tee /tmp/res.$$
	stop_message=${known_stop%%|*}
	if [ "$rc" != 0 ] && [ -n "$known_stop" ] && ! grep -q 'FAIL' /tmp/res.$$ &&
		tail -n 1 "$out.plain" | grep -qF "$stop_message"; then
		for case in ${known_stop#*|}; do
			result SKIP "$name/$case"
		done
	elif [ "$rc" != 0 ] && [ "$rc" != 4 ] && ! grep -q 'FAIL' /tmp/res.$$; then
		result FAIL "$name/exit-status-$rc"
	fi
	if [ ! -s /tmp/res.$$ ]; then
		if [ "$rc" = 4 ]; then result SKIP "$name/skipped"; else result FAIL "$name/no-results"; fi
	fi
	rm -f "$out" "$out.plain" /tmp/res.$$ /tmp/rc.$$
}

# Free pinned pages and foll-pin balance: everything closed must be unpinned.
pin_balance() {
	# Fold the per-CPU counter deltas first, or the figures lag.
	echo 1 >/proc/sys/vm/stat_refresh
	acq=$(awk '$1 == "nr_foll_pin_acquired" { print $2 }' /proc/vmstat)
	rel=$(awk '$1 == "nr_foll_pin_released" { print $2 }' /proc/vmstat)
	echo "# nr_foll_pin_acquired=$acq nr_foll_pin_released=$rel"
	if [ "$acq" = "$rel" ]; then result PASS "$1/pins-balanced"; else result FAIL "$1/pins-balanced"; fi
}

# The default huge page size: 2 MiB on x86_64, 32 MiB on arm64 with 16 KiB
# pages. hugepages reserves N of them, hugepages_mb enough for MiB.
hugepage_kb=$(awk '$1 == "Hugepagesize:" { print $2 }' /proc/meminfo)
hugepages() {
	echo "$1" >/proc/sys/vm/nr_hugepages
	echo "# hugepages: $(cat /proc/sys/vm/nr_hugepages) of $1 reserved ($hugepage_kb kB each)"
}
hugepages_mb() {
	hugepages $(($1 * 1024 / hugepage_kb))
}

# The runner gives the guest two CPUs; the concurrency tests and the heap's
# zeroing thread need them online (an MP table listing one would not do).
cpus=$(grep -c '^processor' /proc/cpuinfo)
echo "# cpus online: $cpus"
page_size=$(./getconf PAGESIZE)
echo "# $(uname -m): getconf PAGESIZE = $page_size, huge pages of $hugepage_kb kB"
if [ "$cpus" -ge 2 ]; then result PASS vm/two-cpus-online; else result FAIL vm/two-cpus-online; fi

case "$what" in
own | all)
	kunit
	hugepages_mb 2048
	run_tap selftests/udmabuf 600 ./udmabuf_test
	run_tap selftests/heap 600 ./heap_test
	pin_balance selftests
	# Every buffer is gone: the module unloads, and loads again.
	if rmmod rudmabuf && insmod /modules/rudmabuf.ko; then
		result PASS selftests/rmmod-after-last-buffer
	else
		result FAIL selftests/rmmod-after-last-buffer
	fi
	;;
esac
# vivid with one capture node (a webcam input), allocators=$1.
vivid_load() {
	for m in $(cat vivid/order); do
		params=
		[ "$m" = vivid ] && params="n_devs=1 node_types=0x1 num_inputs=1 input_types=0 allocators=$1"
		insmod "vivid/$m.ko" $params || return 1
	done
}

vivid_unload() {
	rc=0 rev=
	for m in $(cat vivid/order); do rev="$m $rev"; done
	for m in $rev; do
		rmmod "$m" || rc=1
	done
	return $rc
}

case "$what" in
vivid | all)
	if [ ! -s vivid/order ]; then
		result SKIP vivid/no-modules
	else
		hugepages 8
		for alloc in 0 1; do
			name=vivid/allocators-$alloc
			if ! vivid_load $alloc; then
				result FAIL "$name/insmod"
				vivid_unload 2>/dev/null
				continue
			fi
			run_tap "$name" 120 ./vivid_test
			if vivid_unload; then result PASS "$name/rmmod"; else result FAIL "$name/rmmod"; fi
		done
		hugepages 0
		pin_balance vivid
	fi
	;;
esac
# cgroup2 at /sys/fs/cgroup with the memory controller on, and rsh/ for
# the heap's memcg tests with it on for their cgroups (rsh/a, rsh/b, ...).
memcg_setup() {
	cg=/sys/fs/cgroup
	if ! grep -q " $cg cgroup2 " /proc/mounts; then
		mkdir -p $cg && mount -t cgroup2 none $cg || return 1
	fi
	echo +memory >$cg/cgroup.subtree_control || return 1
	mkdir -p $cg/rsh && echo +memory >$cg/rsh/cgroup.subtree_control
}

case "$what" in
accounting)
	# The memcg fixture's tests (memcg_accounting, memcg_pools_never_cross,
	# memcg_limit, memcg_pressure_shrinks_own_pool,
	# memcg_rmdir_with_pooled_pages): 480 s, the sum of their timeouts.
	# (On a failure the tests' own set-up tries again, and fails.)
	memcg_setup || echo "# cgroup2 memory set-up at /sys/fs/cgroup/rsh failed"
	run_tap selftests/heap-accounting 480 ./heap_test -f memcg
	;;
esac
# The kernel's udmabuf selftest. Its hugetlbfs cases (test-6, test-7) use
# a memfd of 1024 "2 MB" pages of 512 base pages each: 2 GiB with 4 KiB
# pages, 8 GiB with 16 KiB pages (the arm64 guest has the memory for it).
# It computes that size in 32 bits, which wraps to 0 with 16 KiB pages: the
# program then stops at "ubuf_fd mmap fail" (its own mmap of the memfd,
# before any udmabuf call), with the C driver as with ours (the upstream-c
# boot shows it). Those two cases are then reported skipped, and
# udmabuf-64bit-size, the same program with the size in 64 bits, runs them.
conformance_udmabuf() { # PREFIX
	hugepages_mb $((1024 * 512 * page_size / 1048576))
	if [ $((1024 * 512 * page_size)) -ge 4294967296 ]; then
		known_stop="ubuf_fd mmap fail|test-6 test-7"
	fi
	# kselftest's runner gives a program 45 s; under TCG (and KASAN in the
	# debug boot) the udmabuf one alone takes 14 s and more: 120 s.
	run_tap "$1/udmabuf" 120 ./conformance/udmabuf
	known_stop=
	run_tap "$1/udmabuf-64bit-size" 120 ./conformance/udmabuf-64bit-size
	hugepages 0
}

# The kernel's dmabuf-heap selftest tests every heap under /dev/dma_heap.
# It runs with only ours in view (a bind mount), so that it judges ours: on
# Linux 6.12 the C system heap is built in beside it.
conformance_heap() {
	name=$(cat /sys/module/rsystem_heap/parameters/heap_name)
	echo "# heaps: $(ls /dev/dma_heap | tr '\n' ' '); testing $name"
	mkdir -p /tmp/our-heap
	cp -a "/dev/dma_heap/$name" /tmp/our-heap/
	mount --bind /tmp/our-heap /dev/dma_heap
	run_tap conformance/dmabuf-heap 120 ./conformance/dmabuf-heap
	umount /dev/dma_heap
}

case "$what" in
conformance | all)
	conformance_udmabuf conformance
	conformance_heap
	pin_balance conformance
	;;
upstream-c)
	# A boot with the C udmabuf in place of ours (tools/check.sh boots it
	# where the page size makes the selftest stop early).
	conformance_udmabuf upstream-c
	pin_balance upstream-c
	;;
esac

#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# `make check` and `make check-debug`: build the kernel (cached) and the
# modules, lint, boot the VM, run the KUnit suites, the selftests and the
# conformance suites, and print one summary line:
#   N passed, N failed, N skipped
# Exit status is non-zero on any failure.
#
#   tools/check.sh [--arch x86_64|arm64] [--debug] [KDIR]
#
# --debug uses the debug kernel flavor (KASAN, lockdep, kmemleak, fault
# injection; tools/kernel/debug.config) and adds the seeded fuzzer, fault
# injection and the module lifecycle loop (tools/fuzz/). Its fuzzing time is
# RDMABUF_FUZZ_SECONDS (default 60), its seed RDMABUF_FUZZ_SEED (default:
# the date); the seed is printed so that a run can be reproduced.
#
# --arch arm64 runs the same suites on the arm64 kernel (16 KiB pages), whose
# one build carries the debug options: both names boot it.
#
# KVER=6.12 in the environment (the Makefile's KVER) runs the suites on the
# Linux 6.12 LTS kernel: x86_64's test kernel, or with --arch arm64 the
# arm64 one (16 KiB pages, debug options, as for 7.3). Where 6.12 lacks a
# uapi (the dma-heap core's mem_accounting) the suite that needs it is
# counted as skipped.
set -uo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
build=$top/build
mkdir -p "$build"
passed=0 failed=0 skipped=0
failures=() consoles=() boot_times=()
flavor=test arch=x86_64
if [ "${1:-}" = --arch ]; then
	arch=$2
	shift 2
fi
[ "$arch" = x86 ] && arch=x86_64
if [ "${1:-}" = --debug ]; then
	flavor=debug
	shift
fi
kver=${KVER:-7.3}
if [ "$kver" != 7.3 ] && [ "$arch" = x86_64 ] && [ "$flavor" != test ]; then
	echo "[check] KVER=$kver: x86_64 has no debug kernel for it (ARCH=arm64 has)" >&2
	exit 2
fi
# Where this kernel's and architecture's test programs, logs and copies go
# (the Makefile's MODDIR and SELFTEST_OUT).
if [ "$kver" != 7.3 ]; then
	out=$build/linux-$kver-$arch tag=$kver-$flavor
	[ "$arch" = x86_64 ] || tag=$kver-$arch-$flavor
	mkdir -p "$out"
elif [ "$arch" = x86_64 ]; then
	out=$build tag=$flavor
else
	out=$build/$arch tag=$arch-$flavor
	mkdir -p "$out"
fi

log() { printf '[check] %s\n' "$*"; }
record() { # STATUS NAME
	case "$1" in
	PASS) passed=$((passed + 1)) ;;
	SKIP) skipped=$((skipped + 1)) ;;
	*) failed=$((failed + 1)); failures+=("$2") ;;
	esac
}
step() { # NAME COMMAND...
	local name=$1 t0=$SECONDS
	shift
	log "$name: $*"
	if "$@"; then
		log "$name: done in $((SECONDS - t0)) s"
		record PASS "$name"
		return 0
	fi
	log "$name: FAILED after $((SECONDS - t0)) s"
	record FAIL "$name"
	return 1
}
summary() {
	# How long each test took against its timeout (tools/tests/times.py).
	if [ ${#consoles[@]} -gt 0 ]; then
		python3 tools/tests/times.py "$build/test-times-$tag.md" "${consoles[@]}" "${boot_times[@]}"
	fi
	log "total: $SECONDS s"
	if [ ${#failures[@]} -gt 0 ]; then
		log "failed:"
		printf '  %s\n' "${failures[@]}"
	fi
	echo "$passed passed, $failed failed, $skipped skipped"
	[ "$failed" = 0 ]
	exit $?
}
# Show a console log's test output, without kernel log noise, and count
# its result lines.
count_results() {
	grep -av '^\[ *[0-9.]*\]' "$1" | grep -avE '^rdmabuf-(result|stamp|program|kunit):' || true
	while read -r _ status name; do
		record "$status" "$name"
	done < <(grep -a '^rdmabuf-result: ' "$1" | tr -d '\r')
}
# The kernel's vivid test driver and the modules it needs, from the kernel
# build tree, in load order (dependencies first) in vivid/order, for the
# vivid case of run-tests.sh (a real importer that maps and vmaps).
vivid_modules() { # KDIR OUTDIR
	local tree=$1 out=$2/vivid order=() seen=" "
	rm -rf "$out"
	mkdir -p "$out"
	visit() {
		local name=$1 path dep
		[[ "$seen" == *" $name "* ]] && return 0
		seen+="$name "
		path=$(find "$tree" -name "$name.ko" -print -quit)
		[ -n "$path" ] || { log "vivid: module $name not found in $tree"; return 1; }
		for dep in $(modinfo -F depends "$path" | tr ',' ' '); do
			visit "$dep" || return 1
		done
		cp "$path" "$out/"
		order+=("$name")
	}
	visit vivid || return 1
	printf '%s\n' "${order[@]}" >"$out/order"
	log "vivid: modules ${order[*]}"
}

# Boots the VM with the modules of `load`: NAME TIMEOUT EXTRA-RUNNER-ARGS... -- COMMAND
boot() {
	local name=$1 timeout=$2 console=$build/check-$tag-$1.log t0=$SECONDS
	shift 2
	log "vm ($name): booting $kdir under QEMU (TCG), console log in $console"
	tools/vm/run --kdir "$kdir" --load "${load[@]}" \
		--add "$out/selftests" "$out/vivid-modules" --log "$console" --timeout "$timeout" "$@" >/dev/null
	local status=$?
	log "vm ($name): $((SECONDS - t0)) s of its $timeout s"
	consoles+=("$console")
	boot_times+=(--boot "$tag/$name" "$((SECONDS - t0))" "$timeout")
	if [ "$status" = 0 ]; then record PASS "vm/$name/clean-run"; else
		log "vm ($name): FAILED with status $status (kernel reports, timeout, crash or failed rmmod)"
		record FAIL "vm/$name/clean-run"
	fi
	count_results "$console"
}

if [ -n "${1:-}" ]; then
	kdir=$1
	log "kernel: using KDIR=$kdir"
else
	log "kernel: building or reusing the cached $flavor kernel"
	kdir=$(tools/kernel/build.sh --arch "$arch" "$flavor") || { record FAIL kernel-build; summary; }
fi
make_args=(KDIR="$kdir" ARCH="$arch")

if [ "$arch" = arm64 ] || [ "$kver" != 7.3 ]; then
	# The Makefile builds these modules in a copy of the tree.
	ko_dir=$out/src
	step build make -s "${make_args[@]}" modules || summary
	[ "$flavor" = test ] && step lint make -s "${make_args[@]}" lint
elif [ "$flavor" = test ]; then
	ko_dir=$top
	step build make -s "${make_args[@]}" modules || summary
	step lint make -s "${make_args[@]}" lint
	step tooling tools/tests/tooling.sh
else
	# Objects of another kernel must not mix with the main tree's: build a copy.
	ko_dir=$build/debug/src
	mkdir -p "$ko_dir"
	rsync -a --delete --exclude /build --exclude /.git --exclude '*.o' --exclude '*.ko' \
		--exclude '*.mod' --exclude '*.mod.c' --exclude '.*.cmd' --exclude /modules.order \
		--exclude /Module.symvers ./ "$ko_dir/"
	step build-debug make -s -C "$kdir" M="$ko_dir" $(. tools/toolchain.env; echo "$KMAKE_FLAGS") \
		modules || summary
fi
step selftests-build make -s "${make_args[@]}" selftests || summary
step vivid-modules vivid_modules "$kdir" "$out/vivid-modules" || summary

load=("$ko_dir/rudmabuf.ko" "$ko_dir/rsystem_heap.ko")
# Linux 6.12 and 7.3 print a module symbol of KSYM_NAME_LEN (512) or more
# characters with a negative length (module_address_lookup() passes on
# strscpy()'s -E2BIG, and __sprint_symbol() then writes before its
# buffer): a backtrace through such a function, a WARN's or the OOM
# killer's, corrupts the kernel stack. Generic Rust code can mangle to
# names that long; no symbol of the modules may be.
symbol_names_fit() { # KO...
	local ko long=""
	for ko in "$@"; do
		long+=$(nm "$ko" | awk -v ko="$(basename "$ko")" \
			'length($NF) >= 512 { printf "%s: %d characters: %.120s...\n", ko, length($NF), $NF }')$'\n'
	done
	long=${long//$'\n\n'/$'\n'}
	long=${long#$'\n'}
	[ -z "$long" ] || { printf '%s\n' "$long"; return 1; }
}
step symbol-names symbol_names_fit "${load[@]}"
# Timeouts: the arm64 kernel runs the suite under KASAN, lockdep and
# kmemleak, emulated; x86_64's test kernel has none of them.
if [ "$arch" = arm64 ]; then slow=2; else slow=1; fi
if [ "$flavor" = test ]; then
	boot main $((1200 * slow)) -- ./run-tests.sh all
	# Bounce buffering, as in confidential-computing guests: every streaming
	# DMA mapping goes through a 16 MiB swiotlb (8192 slabs of 2 KiB).
	boot bounce $((1200 * slow)) --append "swiotlb=8192,force" -- ./run-tests.sh all
	# A boot with the dma-heap core's mem_accounting on: heap buffers are
	# charged to memory cgroups, and each memcg's pages are pooled for it
	# alone (heap_test's memcg fixture).
	if [ "$kver" = 6.12 ]; then
		log "vm (accounting): skipped: Linux 6.12 has no dma_heap.mem_accounting"
		record SKIP vm/accounting/clean-run
		for t in memcg_accounting memcg_pools_never_cross memcg_limit \
			memcg_pressure_shrinks_own_pool memcg_rmdir_with_pooled_pages; do
			record SKIP "selftests/heap-accounting/memcg.$t"
		done
	else
		boot accounting $((900 * slow)) --append dma_heap.mem_accounting=1 -- ./run-tests.sh accounting
	fi
	if [ "$arch" = arm64 ]; then
		# The kernel's udmabuf selftest stops early with 16 KiB pages
		# (run-tests.sh says why): the C driver, built in and kept, under
		# the same programs shows that it stops there too.
		load=()
		RDMABUF_KEEP_C_UDMABUF=1 boot upstream-c 600 -- ./run-tests.sh upstream-c
	fi
else
	seed=${RDMABUF_FUZZ_SEED:-$(date +%s)}
	log "fuzz seed: $seed (RDMABUF_FUZZ_SEED=$seed reproduces it)"
	fuzz="./debug-run.sh $seed ${RDMABUF_FUZZ_SECONDS:-60} 300 20"
	if [ "$arch" = arm64 ]; then
		# make check ARCH=arm64 already ran every suite on this kernel,
		# with bouncing and accounting: add what only the debug run has.
		boot debug 3000 --append "swiotlb=8192,force" -- "$fuzz"
	else
		# Every DMA mapping bounces (16 MiB swiotlb), under KASAN and DMA
		# API debugging: mapping failures are part of the run (tools/fuzz/).
		boot debug 3000 --append "swiotlb=8192,force" -- "./run-tests.sh all; $fuzz"
		boot accounting 900 --append dma_heap.mem_accounting=1 -- ./run-tests.sh accounting
	fi
fi
summary

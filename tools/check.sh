#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# `make check`: build the kernel (cached) and the modules, lint, boot the VM,
# run the KUnit suites and the selftests, and print one summary line:
#   N passed, N failed, N skipped
# Exit status is non-zero on any failure.
set -uo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
build=$top/build
mkdir -p "$build"
passed=0 failed=0 skipped=0
failures=()

log() { printf '[check] %s\n' "$*"; }
record() { # STATUS NAME
	case "$1" in
	PASS) passed=$((passed + 1)) ;;
	SKIP) skipped=$((skipped + 1)) ;;
	*) failed=$((failed + 1)); failures+=("$2") ;;
	esac
}
step() { # NAME COMMAND...
	local name=$1
	shift
	log "$name: $*"
	if "$@"; then record PASS "$name"; return 0; fi
	log "$name: FAILED"
	record FAIL "$name"
	return 1
}
summary() {
	if [ ${#failures[@]} -gt 0 ]; then
		log "failed:"
		printf '  %s\n' "${failures[@]}"
	fi
	echo "$passed passed, $failed failed, $skipped skipped"
	[ "$failed" = 0 ]
	exit $?
}

if [ -n "${1:-}" ]; then
	kdir=$1
	log "kernel: using KDIR=$kdir"
else
	log "kernel: building or reusing the cached test kernel"
	kdir=$(tools/kernel/build.sh test) || { record FAIL kernel-build; summary; }
fi
make_args=(KDIR="$kdir")

step build make -s "${make_args[@]}" modules || summary
step lint make -s "${make_args[@]}" lint
step selftests-build make -s "${make_args[@]}" selftests || summary

console=$build/check-console.log
log "vm: booting $kdir under QEMU (TCG), console log in $console"
tools/vm/run --kdir "$kdir" --load rudmabuf.ko rsystem_heap.ko \
	--add "$build/selftests" --log "$console" --timeout 1200 -- ./run-tests.sh all >/dev/null
vm_status=$?
if [ "$vm_status" = 0 ]; then record PASS vm/clean-run; else
	log "vm: FAILED with status $vm_status (kernel reports, timeout, crash or failed rmmod)"
	record FAIL vm/clean-run
fi
# Show the test output, without kernel log noise, and count the results.
count_results() {
	grep -av '^\[ *[0-9.]*\]' "$1" | grep -v '^rdmabuf-result:' || true
	while read -r _ status name; do
		record "$status" "$name"
	done < <(grep -a '^rdmabuf-result: ' "$1" | tr -d '\r')
}
count_results "$console"

# A second boot with the dma-heap core's mem_accounting on: heap buffers are
# charged to memory cgroups and must bypass the pools.
console2=$build/check-console-accounting.log
log "vm: booting with dma_heap.mem_accounting=1, console log in $console2"
tools/vm/run --kdir "$kdir" --load rudmabuf.ko rsystem_heap.ko --append dma_heap.mem_accounting=1 \
	--add "$build/selftests" --log "$console2" --timeout 600 -- ./run-tests.sh accounting >/dev/null
vm_status=$?
if [ "$vm_status" = 0 ]; then record PASS vm/clean-run-accounting; else
	log "vm: FAILED with status $vm_status"
	record FAIL vm/clean-run-accounting
fi
count_results "$console2"
summary

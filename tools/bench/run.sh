#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# `make bench`: one VM boot with the C drivers of the same kernel tree
# (built-in udmabuf, system_heap.ko) and ours under other names
# (/dev/rudmabuf, /dev/dma_heap/rsystem); tools/bench/bench.c runs every
# workload interleaved; then a second boot with dma_heap.mem_accounting=1,
# the two heaps only, for the `_accounted` rows (`bench REPS heap-accounted`:
# each heap's worker in a memory cgroup of its own). Each boot runs BOOTS
# times: a boot now and then runs slower for one driver throughout (one in
# four or five, tools/bench/README.md), and the median of the samples of
# three boots is not moved by one such. All samples go into samples.csv;
# report.py writes the tables, CSV and plot.
#
#   tools/bench/run.sh KDIR [REPS [BOOTS]]
set -euo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
kdir=$1
reps=${2:-9}
boots=${3:-3}
out=$top/tools/bench/results
work=$top/build/bench
mkdir -p "$out" "$work"

log() { printf '[bench] %s\n' "$*"; }

c_heap=$kdir/drivers/dma-buf/heaps/system_heap.ko
[ -f "$c_heap" ] || { log "ERROR: $c_heap missing (CONFIG_DMABUF_HEAPS_SYSTEM=m)"; exit 1; }
"$top/tools/bench/build.sh" "$kdir" "$work/bench"
cp "$c_heap" "$top/rudmabuf.ko" "$top/rsystem_heap.ko" "$work/"

: >"$work/samples.csv"
# Boots a VM that writes its console to LOG, with the further options of
# tools/vm/run and the guest command that follow; appends its samples to
# samples.csv. Sets vm_status (the run's status) and vm_samples (how many).
# --prealloc: a guest page the buddy allocator hands out for the first time
# would otherwise cost a host page fault, which lands on one driver's sample
# or the other's as chance has it (cold 1 MiB read 1.3-2.1x in some boots).
# (PIPESTATUS after `|| true` would be true's: the status needs set +e.)
boot_vm() { # LOG VM-OPTION... -- COMMAND
	local log=$1 start
	shift
	start=$(date +%s)
	set +e
	"$top/tools/vm/run" --kdir "$kdir" --add "$work" --prealloc --log "$log" "$@" |
		grep --line-buffered -E '^# |bench:'
	vm_status=${PIPESTATUS[0]}
	set -e
	vm_samples=$(grep -ac '^bench-csv: ' "$log" || true)
	vm_samples=${vm_samples:-0}
	grep -a '^bench-csv: ' "$log" | sed 's/^bench-csv: //' | tr -d '\r' >>"$work/samples.csv" || true
	log "VM done in $(( $(date +%s) - start )) s (status $vm_status)"
}

status=0 status_accounted=0
for boot in $(seq 1 "$boots"); do
	log "boot $boot of $boots: one VM with both drivers of each kind; $reps samples per figure, interleaved"
	RDMABUF_KEEP_C_UDMABUF=1 boot_vm "$work/console.log" --timeout 1500 -- \
		"insmod system_heap.ko && insmod rudmabuf.ko device_name=rudmabuf && \
		 insmod rsystem_heap.ko heap_name=rsystem && echo 520 > /proc/sys/vm/nr_hugepages && \
		 ./bench $reps"
	[ "$vm_status" = 0 ] || status=$vm_status
	[ "$vm_samples" -gt 0 ] ||
		{ log "ERROR: no samples (VM status $vm_status): see $work/console.log"; exit 1; }

	log "boot $boot of $boots: a VM with dma_heap.mem_accounting=1 and both heaps; $reps samples per figure, interleaved"
	boot_vm "$work/console-accounted.log" --timeout 600 --append dma_heap.mem_accounting=1 -- \
		"insmod system_heap.ko && insmod rsystem_heap.ko heap_name=rsystem && \
		 ./bench $reps heap-accounted"
	[ "$vm_status" = 0 ] || status_accounted=$vm_status
done

/usr/bin/python3 "$top/tools/bench/report.py" "$work/samples.csv" "$out"
[ "$status" = 0 ] || { log "ERROR: the VM run failed (status $status)"; exit 1; }
[ "$status_accounted" = 0 ] || {
	log "ERROR: the accounted VM run failed (status $status_accounted): see $work/console-accounted.log"
	exit 1
}

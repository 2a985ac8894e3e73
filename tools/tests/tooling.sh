#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Checks of the project's own tooling, run in make check's lint stage:
# the layering of driver code over kapi, the VM runner's documented options,
# and that the targets which need no kernel (`make clean`, `make
# selftests`) never start a kernel build.
# Prints one line per check and exits non-zero if any failed.
set -uo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
failed=0
ok() { echo "tooling: ok: $1"; }
bad() { echo "tooling: FAIL: $1"; failed=1; }

# The layering that the safety argument rests on: driver code
# (src/udmabuf, src/system_heap) has no `unsafe` outside comments, and names
# the kernel crate only through kapi's facade (src/kapi/kernel.rs).
driver_rs=$(find src/udmabuf src/system_heap -name '*.rs')
code() { sed -e 's://.*$::' $driver_rs; }
# (grep without -q: under pipefail an early exit would fail the pipe.)
if code | grep -w unsafe >/dev/null; then
	bad "driver code has unsafe"
else
	ok "driver code has no unsafe"
fi
if code | grep -E '(^|[^[:alnum:]_:])kernel::' | grep -v 'crate::kapi::kernel::' >/dev/null; then
	bad "driver code names kernel:: directly, not crate::kapi::kernel::"
else
	ok "driver code names the kernel crate through kapi only"
fi
# One driver source for every supported kernel: kernel-version switches
# (a kernel_6_12 cfg, LINUX_VERSION_CODE) belong in kapi, not in the drivers.
if code | grep -E 'kernel_[0-9]+_[0-9]+' >/dev/null ||
	grep -E 'LINUX_VERSION_CODE|KERNEL_VERSION' src/udmabuf/*.c src/system_heap/*.c >/dev/null; then
	bad "driver code switches on the kernel version"
else
	ok "driver code has no kernel-version switch"
fi

# KUnit runs only the cases a suite lists in its kunit_suite! (src/kapi/kunit.rs):
# every case of a `mod tests`, a function of no parameters that returns `()`
# or `Result`, must be listed, and every `mod tests` must list its cases.
if grep -rn '#\[test\]' src >/dev/null; then
	bad "a #[test] in src/ (KUnit runs the cases of kunit_suite! only)"
else
	ok "no #[test] left in src/"
fi
for f in $(grep -rl '^mod tests {$' src); do
	body=$(sed -n '/^mod tests {$/,/^}$/p' "$f")
	cases=$(sed -nE 's/^    fn ([a-z0-9_]+)\(\)( -> Result)? \{$/\1/p' <<<"$body" | sort)
	listed=$(tr '\n' ' ' <<<"$body" | sed -nE 's/.*kunit_suite!\( *[a-z0-9_]+, *\[([^]]*)\].*/\1/p' |
		tr -s ', ' '\n\n' | grep . | sort)
	missing=$(comm -23 <(echo "$cases") <(echo "$listed") | tr '\n' ' ')
	if [ -z "$listed" ]; then
		bad "$f: its mod tests has no kunit_suite!"
	elif [ -n "$missing" ]; then
		bad "$f: cases not in its kunit_suite!: $missing"
	else
		ok "$f: kunit_suite! lists every case ($(wc -l <<<"$cases"))"
	fi
done

# The runner: every documented option is accepted.
opts=$(sed -n 's/^#   \(--[a-z-]*\).*/\1/p' tools/vm/run)
for opt in $opts; do
	grep -q -- "^	$opt)" tools/vm/run && ok "vm/run parses $opt" || bad "vm/run does not parse $opt"
done
init=$(tools/vm/run --dry-run --load rudmabuf.ko -- true) || bad "vm/run --dry-run failed"
grep -q "rmmod rudmabuf failed'; rc=1" <<<"$init" && ok "a failed rmmod fails the run" ||
	bad "a failed rmmod does not fail the run"
init=$(tools/vm/run --dry-run --allow-unload-fail --load rudmabuf.ko -- true) ||
	bad "vm/run --allow-unload-fail failed"
grep -q "rmmod rudmabuf failed'; :" <<<"$init" && ok "--allow-unload-fail tolerates a failed rmmod" ||
	bad "--allow-unload-fail does not tolerate a failed rmmod"
tools/vm/run --no-such-option -- true >/dev/null 2>&1
[ $? = 2 ] && ok "vm/run rejects an unknown option" || bad "vm/run accepts an unknown option"

# The runner's verdict on a console log: a kernel report fails the run,
# except one logged by the kernel's own boot before init ran.
log=$(mktemp)
report='[    0.124000] BUG: KASAN: wild-memory-access in rcu_is_watching+0x24/0x40'
scan() { printf '%s\n' "$@" >"$log"; tools/vm/run --scan-log "$log" >/dev/null 2>&1; echo $?; }
[ "$(scan 'rdmabuf-vm: boot done' 'rdmabuf-vm: exit=0')" = 0 ] && ok "a clean log passes" ||
	bad "a clean log does not pass"
[ "$(scan 'rdmabuf-vm: boot done' "$report" 'rdmabuf-vm: exit=0')" = 3 ] &&
	ok "a report after the boot fails the run" || bad "a report after the boot does not fail the run"
[ "$(scan "$report" 'rdmabuf-vm: boot done' 'rdmabuf-vm: exit=0')" = 0 ] &&
	ok "a report of the kernel's boot is not counted" || bad "a report of the kernel's boot is counted"
[ "$(scan "$report" 'rdmabuf-vm: exit=0')" = 3 ] &&
	ok "without the boot marker every report counts" || bad "without the boot marker a report is not counted"
[ "$(scan 'rdmabuf-vm: boot done' 'rdmabuf-vm: exit=1')" = 1 ] &&
	ok "the command's status is the run's" || bad "the command's status is lost"
# A WARN() the console did not show taints the kernel (W, 512).
[ "$(scan 'rdmabuf-vm: boot done' 'rdmabuf-vm: taint boot=4096' 'rdmabuf-vm: taint end=266752' \
	'rdmabuf-vm: exit=0')" = 3 ] && ok "a warning's taint fails the run" ||
	bad "a warning's taint does not fail the run"
[ "$(scan 'rdmabuf-vm: boot done' 'rdmabuf-vm: taint boot=512' 'rdmabuf-vm: taint end=266752' \
	'rdmabuf-vm: exit=0')" = 0 ] && ok "a taint of the kernel's boot is not counted" ||
	bad "a taint of the kernel's boot is counted"
rm -f "$log"

# The benchmark report's verdicts: a paced target is met or missed, and a
# miss says so when the target is below C's own floor (C's 4 KiB figure
# after the same pause, once per buffer); the floor has no target.
samples=$(mktemp) out=$(mktemp -d)
for rep in 0 1 2; do
	printf '%s\n' "heap_alloc_paced_4K_100ms,C,$rep,100,us" "heap_alloc_paced_4K_100ms,rust,$rep,90,us" \
		"heap_alloc_paced_1M_100ms,C,$rep,1000,us" "heap_alloc_paced_1M_100ms,rust,$rep,80,us" \
		"heap_alloc_paced_8M_300ms,C,$rep,8000,us" "heap_alloc_paced_8M_300ms,rust,$rep,100,us" \
		"heap_alloc_frameset_6x8M_1500ms,C,$rep,60000,us" "heap_alloc_frameset_6x8M_1500ms,rust,$rep,5000,us"
done >"$samples"
if /usr/bin/python3 tools/bench/report.py "$samples" "$out" >/dev/null 2>&1; then
	row() { grep "^| $1 |" "$out/results.md" | awk -F' [|] ' '{ print $7 }' | sed 's/ |$//'; }
	[ "$(row heap_alloc_paced_1M_100ms)" = "<= 0.05 missed (C's floor 0.100)" ] &&
		ok "a paced miss below C's floor says so" || bad "paced 1M: $(row heap_alloc_paced_1M_100ms)"
	[ "$(row heap_alloc_paced_8M_300ms)" = "<= 0.05 met" ] &&
		ok "a paced target met is met" || bad "paced 8M: $(row heap_alloc_paced_8M_300ms)"
	[ "$(row heap_alloc_frameset_6x8M_1500ms)" = "<= 0.05 missed" ] &&
		ok "a miss above C's floor (6 buffers) is a plain miss" ||
		bad "frameset: $(row heap_alloc_frameset_6x8M_1500ms)"
	[ -z "$(row heap_alloc_paced_4K_100ms)" ] && ok "the floor has no target" ||
		bad "the floor has a target: $(row heap_alloc_paced_4K_100ms)"
else
	bad "report.py failed on sample rows"
fi
rm -rf "$samples" "$out"

# ours/C pairs each of our samples with C's of the same rep and boot (run.sh
# appends boot after boot): one pair taken in a slow moment moves the
# median of the ratios, not the ratio of the medians (0.733 here).
samples=$(mktemp) out=$(mktemp -d)
printf '%s\n' heap_alloc_cold_1M,C,0,100,us heap_alloc_cold_1M,rust,0,110,us \
	heap_alloc_cold_1M,C,1,100,us heap_alloc_cold_1M,rust,1,110,us \
	heap_alloc_cold_1M,C,2,200,us heap_alloc_cold_1M,rust,2,220,us \
	heap_alloc_cold_1M,C,0,200,us heap_alloc_cold_1M,rust,0,220,us \
	heap_alloc_cold_1M,C,1,200,us heap_alloc_cold_1M,rust,1,110,us \
	heap_alloc_cold_1M,C,2,100,us heap_alloc_cold_1M,rust,2,110,us >"$samples"
if /usr/bin/python3 tools/bench/report.py "$samples" "$out" >/dev/null 2>&1; then
	ratio=$(grep '^| heap_alloc_cold_1M |' "$out/results.md" | awk -F' [|] ' '{ print $5 }')
	[ "$ratio" = 1.100 ] && ok "ours/C is the median of paired ratios" ||
		bad "ours/C of paired samples: $ratio, want 1.100"
else
	bad "report.py failed on paired sample rows"
fi
rm -rf "$samples" "$out"

# The accounted boot's rows: a second table, after the first, with their
# own targets (warm 8 MiB 0.1x there, 0.6x unaccounted).
samples=$(mktemp) out=$(mktemp -d)
for rep in 0 1 2; do
	printf '%s\n' "heap_alloc_warm_8M,C,$rep,8000,us" "heap_alloc_warm_8M,rust,$rep,400,us" \
		"heap_alloc_warm_8M_accounted,C,$rep,8000,us" \
		"heap_alloc_warm_8M_accounted,rust,$rep,800,us"
done >"$samples"
if /usr/bin/python3 tools/bench/report.py "$samples" "$out" >/dev/null 2>&1; then
	line() { grep -n "^| $1 |" "$out/results.md" | cut -d: -f1; }
	heading=$(grep -n '^\*\*Accounting on\*\*' "$out/results.md" | cut -d: -f1)
	if [ -n "$heading" ] && [ "$(line heap_alloc_warm_8M)" -lt "$heading" ] &&
		[ "$(line heap_alloc_warm_8M_accounted)" -gt "$heading" ]; then
		ok "accounted rows form a second table"
	else
		bad "accounted rows are not in a second table: $(cat "$out/results.md")"
	fi
	grep -q '^| heap_alloc_warm_8M_accounted |.*| <= 0.1 met |$' "$out/results.md" &&
		grep -q '^| heap_alloc_warm_8M |.*| <= 0.6 met |$' "$out/results.md" &&
		ok "accounted rows have their own targets" || bad "accounted targets: $(cat "$out/results.md")"
else
	bad "report.py failed on accounted sample rows"
fi
rm -rf "$samples" "$out"

# No kernel build from targets that need none: with an empty kernel cache
# that holds only the unpacked source, and no kernel tarball, any attempt
# to build a kernel fails at once, and so does make.
cache=$(mktemp -d)
trap 'rm -rf "$cache"' EXIT
src=$(tools/kernel/build.sh --source 2>/dev/null) && ln -s "$src" "$cache/none"
for target in clean selftests "selftests ARCH=arm64"; do
	if env -u KDIR RDMABUF_CACHE="$cache" RDMABUF_KERNEL_TARBALL="$cache/none.tar.xz" \
		make -n $target >"$cache/out" 2>&1; then
		ok "make $target needs no kernel build"
	else
		bad "make $target needs a kernel build: $(grep -m1 -i error "$cache/out")"
	fi
done
exit $failed

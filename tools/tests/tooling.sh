#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Checks of the project's own tooling, run in make check's lint stage:
# the VM runner's documented options, and that the targets which need no
# kernel (`make clean`, `make selftests`) never start a kernel build.
# Prints one line per check and exits non-zero if any failed.
set -uo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
failed=0
ok() { echo "tooling: ok: $1"; }
bad() { echo "tooling: FAIL: $1"; failed=1; }

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

# No kernel build from targets that need none: with an empty kernel cache
# that holds only the unpacked source, and no kernel tarball, any attempt
# to build a kernel fails at once, and so does make.
cache=$(mktemp -d)
trap 'rm -rf "$cache"' EXIT
src=$(tools/kernel/build.sh --source 2>/dev/null) && ln -s "$src" "$cache/none"
for target in clean selftests; do
	if env -u KDIR RDMABUF_CACHE="$cache" RDMABUF_KERNEL_TARBALL="$cache/none.tar.xz" \
		make -n "$target" >"$cache/out" 2>&1; then
		ok "make $target needs no kernel build"
	else
		bad "make $target needs a kernel build: $(grep -m1 -i error "$cache/out")"
	fi
done
exit $failed

#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Build (or reuse) the cached test kernel and print its build directory.
#
#   tools/kernel/build.sh [--arch ARCH] [FLAVOR]
#                                       FLAVOR: test (default) or debug;
#                                       ARCH: x86_64 (default, or $ARCH) or arm64
#   tools/kernel/build.sh --source      unpack the source only; print its path
#
# KVER=7.3 (the default) or KVER=6.12 picks the kernel: Debian's
# linux-source-$KVER package. A kernel whose Kconfig differs from 7.3's
# where the fragments care has its own last fragment, kver-$KVER.config.
#
# x86_64 has two flavors: test (test.config) and debug (test.config +
# debug.config). arm64 (16 KiB pages, cross-built with clang) has one kernel
# for both names, test.config + debug.config + arm64.config: CI runs the
# debug suite there, and a second arm64 build would not fit its time.
#
# The kernel source comes from Debian's linux-source-7.3 package. Source trees
# and builds live outside the clone, in $RDMABUF_CACHE (default
# ~/.cache/rdmabuf), keyed by kernel version and by a hash of the config
# inputs, so later runs reuse them and a fresh machine rebuilds them.
# Progress goes to stderr; the only stdout line is the build directory.
set -euo pipefail

log() { printf '[kernel] %s\n' "$*" >&2; }
die() { printf '[kernel] ERROR: %s\n' "$*" >&2; exit 1; }

here=$(cd "$(dirname "$0")" && pwd)
arch=${ARCH:-x86_64}
if [ "${1:-}" = --arch ]; then
	arch=$2
	shift 2
fi
flavor=${1:-test}
source_only=0
if [ "$flavor" = --source ]; then
	source_only=1
	flavor=test
fi
cache=${RDMABUF_CACHE:-$HOME/.cache/rdmabuf}
kver_want=${KVER:-7.3}
case "$kver_want" in 7.3 | 6.12) ;; *) die "KVER=$kver_want: this project builds against 7.3 or 6.12" ;; esac
tarball=${RDMABUF_KERNEL_TARBALL:-/usr/src/linux-source-$kver_want.tar.xz}
jobs=${JOBS:-$(nproc)}

fragments="$here/test.config"
case "$arch" in
x86 | x86_64)
	arch=x86_64 karch=x86_64 image=bzImage
	[ "$flavor" = test ] || fragments="$fragments $here/$flavor.config"
	;;
arm64)
	karch=arm64 image=Image
	case "$flavor" in test | debug) flavor=debug ;; *) die "no flavor '$flavor' on arm64" ;; esac
	fragments="$fragments $here/debug.config $here/arm64.config"
	;;
*) die "unsupported architecture '$arch' (x86_64 or arm64)" ;;
esac
[ -f "$here/kver-$kver_want.config" ] && fragments="$fragments $here/kver-$kver_want.config"
for f in $fragments; do [ -f "$f" ] || die "no config fragment $f (flavor '$flavor')"; done
src_name=$(basename "$tarball" .tar.xz)
srcdir="$cache/$src_name"
if [ "$source_only" = 1 ] && [ -f "$srcdir/.rdmabuf-unpacked" ]; then
	echo "$srcdir"
	exit 0
fi
[ -f "$tarball" ] || die "$tarball missing: run 'sudo tools/setup.sh' (package linux-source-$kver_want)"

source "$here/../toolchain.env"

# Unpack the source once per tarball version. Two runs at once (a build
# and a `make` in another work tree) take turns: each step has its lock.
mkdir -p "$cache"
exec 8>"$srcdir.lock"
flock 8
if [ ! -f "$srcdir/.rdmabuf-unpacked" ]; then
	log "unpacking $tarball into $cache (about 30 s)"
	rm -rf "$srcdir"
	tar -C "$cache" -xf "$tarball" || die "could not unpack $tarball"
	touch "$srcdir/.rdmabuf-unpacked"
fi
if [ "$source_only" = 1 ]; then
	echo "$srcdir"
	exit 0
fi
kver=$(make -s -C "$srcdir" kernelversion)

# Bump when the build steps below change in a way that needs a rebuild.
# Comments and blank lines of the inputs are not part of the key.
recipe=2
key=$( (echo "recipe=$recipe"; cat $fragments "$here/../toolchain.env") |
	grep -v '^[[:space:]]*\(#\|$\)' | sha256sum | cut -c1-12)
if [ "$arch" = x86_64 ]; then
	out="$cache/build-$kver-$flavor-$key"
else
	out="$cache/build-$kver-$arch-$flavor-$key"
fi
exec 8>&- 9>"$out.lock"
flock -n 9 || { log "waiting for another build of $out"; flock 9; }
if [ -f "$out/.rdmabuf-built" ]; then
	echo "$out"
	exit 0
fi

log "configuring $kver ($flavor) in $out"
mkdir -p "$out"
kmake() { make -C "$srcdir" O="$out" ARCH="$karch" $KMAKE_FLAGS "$@"; }
# tinyconfig and the fragments only: the VM has no device but the serial
# console (tools/kernel/test.config).
kmake -s tinyconfig >&2
(cd "$out" && "$srcdir/scripts/kconfig/merge_config.sh" -m -O "$out" .config $fragments) >"$out/merge.log" 2>&1 ||
	die "merge_config failed: see $out/merge.log"
kmake -s olddefconfig >&2

# Every symbol of the fragments must keep its value (a later fragment's
# value over an earlier one's): a missing dependency silently drops a symbol
# in olddefconfig.
bad=0
while IFS= read -r line; do
	case "$line" in
	CONFIG_*=n) sym=${line%%=*}
		if grep -q "^$sym=" "$out/.config"; then log "config: $sym should be unset"; bad=1; fi ;;
	CONFIG_*)
		grep -qxF "$line" "$out/.config" || {
			log "config: wanted '$line', got '$(grep "^${line%%=*}=" "$out/.config" || echo unset)'"
			bad=1
		} ;;
	esac
done < <(cat $fragments | grep -E '^CONFIG_' | awk -F= '{ last[$1] = $0 } END { for (s in last) print last[s] }')
[ "$bad" = 0 ] || die "the config lost symbols (missing dependencies?); fix tools/kernel/*.config"

kmake -s rustavailable >&2 || die "Rust is not available to the kernel build: run tools/setup.sh"
log "building $image, modules and uapi headers for $arch with $jobs jobs (about 10-25 min on 2 cores)"
start=$(date +%s)
kmake -j"$jobs" "$image" modules headers >"$out/build.log" 2>&1 || {
	tail -n 40 "$out/build.log" >&2
	die "kernel build failed; full log: $out/build.log"
}
log "built in $(( $(date +%s) - start )) s"
touch "$out/.rdmabuf-built"
echo "$out"

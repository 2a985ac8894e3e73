#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Install every build, run and test dependency of this project on Debian 12.
# Idempotent: when everything is already present it only checks versions.
# Must run as root (it calls apt-get and writes /etc/apt).
set -euo pipefail

log() { printf '[setup] %s\n' "$*"; }
die() { printf '[setup] ERROR: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "run as root (apt-get is needed)"

# Debian packages from the default bookworm suites.
BASE_PKGS="bc flex bison libelf-dev libssl-dev cpio kmod rsync xz-utils make gcc libc6-dev
	clang-19 lld-19 llvm-19 libclang-19-dev rustc-web rust-web-src rust-web-clippy
	busybox-static python3-matplotlib
	gcc-aarch64-linux-gnu libc6-dev-arm64-cross"
# From bookworm-backports: QEMU matching the machine's qemu-utils.
BPO_PKGS="qemu-system-x86 qemu-system-arm"
# From trixie-backports: the pinned kernel source.
KERNEL_PKGS="linux-source-7.3"
# From the default sources (bookworm-security): the 6.12 LTS source (KVER=6.12).
LTS_PKGS="linux-source-6.12"
# bindgen-cli: the version this project is tested with (7.3 needs >= 0.71.1).
BINDGEN_VERSION=0.72.1

missing_pkgs() {
	local p
	for p in "$@"; do
		dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed' || echo "$p"
	done
}

# Add an apt suite by reusing the URI of the machine's existing Debian entry,
# so no host name lives in this repository.
add_suite() {
	local suite=$1 file=/etc/apt/sources.list.d/rdmabuf-$1.sources uri
	[ -f "$file" ] && return 0
	uri=$(grep -h '^URIs:' /etc/apt/sources.list.d/debian.sources 2>/dev/null |
		awk '{print $2}' | grep -v -- '-security' | head -n1)
	if [ -z "$uri" ]; then
		uri=$(grep -h '^deb ' /etc/apt/sources.list 2>/dev/null |
			awk '{print $2}' | grep -v -- '-security' | head -n1)
	fi
	[ -n "$uri" ] || die "no Debian apt URI configured on this machine to reuse for $suite"
	log "adding apt suite $suite (reusing the machine's Debian URI)"
	cat >"$file" <<SRC
Types: deb
URIs: $uri
Suites: $suite
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
	# Never let the newer suite upgrade the base system: only named packages.
	cat >/etc/apt/preferences.d/rdmabuf-$suite <<PIN
Package: *
Pin: release n=$suite
Pin-Priority: 100
PIN
	NEED_UPDATE=1
}

NEED_UPDATE=0
add_suite bookworm-backports
add_suite trixie-backports

want=$(missing_pkgs $BASE_PKGS $LTS_PKGS $BPO_PKGS $KERNEL_PKGS)
if [ -n "$want" ]; then
	stamp=/var/lib/apt/periodic/update-success-stamp
	if [ "$NEED_UPDATE" = 1 ] || [ ! -d /var/lib/apt/lists ] ||
	   [ -z "$(ls /var/lib/apt/lists/*_Packages 2>/dev/null)" ] ||
	   ! ls /var/lib/apt/lists/ | grep -q trixie-backports; then
		log "apt-get update"
		apt-get update -q || die "apt-get update failed: check the machine's apt sources"
	fi
	export DEBIAN_FRONTEND=noninteractive
	base=$(missing_pkgs $BASE_PKGS $LTS_PKGS)
	if [ -n "$base" ]; then
		log "installing: $(echo $base)"
		apt-get install -y -q --no-install-recommends $base ||
			die "apt-get install of base packages failed"
	fi
	bpo=$(missing_pkgs $BPO_PKGS)
	if [ -n "$bpo" ]; then
		log "installing from bookworm-backports: $bpo"
		apt-get install -y -q --no-install-recommends -t bookworm-backports $bpo ||
			die "apt-get install of $bpo from bookworm-backports failed"
	fi
	kp=$(missing_pkgs $KERNEL_PKGS)
	if [ -n "$kp" ]; then
		log "installing from trixie-backports: $kp"
		apt-get install -y -q --no-install-recommends -t trixie-backports $kp ||
			die "apt-get install of $kp from trixie-backports failed"
	fi
fi

# The arm64 guest's busybox: Debian's static build for arm64, unpacked (it
# cannot be installed beside the host's, which owns /bin/busybox).
ARM64_BUSYBOX=/usr/local/lib/rdmabuf/arm64/busybox
if [ ! -x "$ARM64_BUSYBOX" ]; then
	if ! dpkg --print-foreign-architectures | grep -qx arm64; then
		log "adding the arm64 package architecture (for busybox-static:arm64)"
		dpkg --add-architecture arm64
		apt-get update -q || die "apt-get update failed"
	fi
	tmp=$(mktemp -d)
	chmod 0755 "$tmp" # apt-get download runs as _apt
	(cd "$tmp" && apt-get download -q busybox-static:arm64) ||
		{ apt-get update -q && (cd "$tmp" && apt-get download -q busybox-static:arm64); } ||
		die "could not download busybox-static:arm64"
	dpkg-deb -x "$tmp"/busybox-static_*_arm64.deb "$tmp/x" || die "could not unpack busybox-static:arm64"
	install -D -m 0755 "$tmp/x/bin/busybox" "$ARM64_BUSYBOX"
	rm -rf "$tmp"
	log "installed $ARM64_BUSYBOX"
fi

# bindgen from crates.io (Debian's is too old for 7.3).
export PATH="$HOME/.cargo/bin:$PATH"
bg_ver=$(bindgen --version 2>/dev/null | awk '{print $2}' || true)
if [ "$bg_ver" != "$BINDGEN_VERSION" ]; then
	command -v cargo >/dev/null || die "cargo not found: bindgen-cli is installed with cargo"
	log "installing bindgen-cli $BINDGEN_VERSION from crates.io (takes a minute or two)"
	LIBCLANG_PATH=/usr/lib/llvm-19/lib cargo install --locked --force bindgen-cli@"$BINDGEN_VERSION" ||
		die "cargo install bindgen-cli failed"
fi

# Version checks.
for v in 7.3 6.12; do
	[ -f /usr/src/linux-source-$v.tar.xz ] || die "missing /usr/src/linux-source-$v.tar.xz"
done
/usr/bin/rustc --version | grep -q 'rustc 1\.' || die "/usr/bin/rustc does not run"
[ -d /usr/lib/rustlib/src/rust/library/core ] || die "rust-web-src: core source missing"
[ -x /usr/bin/clippy-driver ] || die "rust-web-clippy: /usr/bin/clippy-driver missing"
command -v qemu-system-x86_64 >/dev/null || die "qemu-system-x86_64 missing"
command -v qemu-system-aarch64 >/dev/null || die "qemu-system-aarch64 missing"
command -v aarch64-linux-gnu-gcc >/dev/null || die "aarch64-linux-gnu-gcc missing"
log "ok: $(/usr/bin/rustc --version), clang-19 $(clang-19 -dumpversion)," \
	"bindgen $(bindgen --version | awk '{print $2}'), $(qemu-system-x86_64 --version | head -n1)"

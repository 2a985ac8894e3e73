# SPDX-License-Identifier: GPL-2.0
#
# rdmabuf: rudmabuf.ko and rsystem_heap.ko, Rust dma-buf modules.
#
#   make            build the modules against the cached test kernel (or KDIR=)
#   make run        set up everything, boot the VM, load the modules, run the demo
#   make check      set up, build, lint, boot the VM, run KUnit and selftests
#   make shell      interactive guest shell with the modules loaded
#   make lint       CLIPPY=1 W=e build and rustfmt check
#   make kdir       print the kernel build tree in use
#   make conformance  run the kernel's own udmabuf and dmabuf-heaps selftests
#   make check-debug  the check suite plus fuzzer, fault injection and module
#                   lifecycle on a KASAN/lockdep/kmemleak kernel
#   make bench      C drivers against ours, in three boots (BOOTS=) of 9
#                   samples a figure (REPS=); table, CSV and plot
#   make rust-analyzer  rust-project.json naming both crates, for editors
#
# ARCH=arm64 (Kbuild's idiom) does any of these for arm64 with 16 KiB pages:
# a cross-built kernel, modules and test programs, booted on QEMU's virt
# machine. The default is x86_64.
#
# KVER=6.12 picks the Linux 6.12 LTS test kernel instead of 7.3 (the
# default); with KDIR=, the tree's own version does.
#
# Kbuild (the module build itself) is in ./Kbuild.

SHELL := /bin/bash
TOP := $(CURDIR)
toolchain = $(shell bash -c '. $(TOP)/tools/toolchain.env; echo "$$$(1)"')
KMAKE_FLAGS := $(call toolchain,KMAKE_FLAGS)
export PATH := $(call toolchain,PATH)
export LIBCLANG_PATH := $(call toolchain,LIBCLANG_PATH)

ARCH ?= x86_64
# With KDIR=, the tree says which kernel it is.
ifneq ($(filter command line environment,$(origin KDIR)),)
KVER := $(shell sed -n 's/^\([0-9]*\.[0-9]*\)\..*/\1/p' $(KDIR)/include/config/kernel.release 2>/dev/null)
endif
KVER ?= 7.3
export KVER
ifeq ($(filter 7.3 6.12,$(KVER)),)
$(error KVER=$(KVER): this project builds against Linux 7.3 or 6.12)
endif
ifeq ($(filter x86_64 x86 arm64,$(ARCH)),)
$(error ARCH=$(ARCH): this project builds for x86_64 and arm64)
endif
# The arm64 kernel carries KASAN and lockdep: its figures would measure them.
ifeq ($(ARCH)$(filter bench,$(MAKECMDGOALS)),arm64bench)
$(error make bench runs on x86_64 only: the arm64 kernel is a debug kernel)
endif

# The kernel tree the modules build against: the cached test kernel unless
# KDIR= names another prepared, Rust-enabled kernel tree.
# Evaluated once, on first use, so that `make setup` needs no kernel.
KDIR ?= $(eval KDIR := $(shell KVER=$(KVER) $(TOP)/tools/kernel/build.sh --arch $(ARCH) test))$(if $(KDIR),$(KDIR),$(error \
	could not build or find the test kernel: see the messages above))
# The kernel source: an O= build tree links it as `source`.
KSRC = $(shell if [ -e $(KDIR)/source ]; then readlink -f $(KDIR)/source; else echo $(KDIR); fi)
# What the userspace tests need of the kernel: its source (selftest harness)
# and uapi headers. Without KDIR= that is the unpacked Debian source, so that
# `make selftests` never starts a kernel build.
ifeq ($(ARCH),arm64)
SELFTEST_CC := aarch64-linux-gnu-gcc
LIBC_HDR := /usr/aarch64-linux-gnu/include
else
SELFTEST_CC := gcc
LIBC_HDR := /usr/include
endif
ifneq ($(filter command line environment,$(origin KDIR)),)
SELFTEST_KSRC = $(KSRC)
SELFTEST_KHDR = $(if $(wildcard $(KDIR)/usr/include/linux),$(KDIR)/usr/include,$(LIBC_HDR))
else
SELFTEST_KSRC = $(shell KVER=$(KVER) $(TOP)/tools/kernel/build.sh --source)
SELFTEST_KHDR = $(LIBC_HDR)
endif

BUILD := $(TOP)/build
VM := $(TOP)/tools/vm/run
# Objects of another architecture must not mix with the host's: arm64
# modules build in a copy of the tree, arm64 test programs in their own
# folder.
ifeq ($(ARCH),arm64)
MODDIR := $(BUILD)/arm64/src
SELFTEST_OUT := $(BUILD)/arm64/selftests
else
MODDIR := $(TOP)
SELFTEST_OUT := $(BUILD)/selftests
endif
ifneq ($(KVER),7.3)
MODDIR := $(BUILD)/linux-$(KVER)-$(ARCH)/src
SELFTEST_OUT := $(BUILD)/linux-$(KVER)-$(ARCH)/selftests
endif
MODULES := $(MODDIR)/rudmabuf.ko $(MODDIR)/rsystem_heap.ko
KBUILD_ARGS = -C $(KDIR) M=$(MODDIR) ARCH=$(ARCH) $(KMAKE_FLAGS)

.PHONY: all modules moddir setup kdir lint fmt run shell check check-debug conformance selftests \
	bench clean rust-analyzer

all: modules

moddir:
ifneq ($(MODDIR),$(TOP))
	@mkdir -p $(MODDIR)
	rsync -a --delete --exclude /build --exclude /.git --exclude '*.o' --exclude '*.ko' \
		--exclude '*.mod' --exclude '*.mod.c' --exclude '.*.cmd' --exclude /modules.order \
		--exclude /Module.symvers --exclude /src/kapi/bindings_generated.rs $(TOP)/ $(MODDIR)/
endif

modules: moddir
	$(MAKE) $(KBUILD_ARGS) modules

setup:
	@if [ "$$(id -u)" = 0 ]; then $(TOP)/tools/setup.sh; else sudo $(TOP)/tools/setup.sh; fi

kdir:
	@echo $(KDIR)

# CONFIG_OBJTOOL_WERROR=y on the command line: objtool's warnings (a
# function that falls through, an unreachable call) fail the build too.
# CONFIG_WERROR=y: Linux 6.12's W=e makes only C warnings errors.
lint: moddir
	$(MAKE) $(KBUILD_ARGS) CLIPPY=1 W=e CONFIG_WERROR=y CONFIG_OBJTOOL_WERROR=y modules
	rustfmt --edition 2021 --config-path $(KSRC)/.rustfmt.toml --check \
		$$(find src -name '*.rs' ! -name '*generated*')

# The kernel's own rust-analyzer target, then both crates added with the
# cfgs Kbuild gives them (tools/rust_analyzer.py says why).
rust-analyzer: modules
	$(MAKE) $(KBUILD_ARGS) rust-analyzer
	python3 $(TOP)/tools/rust_analyzer.py $(KDIR) $(MODDIR) $(TOP)

fmt:
	rustfmt --edition 2021 --config-path $(KSRC)/.rustfmt.toml \
		$$(find src -name '*.rs' ! -name '*generated*')

selftests:
	$(MAKE) -C selftests OUT=$(SELFTEST_OUT) CC=$(SELFTEST_CC) KSRC=$(SELFTEST_KSRC) \
		KHDR=$(SELFTEST_KHDR)

run: setup modules selftests
	$(VM) --kdir $(KDIR) --load $(MODULES) --add $(SELFTEST_OUT)/demo -- ./demo

shell: setup modules selftests
	$(VM) --kdir $(KDIR) --load $(MODULES) --add $(SELFTEST_OUT) --interactive

check: setup
	$(TOP)/tools/check.sh --arch $(ARCH) $(if $(filter command line environment,$(origin KDIR)),$(KDIR))

check-debug: setup
	$(TOP)/tools/check.sh --arch $(ARCH) --debug \
		$(if $(filter command line environment,$(origin KDIR_DEBUG)),$(KDIR_DEBUG))

conformance: setup modules selftests
	$(VM) --kdir $(KDIR) --load $(MODULES) --add $(SELFTEST_OUT) -- ./run-conformance.sh

bench: setup modules
	$(TOP)/tools/bench/run.sh $(KDIR) $(or $(REPS),9) $(or $(BOOTS),3)

# Needs no kernel: removes what Kbuild and the tests leave in the tree.
clean:
	rm -rf $(BUILD)
	find $(TOP) -path $(TOP)/.git -prune -o \( -name '*.o' -o -name '*.ko' -o -name '*.mod' \
		-o -name '*.mod.c' -o -name '.*.cmd' -o -name '*.long-type-*.txt' \) -type f -print0 | \
		xargs -0r rm -f
	rm -f $(TOP)/modules.order $(TOP)/Module.symvers $(TOP)/src/kapi/bindings_generated.rs

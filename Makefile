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
#   make bench      C drivers against ours in one boot; table, CSV and plot
#
# Kbuild (the module build itself) is in ./Kbuild.

SHELL := /bin/bash
TOP := $(CURDIR)
toolchain = $(shell bash -c '. $(TOP)/tools/toolchain.env; echo "$$$(1)"')
KMAKE_FLAGS := $(call toolchain,KMAKE_FLAGS)
export PATH := $(call toolchain,PATH)
export LIBCLANG_PATH := $(call toolchain,LIBCLANG_PATH)

# The kernel tree the modules build against: the cached test kernel unless
# KDIR= names another prepared, Rust-enabled kernel tree.
# Evaluated once, on first use, so that `make setup` needs no kernel.
KDIR ?= $(eval KDIR := $(shell $(TOP)/tools/kernel/build.sh test))$(if $(KDIR),$(KDIR),$(error \
	could not build or find the test kernel: see the messages above))
# The kernel source: an O= build tree links it as `source`.
KSRC = $(shell if [ -e $(KDIR)/source ]; then readlink -f $(KDIR)/source; else echo $(KDIR); fi)
# What the userspace tests need of the kernel: its source (selftest harness)
# and uapi headers. Without KDIR= that is the unpacked Debian source, so that
# `make selftests` never starts a kernel build.
ifneq ($(filter command line environment,$(origin KDIR)),)
SELFTEST_KSRC = $(KSRC)
SELFTEST_KHDR = $(if $(wildcard $(KDIR)/usr/include/linux),$(KDIR)/usr/include,/usr/include)
else
SELFTEST_KSRC = $(shell $(TOP)/tools/kernel/build.sh --source)
SELFTEST_KHDR = /usr/include
endif

BUILD := $(TOP)/build
VM := $(TOP)/tools/vm/run
MODULES := $(TOP)/rudmabuf.ko $(TOP)/rsystem_heap.ko

.PHONY: all modules setup kdir lint fmt run shell check check-debug conformance selftests bench clean

all: modules

modules:
	$(MAKE) -C $(KDIR) M=$(TOP) $(KMAKE_FLAGS) modules

setup:
	@if [ "$$(id -u)" = 0 ]; then $(TOP)/tools/setup.sh; else sudo $(TOP)/tools/setup.sh; fi

kdir:
	@echo $(KDIR)

# CONFIG_OBJTOOL_WERROR=y on the command line: objtool's warnings (a
# function that falls through, an unreachable call) fail the build too.
lint:
	$(MAKE) -C $(KDIR) M=$(TOP) $(KMAKE_FLAGS) CLIPPY=1 W=e CONFIG_OBJTOOL_WERROR=y modules
	rustfmt --edition 2021 --config-path $(KSRC)/.rustfmt.toml --check \
		$$(find src -name '*.rs' ! -name '*generated*')

fmt:
	rustfmt --edition 2021 --config-path $(KSRC)/.rustfmt.toml \
		$$(find src -name '*.rs' ! -name '*generated*')

selftests:
	$(MAKE) -C selftests OUT=$(BUILD)/selftests KSRC=$(SELFTEST_KSRC) KHDR=$(SELFTEST_KHDR)

run: setup modules selftests
	$(VM) --kdir $(KDIR) --load $(MODULES) --add $(BUILD)/selftests/demo -- ./demo

shell: setup modules selftests
	$(VM) --kdir $(KDIR) --load $(MODULES) --add $(BUILD)/selftests --interactive

check: setup
	$(TOP)/tools/check.sh $(if $(filter command line environment,$(origin KDIR)),$(KDIR))

check-debug: setup
	$(TOP)/tools/check.sh --debug $(if $(filter command line environment,$(origin KDIR_DEBUG)),$(KDIR_DEBUG))

conformance: setup modules selftests
	$(VM) --kdir $(KDIR) --load $(MODULES) --add $(BUILD)/selftests -- ./run-conformance.sh

bench: setup modules
	$(TOP)/tools/bench/run.sh $(KDIR) $(REPS)

# Needs no kernel: removes what Kbuild and the tests leave in the tree.
clean:
	rm -rf $(BUILD)
	find $(TOP) -path $(TOP)/.git -prune -o \( -name '*.o' -o -name '*.ko' -o -name '*.mod' \
		-o -name '*.mod.c' -o -name '.*.cmd' -o -name '*.long-type-*.txt' \) -type f -print0 | \
		xargs -0r rm -f
	rm -f $(TOP)/modules.order $(TOP)/Module.symvers $(TOP)/src/kapi/bindings_generated.rs

#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Runs inside the test VM: the kernel's own udmabuf and dmabuf-heaps selftests.
exec ./run-tests.sh conformance

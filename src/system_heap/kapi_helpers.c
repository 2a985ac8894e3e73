// SPDX-License-Identifier: GPL-2.0
/* The shared C helpers of the kapi layer, compiled into this module. */
#include "../kapi/helpers.c"

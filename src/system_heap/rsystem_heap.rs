// SPDX-License-Identifier: GPL-2.0

//! rsystem_heap: the system dma-buf heap in Rust, with a pre-zeroed page pool.
//!
//! Serves `/dev/dma_heap/system` (the name is the `heap_name` parameter) with
//! the behaviour of `drivers/dma-buf/heaps/system_heap.c`.

use kernel::prelude::*;

// Shared by both modules; this one does not use all of it.
#[path = "../kapi/mod.rs"]
#[allow(dead_code)]
mod kapi;
mod orders;

module! {
    type: RsystemHeapModule,
    name: "rsystem_heap",
    authors: ["rdmabuf developers"],
    description: "DMA-BUF system heap with a pre-zeroed page pool (Rust)",
    license: "GPL",
    imports_ns: ["DMA_BUF", "DMA_BUF_HEAP"],
}

/// The module.
struct RsystemHeapModule;

impl kernel::Module for RsystemHeapModule {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        pr_debug!(
            "heap '{}' not registered yet\n",
            kapi::params::system_heap_name()
        );
        Ok(RsystemHeapModule)
    }
}

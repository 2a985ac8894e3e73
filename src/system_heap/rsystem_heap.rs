// SPDX-License-Identifier: GPL-2.0

//! rsystem_heap: the system dma-buf heap in Rust, with a pre-zeroed page pool.
//!
//! Serves `/dev/dma_heap/system` (the name is the `heap_name` parameter) with
//! the allocation semantics and dma-buf ops of
//! `drivers/dma-buf/heaps/system_heap.c`. Zeroing leaves the allocation path:
//! released buffers are zeroed by a low-priority kernel thread and pooled per
//! order ([`heap`]); a shrinker gives pooled pages back under pressure.
//!
//! A dma-heap cannot be removed, so once the heap is registered the module
//! stays loaded for good.

use core::fmt;

use crate::kapi::kernel::debugfs::{
    Dir,
    File as DebugFsFile, //
};
use crate::kapi::kernel::page::PAGE_SIZE;
use crate::kapi::kernel::prelude::*;
use crate::kapi::kernel::sync::Arc;

mod allocate;
mod buffer;
mod heap;
// Shared by both modules (see its documentation).
#[path = "../kapi/mod.rs"]
mod kapi;
mod orders;

use allocate::SystemHeap;
use heap::{
    Heap,
    MemcgPools,
    ZeroThreads, //
};
use kapi::shrinker::Shrinker;

module! {
    type: RsystemHeapModule,
    name: "rsystem_heap",
    authors: ["rdmabuf developers"],
    description: "DMA-BUF system heap with a pre-zeroed page pool (Rust)",
    license: "GPL",
    imports_ns: ["DMA_BUF", "DMA_BUF_HEAP"],
}

/// The pool cap in pages, from the `pool_max_mb` parameter (read each time,
/// so that it can be changed at runtime).
fn pool_cap_pages() -> usize {
    let mb = usize::try_from(kapi::params::system_heap_pool_max_mb()).unwrap_or(0);
    mb.saturating_mul((1 << 20) / PAGE_SIZE)
}

/// Everything the heap runs on. Only an init failure drops it: after the
/// heap is registered the module cannot be unloaded.
struct RsystemHeapModule {
    _memcg_pools: Pin<KBox<DebugFsFile<Arc<Heap>>>>,
    _stats: Pin<KBox<DebugFsFile<Arc<Heap>>>>,
    _debugfs: Dir,
    _shrinker: Shrinker<Heap>,
    _zero_threads: ZeroThreads<Heap>,
}

fn show_stats(heap: &Arc<Heap>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    heap.show(f)
}

fn show_memcg_pools(heap: &Arc<Heap>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    heap.show_memcg_pools(f)
}

impl crate::kapi::kernel::Module for RsystemHeapModule {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        let name = kapi::params::system_heap_name();
        // Built in order; on any error what was built is torn down by drop.
        let memcg_pools = MemcgPools::new(c"rsystem_heap-memcg-pools")?;
        let heap = Arc::pin_init(Heap::new(pool_cap_pages, memcg_pools), GFP_KERNEL)?;
        let zero_threads = ZeroThreads::start(heap.clone())?;
        let shrinker = Shrinker::register(c"rsystem_heap-pool", heap.clone())?;
        let debugfs = Dir::new(c"rsystem_heap");
        let stats = KBox::pin_init(
            debugfs.read_callback_file(c"stats", heap.clone(), &show_stats),
            GFP_KERNEL,
        )?;
        let memcg_pools = KBox::pin_init(
            debugfs.read_callback_file(c"memcg_pools", heap.clone(), &show_memcg_pools),
            GFP_KERNEL,
        )?;
        let allocator = Arc::new(SystemHeap::new(heap, name), GFP_KERNEL)?;
        kapi::dma_heap::add(name, allocator)?;
        // A heap name from the command line is UTF-8 in practice.
        let shown = name.to_str().unwrap_or("?");
        pr_info!(
            "heap '{shown}' registered; heaps cannot be removed, so this module stays loaded\n"
        );
        Ok(Self {
            _memcg_pools: memcg_pools,
            _stats: stats,
            _debugfs: debugfs,
            _shrinker: shrinker,
            _zero_threads: zero_threads,
        })
    }
}

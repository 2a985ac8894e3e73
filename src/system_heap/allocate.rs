// SPDX-License-Identifier: GPL-2.0

//! `DMA_HEAP_IOCTL_ALLOC`: building a buffer from pooled or fresh blocks.

use crate::kapi::kernel::prelude::*;
use crate::kapi::kernel::sync::Arc;

use crate::buffer::HeapBuffer;
use crate::heap::{
    Charge,
    Heap, //
};
use crate::kapi::dma_buf::DmaBuf;
use crate::kapi::dma_heap::{
    self,
    HeapAllocator, //
};

/// The allocator registered with the dma-heap core.
pub(crate) struct SystemHeap {
    pub(crate) heap: Arc<Heap>,
    pub(crate) name: &'static CStr,
    /// The dma-heap core's `mem_accounting`, read once: the parameter is
    /// read-only (0444), so it is fixed from boot.
    account: bool,
}

impl SystemHeap {
    /// The allocator of `heap`, exported as `name`.
    pub(crate) fn new(heap: Arc<Heap>, name: &'static CStr) -> Self {
        Self {
            heap,
            name,
            account: dma_heap::mem_accounting(),
        }
    }
}

impl HeapAllocator for SystemHeap {
    fn allocate(&self, len: usize, fd_flags: u32, _heap_flags: u64) -> Result<DmaBuf> {
        DmaBuf::export(
            HeapBuffer::allocate(
                self.heap.clone(),
                len,
                Charge::of_current_task(self.account),
            ),
            fd_flags,
            self.name,
        )
    }
}

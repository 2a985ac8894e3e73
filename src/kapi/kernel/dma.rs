// SPDX-License-Identifier: GPL-2.0

//! `kernel::dma` for Linux 6.12, which lacks it (the kernel crate has
//! `DataDirection` since 6.17): the subset the project uses.
//!
//! 6.12's bindings have `enum dma_data_direction` as `u32` constants.
//!
//! C header: [include/linux/dma-direction.h](srctree/include/linux/dma-direction.h)

use crate::kapi::bindings;

/// The direction of a DMA transfer (`enum dma_data_direction`).
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
#[repr(u32)]
pub(crate) enum DataDirection {
    /// The device reads and writes the memory (`DMA_BIDIRECTIONAL`).
    Bidirectional = bindings::dma_data_direction_DMA_BIDIRECTIONAL,
    /// The device reads the memory (`DMA_TO_DEVICE`).
    ToDevice = bindings::dma_data_direction_DMA_TO_DEVICE,
    /// The device writes the memory (`DMA_FROM_DEVICE`).
    FromDevice = bindings::dma_data_direction_DMA_FROM_DEVICE,
    /// No transfer (`DMA_NONE`); the DMA API refuses it.
    None = bindings::dma_data_direction_DMA_NONE,
}

impl From<DataDirection> for bindings::dma_data_direction {
    fn from(direction: DataDirection) -> Self {
        direction as Self
    }
}

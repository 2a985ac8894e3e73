// SPDX-License-Identifier: GPL-2.0

//! Safe abstractions over the kernel C APIs that the rdmabuf modules use.
//!
//! This layer is the only place in the project that holds `unsafe` code: the
//! driver logic of `rudmabuf` and `rsystem_heap` above it is safe Rust, so all
//! `unsafe` can be audited by reading this directory alone. It is compiled into
//! both modules (each crate root includes it with `#[path]`); each module uses
//! only a part of it.

pub(crate) mod bindings;
pub(crate) mod device;
pub(crate) mod dma_buf;
pub(crate) mod dma_heap;
pub(crate) mod folio;
pub(crate) mod memfd;
pub(crate) mod pages;
pub(crate) mod params;
pub(crate) mod sg_table;
pub(crate) mod shrinker;
pub(crate) mod task;
pub(crate) mod udmabuf_uapi;
pub(crate) mod vmap;

// SPDX-License-Identifier: GPL-2.0

//! Safe abstractions over the kernel C APIs that the rdmabuf modules use.
//!
//! This layer is the only place in the project that holds `unsafe` code: the
//! driver logic of `rudmabuf` and `rsystem_heap` above it is safe Rust, so all
//! `unsafe` can be audited by reading this directory alone. It is compiled into
//! both modules (each crate root includes it with `#[path]`); what only one of
//! them uses is behind `cfg(kapi_udmabuf)` or `cfg(kapi_heap)`, which `Kbuild`
//! sets for each crate, and test-only code behind `cfg(CONFIG_KUNIT = "y")`.
//!
//! The rules that make the driver code's safety hold:
//! - A driver never hands the kernel an address or a page frame: it describes
//!   its memory as pinned folios or owned pages ([`buffer_pages`]), and kapi
//!   turns that into scatter-gather tables, page-table entries and vmaps.
//! - A DMA mapping cannot outlive its pages: a mapped table holds the buffer
//!   that owns them, and release unmaps before it unpins or frees.
//! - What kapi does not trust of a safe driver implementation (a page walk
//!   that disagrees with the page count, a direction the DMA API refuses) it
//!   checks, and fails with an errno rather than reaching a C `BUG_ON`.
//! - Every C helper (`helpers.c`, `src/<module>/params.c`) wraps what Rust
//!   cannot call (a static inline, a macro, a module parameter) and says why.

pub(crate) mod bindings;
pub(crate) mod buffer_pages;
pub(crate) mod device;
pub(crate) mod dma_buf;
#[cfg(kapi_heap)]
pub(crate) mod dma_heap;
#[cfg(kapi_udmabuf)]
pub(crate) mod folio;
#[cfg(kapi_heap)]
pub(crate) mod jiffies;
pub(crate) mod kernel;
#[cfg(CONFIG_KUNIT = "y")]
pub(crate) mod kunit;
#[cfg(kapi_heap)]
pub(crate) mod memcg;
#[cfg(kapi_udmabuf)]
pub(crate) mod memfd;
pub(crate) mod page_run;
#[cfg(kapi_heap)]
pub(crate) mod pages;
pub(crate) mod params;
pub(crate) mod sg_table;
#[cfg(kapi_heap)]
pub(crate) mod shrinker;
#[cfg(kapi_heap)]
pub(crate) mod task;
#[cfg(CONFIG_KUNIT = "y")]
pub(crate) mod test_counters;
#[cfg(kapi_udmabuf)]
pub(crate) mod udmabuf_uapi;
pub(crate) mod vmap;

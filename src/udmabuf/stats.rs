// SPDX-License-Identifier: GPL-2.0

//! Live figures of the driver, shown in debugfs as `rudmabuf/stats`.

use core::fmt;

use kernel::sync::atomic::{
    Atomic,
    Relaxed, //
};

use crate::folio_table::{
    Folio,
    FolioTable, //
};

static BUFFERS: Atomic<usize> = Atomic::new(0);
static PINNED_FOLIOS: Atomic<usize> = Atomic::new(0);
static PINNED_PAGES: Atomic<usize> = Atomic::new(0);
static TABLE_BYTES: Atomic<usize> = Atomic::new(0);
static METADATA_BYTES: Atomic<usize> = Atomic::new(0);
static LAST_SG_ENTRIES: Atomic<u32> = Atomic::new(0);

/// Accounts a new buffer: its table and, for `metadata_bytes`, the buffer
/// structure of `struct_bytes` that holds it.
pub(crate) fn buffer_created<F: Folio>(table: &FolioTable<F>, struct_bytes: usize) {
    BUFFERS.fetch_add(1, Relaxed);
    PINNED_FOLIOS.fetch_add(table.run_count(), Relaxed);
    PINNED_PAGES.fetch_add(table.page_count(), Relaxed);
    TABLE_BYTES.fetch_add(table.table_bytes(), Relaxed);
    METADATA_BYTES.fetch_add(table.table_bytes() + struct_bytes, Relaxed);
}

/// Takes a released buffer out of the figures.
pub(crate) fn buffer_released<F: Folio>(table: &FolioTable<F>, struct_bytes: usize) {
    BUFFERS.fetch_sub(1, Relaxed);
    PINNED_FOLIOS.fetch_sub(table.run_count(), Relaxed);
    PINNED_PAGES.fetch_sub(table.page_count(), Relaxed);
    TABLE_BYTES.fetch_sub(table.table_bytes(), Relaxed);
    METADATA_BYTES.fetch_sub(table.table_bytes() + struct_bytes, Relaxed);
}

/// Records the entry count of the latest sg table built (for an importer or
/// for CPU access).
pub(crate) fn sg_table_built(sg_entries: u32) {
    LAST_SG_ENTRIES.store(sg_entries, Relaxed);
}

/// Writes the figures, one `name: value` line each.
pub(crate) fn show(f: &mut fmt::Formatter<'_>) -> fmt::Result {
    writeln!(f, "buffers: {}", BUFFERS.load(Relaxed))?;
    writeln!(f, "pinned_folios: {}", PINNED_FOLIOS.load(Relaxed))?;
    writeln!(f, "pinned_pages: {}", PINNED_PAGES.load(Relaxed))?;
    writeln!(f, "table_bytes: {}", TABLE_BYTES.load(Relaxed))?;
    writeln!(f, "metadata_bytes: {}", METADATA_BYTES.load(Relaxed))?;
    writeln!(f, "last_sg_entries: {}", LAST_SG_ENTRIES.load(Relaxed))
}

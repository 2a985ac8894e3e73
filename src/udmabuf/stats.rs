// SPDX-License-Identifier: GPL-2.0

//! Live figures of users' buffers, shown in debugfs as `rudmabuf/stats`.
//!
//! Buffers that the KUnit suite builds at load are left out, so that what a
//! user reads describes the buffers made through the misc device only.

use core::fmt;

use crate::kapi::kernel::sync::atomic::{
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

/// Adds (`sign` 1) or takes away (`sign` -1) a buffer's figures: its table
/// and, for `metadata_bytes`, the buffer structure of `struct_bytes`.
fn account<F: Folio>(table: &FolioTable<F>, struct_bytes: usize, sign: isize) {
    let figures = [
        (&BUFFERS, 1),
        (&PINNED_FOLIOS, table.folio_count()),
        (&PINNED_PAGES, table.page_count()),
        (&TABLE_BYTES, table.table_bytes()),
        (&METADATA_BYTES, table.table_bytes() + struct_bytes),
    ];
    for (figure, value) in figures {
        // Two's complement: adding the negation subtracts.
        figure.fetch_add((value as isize * sign) as usize, Relaxed);
    }
}

/// Accounts a new buffer.
pub(crate) fn buffer_created<F: Folio>(table: &FolioTable<F>, struct_bytes: usize) {
    account(table, struct_bytes, 1);
}

/// Takes a released buffer out of the figures.
pub(crate) fn buffer_released<F: Folio>(table: &FolioTable<F>, struct_bytes: usize) {
    account(table, struct_bytes, -1);
}

/// Records the entry count of the latest sg table built for a user's buffer
/// (for an importer or for CPU access).
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

// SPDX-License-Identifier: GPL-2.0

//! The compact table of pinned folios behind a udmabuf.
//!
//! Upstream udmabuf keeps a `struct page *` per page of the buffer plus an
//! array of pinned folios: 16 bytes per page, 4 MiB for a 1 GiB buffer. This
//! table keeps one 16-byte [`Run`] per pinned folio instead: the folio, the
//! first of its pages the buffer uses, and where in the buffer they go; a
//! run's length is where the next run starts. A 1 GiB buffer over 2 MiB huge
//! pages is 512 runs (8 KiB); over 4 KiB shmem pages it is one run per page,
//! 16 bytes per page like upstream.
//!
//! # Invariants
//!
//! - Runs are in buffer order and tile the buffer without gaps: run `i`
//!   covers buffer pages `start(i)..start(i + 1)` (the last one up to
//!   `pages`), `start(0) == 0`, and every run is non-empty.
//! - Every run is inside its folio: `first + len <= folio.nr_pages()`.
//! - `first < 2^FIRST_BITS` and `start < 2^(64 - FIRST_BITS)`.
//! - Each run owns its folio handle: for [`PinnedFolio`] one pin, released
//!   when the run is dropped. A folio pinned twice (two list items over the
//!   same memfd range) has two runs, each with its own pin.
//!
//! Lookup by buffer page is a binary search over `start` (O(log runs));
//! walking pages in order (mmap prefault, sg tables, vmap) is O(runs).

use kernel::prelude::*;

use crate::kapi::folio::PinnedFolio;

/// A folio as the table needs it: something with a number of pages.
pub(crate) trait Folio {
    /// Returns the number of base pages in the folio.
    fn nr_pages(&self) -> usize;
}

impl Folio for PinnedFolio {
    fn nr_pages(&self) -> usize {
        PinnedFolio::nr_pages(self)
    }
}

/// Bits of a run's `first`: the largest folio is a 1 GiB huge page of 2^18
/// pages (x86-64 PUD), so its pages are numbered below 2^18.
const FIRST_BITS: u32 = 18;
const FIRST_MASK: u64 = (1 << FIRST_BITS) - 1;

/// Buffer pages `start..` come from the folio's pages `first..`; see the
/// module documentation. `at` packs `start << FIRST_BITS | first`.
struct Run<F> {
    folio: F,
    at: u64,
}

impl<F> Run<F> {
    /// Returns the buffer page where the run starts.
    fn start(&self) -> usize {
        (self.at >> FIRST_BITS) as usize
    }

    /// Returns the first page of the folio that the run uses.
    fn first(&self) -> usize {
        (self.at & FIRST_MASK) as usize
    }
}

/// The runs of one buffer; see the module documentation.
pub(crate) struct FolioTable<F> {
    runs: KVVec<Run<F>>,
    pages: usize,
}

impl<F: Folio> FolioTable<F> {
    /// Creates an empty table.
    pub(crate) fn new() -> Self {
        Self {
            runs: KVVec::new(),
            pages: 0,
        }
    }

    /// Appends the folios of one pin call, in file order: the buffer uses the
    /// first folio from page `first_offset` on, the others from their start,
    /// and at most `max_pages` pages in all. Folios beyond that are dropped.
    ///
    /// Returns the number of pages appended. On error the table is as before
    /// plus whatever runs were already appended; the remaining folios are
    /// dropped.
    pub(crate) fn append(
        &mut self,
        folios: impl IntoIterator<Item = F>,
        first_offset: usize,
        max_pages: usize,
    ) -> Result<usize> {
        let mut offset = first_offset;
        let mut appended = 0;
        for folio in folios {
            // The first page must be inside the folio.
            if offset >= folio.nr_pages() {
                return Err(EINVAL);
            }
            let take = (folio.nr_pages() - offset).min(max_pages - appended);
            if take == 0 {
                // Past the range: dropping the folio releases it.
                continue;
            }
            let (start, first) = (self.pages as u64, offset as u64);
            if first > FIRST_MASK || start >= 1 << (64 - FIRST_BITS) {
                return Err(EINVAL);
            }
            // INVARIANT: `start` continues the tiling, the run is non-empty
            // and inside its folio, and both fields fit.
            self.runs.push(
                Run {
                    folio,
                    at: start << FIRST_BITS | first,
                },
                GFP_KERNEL,
            )?;
            self.pages += take;
            appended += take;
            offset = 0;
        }
        Ok(appended)
    }

    /// Makes room for `runs` more runs at once, so the table does not grow
    /// (and copy itself) one doubling at a time.
    pub(crate) fn reserve(&mut self, runs: usize) -> Result {
        self.runs.reserve(runs, GFP_KERNEL)?;
        Ok(())
    }

    /// Gives back spare capacity, so the table takes exactly what it needs.
    pub(crate) fn shrink_to_fit(&mut self) {
        // A failed shrink only keeps the larger allocation.
        let _ = self.runs.shrink_to(self.runs.len(), GFP_KERNEL);
    }

    /// Returns the number of pages in the buffer.
    pub(crate) fn page_count(&self) -> usize {
        self.pages
    }

    /// Returns the number of runs (pinned folios).
    pub(crate) fn run_count(&self) -> usize {
        self.runs.len()
    }

    /// Returns the bytes the table allocates.
    pub(crate) fn table_bytes(&self) -> usize {
        self.runs.capacity() * core::mem::size_of::<Run<F>>()
    }

    /// Returns where run `index` ends: where the next one starts.
    fn end(&self, index: usize) -> usize {
        self.runs.get(index + 1).map_or(self.pages, Run::start)
    }

    /// Returns the index of the run holding buffer page `pgoff`.
    fn run_index(&self, pgoff: usize) -> Option<usize> {
        if pgoff >= self.pages {
            return None;
        }
        // The runs tile the buffer in order: the last run starting at or
        // before `pgoff` holds it.
        Some(self.runs.partition_point(|run| run.start() <= pgoff) - 1)
    }

    /// Returns the folio holding buffer page `pgoff` and the page's index in
    /// that folio.
    pub(crate) fn lookup(&self, pgoff: usize) -> Option<(&F, usize)> {
        let run = &self.runs[self.run_index(pgoff)?];
        Some((&run.folio, run.first() + (pgoff - run.start())))
    }

    /// Returns the runs from buffer page `pgoff` on; the first one is cut to
    /// start at `pgoff`. Items are `(folio, first page in folio, pages)`.
    pub(crate) fn runs_from(
        &self,
        pgoff: usize,
    ) -> impl Iterator<Item = (&F, usize, usize)> + Clone {
        let from = self.run_index(pgoff).unwrap_or(self.runs.len());
        (from..self.runs.len()).map(move |index| {
            let run = &self.runs[index];
            let skip = pgoff.saturating_sub(run.start());
            (
                &run.folio,
                run.first() + skip,
                self.end(index) - run.start() - skip,
            )
        })
    }
}

#[kunit_tests(rudmabuf_folio_table)]
mod tests {
    use super::*;
    use kernel::sync::atomic::{
        Atomic,
        Relaxed, //
    };

    // Helpers return `Result`/`bool` and leave asserting to the tests, whose
    // `assert!` reports to KUnit instead of panicking.

    /// Fake folios dropped so far, to check that surplus folios are released.
    static DROPPED: Atomic<usize> = Atomic::new(0);

    struct FakeFolio {
        id: usize,
        pages: usize,
    }

    impl Folio for FakeFolio {
        fn nr_pages(&self) -> usize {
            self.pages
        }
    }

    impl Drop for FakeFolio {
        fn drop(&mut self) {
            DROPPED.fetch_add(1, Relaxed);
        }
    }

    /// Folios with ids `base..` and the given sizes.
    fn folios(base: usize, sizes: &[usize]) -> Result<KVec<FakeFolio>> {
        let mut v = KVec::new();
        for (i, &pages) in sizes.iter().enumerate() {
            v.push(
                FakeFolio {
                    id: base + i,
                    pages,
                },
                GFP_KERNEL,
            )?;
        }
        Ok(v)
    }

    /// Appends to `model` what one append should add: per buffer page, the
    /// expected (folio id, page in folio).
    fn model_append(
        model: &mut KVec<(usize, usize)>,
        base: usize,
        sizes: &[usize],
        first_offset: usize,
        max_pages: usize,
    ) -> Result {
        let mut offset = first_offset;
        for (i, &pages) in sizes.iter().enumerate() {
            for p in offset..pages {
                if model.len() == max_pages {
                    return Ok(());
                }
                model.push((base + i, p), GFP_KERNEL)?;
            }
            offset = 0;
        }
        Ok(())
    }

    /// Checks every page of `table`, and one past the end, against `model`.
    fn matches_model(table: &FolioTable<FakeFolio>, model: &[(usize, usize)]) -> bool {
        let pages_ok = model.iter().enumerate().all(|(pgoff, &(id, page))| {
            let by_lookup = table.lookup(pgoff).map(|(f, index)| (f.id, index));
            let by_walk = table
                .runs_from(pgoff)
                .next()
                .map(|(f, first, _)| (f.id, first));
            by_lookup == Some((id, page)) && by_walk == Some((id, page))
        });
        pages_ok
            && table.page_count() == model.len()
            && table.lookup(model.len()).is_none()
            && table.runs_from(model.len()).next().is_none()
    }

    #[test]
    fn small_folios_from_start() -> Result {
        let mut table = FolioTable::new();
        let sizes = [1, 1, 1, 1];
        assert_eq!(table.append(folios(0, &sizes)?, 0, 4)?, 4);
        let mut model = KVec::new();
        model_append(&mut model, 0, &sizes, 0, 4)?;
        assert!(matches_model(&table, &model));
        assert_eq!(table.run_count(), 4);
        Ok(())
    }

    #[test]
    fn start_inside_huge_folio_at_any_offset() -> Result {
        for first in [0, 1, 255, 510, 511] {
            for want in [1, 2, 512 - first, 700] {
                let mut table = FolioTable::new();
                let sizes = [512, 512];
                let got = table.append(folios(0, &sizes)?, first, want)?;
                assert_eq!(got, want.min(1024 - first));
                let mut model = KVec::new();
                model_append(&mut model, 0, &sizes, first, want)?;
                assert!(matches_model(&table, &model));
            }
        }
        Ok(())
    }

    #[test]
    fn items_mixing_huge_and_small_folios() -> Result {
        // Three list items: a THP-like range, a shmem range, a hugetlb range.
        let mut table = FolioTable::new();
        let mut model = KVec::new();
        let items: [(usize, &[usize], usize, usize); 3] = [
            (0, &[512, 1, 1, 16], 300, 230),
            (10, &[1, 1, 1], 0, 3),
            (20, &[512, 512, 512], 100, 1000),
        ];
        let mut expected = 0;
        for (base, sizes, first, want) in items {
            assert_eq!(table.append(folios(base, sizes)?, first, want)?, want);
            expected += want;
            model_append(&mut model, base, sizes, first, expected)?;
        }
        assert!(matches_model(&table, &model));
        // Each item starts where the one before it ends.
        assert_eq!(table.lookup(230).map(|(f, i)| (f.id, i)), Some((10, 0)));
        assert_eq!(table.lookup(233).map(|(f, i)| (f.id, i)), Some((20, 100)));
        Ok(())
    }

    #[test]
    fn surplus_folios_are_released() -> Result {
        let before = DROPPED.load(Relaxed);
        let mut table = FolioTable::new();
        // Only 3 pages wanted: the last two folios are not used.
        assert_eq!(table.append(folios(0, &[2, 2, 2, 2])?, 0, 3)?, 3);
        assert_eq!(table.run_count(), 2);
        assert_eq!(DROPPED.load(Relaxed) - before, 2);
        drop(table);
        assert_eq!(DROPPED.load(Relaxed) - before, 4);
        Ok(())
    }

    #[test]
    fn offset_past_folio_is_rejected() -> Result {
        let mut table = FolioTable::new();
        assert!(table.append(folios(0, &[4])?, 4, 1).is_err());
        assert_eq!(table.page_count(), 0);
        Ok(())
    }

    #[test]
    fn runs_from_cuts_the_first_run() -> Result {
        let mut table = FolioTable::new();
        table.append(folios(0, &[8, 8])?, 2, 12)?;
        let runs: KVec<(usize, usize, usize)> = {
            let mut v = KVec::new();
            for (f, first, len) in table.runs_from(3) {
                v.push((f.id, first, len), GFP_KERNEL)?;
            }
            v
        };
        assert_eq!(runs.len(), 2);
        assert_eq!(runs[0], (0, 5, 3));
        assert_eq!(runs[1], (1, 0, 6));
        Ok(())
    }

    #[test]
    fn metadata_grows_with_runs_not_pages() -> Result {
        // 1 GiB over 2 MiB folios: 512 runs for 262144 pages.
        let mut table = FolioTable::new();
        let sizes = [512; 512];
        assert_eq!(table.append(folios(0, &sizes)?, 0, 512 * 512)?, 512 * 512);
        table.shrink_to_fit();
        assert_eq!(table.run_count(), 512);
        assert_eq!(table.table_bytes(), 512 * size_of::<Run<FakeFolio>>());
        // With a real pinned folio (one pointer), a run is 16 bytes.
        assert_eq!(size_of::<Run<PinnedFolio>>(), 16);
        assert_eq!(
            table.lookup(512 * 512 - 1).map(|(f, i)| (f.id, i)),
            Some((511, 511))
        );
        Ok(())
    }
}

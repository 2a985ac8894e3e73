// SPDX-License-Identifier: GPL-2.0

//! The compact table of pinned folios behind a udmabuf.
//!
//! Upstream udmabuf keeps a `struct page *` per page of the buffer plus an
//! array of the pinned folios: 16 bytes per 4 KiB page, 4 MiB for a 1 GiB
//! buffer. This table keeps each pinned folio once, in one array, and
//! describes the buffer by *segments*: a stretch of the buffer made of
//! consecutive folios of that array that all have the same size (order),
//! which the buffer may enter in the middle of its first folio. A page is
//! found by arithmetic inside its segment, so no per-page or per-folio
//! position is stored:
//!
//! - 4 KiB shmem: 8 bytes per page (the folio pointer) and one segment per
//!   list item, or one for the whole buffer when the items follow each other
//!   in the file, as a VM's one-item-per-page lists do;
//! - 1 GiB over 2 MiB huge pages: 512 pointers and one segment, 4 KiB.
//!
//! The folio array is what `memfd_pin_folios()` fills: pins land in it
//! directly, without a scratch array or a copy.
//!
//! # Invariants
//!
//! - Each element of `folios` owns its folio handle: for [`PinnedFolio`] one
//!   pin, released when the element is dropped, or, when the table is
//!   dropped, for all elements at once ([`Folio::release_all`]). A folio
//!   pinned twice (two list items over the same memfd range) is in the
//!   array twice.
//! - Segments are in buffer order and tile the buffer without gaps: segment
//!   `i` covers buffer pages `start(i)..end(i)`, where `end(i)` is the next
//!   segment's `start` (the last one's is `pages`); `start(0) == 0` and
//!   every segment is non-empty.
//! - Segment `s` of order `k` uses the folios from `folios[s.folio]` on, all
//!   of `2^k` pages, entering the first at page `s.first() < 2^k`: buffer
//!   page `start(s) + j` is page `(first + j) % 2^k` of folio
//!   `s.folio + (first + j) / 2^k`.
//! - The segments' folios follow each other in the array and use all of it:
//!   each segment starts at the folio after the last one its predecessor
//!   uses, and the last segment's last folio is the last of the array.
//! - `k <= MAX_ORDER`, so `k` and `first` fit the packed `shape`.
//!
//! Lookup by buffer page is a binary search over the segments (a handful
//! for most buffers) plus a shift; walking pages in order (mmap prefault,
//! sg tables, vmap) is O(folios).

use crate::kapi::kernel::page::PAGE_SHIFT;
use crate::kapi::kernel::prelude::*;

use crate::kapi::folio::PinnedFolio;
use crate::kapi::memfd::MemfdLocked;

/// A folio as the table needs it: something with a number of pages.
pub(crate) trait Folio {
    /// Returns the number of base pages in the folio.
    fn nr_pages(&self) -> usize;

    /// Returns the number of pages of `folios[0]` and how many folios at
    /// the start of `folios` have that many; `(0, 0)` if `folios` is empty.
    fn leading_same_size(folios: &[Self]) -> (usize, usize)
    where
        Self: Sized,
    {
        let Some(first) = folios.first() else {
            return (0, 0);
        };
        let nr = first.nr_pages();
        let count = folios
            .iter()
            .take_while(|folio| folio.nr_pages() == nr)
            .count();
        (nr, count)
    }

    /// Releases and removes every folio of `folios` (the table's drop).
    fn release_all(folios: &mut KVVec<Self>)
    where
        Self: Sized,
    {
        folios.clear();
    }
}

impl Folio for PinnedFolio {
    fn nr_pages(&self) -> usize {
        PinnedFolio::nr_pages(self)
    }

    fn leading_same_size(folios: &[Self]) -> (usize, usize) {
        // One call for a whole pin batch: this is the creation path.
        PinnedFolio::leading_same_size(folios)
    }

    fn release_all(folios: &mut KVVec<Self>) {
        // One unpin call for the whole table.
        PinnedFolio::unpin_all(folios)
    }
}

/// Bits of a segment's `first`, below its order in `shape`. The largest
/// folio today is a 1 GiB huge page of 2^18 pages (x86-64 PUD).
const FIRST_BITS: u32 = 24;
const FIRST_MASK: u32 = (1 << FIRST_BITS) - 1;
/// The largest folio order a segment holds: one whose pages `first` can
/// number.
const MAX_ORDER: u32 = FIRST_BITS;

/// Buffer pages from `start` on come from the folios `folios[folio..]`, all
/// of one order, from page `first` of the first; see the module
/// documentation. `shape` packs `order << FIRST_BITS | first`.
#[derive(Clone, Copy)]
struct Segment {
    start: usize,
    folio: u32,
    shape: u32,
}

impl Segment {
    /// Returns the order (log2 of the page count) of the segment's folios.
    fn order(&self) -> u32 {
        self.shape >> FIRST_BITS
    }

    /// Returns the page of the first folio where the segment starts.
    fn first(&self) -> usize {
        (self.shape & FIRST_MASK) as usize
    }

    /// Returns the index of the segment's first folio.
    fn folio(&self) -> usize {
        self.folio as usize
    }
}

/// Room for a buffer's first `memfd_pin_folios` call, whose folios tell
/// how many the rest of the buffer needs: folios are pinned straight into
/// the table, which grows to what the buffer holds (upstream allocates a
/// scratch array of one pointer per page of the largest item, and copies).
const FIRST_PIN: usize = 2048;

/// The pinned folios of one buffer; see the module documentation.
pub(crate) struct FolioTable<F: Folio> {
    folios: KVVec<F>,
    segments: KVVec<Segment>,
    pages: usize,
}

impl<F: Folio> Drop for FolioTable<F> {
    fn drop(&mut self) {
        F::release_all(&mut self.folios);
    }
}

impl<F: Folio> FolioTable<F> {
    /// Creates an empty table.
    pub(crate) fn new() -> Self {
        Self {
            folios: KVVec::new(),
            segments: KVVec::new(),
            pages: 0,
        }
    }

    /// Appends freshly pinned folios: `pin` appends folios, in file order,
    /// to the table's folio array (reserving what it needs) and returns the
    /// page of the first one where the range starts. The buffer uses the
    /// first folio from that page on, the others from their start, and at
    /// most `max_pages` pages in all; the folios beyond are dropped.
    ///
    /// Returns the number of pages appended, at least one. On error the
    /// table is as before and the new folios are dropped.
    pub(crate) fn append_pinned(
        &mut self,
        max_pages: usize,
        pin: impl FnOnce(&mut KVVec<F>) -> Result<usize>,
    ) -> Result<usize> {
        let (old_len, old_segments, old_pages) =
            (self.folios.len(), self.segments.len(), self.pages);
        let result =
            pin(&mut self.folios).and_then(|first| self.add_segments(old_len, first, max_pages));
        if result.is_err() {
            // Restores the invariants: the new folios (dropping them
            // releases them) and any segment over them go.
            self.folios.truncate(old_len);
            self.segments.truncate(old_segments);
            self.pages = old_pages;
        }
        result
    }

    /// Describes the folios from index `at` on, entered at page `first` of
    /// the first, by segments of at most `max_pages` pages in all, and drops
    /// the folios beyond.
    fn add_segments(&mut self, mut at: usize, mut first: usize, max_pages: usize) -> Result<usize> {
        let mut appended = 0;
        while at < self.folios.len() && appended < max_pages {
            let (nr, same) = F::leading_same_size(&self.folios[at..]);
            let order = nr.trailing_zeros();
            // The first page must be inside a folio of a known shape.
            if !nr.is_power_of_two() || order > MAX_ORDER || first >= nr {
                return Err(EINVAL);
            }
            let take = (same * nr - first).min(max_pages - appended);
            self.push_segment(at, order, first, take)?;
            appended += take;
            at += (first + take).div_ceil(nr);
            first = 0;
        }
        if appended == 0 {
            return Err(EINVAL);
        }
        // Past the range: dropping the folios releases them.
        self.folios.truncate(at);
        Ok(appended)
    }

    /// Appends `pages` buffer pages from page `first` of folio `at` on,
    /// whose folios have order `order`: extends the last segment if they
    /// continue it, or adds one.
    fn push_segment(&mut self, at: usize, order: u32, first: usize, pages: usize) -> Result {
        let continues = self.segments.last().is_some_and(|last| {
            // Same order, entered at its start, and the last segment uses
            // all of its last folio, which is the one before `at`.
            let used = last.first() + (self.pages - last.start);
            last.order() == order && first == 0 && used == (at - last.folio()) << order
        });
        if !continues {
            let folio = u32::try_from(at).map_err(|_| ENOMEM)?;
            // INVARIANT: The segment starts where the buffer ends, at the
            // folio after the last one used; `first < 2^order` and
            // `order <= MAX_ORDER` were checked by the caller.
            self.segments.push(
                Segment {
                    start: self.pages,
                    folio,
                    shape: order << FIRST_BITS | first as u32,
                },
                GFP_KERNEL,
            )?;
        }
        self.pages += pages;
        Ok(())
    }

    /// Makes room for `segments` more segments at once.
    pub(crate) fn reserve_segments(&mut self, segments: usize) -> Result {
        self.segments.reserve(segments, GFP_KERNEL)?;
        Ok(())
    }

    /// Gives back spare capacity, so the table takes exactly what it needs.
    pub(crate) fn shrink_to_fit(&mut self) {
        // A failed shrink only keeps the larger allocation.
        let _ = self.folios.shrink_to(self.folios.len(), GFP_KERNEL);
        let _ = self.segments.shrink_to(self.segments.len(), GFP_KERNEL);
    }

    /// Returns the number of pages in the buffer.
    pub(crate) fn page_count(&self) -> usize {
        self.pages
    }

    /// Returns the number of pinned folios.
    pub(crate) fn folio_count(&self) -> usize {
        self.folios.len()
    }

    /// Returns the room, in folios, to reserve before pinning the next
    /// `left` pages of a range, in a buffer of `buffer_pages` pages: the
    /// table's growth policy. Before any folio, room for a first batch of
    /// at most [`FIRST_PIN`], whose folios tell how many the rest needs;
    /// then room for the rest of the buffer at the folios per page seen so
    /// far, so that the table grows once, not per item, and no further
    /// than what the buffer can hold. At least one.
    fn pin_room(&self, left: usize, buffer_pages: usize) -> usize {
        let buffer_left = buffer_pages.saturating_sub(self.pages).max(left);
        match self.pages {
            0 => left.min(FIRST_PIN),
            seen => (buffer_left * self.folios.len())
                .div_ceil(seen)
                .clamp(1, buffer_left),
        }
    }

    /// Returns the number of segments.
    #[cfg(CONFIG_KUNIT = "y")]
    fn segment_count(&self) -> usize {
        self.segments.len()
    }

    /// Returns the bytes the table allocates.
    pub(crate) fn table_bytes(&self) -> usize {
        self.folios.capacity() * size_of::<F>() + self.segments.capacity() * size_of::<Segment>()
    }

    /// Returns where segment `index` ends: where the next one starts.
    fn end(&self, index: usize) -> usize {
        self.segments
            .get(index + 1)
            .map_or(self.pages, |next| next.start)
    }

    /// Returns the index of the segment holding buffer page `pgoff`.
    fn segment_index(&self, pgoff: usize) -> Option<usize> {
        if pgoff >= self.pages {
            return None;
        }
        // The segments tile the buffer in order: the last one starting at
        // or before `pgoff` holds it.
        Some(
            self.segments
                .partition_point(|segment| segment.start <= pgoff)
                - 1,
        )
    }

    /// Returns the folio holding buffer page `pgoff` and the page's index in
    /// that folio.
    pub(crate) fn lookup(&self, pgoff: usize) -> Option<(&F, usize)> {
        let segment = &self.segments[self.segment_index(pgoff)?];
        let at = segment.first() + (pgoff - segment.start);
        let order = segment.order();
        Some((
            &self.folios[segment.folio() + (at >> order)],
            at & ((1 << order) - 1),
        ))
    }

    /// Returns the folios from buffer page `pgoff` on, one item per folio;
    /// the first one is cut to start at `pgoff`. Items are
    /// `(folio, first page in folio, pages)`.
    pub(crate) fn runs_from(&self, pgoff: usize) -> FolioRuns<'_, F> {
        let index = self.segment_index(pgoff).unwrap_or(self.segments.len());
        let (lo, hi) = self.span(index, pgoff);
        FolioRuns {
            table: self,
            index,
            lo,
            hi,
        }
    }

    /// Returns the pages of segment `index` from buffer page `pgoff` on, as
    /// `lo..hi` counted from the first page of the segment's first folio
    /// (empty past the last segment).
    fn span(&self, index: usize, pgoff: usize) -> (usize, usize) {
        self.segments.get(index).map_or((0, 0), |segment| {
            (
                segment.first() + (pgoff.max(segment.start) - segment.start),
                segment.first() + (self.end(index) - segment.start),
            )
        })
    }
}

/// The folios of a [`FolioTable`] from a buffer page on, one item per folio:
/// what [`FolioTable::runs_from`] returns.
///
/// A named iterator rather than a chain of adapters and closures: the
/// symbols of generic code that consumes a chain spell out all its types,
/// and the kernel mishandles module symbols of 512 characters or more.
pub(crate) struct FolioRuns<'a, F: Folio> {
    table: &'a FolioTable<F>,
    /// The segment of the next item (the segment count once done).
    index: usize,
    /// The pages of segment `index` still to come, `lo..hi`, counted from
    /// the first page of its first folio.
    lo: usize,
    hi: usize,
}

// Not derived: that would want `F: Clone`, and only the reference is copied.
impl<F: Folio> Clone for FolioRuns<'_, F> {
    fn clone(&self) -> Self {
        Self { ..*self }
    }
}

impl<'a, F: Folio> Iterator for FolioRuns<'a, F> {
    type Item = (&'a F, usize, usize);

    fn next(&mut self) -> Option<Self::Item> {
        while self.lo >= self.hi {
            if self.index >= self.table.segments.len() {
                return None;
            }
            self.index += 1;
            (self.lo, self.hi) = self.table.span(self.index, 0);
        }
        let segment = self.table.segments.get(self.index)?;
        let order = segment.order();
        let n = self.lo >> order;
        let folio = self.table.folios.get(segment.folio() + n)?;
        let (from, to) = (self.lo, ((n + 1) << order).min(self.hi));
        self.lo = to;
        Some((folio, from - (n << order), to - from))
    }
}

/// Pins the folios of the `size` bytes at `offset` of `memfd` (an item, or
/// items that continue each other) and appends them to `table`, which
/// grows as [`FolioTable::pin_room`] says for a buffer of `buffer_pages`.
pub(crate) fn pin_range(
    memfd: &MemfdLocked<'_>,
    offset: u64,
    size: u64,
    buffer_pages: usize,
    table: &mut FolioTable<PinnedFolio>,
) -> Result {
    let pages = (size >> PAGE_SHIFT) as usize;
    // An empty item pins nothing: upstream's memfd_pin_folios() call gets
    // `end < start` and fails with EINVAL, after the descriptor and seals.
    if pages == 0 {
        return Err(EINVAL);
    }
    // As upstream, in `loff_t`: an offset past `i64::MAX` is negative and
    // rejected by memfd_pin_folios, as is a range past the end of the file.
    let start = offset as i64;
    let end = start
        .wrapping_add((pages as i64).wrapping_shl(PAGE_SHIFT as u32))
        .wrapping_sub(1);
    let mut done = 0;
    while done < pages {
        let from = start.wrapping_add((done << PAGE_SHIFT) as i64);
        let left = pages - done;
        let room = table.pin_room(left, buffer_pages);
        done += table.append_pinned(left, |folios| {
            folios.reserve(room, GFP_KERNEL)?;
            Ok(memfd.pin_folios(from, end, folios, left)? >> PAGE_SHIFT)
        })?;
    }
    Ok(())
}

#[cfg(CONFIG_KUNIT = "y")]
mod tests {
    use super::*;
    use crate::kapi::kernel::sync::atomic::{
        Atomic,
        Relaxed, //
    };
    use crate::kapi::kunit::{
        assert,
        assert_eq,
        kunit_suite, //
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

    /// Appends `folios` to `table` as a pin call would, entering the first
    /// at page `first`.
    fn append(
        table: &mut FolioTable<FakeFolio>,
        folios: KVec<FakeFolio>,
        first: usize,
        max_pages: usize,
    ) -> Result<usize> {
        table.append_pinned(max_pages, |array| {
            for folio in folios {
                array.push(folio, GFP_KERNEL)?;
            }
            Ok(first)
        })
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

    /// The growth policy: a bounded first batch, then room for the rest of
    /// the buffer at the folios per page seen, so that the table grows once.
    fn pin_room_is_a_first_batch_then_the_rest_at_once() -> Result {
        let mut table = FolioTable::new();
        assert_eq!(table.pin_room(10, 10), 10);
        assert_eq!(table.pin_room(1 << 20, 1 << 20), FIRST_PIN);
        // 4 folios of 512 pages seen, 2048 pages of a 4096-page buffer left:
        // room for 4 more folios, not one per page.
        append(&mut table, folios(0, &[512; 4])?, 0, 2048)?;
        assert_eq!(table.pin_room(2048, 4096), 4);
        // Small folios seen: a folio per page for the rest.
        let mut small = FolioTable::new();
        append(&mut small, folios(0, &[1; 8])?, 0, 8)?;
        assert_eq!(small.pin_room(100, 108), 100);
        // Never zero, even past what the buffer was said to hold.
        assert_eq!(small.pin_room(1, 0), 1);
        Ok(())
    }

    fn small_folios_from_start() -> Result {
        let mut table = FolioTable::new();
        let sizes = [1, 1, 1, 1];
        assert_eq!(append(&mut table, folios(0, &sizes)?, 0, 4)?, 4);
        let mut model = KVec::new();
        model_append(&mut model, 0, &sizes, 0, 4)?;
        assert!(matches_model(&table, &model));
        assert_eq!(table.folio_count(), 4);
        assert_eq!(table.segment_count(), 1);
        Ok(())
    }

    fn start_inside_huge_folio_at_any_offset() -> Result {
        for first in [0, 1, 255, 510, 511] {
            for want in [1, 2, 512 - first, 700] {
                let mut table = FolioTable::new();
                let sizes = [512, 512];
                let got = append(&mut table, folios(0, &sizes)?, first, want)?;
                assert_eq!(got, want.min(1024 - first));
                let mut model = KVec::new();
                model_append(&mut model, 0, &sizes, first, want)?;
                assert!(matches_model(&table, &model));
            }
        }
        Ok(())
    }

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
            assert_eq!(append(&mut table, folios(base, sizes)?, first, want)?, want);
            expected += want;
            model_append(&mut model, base, sizes, first, expected)?;
        }
        assert!(matches_model(&table, &model));
        // Each item starts where the one before it ends.
        assert_eq!(table.lookup(230).map(|(f, i)| (f.id, i)), Some((10, 0)));
        assert_eq!(table.lookup(233).map(|(f, i)| (f.id, i)), Some((20, 100)));
        Ok(())
    }

    fn surplus_folios_are_released() -> Result {
        let before = DROPPED.load(Relaxed);
        let mut table = FolioTable::new();
        // Only 3 pages wanted: the last two folios are not used.
        assert_eq!(append(&mut table, folios(0, &[2, 2, 2, 2])?, 0, 3)?, 3);
        assert_eq!(table.folio_count(), 2);
        assert_eq!(DROPPED.load(Relaxed) - before, 2);
        drop(table);
        assert_eq!(DROPPED.load(Relaxed) - before, 4);
        Ok(())
    }

    fn offset_past_folio_is_rejected() -> Result {
        let before = DROPPED.load(Relaxed);
        let mut table = FolioTable::new();
        assert!(append(&mut table, folios(0, &[4])?, 4, 1).is_err());
        assert_eq!(table.page_count(), 0);
        assert_eq!(table.folio_count(), 0);
        assert_eq!(DROPPED.load(Relaxed) - before, 1);
        Ok(())
    }

    fn failed_append_leaves_the_table_as_before() -> Result {
        let before = DROPPED.load(Relaxed);
        let mut table = FolioTable::new();
        let mut model = KVec::new();
        assert_eq!(append(&mut table, folios(0, &[1, 1])?, 0, 2)?, 2);
        model_append(&mut model, 0, &[1, 1], 0, 2)?;
        // A folio of no power-of-two size after good ones: all three go.
        assert!(append(&mut table, folios(10, &[1, 2, 3])?, 0, 6).is_err());
        assert_eq!(DROPPED.load(Relaxed) - before, 3);
        assert!(matches_model(&table, &model));
        assert_eq!((table.folio_count(), table.segment_count()), (2, 1));
        // And the table still grows as before.
        assert_eq!(append(&mut table, folios(20, &[1])?, 0, 1)?, 1);
        model_append(&mut model, 20, &[1], 0, 3)?;
        assert!(matches_model(&table, &model));
        Ok(())
    }

    fn segments_join_what_follows_on() -> Result {
        let mut table = FolioTable::new();
        let mut model = KVec::new();
        // One-page items, as a VM's list of guest pages: one segment.
        for i in 0..8 {
            assert_eq!(append(&mut table, folios(i, &[1])?, 0, 1)?, 1);
            model_append(&mut model, i, &[1], 0, i + 1)?;
        }
        assert_eq!(table.segment_count(), 1);
        // Huge folios: a new segment; a second item continuing whole
        // folios joins it.
        append(&mut table, folios(100, &[512, 512])?, 0, 1024)?;
        model_append(&mut model, 100, &[512, 512], 0, 8 + 1024)?;
        append(&mut table, folios(200, &[512])?, 0, 512)?;
        model_append(&mut model, 200, &[512], 0, 8 + 1536)?;
        assert_eq!(table.segment_count(), 2);
        // An item entering a folio mid-way, or after a partly used one,
        // starts a segment.
        append(&mut table, folios(300, &[512])?, 5, 10)?;
        model_append(&mut model, 300, &[512], 5, 8 + 1546)?;
        append(&mut table, folios(400, &[512])?, 0, 3)?;
        model_append(&mut model, 400, &[512], 0, 8 + 1549)?;
        assert_eq!(table.segment_count(), 4);
        assert!(matches_model(&table, &model));
        Ok(())
    }

    fn runs_from_cuts_the_first_folio() -> Result {
        let mut table = FolioTable::new();
        append(&mut table, folios(0, &[8, 8])?, 2, 12)?;
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

    fn metadata_is_a_pointer_per_folio() -> Result {
        // What the figures below count in bytes: a pinned folio is one
        // pointer, a segment two words.
        assert_eq!(size_of::<PinnedFolio>(), 8);
        assert_eq!(size_of::<Segment>(), 16);
        // 64 MiB of 4 KiB folios: a pointer per page and one segment.
        let mut table = FolioTable::new();
        let small = KVec::from_elem(1usize, 16384, GFP_KERNEL)?;
        assert_eq!(append(&mut table, folios(0, &small)?, 0, 16384)?, 16384);
        table.shrink_to_fit();
        assert_eq!(
            table.table_bytes(),
            16384 * size_of::<FakeFolio>() + size_of::<Segment>()
        );
        assert_eq!(
            table.lookup(16383).map(|(f, i)| (f.id, i)),
            Some((16383, 0))
        );
        // 1 GiB over 2 MiB folios: 512 folios for 262144 pages.
        let mut table = FolioTable::new();
        let sizes = [512; 512];
        assert_eq!(
            append(&mut table, folios(0, &sizes)?, 0, 512 * 512)?,
            512 * 512
        );
        table.shrink_to_fit();
        assert_eq!(table.folio_count(), 512);
        assert_eq!(
            table.table_bytes(),
            512 * size_of::<FakeFolio>() + size_of::<Segment>()
        );
        assert_eq!(
            table.lookup(512 * 512 - 1).map(|(f, i)| (f.id, i)),
            Some((511, 511))
        );
        Ok(())
    }

    kunit_suite!(
        rudmabuf_folio_table,
        [
            pin_room_is_a_first_batch_then_the_rest_at_once,
            small_folios_from_start,
            start_inside_huge_folio_at_any_offset,
            items_mixing_huge_and_small_folios,
            surplus_folios_are_released,
            offset_past_folio_is_rejected,
            failed_append_leaves_the_table_as_before,
            segments_join_what_follows_on,
            runs_from_cuts_the_first_folio,
            metadata_is_a_pointer_per_folio
        ]
    );
}

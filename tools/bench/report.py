#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Turn bench samples into a markdown table, a CSV summary and a plot.

    report.py SAMPLES.csv OUTDIR

SAMPLES.csv rows: workload,driver,rep,value,unit (driver: C or rust).
Writes OUTDIR/results.md, OUTDIR/results.csv and OUTDIR/heap_latency.png.

bench.c takes C's sample and then ours for each rep, so the two of a pair
run within milliseconds of each other. ours/C is the median over the pairs
of ours over C: the host's speed, which changes between two speeds from
one moment to the next (tools/bench/README.md, Reading the spread), mostly
cancels within a pair, where a ratio of the two medians takes each from a
different mix of slow and fast samples.
Workloads ending in ACCOUNTED (the boot with dma_heap.mem_accounting=1) get
a second table, in the same format, with their own targets.
"""
import csv
import re
import statistics
import sys
from collections import Counter, defaultdict
from pathlib import Path

# C's allocation of one page after the paced pause: its path without the
# zeroing (bench.c, heap_paced), the floor of the paced targets.
FLOOR = "heap_alloc_paced_4K_100ms"

# The targets: the largest acceptable ratio ours/C.
TARGETS = [
    ("heap_alloc_warm_4K", 1.1), ("heap_alloc_warm_1M", 0.5),
    ("heap_alloc_warm_8M", 0.6), ("heap_alloc_warm_32M", 0.6),
    ("heap_alloc_burst_4K", 1.1), (FLOOR, None), ("heap_alloc_paced_", 0.05),
    ("heap_alloc_frameset_", 0.05), ("heap_alloc_cold_", 1.1),
    ("heap_release_1M_idle", None), ("heap_release_", 0.5),
    ("udmabuf_create_1G_hugetlb", 0.5), ("udmabuf_metadata_1G_hugetlb", 0.01),
    ("heap_first_touch", 1.0), ("udmabuf_first_touch_256M", 1.0),
    ("udmabuf_create_64M_shmem", 1.0), ("udmabuf_create_list_", 1.0),
    ("udmabuf_create_mmap_read_", 1.0), ("udmabuf_metadata_64M_shmem", 0.55),
    ("udmabuf_first_touch_1G_hugetlb", 0.2), ("udmabuf_page_tables_1G_hugetlb", 0.01),
]


# The rows of the boot with dma_heap.mem_accounting=1 (bench.c,
# heap-accounted), and issue 33's targets for them.
ACCOUNTED = "_accounted"
ACCOUNTED_TARGETS = [
    ("heap_alloc_warm_8M_accounted", 0.1), ("heap_alloc_paced_", 0.1),
    ("heap_alloc_cold_", 1.1),
]


def target(workload):
    targets = ACCOUNTED_TARGETS if workload.endswith(ACCOUNTED) else TARGETS
    for prefix, limit in targets:
        if workload.startswith(prefix):
            return limit
    return None


def floor_ratio(workload, c_median, floor_c):
    """For a paced workload: C's fixed cost (FLOOR's C figure, once per
    buffer) as a share of C's figure, the lowest ratio a driver reaches that
    pays C's path for the buffer, its export and its descriptor. An
    accounted row is set against the unaccounted boot's FLOOR (a little
    lower than C's accounted path, which also charges the pages)."""
    if floor_c is None or workload == FLOOR or not c_median:
        return None
    if workload.startswith("heap_alloc_paced_"):
        buffers = 1
    elif workload.startswith("heap_alloc_frameset_"):
        buffers = int(re.search(r"_(\d+)x", workload).group(1))
    else:
        return None
    return buffers * floor_c / c_median


def spread(values):
    """Interquartile range relative to the median, in percent."""
    if len(values) < 4:
        return 0.0
    q = statistics.quantiles(values, n=4)
    med = statistics.median(values)
    return 100.0 * (q[2] - q[0]) / med if med else 0.0


def paired_ratio(pairs):
    """The median of ours over C over the pairs {driver: value} that have
    both, or NaN if none has."""
    ratios = [p["rust"] / p["C"] for p in pairs if "C" in p and "rust" in p and p["C"]]
    return statistics.median(ratios) if ratios else float("nan")


def table(rows):
    """A markdown table of rows (as main() builds them)."""
    lines = ["| workload | unit | C | ours | ours/C (paired) | spread C / ours (IQR) | target |",
             "|---|---|---:|---:|---:|---:|---|"]
    for w, unit, mc, mr, ratio, sc, sr, n, limit, verdict, _ in rows:
        tgt = "" if limit is None else f"<= {limit} {verdict}"
        lines.append(f"| {w} | {unit} | {mc:,.1f} | {mr:,.1f} | {ratio:.3f} | "
                     f"{sc:.0f}% / {sr:.0f}% | {tgt} |")
    return lines


README_BEGIN = "<!-- bench-results-begin -->"
README_END = "<!-- bench-results-end -->"


def update_readme(outdir, lines):
    """Replace the README's results block with the new table, when the
    results are written where `make bench` writes them."""
    top = Path(__file__).resolve().parents[2]
    if outdir.resolve() != top / "tools" / "bench" / "results":
        return
    readme = top / "README.md"
    if not readme.exists():
        return
    text = readme.read_text()
    if README_BEGIN not in text or README_END not in text:
        return
    head, rest = text.split(README_BEGIN, 1)
    _, tail = rest.split(README_END, 1)
    block = "\n".join([README_BEGIN, *lines, README_END])
    readme.write_text(head + block + tail)
    print(f"report: updated the results table in {readme}")


def main():
    samples, outdir = Path(sys.argv[1]), Path(sys.argv[2])
    outdir.mkdir(parents=True, exist_ok=True)
    data = defaultdict(lambda: defaultdict(list))
    # workload -> (rep, boot) -> {driver: value}: a boot's samples of a rep
    # are the n-th of that rep in the file (run.sh appends boot after boot).
    pairs = defaultdict(lambda: defaultdict(dict))
    seen = Counter()
    units, order = {}, []
    with samples.open() as f:
        for workload, driver, rep, value, unit in csv.reader(f):
            if workload not in units:
                order.append(workload)
            data[workload][driver].append(float(value))
            boot = seen[(workload, driver, rep)]
            seen[(workload, driver, rep)] += 1
            pairs[workload][(rep, boot)][driver] = float(value)
            units[workload] = unit

    floor_c = statistics.median(data[FLOOR]["C"]) if data[FLOOR].get("C") else None
    rows = []
    for w in order:
        c, r = data[w].get("C", []), data[w].get("rust", [])
        if not c or not r:
            continue
        mc, mr = statistics.median(c), statistics.median(r)
        ratio = paired_ratio(pairs[w].values())
        limit = target(w)
        verdict = "" if limit is None else ("met" if ratio <= limit else "missed")
        floor = floor_ratio(w, mc, floor_c)
        if verdict == "missed" and floor is not None and floor > limit:
            verdict += f" (C's floor {floor:.3f})"
        rows.append((w, units[w], mc, mr, ratio, spread(c), spread(r), len(c), limit, verdict,
                     mr / mc if mc else float("nan")))

    with (outdir / "results.csv").open("w", newline="") as f:
        out = csv.writer(f)
        out.writerow(["workload", "unit", "c_median", "ours_median", "ratio_ours_over_c",
                      "c_iqr_pct", "ours_iqr_pct", "samples", "target_ratio", "target",
                      "ratio_of_medians"])
        for row in rows:
            out.writerow([row[0], row[1], f"{row[2]:.1f}", f"{row[3]:.1f}", f"{row[4]:.3f}",
                          f"{row[5]:.0f}", f"{row[6]:.0f}", row[7],
                          "" if row[8] is None else row[8], row[9], f"{row[10]:.3f}"])

    plain = [r for r in rows if not r[0].endswith(ACCOUNTED)]
    accounted = [r for r in rows if r[0].endswith(ACCOUNTED)]
    lines = table(plain) if plain or not accounted else []
    if accounted:
        if lines:
            lines.append("")
        lines += ["**Accounting on** (`dma_heap.mem_accounting=1`, a second boot: "
                  "each heap's task in a memory cgroup of its own):", ""]
        lines += table(accounted)
    (outdir / "results.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    update_readme(outdir, lines)

    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("report: matplotlib missing (tools/setup.sh installs it); no plot")
        return
    heap = [r for r in rows if r[0].startswith("heap_alloc_") and not r[0].endswith(ACCOUNTED)]
    labels = [r[0][len("heap_alloc_"):].replace("_", " ") for r in heap]
    x = range(len(heap))
    fig, ax = plt.subplots(figsize=(11, 4.5))
    ax.bar([i - 0.2 for i in x], [r[2] for r in heap], 0.4, label="C system_heap")
    ax.bar([i + 0.2 for i in x], [r[3] for r in heap], 0.4, label="rsystem_heap (ours)")
    ax.set_yscale("log")
    ax.set_xticks(list(x))
    ax.set_xticklabels(labels, rotation=30, ha="right")
    ax.set_ylabel("allocate + close, median µs (log)")
    ax.set_title("dma-buf heap allocation latency by state and size (QEMU TCG: compare ratios)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(outdir / "heap_latency.png", dpi=110)
    print(f"report: wrote {outdir}/results.md, results.csv, heap_latency.png")


if __name__ == "__main__":
    main()

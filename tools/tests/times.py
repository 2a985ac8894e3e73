#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Test time table: how long each test of a check run took against its timeout.

    tools/tests/times.py OUT.md CONSOLE.log... [--boot NAME SECONDS TIMEOUT]...

Reads the console logs of tools/check.sh's boots: user-space tests are the
"rdmabuf-stamp: UPTIME LINE" lines that selftests/run-tests.sh writes around
each program (announced by "rdmabuf-program: NAME LIMIT"), KUnit cases the
"rdmabuf-kunit: [TIME] LINE" copies of the kernel log. A kselftest-harness
test's timeout is its TEST_F_TIMEOUT in the sources (30 s by default); a
plain kselftest program's is the limit run-tests.sh gives the whole program;
a KUnit case's is KUnit's default, 300 s. Writes the whole table to OUT.md
and prints the ten slowest. A test over a third of its timeout is marked: a
host half as fast could time out there. It never fails the run, since time
budgets belong to the benchmark, not to pass/fail.
"""
import glob
import os
import re
import sys

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HARNESS_DEFAULT = 30
KUNIT_DEFAULT = 300


def harness_timeouts():
    """fixture.test -> seconds, from TEST_F_TIMEOUT in our selftest sources."""
    table = {}
    for path in glob.glob(os.path.join(TOP, "selftests", "*.c")):
        with open(path, encoding="utf-8") as f:
            for m in re.finditer(r"TEST_F_TIMEOUT\(\s*(\w+)\s*,\s*(\w+)\s*,\s*(\d+)\s*\)", f.read()):
                table[f"{m.group(1)}.{m.group(2)}"] = int(m.group(3))
    return table


def parse(console, boot, timeouts):
    rows = []
    program = limit = start = None
    marker = None
    harness = False
    kunit_marker = None
    with open(console, encoding="utf-8", errors="replace") as f:
        for raw in f:
            line = raw.rstrip("\r\n")
            m = re.match(r"rdmabuf-program: (\S+) (\d+)", line)
            if m:
                if program and marker is not None and start is not None:
                    rows.append((f"{boot}: {program} (whole program)", marker - start, limit))
                program, limit = m.group(1), int(m.group(2))
                marker = start = None
                harness = False
                continue
            m = re.match(r"rdmabuf-stamp: ([0-9.]+) (.*)", line)
            if m and program:
                t, text = float(m.group(1)), m.group(2)
                if start is None:
                    start = marker = t
                if re.match(r"#\s+RUN\s", text):
                    harness = True
                    marker = t
                    continue
                r = re.match(r"(not )?ok \d+ (?:- )?([^#]*)", text)
                if r:
                    name = r.group(2).strip()
                    timeout = timeouts.get(name, HARNESS_DEFAULT) if harness else limit
                    rows.append((f"{boot}: {program}/{name}", t - marker, timeout))
                    marker = t
                continue
            m = re.match(r"rdmabuf-kunit: \[\s*([0-9.]+)\] (\s*)(# Subtest: (\S+)|(not )?ok \d+ (\S+))", line)
            if m:
                t, indent = float(m.group(1)), len(m.group(2))
                if m.group(4):
                    suite, kunit_marker = m.group(4), t
                elif indent >= 4 and kunit_marker is not None:
                    rows.append((f"{boot}: kunit/{suite}/{m.group(6)}", t - kunit_marker, KUNIT_DEFAULT))
                    kunit_marker = t
    if program and marker is not None and start is not None:
        rows.append((f"{boot}: {program} (whole program)", marker - start, limit))
    return rows


def main(argv):
    out, rest = argv[1], argv[2:]
    timeouts = harness_timeouts()
    rows = []
    while rest:
        if rest[0] == "--boot":
            rows.append((f"vm boot: {rest[1]}", float(rest[2]), int(rest[3])))
            rest = rest[4:]
            continue
        path = rest.pop(0)
        if os.path.exists(path):
            boot = os.path.basename(path).removeprefix("check-").removesuffix(".log")
            rows += parse(path, boot, timeouts)
    rows.sort(key=lambda r: -r[1])
    lines = ["| test | seconds | timeout (s) | share |", "|---|---:|---:|---:|"]
    for name, secs, timeout in rows:
        share = secs / timeout if timeout else 0
        flag = " **over 1/3**" if share > 1 / 3 else ""
        lines.append(f"| {name} | {secs:.1f} | {timeout} | {share:.0%}{flag} |")
    with open(out, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    print(f"[times] {len(rows)} timed tests; the ten slowest (whole table in {out}):")
    print("\n".join(lines[:12]))
    over = [r for r in rows if r[2] and r[1] > r[2] / 3]
    if over:
        print(f"[times] WARNING: {len(over)} tests over a third of their timeout")


if __name__ == "__main__":
    main(sys.argv)

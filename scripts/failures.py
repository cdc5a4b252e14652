#!/usr/bin/python3
"""Prints, for each test the last CTest run in BUILD_DIR failed, what explains the failure: the
lines of its output that name one (Catch2's FAILED, sanitizer reports, Python tracebacks,
assertion messages) with a little context, then the last lines of its output.

scripts/test.sh calls it after a failed ctest, so the end of a long CI log says why, even when
the log is cut in the middle.

Usage: scripts/failures.py BUILD_DIR
"""
import re
import sys
from pathlib import Path

MARKERS = re.compile(
    r"FAILED|REQUIRE|CHECK\(|runtime error|Sanitizer|SUMMARY:|Traceback|AssertionError|Error:|error:|"
    r"timed out|Timeout|Segmentation|Aborted|terminate called")
CONTEXT = 3      # lines kept around each marker
MARKED_MAX = 80  # at most this many marked lines (with context) per test
TAIL = 40        # and the output's last lines


def outputs(log):
    """Yields (test name, output lines) for each test in CTest's LastTest.log."""
    name, lines, inside = None, [], False
    for line in log.splitlines():
        m = re.match(r"^\d+/\d+ Testing: (.*)$", line)
        if m:
            name, lines, inside = m.group(1), [], False
        elif line == "Output:" and name is not None:
            inside = True
        elif line == "<end of output>":
            if name is not None:
                yield name, lines
            inside = False
        elif inside and not re.fullmatch(r"-+", line):
            lines.append(line)


def explain(lines):
    keep = set()
    for i, line in enumerate(lines):
        if MARKERS.search(line):
            keep.update(range(max(0, i - CONTEXT), min(len(lines), i + CONTEXT + 1)))
    marked = [lines[i] for i in sorted(keep)][:MARKED_MAX]
    return marked, lines[-TAIL:]


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    temp = Path(sys.argv[1]) / "Testing" / "Temporary"
    try:
        failed = {line.split(":", 1)[1] for line in (temp / "LastTestsFailed.log").read_text().splitlines() if ":" in line}
        log = (temp / "LastTest.log").read_text(errors="replace")
    except OSError as e:
        print("failures: %s" % e)
        return
    for name, lines in outputs(log):
        if name not in failed:
            continue
        marked, tail = explain(lines)
        print("==== failed: %s (%d lines of output) ====" % (name, len(lines)))
        if marked:
            print("---- lines that name a failure ----")
            print("\n".join(marked))
        print("---- last %d lines ----" % len(tail))
        print("\n".join(tail))


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Prints what failed in a test step's log, briefly: scripts/test.sh calls it after a failed
step's last lines, so that a CI report that keeps only the end of the output still names
each failed test and its first lines of error.

Understands cargo's test harness (a `---- name stdout ----` block per failed test, under the
binary's `Running` line) and node's TAP reporter (`not ok` with its YAML block, under
tests/suites/e2e.sh's `[e2e] ENGINE FILE` header). Usage: failure-summary.py LOG
"""
import re
import sys

PER_FAILURE = 14
TOTAL = 90


def cargo_failures(lines):
    out = []
    binary = None
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.lstrip().startswith("Running "):
            binary = line.strip()
        m = re.match(r"^---- (.+) stdout ----$", line)
        if m:
            block = [f"[cargo] {m.group(1)}  ({binary or 'unknown binary'})"]
            j = i + 1
            while j < len(lines) and not lines[j].startswith("---- ") and lines[j].strip() != "failures:":
                text = lines[j].rstrip()
                # The panic and its message matter; the test's own log lines mostly do not.
                if text and ("panicked" in text or not re.match(r"^\s*\d{4}-\d\d-\d\dT|^\s*(INFO|DEBUG|TRACE|WARN)\b", text)):
                    block.append("    " + text)
                j += 1
            out.append(block[:PER_FAILURE])
            i = j
            continue
        i += 1
    return out


def tap_failures(lines):
    out = []
    header = None
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("[e2e] ") and ": " in line and "exit" in line:
            header = line.strip()
        m = re.match(r"^(\s*)not ok \d+ - (.*)$", line)
        if m:
            indent = len(m.group(1))
            block = [f"[tap] {m.group(2).strip()}  ({header or 'unknown run'})"]
            j = i + 1
            detail, where, in_stack = [], [], False
            while j < len(lines):
                text = lines[j].rstrip()
                if text.strip() == "..." or re.match(r"^\s*(not )?ok \d+ ", text):
                    break
                if re.match(r"^\s*stack:", text):
                    in_stack = True
                elif in_stack and ".mjs:" in text:
                    # The frames in our own test files say which line failed.
                    where.append("    " + text.strip())
                elif "replay with" in text:
                    # A randomized test's seed (reload-crash): the failure can be run again.
                    where.insert(0, "    " + text.strip())
                elif not in_stack and text.strip() and not re.match(
                        r"^\s*(---|duration_ms:|type:|failureType:|location:)", text):
                    detail.append("    " + text.strip())
                j += 1
            block += detail[:PER_FAILURE - 4] + where[:4]
            # A parent's "not ok" repeats its failed subtest's error: keep the innermost only.
            if not (out and indent < out[-1][0] and out[-1][1][1:] == block[1:]):
                out.append((indent, block[:PER_FAILURE]))
            i = j
            continue
        i += 1
    return [b for _, b in out]


def main(path):
    try:
        with open(path, errors="replace") as f:
            lines = f.read().splitlines()
    except OSError as e:
        print(f"failure-summary: cannot read {path}: {e}")
        return 0
    blocks = cargo_failures(lines) + tap_failures(lines)
    if not blocks:
        return 0
    print(f"    failures in {path}:")
    printed = 0
    for block in blocks:
        for text in block:
            if printed >= TOTAL:
                print("    | (more failures: see the log)")
                return 0
            print("    | " + text)
            printed += 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))

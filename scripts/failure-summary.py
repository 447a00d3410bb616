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
# A server's or test's own log line (tracing's format): what failed is said elsewhere.
LOG_LINE = re.compile(r"^\s*\d{4}-\d\d-\d\dT|^\s*(INFO|DEBUG|TRACE|WARN)\b")


def scan(lines, is_header, start, ends):
    """Yields (header, match, body) for each line `start` matches: body is the lines after it
    up to the first one `ends` accepts, header the last line before it `is_header` accepted."""
    header = None
    i = 0
    while i < len(lines):
        if is_header(lines[i]):
            header = lines[i].strip()
        m = start.match(lines[i])
        if not m:
            i += 1
            continue
        j = i + 1
        while j < len(lines) and not ends(lines[j]):
            j += 1
        yield header, m, lines[i + 1:j]
        i = j


def cargo_failures(lines):
    out = []
    for binary, m, body in scan(
            lines, lambda l: l.lstrip().startswith("Running "), re.compile(r"^---- (.+) (?:stdout|output) ----$"),
            lambda l: l.startswith("---- ") or l.strip() == "failures:"):
        block = [f"[cargo] {m.group(1)}  ({binary or 'unknown binary'})"]
        for text in map(str.rstrip, body):
            # The panic and its message matter; the test's own log lines mostly do not.
            if text and ("panicked" in text or not LOG_LINE.match(text)):
                block.append("    " + text)
        out.append(block[:PER_FAILURE])
    return out


def tap_failures(lines):
    out = []
    for header, m, body in scan(
            lines, lambda l: l.startswith("[e2e] ") and ": " in l and "exit" in l,
            re.compile(r"^(\s*)not ok \d+ - (.*)$"),
            lambda l: l.strip() == "..." or re.match(r"^\s*(not )?ok \d+ ", l)):
        indent = len(m.group(1))
        block = [f"[tap] {m.group(2).strip()}  ({header or 'unknown run'})"]
        detail, where, in_stack = [], [], False
        for text in map(str.rstrip, body):
            if re.match(r"^\s*stack:", text):
                in_stack = True
            elif "replay with" in text:
                # A randomized test's seed (reload-crash): the failure can be run again.
                where.insert(0, "    " + text.strip())
            elif in_stack and ".mjs:" in text:
                # The frames in our own test files say which line failed.
                where.append("    " + text.strip())
            elif not in_stack and text.strip() and not LOG_LINE.match(text) and not re.match(
                    r"^\s*(---|duration_ms:|type:|failureType:|location:)", text):
                detail.append("    " + text.strip())
        block += detail[:PER_FAILURE - 4] + where[:4]
        # A parent's "not ok" repeats its failed subtest's error: keep the innermost only.
        if not (out and indent < out[-1][0] and out[-1][1][1:] == block[1:]):
            out.append((indent, block[:PER_FAILURE]))
    return [b for _, b in out]


def runner_deadline(lines):
    """wasm-bindgen-test-runner killed the browser at its deadline: the test it was in."""
    if not any("Failed to detect test as having been run" in l for l in lines):
        return []
    running = [l.strip() for l in lines if l.strip().startswith("Invoking test:")]
    return [["[wasm] the runner's deadline passed (WASM_BINDGEN_TEST_TIMEOUT), in: "
             + (running[-1] if running else "no test started")]]


def main(path):
    try:
        with open(path, errors="replace") as f:
            lines = f.read().splitlines()
    except OSError as e:
        print(f"failure-summary: cannot read {path}: {e}")
        return 0
    blocks = cargo_failures(lines) + tap_failures(lines) + runner_deadline(lines)
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

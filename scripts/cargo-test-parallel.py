#!/usr/bin/env python3
"""`cargo test ARGS [-- TEST-ARGS]` with the test binaries run a few at a time.

    python3 scripts/cargo-test-parallel.py --workspace --locked [-- --skip name]

cargo runs one test binary after the other; most of ours spend their time waiting on
sockets, child servers and lease timeouts (mucsub_scenarios: ~40 s of wall time for ~2 s of
CPU), so the suite's native steps were mostly idle cores. This builds the tests with
cargo (`--no-run`), then runs every test binary itself, CARGO_TEST_JOBS (default 3) at a
time, longest first by the last run's durations (kept in the target dir), each with what
cargo gives it: the package's directory as working directory and CARGO_MANIFEST_DIR /
CARGO_PKG_NAME. Each binary's output is printed whole when it ends, under cargo's own
`Running ...` line, so the `test result:` lines scripts/test.sh counts are unchanged; the
doc tests run afterwards through cargo (`--doc`) when the arguments select no single
target. The binaries named in ALONE run first, each with nothing beside it: cluster_chaos
kills a room's owner ten times with 2 s leases and waits for a survivor to take over,
which starved of CPU by two other binaries on two cores once took longer than its bound. The last lines name the binaries that failed; the exit status is non-zero when any
binary or the build failed.
"""

import json
import os
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

# Test binaries (file names) that run with no other beside them.
ALONE = {"cluster_chaos"}
TARGET_FLAGS = {"--test", "--lib", "--bin", "--bins", "--tests", "--example", "--examples", "--bench", "--benches", "--doc"}


def main(argv):
    if "--" in argv:
        split = argv.index("--")
        cargo_args, test_args = argv[:split], argv[split + 1:]
    else:
        cargo_args, test_args = argv, []
    # --no-fail-fast is what this runner does anyway; cargo refuses it with --no-run.
    cargo_args = [a for a in cargo_args if a != "--no-fail-fast"]
    build = subprocess.run(
        ["cargo", "test", "--no-run", "--message-format=json-render-diagnostics", *cargo_args],
        stdout=subprocess.PIPE, text=True)
    binaries = []
    for line in build.stdout.splitlines():
        msg = json.loads(line) if line.startswith("{") else {}
        if msg.get("reason") != "compiler-artifact" or not msg.get("profile", {}).get("test"):
            continue
        exe = msg.get("executable")
        if not exe:
            continue
        package_dir = os.path.dirname(msg["manifest_path"])
        target = msg["target"]
        src = os.path.relpath(target["src_path"], package_dir)
        label = src if "test" in target["kind"] else f"unittests {src}"
        binaries.append((label, exe, package_dir, msg["package_id"]))
    if build.returncode != 0:
        print("cargo-test-parallel: the build failed", flush=True)
        return build.returncode

    target_dir = os.environ.get("CARGO_TARGET_DIR") or os.path.join(os.getcwd(), "target")
    times_file = os.path.join(target_dir, "cargo-test-times.json")
    try:
        with open(times_file) as f:
            last = json.load(f)
    except (OSError, ValueError):
        last = {}
    # Longest first, unknown ones among the first: the long waits overlap the short ones.
    binaries.sort(key=lambda b: -last.get(b[1].rsplit("/", 1)[-1].rsplit("-", 1)[0], 1e9))

    jobs = max(1, int(os.environ.get("CARGO_TEST_JOBS", "3")))
    lock = threading.Lock()
    failed = []
    took = {}

    def run(entry):
        label, exe, package_dir, package_id = entry
        name = package_id.split("#")[-1].split("@")[0].rsplit("/", 1)[-1]
        env = dict(os.environ, CARGO_MANIFEST_DIR=package_dir, CARGO_PKG_NAME=name)
        start = time.monotonic()
        proc = subprocess.run([exe, *test_args], cwd=package_dir, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace")
        with lock:
            took[exe.rsplit("/", 1)[-1].rsplit("-", 1)[0]] = time.monotonic() - start
            rel = os.path.relpath(exe, os.getcwd())
            sys.stdout.write(f"     Running {label} ({rel})\n{proc.stdout}\n")
            sys.stdout.flush()
            if proc.returncode != 0:
                failed.append(label)

    def stem(entry):
        return entry[1].rsplit("/", 1)[-1].rsplit("-", 1)[0]

    for entry in [b for b in binaries if stem(b) in ALONE]:
        run(entry)
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        list(pool.map(run, [b for b in binaries if stem(b) not in ALONE]))

    try:
        with open(times_file, "w") as f:
            json.dump({**last, **took}, f, indent=0, sort_keys=True)
    except OSError:
        pass

    status = 0
    if not any(a in TARGET_FLAGS for a in cargo_args):
        status = subprocess.run(["cargo", "test", "--doc", "--no-fail-fast", *cargo_args, "--", *test_args]).returncode
        if status != 0:
            failed.append("doc tests")
    if failed:
        print(f"cargo-test-parallel: failed: {', '.join(failed)}", flush=True)
        return 1
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

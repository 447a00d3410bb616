#!/usr/bin/env python3
"""The table of bench/cluster-throughput.sh: medians over rounds of each case and mode,
from the annotated JSON lines it wrote (one per run), and the ratios issue 19 targets."""
import json
import statistics
import sys

CASES = ["sqlite", "pg1", "c3-owner", "c3-other"]
NAMES = {
    "sqlite": "1 node, SQLite",
    "pg1": "1 node, PostgreSQL",
    "c3-owner": "3 nodes, sender on the owner",
    "c3-other": "3 nodes, sender on another node",
}


def med(rows, get):
    v = [x for x in (get(r) for r in rows) if x is not None]
    return statistics.median(v) if v else None


def fmt(v, digits=0):
    return "–" if v is None else f"{v:,.{digits}f}"


rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
rows = [r for r in rows if "median_of" not in r]
by = {}
for r in rows:
    by.setdefault((r["label"], r["mode"]), []).append(r)

summary = {}
for mode, title in (("max", "max-rate burst"), ("rate", "fixed rate")):
    present = [c for c in CASES if (c, mode) in by]
    if not present:
        continue
    first = by[(present[0], mode)][0]
    print(f"\n{title}: {first['subs_per_room']} subscribers x {first['messages']} messages"
          + (f" at {first['rate']:g}/s" if mode == "rate" else ""))
    print("| case | runs | complete | events/s | p50 ms | p99 ms | CPU-s per 1,000 events"
          " | of which nodes / PostgreSQL / nats | load avg |")
    print("|---|---|---|---|---|---|---|---|---|")
    for c in present:
        rs = by[(c, mode)]
        def per_k(r, keys):
            v = [v for k, v in r["cpu_s_by_process"].items() if keys(k)]
            return sum(v) * 1000 / r["delivered"] if v and r["delivered"] else None
        nodes = med(rs, lambda r: per_k(r, lambda k: k.startswith("node")))
        pg = med(rs, lambda r: per_k(r, lambda k: k == "postgres"))
        nats = med(rs, lambda r: per_k(r, lambda k: k == "nats"))
        s = {
            "eps": med(rs, lambda r: r["events_per_s"]),
            "p50": med(rs, lambda r: r["latency"]["p50_ms"]),
            "p99": med(rs, lambda r: r["latency"]["p99_ms"]),
            "cpu": med(rs, lambda r: r.get("cpu_s_per_1000_events")),
        }
        summary[(c, mode)] = s
        loads = [r["load1"] for r in rs]
        split = " / ".join(fmt(x, 3) for x in (nodes, pg, nats))
        print(f"| {NAMES[c]} | {len(rs)} | {sum(r['complete'] for r in rs)}/{len(rs)}"
              f" | {fmt(s['eps'])} | {fmt(s['p50'], 2)} | {fmt(s['p99'], 2)}"
              f" | {fmt(s['cpu'], 3)} | {split} | {min(loads):.2f}–{max(loads):.2f} |")


def ratio(a, b):
    return None if a is None or not b else a / b


print()
for mode in ("max", "rate"):
    g = lambda c, k: summary.get((c, mode), {}).get(k)
    r = ratio(g("pg1", "eps"), g("sqlite", "eps"))
    if r is not None:
        print(f"{mode}: 1 node PostgreSQL / SQLite events/s = {r:.0%} (target >= 50 %)")
    for c in ("c3-owner", "c3-other"):
        for base in ("pg1", "sqlite"):
            r = ratio(g(c, "cpu"), g(base, "cpu"))
            if r is not None:
                print(f"{mode}: {c} CPU per event / {base} = {r:.2f}x (target <= 2x of one node)")

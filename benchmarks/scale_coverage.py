"""Interval coverage on the large preset: after `bench_scale.py`, how often each report's 90%
interval of an outcome's average effect holds the simulated truth (truth.json), by family and
design. A check that the tool stays calibrated at scale, read from the reports themselves
(summary.json), not refitted.

    .venv/bin/python benchmarks/scale_coverage.py /tmp/s18/large100 [--reports reports-100]

Prints covered/total per family x design, the overall rate with its binomial sd, and each miss.
"""

from __future__ import annotations

import argparse
import collections
import json
import math
from pathlib import Path


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("work", type=Path, help="bench_scale.py's --work folder (holds truth.json)")
    ap.add_argument("--reports", default=None, help="reports folder inside WORK (default: the largest reports-N)")
    args = ap.parse_args(argv)
    truth = json.loads((args.work / "truth.json").read_text())["programs"]
    if args.reports:
        reports = args.work / args.reports
    else:
        reports = max(args.work.glob("reports-*"), key=lambda p: int(p.name.split("-")[-1]))
    counts: dict = collections.defaultdict(lambda: [0, 0])
    misses = []
    for f in sorted(reports.glob("*/summary.json")):
        d = json.loads(f.read_text())
        pid = d.get("program")
        if pid not in truth:
            continue
        for oid, o in (d.get("outcomes") or {}).items():
            t = truth[pid]["outcomes"].get(oid)
            if not t or "effect_abs" not in o:
                continue
            lo, hi, true = o["effect_abs"]["lower"], o["effect_abs"]["upper"], t["average_effect_abs"]
            key = (o["family"], truth[pid]["design"])
            counts[key][1] += 1
            if lo <= true <= hi:
                counts[key][0] += 1
            else:
                misses.append(f"{pid}/{oid}: truth {true:.4g}, interval {lo:.4g} to {hi:.4g}")
    print(f"reports: {reports}\n\nfamily (design) | covered / outcomes")
    hit = n = 0
    for (fam, design), (c, m) in sorted(counts.items()):
        print(f"{fam} ({design}) | {c}/{m}")
        hit, n = hit + c, n + m
    if not n:
        print("no outcome with a truth to compare")
        return 1
    rate = hit / n
    print(f"all | {hit}/{n} = {rate:.1%} (binomial sd at 90%: {math.sqrt(0.09 / n):.1%})")
    for m in misses:
        print("miss:", m)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

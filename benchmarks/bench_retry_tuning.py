"""Does a retry after divergences need longer tuning? The retry ladder of
:func:`lndbayes.inference.sample_with_retry` run two ways on the same fits: ``longer`` (every rung
lengthens the tuning: twice, then three times, the policy before session 17) and ``kept`` (the
default now: after divergences alone the first rung keeps the tuning and the second doubles it;
the tuning is lengthened in full only when E-BFMI or R-hat says the adaptation is poor).

For each seed, the example organisation is simulated with that seed (other people and outcomes,
the same five programs) and each outcome fitted (4 chains x (1000 tuning + 1000 draws), fit seed
= organisation seed, compilation excluded from the seconds). A fit that passes on its first
attempt is the same under both policies and is fitted once; one that retries is fitted under
both, the order alternating with the seed. One JSON line per fit to
``benchmarks/results/retry_tuning.jsonl`` (``--out``), and the totals over the retried fits::

    .venv/bin/python benchmarks/bench_retry_tuning.py --seeds 1,2,3,4,5,6,7,8 \\
        --outcomes support_upskilling/error_count,lean_workshop/error_count,compliance_training/violations,support_upskilling/csat

Results and what was decided: benchmarks/results/retry_tuning.md.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
os.environ.setdefault("LNDBAYES_CACHE", tempfile.mkdtemp(prefix="lndbayes-bench-cache-"))

import lndbayes as lb  # noqa: E402
from lndbayes.design.panel import build_panel  # noqa: E402
from lndbayes.example import simulate_org  # noqa: E402
from lndbayes.fitting import fit_panel  # noqa: E402
from lndbayes.inference import sampling  # noqa: E402
from lndbayes.inference.sampling import compile_log  # noqa: E402

OUTCOMES = ("support_upskilling/error_count", "lean_workshop/error_count",
            "compliance_training/violations", "support_upskilling/csat")
POLICIES = {"longer": lambda diag: True, "kept": sampling._poor_adaptation}


def fit(panel, seed: int, policy: str) -> dict:
    sampling._poor_adaptation = POLICIES[policy]
    try:
        n, t0 = len(compile_log()), time.perf_counter()
        res = fit_panel(panel, seed=seed, cache=False, strict=False)
        compiled = sum(e["seconds"] for e in compile_log()[n:])
    finally:
        sampling._poor_adaptation = POLICIES["kept"]
    d = res.diagnostics()
    return {"seconds": round(time.perf_counter() - t0 - compiled, 2), "retries": d["retries"],
            "converged": bool(d["converged"]),
            "attempts": [[a["target_accept"], a["tune"], a["draws"], a["chains"],
                          (a["messages"] or [""])[0].split(":")[0]] for a in d["attempts"]]}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", default="1,2,3,4,5,6,7,8")
    ap.add_argument("--outcomes", default=",".join(OUTCOMES), help="program/outcome, comma-separated")
    ap.add_argument("--out", default=str(HERE / "results" / "retry_tuning.jsonl"))
    args = ap.parse_args(argv)
    warnings.filterwarnings("ignore")
    work = Path(tempfile.mkdtemp(prefix="lndbayes-bench-retry-"))
    retried = []
    with open(args.out, "a") as out:
        for seed in (int(s) for s in args.seeds.split(",")):
            simulate_org(work / f"org{seed}" / "raw", seed=seed)
            org = lb.load_org(work / f"org{seed}")
            for program, outcome in (o.split("/") for o in args.outcomes.split(",")):
                panel = build_panel(org, program, outcome)
                row = {"seed": seed, "program": program, "outcome": outcome}
                for policy in (("longer", "kept") if seed % 2 else ("kept", "longer")):
                    row[policy] = fit(panel, seed, policy)
                    if row[policy]["retries"] == 0:      # no retry: both policies are this fit
                        break
                if all(p in row for p in POLICIES):
                    retried.append(row)
                out.write(json.dumps(row) + "\n")
                out.flush()
                print(json.dumps(row), flush=True)
    print(f"\n{len(retried)} fits retried; over them:")
    for policy in POLICIES:
        rs = [r[policy] for r in retried]
        print(f"{policy}: sampling {sum(r['seconds'] for r in rs):.1f} s, retries {sum(r['retries'] for r in rs)}, "
              f"failing in the end {sum(not r['converged'] for r in rs)}")


if __name__ == "__main__":
    main()

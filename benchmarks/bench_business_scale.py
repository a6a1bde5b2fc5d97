"""Interval coverage of the business-scale estimands (average_effect_abs, average_effect_rel)
over many replications, for the binary and count families.

    .venv/bin/python benchmarks/bench_business_scale.py [--reps 200]

The suite (tests/test_business_scale.py) runs 60 replications per family with a binomial
tolerance; this benchmark measures the coverage itself, to be read against 85-95%. Writes
benchmarks/results/business_scale.json.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from test_business_scale import DESIGNS, SAMPLER  # noqa: E402  the suite's own designs

from lndbayes.atomic import write_json  # noqa: E402
from lndbayes.calibration import run_business_coverage  # noqa: E402

OUT = Path(__file__).resolve().parent / "results" / "business_scale.json"
#: seed blocks disjoint from the suite's (310000+, 330000+)
SEED = {"binary": 510_000, "count": 530_000}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=200, help="replications per family (default 200)")
    args = ap.parse_args()
    results = {}
    for family in ("binary", "count"):
        out = run_business_coverage(family, n_reps=args.reps, seed=SEED[family],
                                    design=DESIGNS[family], fit_kwargs=SAMPLER)
        results[family] = {**out, "seed": SEED[family], "design": DESIGNS[family],
                           "sampler": SAMPLER}
        print(f"{family}: {json.dumps(out['coverage'])} over {args.reps} replications "
              f"({out['seconds']:.0f} s)", flush=True)
    write_json(OUT, {"command": "benchmarks/bench_business_scale.py --reps " + str(args.reps),
                     "results": results}, default=float)
    print(f"written: {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

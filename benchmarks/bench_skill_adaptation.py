"""The skill-gap model sampled with nutpie's mass-matrix adaptations: which needs least work.

At 20,000 employees (the large preset) one skill fit is ~250,000 log-density gradients and the
fit's R-hat / ESS checks over ~5,500 team parameters often ask for a retry. This samples the
same prepared data with each ``--adaptation`` (nutpie: ``diag``, the default; ``low_rank``;
``draw_diag``) for each ``--seeds``, 4 chains x ``--draws`` after ``--tune`` steps, no retry, and
prints one JSON line per fit: seconds (compile excluded), mean leapfrog steps a draw, R-hat max,
bulk/tail ESS min, divergences::

    .venv/bin/python benchmarks/bench_skill_adaptation.py --data /tmp/large --seeds 1,2

Results: benchmarks/results/skill_gaps.md.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default=None, help="organisation folder (default: the example)")
    ap.add_argument("--seeds", default="1,2")
    ap.add_argument("--adaptation", default="diag,low_rank,draw_diag")
    ap.add_argument("--draws", type=int, default=1000)
    ap.add_argument("--tune", type=int, default=1000)
    args = ap.parse_args(argv)
    import warnings

    warnings.filterwarnings("ignore")
    import nutpie
    import pytensor

    import lndbayes as lb
    from lndbayes.inference.diagnostics import diagnose
    from lndbayes.inference.sampling import DEFAULT_TARGET_ACCEPT, _compile, trimmed
    from lndbayes.skills import model as skill_model
    from lndbayes.skills.data import prepare

    data = prepare(lb.load_org(args.data) if args.data else lb.load_org())
    inputs = skill_model.model_inputs(data)
    key = skill_model.structure_key(inputs)
    with pytensor.config.change_flags(numba__fastmath=False):
        compiled = _compile(key, skill_model.build_model(inputs))
    cores = min(4, os.cpu_count() or 1)
    for seed in [int(s) for s in args.seeds.split(",")]:
        for how in args.adaptation.split(","):
            t = time.perf_counter()
            idata = trimmed(compiled, nutpie.sample(compiled, draws=args.draws, tune=args.tune, chains=4, cores=cores,
                                        seed=seed, progress_bar=False, save_warmup=False,
                                        target_accept=DEFAULT_TARGET_ACCEPT, adaptation=how))
            secs = time.perf_counter() - t
            d = diagnose(idata)
            print(json.dumps({"adaptation": how, "seed": seed, "seconds": round(secs, 1),
                              "steps": round(float(idata["sample_stats"]["n_steps"].mean()), 1),
                              "rhat_max": round(d["rhat_max"], 4), "ess_bulk_min": round(d["ess_bulk_min"]),
                              "ess_tail_min": round(d["ess_tail_min"]), "divergences": int(d["divergences"]),
                              "cells": len(data.cells)}), flush=True)


if __name__ == "__main__":
    main()

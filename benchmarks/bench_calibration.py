"""Calibration figures: the runs of tests/test_calibration.py, with their numbers written down.

    .venv/bin/python benchmarks/bench_calibration.py            # ~3-4 min on 2 cores
    .venv/bin/python benchmarks/bench_calibration.py --power    # + SBC with data simulated from
                                                                #   priors 1.5x and 2x too wide

Uses the designs, seeds and sampler settings of tests/test_calibration.py (imported from it),
so the figures are those the test asserts on. Writes benchmarks/results/calibration.json:
coverage rates of the 90 % intervals at a fixed truth, SBC chi-square p-values per parameter
(all replications, and for information without the fits that had divergent transitions), the
Bonferroni level, divergence counts, replications and wall-clock seconds (including the one
compile per model family). ``--power`` adds the miscalibration check: data drawn from priors
wider than the ones fitted must make the SBC test reject.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
os.environ.setdefault("LNDBAYES_CACHE", tempfile.mkdtemp(prefix="lndbayes-bench-cache-"))


def _test_module():
    spec = importlib.util.spec_from_file_location(
        "test_calibration", HERE.parent / "tests" / "test_calibration.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _sbc_figures(tc, family, out):
    from lndbayes.models.testing import sbc_uniformity_pvalue

    ok = out["divergences_per_fit"] == 0
    pv = {p: sbc_uniformity_pvalue(r, n_keep=tc.N_KEEP, bins=tc.SBC_BINS)
          for p, r in out["ranks"].items()}
    pv_nodiv = {p: sbc_uniformity_pvalue(r[ok], n_keep=tc.N_KEEP, bins=tc.SBC_BINS)
                for p, r in out["ranks"].items()}
    level = tc.SBC_ALPHA / len(pv)
    return {"family": family, "n_reps": out["n_reps"], "n_keep": out["n_keep"],
            "bins": tc.SBC_BINS, "bonferroni_level": level,
            "p_values": pv, "rejected": sorted(p for p, v in pv.items() if v < level),
            "p_values_without_divergent_fits": pv_nodiv,
            "rank_bin_counts": {p: np.bincount(r * tc.SBC_BINS // (tc.N_KEEP + 1),
                                               minlength=tc.SBC_BINS).tolist()
                                for p, r in out["ranks"].items()},
            "divergent_fits": out["divergent_fits"], "divergences": out["divergences"],
            "seconds": round(out["seconds"], 1)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--power", action="store_true",
                    help="also run SBC on data simulated from priors 1.5x and 2x too wide")
    args = ap.parse_args()
    from lndbayes.calibration import run_coverage, run_sbc

    tc = _test_module()
    t_all = time.perf_counter()
    load = os.getloadavg()[0]
    cov = run_coverage("normal", n_reps=tc.N_COVERAGE, truth=tc.COVERAGE_TRUTH,
                       design=tc.COVERAGE_DESIGN, seed=tc.COVERAGE_SEED, fit_kwargs=tc.SAMPLER)
    coverage = {"family": "normal", "truth": tc.COVERAGE_TRUTH, "design": tc.COVERAGE_DESIGN,
                "n_reps": cov["n_reps"], "interval": 0.90, "coverage": cov["coverage"],
                "binomial_sd_at_90pct": float(np.sqrt(0.09 / cov["n_reps"])),
                "divergent_fits": cov["divergent_fits"], "divergences": cov["divergences"],
                "seconds": round(cov["seconds"], 1)}
    print(json.dumps(coverage, indent=1), flush=True)
    sbc = {}
    for family in ("normal", "binary"):
        out = run_sbc(family, tc.SBC_PRIORS[family], n_reps=tc.N_SBC, seed=tc.SBC_SEED[family],
                      n_keep=tc.N_KEEP, params=tc.SBC_PARAMS[family], fit_kwargs=tc.SAMPLER,
                      **tc.SBC_DESIGN[family])
        sbc[family] = {**_sbc_figures(tc, family, out), "design": tc.SBC_DESIGN[family],
                       "priors": tc.SBC_PRIORS[family]}
        print(json.dumps(sbc[family], indent=1), flush=True)
    total = time.perf_counter() - t_all
    power = {}
    if args.power:
        for family in ("normal", "binary"):
            for widen in (1.5, 2.0):
                pri = tc.SBC_PRIORS[family]
                sim = {k: {q: (v * widen if q == "sigma" else v) for q, v in d.items()}
                       for k, d in pri.items()}
                out = run_sbc(family, pri, simulate_priors=sim, n_reps=tc.N_SBC,
                              seed=tc.SBC_SEED[family], n_keep=tc.N_KEEP,
                              params=tc.SBC_PARAMS[family], fit_kwargs=tc.SAMPLER,
                              **tc.SBC_DESIGN[family])
                f = _sbc_figures(tc, family, out)
                power[f"{family}_priors_{widen}x_wider"] = {
                    k: f[k] for k in ("p_values", "rejected", "bonferroni_level",
                                      "divergent_fits", "rank_bin_counts")}
                print(family, widen, f["rejected"], flush=True)
    res = {"machine": platform.platform(), "cpus": os.cpu_count(), "load_avg_1min_before": load,
           "sampler": tc.SAMPLER, "coverage": coverage, "sbc": sbc,
           "seconds_total_without_power": round(total, 1)}
    if power:
        res["power_check"] = power
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "calibration.json").write_text(json.dumps(res, indent=1, default=float))
    print(f"total {total:.0f} s (coverage + SBC, compiles included)")


if __name__ == "__main__":
    main()

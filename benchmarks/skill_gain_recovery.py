"""Recovery of planted program gains and half-life by the skill-gap model.

    .venv/bin/python benchmarks/skill_gain_recovery.py DATA_DIR KIND:H:SEED [...]
        [--cells model|permuted] [--standardise] [--ols-lines] [--noise-seed N[,N...]]
    .venv/bin/python benchmarks/skill_gain_recovery.py --residuals DATA_DIR

The simulator plants no program gains (lndbayes/example/skills.py), so this plants them into an
organisation's prepared skill cells: each cell mean gets the model's own gain term,
``sum over its exposure rows of share x gain x 2^(-age / H)``, on top of what it was. KIND sets
the gains of the organisation's program x skill pairs: ``none`` (all 0), ``same`` (all 0.4),
``spread`` (Normal(0.3, 0.2), drawn with SEED). Then it fits the model (4 chains x (500 tuning +
1000 draws), sampler seed SEED, no retry, no cache) and prints one JSON line: seconds, R-hat max,
divergences, leapfrog steps, the half-life's median and 90% interval, how many planted gains lie
inside their 90% intervals, the gains' mean absolute error and interval width, gain_mean's
interval, and the bulk ESS of gain_mean, the gains and the half-life.
``--cells`` changes the cells the gains are planted into (session 29). Both start from a fit to
the organisation (no gain planted, seed 0): each team's straight line, its levels and drifts at
their posterior means. ``model``: those lines plus Normal noise with each cell's standard error
and the fitted quarter shock (drawn with SEED): cells that follow the model exactly, so a
half-life still short there is the model's (identification, priors). ``permuted``: those lines
plus the organisation's own residuals around them, shuffled across each pair's quarters (drawn
with SEED): the residuals' sizes and distribution kept, their order in time broken.
``--standardise`` (permuted) moves each residual in units of its cell's standard error and
rescales it to the cell it lands in, so a shuffle keeps every cell's noise level.
``--ols-lines`` takes each pair's own weighted least-squares line instead of the model's pooled
one (the pooled lines leave in the residuals the part of each trend the pooling shrank away,
which shuffling then removes). ``--noise-seed N[,N...]`` draws that noise (or shuffle) with each N in turn for every
KIND:H:SEED instead (one fit per pair), as the organisation's own cells are one realisation
shared by all its fits.
``--residuals`` prints the lag-1 correlation of
each pair's residuals around its own weighted least-squares line (pairs with 5 or more
consecutive quarters), for the organisation's cells and for white noise with each cell's
standard error on the same layout, 200 draws (the line alone makes residuals of 8 quarters pull
against each other: about -0.28).
Results: benchmarks/results/skill_gaps.md (sessions 27 and 29) and docs/skill-gaps.md ("What is left").
"""

from __future__ import annotations

import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def planted_gains(kind: str, n: int, rng: np.random.Generator) -> np.ndarray:
    if kind == "none":
        return np.zeros(n)
    if kind == "same":
        return np.full(n, 0.4)
    if kind == "spread":
        return rng.normal(0.3, 0.2, n)
    raise SystemExit(f"unknown KIND '{kind}': use none, same or spread")


def _pair_line(y: np.ndarray, arrays: dict, i: int, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pair ``i``'s weighted least-squares line through its cells ``idx`` (weights 1/se^2):
    (intercept, slope) and the weights' square roots."""
    w = 1 / np.sqrt(arrays["se2"][i, idx])
    X = np.c_[np.ones(len(idx)), arrays["t"][i, idx]]
    return np.linalg.lstsq(X * w[:, None], y[i, idx] * w, rcond=None)[0], w


def _wls_lines(y: np.ndarray, arrays: dict, fallback: np.ndarray) -> np.ndarray:
    """Each pair's own weighted least-squares line through its cells, no pooling: residuals
    around it hold no linear trend, where those around the model's pooled lines hold what the
    pooling shrank away. Pairs with fewer than 3 cells keep ``fallback``."""
    used, out = arrays["cell_mask"] > 0, fallback.copy()
    for i in range(y.shape[0]):
        idx = np.flatnonzero(used[i])
        if len(idx) >= 3:
            coef, _ = _pair_line(y, arrays, i, idx)
            out[i] = coef[0] + coef[1] * arrays["t"][i]
    return out


def lag1_of_line_residuals(y: np.ndarray, arrays: dict) -> float:
    """Lag-1 correlation of consecutive quarters' residuals around each pair's own weighted
    least-squares line (pairs with >= 5 consecutive quarters; residuals in standard errors)."""
    used, t = arrays["cell_mask"] > 0, arrays["t"]
    before, after = [], []
    for i in range(y.shape[0]):
        idx = np.flatnonzero(used[i])
        if len(idx) < 5 or not np.all(np.diff(idx) == 1):
            continue
        coef, w = _pair_line(y, arrays, i, idx)
        r = (y[i, idx] - coef[0] - coef[1] * t[i, idx]) * w
        before.append(r[:-1])
        after.append(r[1:])
    return float(np.corrcoef(np.concatenate(before), np.concatenate(after))[0, 1])


def main(argv: list[str]) -> None:
    warnings.filterwarnings("ignore")
    import arviz as az

    import lndbayes as lb
    from lndbayes.inference.diagnostics import diagnose
    from lndbayes.inference.sampling import sample
    from lndbayes.skills import model as sm
    from lndbayes.skills.data import prepare

    import argparse

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data_dir")
    ap.add_argument("specs", nargs="*", metavar="KIND:H:SEED")
    ap.add_argument("--cells", choices=["organisation", "model", "permuted"], default="organisation")
    ap.add_argument("--standardise", action="store_true")
    ap.add_argument("--ols-lines", action="store_true")
    ap.add_argument("--noise-seed", default=None, help="N[,N...]")
    ap.add_argument("--residuals", action="store_true")
    args = ap.parse_args(argv)
    cells, standardise, ols = args.cells, args.standardise, args.ols_lines
    if args.residuals:
        A = sm.model_inputs(prepare(lb.load_org(args.data_dir))).arrays
        white = [lag1_of_line_residuals(np.random.default_rng(s).standard_normal(A["y"].shape)
                                        * np.sqrt(A["se2"]), A) for s in range(200)]
        print(json.dumps({"lag1_organisation": round(lag1_of_line_residuals(A["y"], A), 3),
                          "lag1_white_noise_mean": round(float(np.mean(white)), 3),
                          "lag1_white_noise_90": [round(float(q), 3) for q in np.quantile(white, [0.05, 0.95])]}))
        return
    if standardise and cells != "permuted":
        raise SystemExit("--standardise needs --cells permuted (it scales the shuffled residuals)")
    if (ols or args.noise_seed) and cells == "organisation":
        raise SystemExit("--ols-lines and --noise-seed need --cells model or --cells permuted")
    noise_seeds = [int(x) for x in args.noise_seed.split(",")] if args.noise_seed else [None]
    data = prepare(lb.load_org(args.data_dir))
    n_ps = len(data.program_skills)
    base = None
    if cells != "organisation":
        inputs = sm.model_inputs(data)
        fit = sample(sm.structure_key(inputs), lambda: sm.build_model(inputs), inputs.arrays,
                     draws=1000, tune=sm.DEFAULT_SETTINGS["tune"], chains=4, seed=0)["posterior"]
        a, b = (np.asarray(fit[v].values).reshape(-1, inputs.sizes["pairs"]).mean(0) for v in ("a", "b"))
        A0 = inputs.arrays
        line = a[:, None] + b[:, None] * A0["t"]
        if ols:
            line = np.where(A0["cell_mask"] > 0, _wls_lines(A0["y"], A0, fallback=line), line)
        base = (line, np.sqrt(A0["se2"] + float(np.asarray(fit["sd_q"].values).mean()) ** 2),
                A0["cell_mask"] > 0, A0["y"] - line)
    runs = [(spec, ns) for spec in args.specs for ns in noise_seeds]
    for spec, noise_seed in runs:
        kind, half_life, seed = spec.split(":")
        half_life, seed = float(half_life), int(seed)
        inputs = sm.model_inputs(data)
        A, C = inputs.arrays, inputs.cells
        gains = planted_gains(kind, n_ps, np.random.default_rng(seed))
        padded = np.zeros(inputs.sizes["program_skills"])
        padded[:n_ps] = gains
        age = A["age_level"][A["e_age_idx"]]
        g_cell = np.zeros(len(C["y"]))
        np.add.at(g_cell, C["e_cell"], A["e_share"] * padded[A["e_ps"]] * 2.0 ** (-age / half_life))
        slot, _ = sm.cell_slots(C["pair"], inputs.sizes["pairs"])
        y = A["y"].copy()
        if base is not None:
            line, sd, used, resid = base
            rng = np.random.default_rng(10_000 + (seed if noise_seed is None else noise_seed))
            if cells == "model":
                noise = sd * rng.standard_normal(y.shape)
            else:
                noise = np.zeros_like(y)
                for i in np.flatnonzero(used.any(axis=1)):
                    idx = np.flatnonzero(used[i])
                    src = rng.permutation(idx)
                    # standardised: a residual moves in standard errors, rescaled to its new cell's
                    noise[i, idx] = resid[i, src] * (sd[i, idx] / sd[i, src] if standardise else 1.0)
            y = np.where(used, line + noise, y)
        y = y.ravel()
        y[slot] += g_cell
        A["y"] = y.reshape(A["y"].shape)      # build() reads inputs.arrays: the planted cells
        t = time.perf_counter()
        # the first fit compiles the graph with these planted cells; later ones swap theirs in
        idata = sample(sm.structure_key(inputs), lambda: sm.build_model(inputs), A,
                       draws=1000, tune=sm.DEFAULT_SETTINGS["tune"], chains=4, seed=seed)
        secs = time.perf_counter() - t
        d = diagnose(idata)
        post = idata["posterior"].to_dataset()
        g = post["gain"].values.reshape(-1, inputs.sizes["program_skills"])[:, :n_ps]
        lo, hi = np.quantile(g, [0.05, 0.95], axis=0)
        hl = post["half_life"].values.ravel()

        def ess(v, k=None):
            e = np.atleast_1d(np.asarray(az.ess(post[[v]], method="bulk")[v])).ravel()
            return round(float(np.nanmin(e[:k] if k else e)))

        print(json.dumps({
            "data": args.data_dir, "kind": kind, "cells": cells, "noise_seed": noise_seed,
            "lines": "ols" if ols else "pooled", "standardised": standardise,
            "half_life_planted": half_life, "seed": seed, "seconds": round(secs, 1),
            "rhat_max": round(d["rhat_max"], 4), "divergences": d["divergences"],
            "steps": round(float(idata["sample_stats"]["n_steps"].mean()), 1),
            "half_life": [round(float(np.quantile(hl, q)), 3) for q in (0.5, 0.05, 0.95)],
            "gains_in_90": f"{int(((gains >= lo) & (gains <= hi)).sum())} of {n_ps}",
            "gain_abs_error": round(float(np.abs(g.mean(0) - gains).mean()), 3),
            "gain_width_90": round(float((hi - lo).mean()), 3),
            "gain_mean_90": [round(float(np.quantile(post["gain_mean"].values, q)), 3) for q in (0.05, 0.95)],
            "ess_bulk": {"gain_mean": ess("gain_mean"), "gain": ess("gain", n_ps), "half_life": ess("half_life")},
        }), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])

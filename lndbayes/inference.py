"""Sampling, compiled-model reuse, the on-disk posterior cache, diagnostics and retries.

Sampler: nutpie (Numba backend) by default. Measured here (2 cores, see docs/models.md): for a
20-team, 2,000-row hierarchical model nutpie samples 2 x 1000 draws in ~0.25 s after a ~10 s
compile, PyMC's own NUTS takes ~2.3 s (7 s in a fresh process); numpyro is slower still
(STACK.md). Because compilation dominates small fits, compiled nutpie models are kept in-process,
keyed by the model *structure* (:class:`lndbayes.models.hierarchical.GLMSpec`), and new data
(and new prior parameters, which are data too) are swapped in with ``compiled.with_data``.

Posteriors are cached on disk under ``lndbayes.paths.CACHE_DIR`` keyed by a SHA-256 of the data
arrays, the model spec, the priors, the sampler settings, the seed, the package version and a hash
of the model and diagnostics source (:func:`model_code_hash`), so an unchanged fit is never sampled
twice and a changed model never reads an old posterior.

Diagnostics policy (every fit): R-hat max <= 1.01, bulk and tail ESS min >= 400, no divergent
transitions, E-BFMI min >= 0.3. A failing fit is retried with target_accept 0.95 and twice the
tuning, then 0.99 and three times the tuning (and as many times the draws when the ESS was short); if it still fails the result is flagged
(``converged=False``) with messages saying what failed and what to do.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import shutil
import tempfile
import threading
import warnings
from pathlib import Path

import numpy as np

THRESHOLDS = {"rhat_max": 1.01, "ess_min": 400.0, "divergences": 0, "ebfmi_min": 0.3}
RETRIES = ((0.95, 2), (0.99, 3))  # (target_accept, tuning multiple)
DEFAULT_TARGET_ACCEPT = 0.8
_SAMPLE_STATS = ("diverging", "energy", "step_size", "n_steps", "depth", "tree_depth",
                 "mean_tree_accept", "acceptance_rate", "logp", "lp")

_COMPILED: dict = {}
_LOCK = threading.Lock()


def _cache_dir() -> Path:
    from lndbayes import paths

    return Path(os.environ.get("LNDBAYES_CACHE", paths.CACHE_DIR))


# ---------------------------------------------------------------------------------- hashing
def hash_payload(payload: dict, arrays: dict) -> str:
    """SHA-256 of a JSON-able payload plus named numpy arrays (values, dtypes and shapes)."""
    h = hashlib.sha256()
    h.update(json.dumps(payload, sort_keys=True, default=str).encode())
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        h.update(name.encode())
        h.update(str(a.dtype).encode())
        h.update(str(a.shape).encode())
        h.update(a.tobytes())
    return h.hexdigest()


@functools.lru_cache(maxsize=1)
def model_code_hash() -> str:
    """SHA-256 of the source that defines what a fit samples and how it is judged (the models,
    this module and the convergence diagnostics).

    Part of every posterior cache key: without it, a changed graph (a reparameterisation, a new
    prior form) under the same package version would be served the old posteriors from disk.
    """
    here = Path(__file__).resolve().parent
    h = hashlib.sha256()
    for f in [here / "inference.py", here / "convergence.py",
              *sorted((here / "models").glob("*.py"))]:
        h.update(f.name.encode())
        h.update(f.read_bytes())
    return h.hexdigest()


# ---------------------------------------------------------------------------------- sampling
def _trim(idata):
    """Keep posterior and a small set of sample stats; drop attrs that do not serialise."""
    import xarray as xr

    post = idata["posterior"].to_dataset()
    stats = idata["sample_stats"].to_dataset()
    stats = stats[[v for v in _SAMPLE_STATS if v in stats.data_vars]]
    if "tree_depth" in stats and "depth" not in stats:
        stats = stats.rename({"tree_depth": "depth"})
    if "acceptance_rate" in stats and "mean_tree_accept" not in stats:
        stats = stats.rename({"acceptance_rate": "mean_tree_accept"})
    for ds in (post, stats):
        ds.attrs = {}
        for v in ds.variables.values():
            v.attrs = {}
    return xr.DataTree.from_dict({"posterior": post, "sample_stats": stats})


_INIT_LOCK = threading.Lock()


def _bind_initial_points(compiled, data: dict):
    """``compiled`` whose starting points are computed from ``data``.

    Why: ``with_data`` swaps the arrays the logp reads, but nutpie's initial-point function
    still reads the PyMC model's shared variables, i.e. the data (centring vectors, prior
    parameters) of whichever fit compiled the model. Starting points then depended on what was
    fitted earlier in the process, so the same data, settings and seed could give different
    draws. The shared variables are set under a lock right before each call.
    """
    import dataclasses

    inner = compiled.initial_point_func
    shared = {v.name: v for v in compiled.shared_var_keys if v.name in data}

    def initial_point(seed=None):
        with _INIT_LOCK:
            for name, var in shared.items():
                var.set_value(np.asarray(data[name], dtype=var.dtype))
            return inner(seed)

    return dataclasses.replace(compiled, initial_point_func=initial_point)


def sample(structure_key: str, build, data: dict, *, draws: int, tune: int, chains: int,
           seed: int, target_accept: float = DEFAULT_TARGET_ACCEPT, sampler: str = "nutpie"):
    """Sample the model ``build()`` with ``data`` swapped in; reuse compiled models by structure."""
    cores = max(1, min(chains, os.cpu_count() or 1))
    if sampler == "pymc":
        import pymc as pm

        model = build()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            idata = pm.sample(draws=draws, tune=tune, chains=chains, cores=cores,
                              random_seed=seed, nuts_sampler="pymc", progressbar=False,
                              compute_convergence_checks=False, target_accept=target_accept,
                              model=model)
        return _trim(idata)
    if sampler != "nutpie":
        from lndbayes.errors import ModelInputError

        raise ModelInputError(f"unknown sampler '{sampler}'. Fix: use 'nutpie' or 'pymc'.")
    import nutpie

    with _LOCK:
        compiled = _COMPILED.get(structure_key)
        if compiled is None:
            compiled = nutpie.compile_pymc_model(build())
            _COMPILED[structure_key] = compiled
        else:
            known = {v.name for v in compiled.shared_var_keys}
            fresh = {k: v for k, v in data.items() if k in known}
            compiled = _bind_initial_points(compiled.with_data(**fresh), fresh)
    idata = nutpie.sample(compiled, draws=draws, tune=tune, chains=chains, cores=cores,
                          seed=int(seed), progress_bar=False, save_warmup=False,
                          target_accept=float(target_accept))
    return _trim(idata)


def compiled_cache_size() -> int:
    return len(_COMPILED)


def clear_compiled_cache() -> None:
    """Forget the in-process compiled models (frees their memory; the next fit recompiles)."""
    with _LOCK:
        _COMPILED.clear()


# ---------------------------------------------------------------------------------- diagnostics
def diagnose(idata, var_names=None) -> dict:
    """R-hat max, bulk/tail ESS min, divergences, E-BFMI min, and messages when a check fails.

    By default every variable of the posterior is checked except the sampler's non-centred
    coordinates that have a reported counterpart (``effect_team_raw`` next to ``effect_team``).
    R-hat (rank-normalized split) and bulk/tail ESS come from :mod:`lndbayes.convergence`,
    vectorized copies of ArviZ's own estimators (same numbers as ``az.rhat``/``az.ess``/
    ``az.summary``, NaN results ignored), ~4x faster than ArviZ's per-element loop.
    """
    import arviz as az

    from lndbayes import convergence

    post = idata["posterior"].to_dataset()
    if not var_names:
        # a non-centred coordinate (``x_z``/``x_raw``) is one-to-one with its reported parameter
        # ``x`` given the hyper-parameters, which are diagnosed too; checking both doubled the
        # cost (0.4 s at 400 team parameters x 4000 draws) without catching anything more
        var_names = [v for v in post.data_vars
                     if not (str(v).endswith(("_z", "_raw")) and str(v).rsplit("_", 1)[0] in post.data_vars)]
    names = [v for v in var_names if v in post.data_vars]
    # constants (e.g. a fixed intercept) have no spread: leave them out
    names = [v for v in names if float(np.nanstd(post[v].values)) > 0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        conv = convergence.summarize(post, names)
        rhat, ess_bulk, ess_tail = conv["rhat_max"], conv["ess_bulk_min"], conv["ess_tail_min"]
        try:
            ebfmi = float(np.nanmin(np.asarray(az.bfmi(idata)["energy"].values)))
        except Exception:  # noqa: BLE001 - no energy recorded
            ebfmi = float("nan")
    div = int(idata["sample_stats"]["diverging"].values.sum())
    t = THRESHOLDS
    msgs = []
    if not rhat <= t["rhat_max"]:
        msgs.append(f"R-hat max {rhat:.3f} > {t['rhat_max']}: chains disagree; the posterior "
                    "is not reliably explored.")
    if not min(ess_bulk, ess_tail) >= t["ess_min"]:
        msgs.append(f"effective sample size min {min(ess_bulk, ess_tail):.0f} < {t['ess_min']:.0f}: "
                    "too few independent draws for stable intervals; use more draws.")
    if div > t["divergences"]:
        msgs.append(f"{div} divergent transitions: the sampler met geometry it cannot handle "
                    "(typically too little data per team for the hierarchy); results may be biased.")
    if not ebfmi >= t["ebfmi_min"]:
        msgs.append(f"E-BFMI min {ebfmi:.2f} < {t['ebfmi_min']}: the sampler explores the energy "
                    "distribution poorly (heavy funnels).")
    return {"rhat_max": rhat, "ess_bulk_min": ess_bulk, "ess_tail_min": ess_tail,
            "divergences": div, "ebfmi_min": ebfmi, "converged": not msgs, "messages": msgs}


def sample_with_retry(structure_key, build, data, *, draws, tune, chains, seed,
                      sampler="nutpie", retry=True, target_accept=None):
    """Sample, diagnose, retry with smaller steps and longer tuning while checks fail.

    ``target_accept``: of the first attempt (default ``DEFAULT_TARGET_ACCEPT``; families with
    harder geometry start higher, see :class:`lndbayes.models.families.Family`).
    """
    first = DEFAULT_TARGET_ACCEPT if target_accept is None else float(target_accept)
    attempts = [(first, 1)] + ([r for r in RETRIES if r[0] > first] if retry else [])
    history = []
    n_draws = draws
    for i, (ta, mult) in enumerate(attempts):
        if i and history[-1]["ess_short"]:
            n_draws = draws * mult  # too few effective draws: draw more as well
        idata = sample(structure_key, build, data, draws=n_draws, tune=tune * mult, chains=chains,
                       seed=seed + i, target_accept=ta, sampler=sampler)
        diag = diagnose(idata)
        history.append({"target_accept": ta, "tune": tune * mult, "draws": n_draws,
                        "converged": diag["converged"], "messages": diag["messages"],
                        "ess_short": not min(diag["ess_bulk_min"], diag["ess_tail_min"])
                        >= THRESHOLDS["ess_min"]})
        if diag["converged"]:
            break
    diag["retries"] = len(history) - 1
    diag["attempts"] = history
    if not diag["converged"]:
        diag["messages"] = diag["messages"] + [
            f"still failing after {diag['retries']} retries (target_accept up to {ta}, "
            f"tuning {tune * mult}). Treat the numbers as unreliable: collect more data per "
            "team, pool more strongly (group=None or tighter priors), or simplify the design."]
    return idata, diag


# ---------------------------------------------------------------------------------- disk cache
def cache_load(key: str):
    import xarray as xr

    folder = _cache_dir() / key[:2] / key
    nc, meta = folder / "posterior.nc", folder / "fit.json"
    if not (nc.exists() and meta.exists()):
        return None
    try:
        with xr.open_datatree(nc, engine="h5netcdf") as tree:
            idata = tree.load()
        return idata, json.loads(meta.read_text())
    except Exception:  # noqa: BLE001 - a corrupt cache entry is simply refit
        return None


def cache_save(key: str, idata, diag: dict) -> None:
    root = _cache_dir()
    folder = root / key[:2] / key
    if folder.exists():
        return
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=".tmp-"))
        idata.to_netcdf(tmp / "posterior.nc", engine="h5netcdf")
        (tmp / "fit.json").write_text(json.dumps(diag, default=float))
        os.replace(tmp, folder)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True) if "tmp" in locals() else None

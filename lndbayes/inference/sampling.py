"""Sampling with compiled-model reuse, and the retry policy.

Sampler: nutpie (Numba backend) by default. Measured here (2 cores, see docs/models.md): for a
20-team, 2,000-row hierarchical model nutpie samples 2 x 1000 draws in ~0.25 s after a ~10 s
compile, PyMC's own NUTS takes ~2.3 s (7 s in a fresh process); numpyro is slower still
(STACK.md). Because compilation dominates small fits, compiled nutpie models are kept in-process,
keyed by the model *structure* (:class:`lndbayes.models.graph.GLMSpec`), and new data
(and new prior parameters, which are data too) are swapped in with ``compiled.with_data``.
Across processes and runs the compiled callbacks come from a disk cache
(:mod:`lndbayes.inference.compiled`): a structure compiled once on the machine loads in a few
seconds in every later report worker instead of ~10 s of Numba. ``compile_log()`` lists this
process's compiles (structure, seconds, loaded from disk or not).

A fit whose diagnostics fail (:mod:`lndbayes.inference.diagnostics`) is retried (see
:func:`sample_with_retry`: more draws, more chains, or target_accept 0.95 then 0.99, with longer
tuning when the adaptation looks poor); if it still fails the result is flagged
(``converged=False``) with messages saying what failed and what to do.
"""

from __future__ import annotations

import dataclasses
import os
import threading
import time
import warnings

import numpy as np
import nutpie
import pymc as pm
import pytensor
import xarray as xr

from lndbayes import progress
from lndbayes.errors import ModelInputError
from lndbayes.inference import compiled as disk_compiled
from lndbayes.inference.diagnostics import RETRIES, THRESHOLDS, diagnose

DEFAULT_TARGET_ACCEPT = 0.8
_SAMPLE_STATS = ("diverging", "energy", "step_size", "n_steps", "depth", "tree_depth",
                 "mean_tree_accept", "acceptance_rate", "logp", "lp")

_COMPILED: dict = {}
_LOCK = threading.Lock()
_COMPILE_LOG: list = []
#: False: nutpie's own compile (no disk cache), e.g. to compare in benchmarks
DISK_CACHE = os.environ.get("LNDBAYES_COMPILE_CACHE_OFF", "") == ""


def _compile(structure_key: str, model):
    """Compile ``model`` for nutpie, through the disk cache when it can be used."""
    t0 = time.perf_counter()
    progress.emit("compiling")
    loaded, how = 0, "nutpie"
    compiled = None
    if DISK_CACHE:
        try:
            compiled = disk_compiled.compile_pymc_model(model, structure_key=structure_key)
            loaded, how = compiled.cache_hits, "disk-cached"   # 1: log density from disk
        except disk_compiled.UncacheableModel:
            compiled = None  # some op without a cache key: nutpie's compile still works
        except Exception as err:  # noqa: BLE001 - an unreadable cache must not stop a fit
            # nutpie's compile gives the same draws (tests/test_compile_reuse.py): only slower
            warnings.warn(f"lndbayes compile cache at {disk_compiled.cache_dir()} could not be "
                          f"used ({type(err).__name__}: {err}); compiling without it. Fix: "
                          "delete that folder.", stacklevel=3)
            compiled = None
    if compiled is None:
        compiled = nutpie.compile_pymc_model(model)
    _COMPILE_LOG.append({"structure": structure_key, "seconds": time.perf_counter() - t0,
                         "how": how, "loaded": loaded == 1,
                         "by_structure": bool(getattr(compiled, "loaded_by_structure", False))})
    progress.emit("compiled", seconds=round(time.perf_counter() - t0, 2),
                  how="loaded from the disk cache" if loaded == 1 else how)
    return compiled


def compile_log() -> list[dict]:
    """This process's compiles: ``structure`` (key), ``seconds``, ``how`` ("disk-cached" or
    "nutpie"), ``loaded`` (the compiled log density came from the disk cache), ``by_structure`` (loaded
    by structure key, without building PyTensor's functions)."""
    return list(_COMPILE_LOG)


def _trim(idata, posterior=None):
    """Keep posterior (``posterior`` instead of the trace's, when given) and a small set of
    sample stats; drop attrs that do not serialise."""
    post = idata["posterior"].to_dataset() if posterior is None else posterior
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
    """Sample the model ``build()`` with ``data`` swapped in; reuse compiled models by structure.

    Models are compiled without Numba's fastmath. Why: with fastmath, a model compiled afresh
    and the same model loaded from PyTensor's on-disk cache evaluated the log density with
    different rounding (differences of ~5e-13, measured on a normal-family model), NUTS
    amplified that into different draws, and the same data and seed gave different posteriors
    on a fresh machine and on one with a warm cache. Without fastmath both agree bit for bit;
    the log-density evaluation time changed by -20% to +6% (normal and count models, 60 teams).
    """
    cores = max(1, min(chains, os.cpu_count() or 1))
    if sampler not in ("nutpie", "pymc"):
        raise ModelInputError(f"unknown sampler '{sampler}'. Fix: use 'nutpie' or 'pymc'.")
    with pytensor.config.change_flags(numba__fastmath=False):
        if sampler == "pymc":
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                idata = pm.sample(draws=draws, tune=tune, chains=chains, cores=cores,
                                  random_seed=seed, nuts_sampler="pymc", progressbar=False,
                                  compute_convergence_checks=False, target_accept=target_accept,
                                  model=build())
            return _trim(idata)
        with _LOCK:
            compiled = _COMPILED.get(structure_key)
            if compiled is None:
                compiled = _compile(structure_key, build())
                _COMPILED[structure_key] = compiled
            else:
                known = {v.name for v in compiled.shared_var_keys}
                fresh = {k: v for k, v in data.items() if k in known}
                compiled = _bind_initial_points(compiled.with_data(**fresh), fresh)
    idata = nutpie.sample(compiled, draws=draws, tune=tune, chains=chains, cores=cores,
                          seed=int(seed), progress_bar=False, save_warmup=False,
                          target_accept=float(target_accept),
                          progress_callback=progress.draws_callback())  # draws done, to the runner
    return trimmed(compiled, idata)


def trimmed(compiled, idata):
    """:func:`_trim` of nutpie's trace of ``compiled``; with lndbayes' compiled models the
    posterior variables are computed from the trace's unconstrained draws first
    (:meth:`lndbayes.inference.compiled.CachedPyMCModel.posterior`)."""
    if isinstance(compiled, disk_compiled.CachedPyMCModel):
        return _trim(idata, compiled.posterior(idata))
    return _trim(idata)


def compiled_cache_size() -> int:
    return len(_COMPILED)


def clear_compiled_cache() -> None:
    """Forget the in-process compiled models (frees their memory; the next fit recompiles)."""
    with _LOCK:
        _COMPILED.clear()


#: R-hat up to this, with no divergences and E-BFMI fine, is answered with longer chains
RHAT_LONGER_CHAINS = 1.05


def _clean_sampler(diag: dict) -> bool:
    """No divergences and E-BFMI fine: the step size and the adaptation did their job."""
    t = THRESHOLDS
    return diag["divergences"] <= t["divergences"] and not diag["ebfmi_min"] < t["ebfmi_min"]


def _only_short_of_draws(diag: dict) -> bool:
    """The fit failed only on the effective sample size: R-hat, divergences and E-BFMI pass."""
    t = THRESHOLDS
    return (_clean_sampler(diag) and diag["rhat_max"] <= t["rhat_max"]
            and not min(diag["ess_bulk_min"], diag["ess_tail_min"]) >= t["ess_min"])


def _poor_adaptation(diag: dict) -> bool:
    """E-BFMI low or R-hat far off: what longer tuning (a better mass matrix) is for."""
    return diag["ebfmi_min"] < THRESHOLDS["ebfmi_min"] or diag["rhat_max"] > RHAT_LONGER_CHAINS


def _only_chains_too_short(diag: dict) -> bool:
    """R-hat a little above the rule with a clean sampler."""
    return _clean_sampler(diag) and THRESHOLDS["rhat_max"] < diag["rhat_max"] <= RHAT_LONGER_CHAINS


def more_chains_for(diag: dict, chains: int, have: int) -> int:
    """How many chains an R-hat near miss (:func:`_only_chains_too_short`) of a fit with ``have``
    chains adds: half of ``chains`` (at least 2) the first time; ``chains`` when chains were
    added before (a second near miss) or the effective sample size is short as well (twice the
    draws are needed then)."""
    if have > chains or min(diag["ess_bulk_min"], diag["ess_tail_min"]) < THRESHOLDS["ess_min"]:
        return chains
    return max(2, chains // 2)


def more_draws_factor(ess_min: float) -> int:
    """How many times the draws a fit short only of effective draws needs: the ESS grows about
    linearly with the draws, so ``1.3 x 400 / ESS`` (30% margin), at least 2, at most 4."""
    need = 1.3 * THRESHOLDS["ess_min"] / max(float(ess_min), 1.0)
    return int(min(4, max(2, np.ceil(need))))


def join_chains(first, more):
    """The chains of ``first`` and then those of ``more`` (renumbered after them) as one fit."""
    groups = {}
    for group in ("posterior", "sample_stats"):
        a, b = first[group].to_dataset(), more[group].to_dataset()
        b = b.assign_coords(chain=np.arange(a.sizes["chain"], a.sizes["chain"] + b.sizes["chain"]))
        groups[group] = xr.concat([a, b], dim="chain")
    return xr.DataTree.from_dict(groups)


def sample_with_retry(structure_key, build, data, *, draws, tune, chains, seed,
                      sampler="nutpie", retry=True, target_accept=None):
    """Sample, diagnose, retry while checks fail (at most ``len(RETRIES)`` retries).

    A retry after a fit that failed *only* on the effective sample size (R-hat, divergences and
    E-BFMI fine) keeps the step size target and tuning and draws more (:func:`more_draws_factor`).
    When twice the draws suffice (ESS 260-399: the usual shortfall) it gets them as many chains
    again, kept with the first ones (:func:`join_chains`), rather than a new fit with chains
    twice as long: 4 new chains of tune + draws steps instead of 4 of tune + 2 x draws, i.e.
    2,000 instead of 3,000 steps a chain at the default tune = draws, and the first attempt's
    draws are not thrown away (``benchmarks/bench_ess_retry.py``; a larger shortfall still
    lengthens the chains: three or four times the draws cost as much or less that way).
    Why: smaller steps and longer tuning cure divergences and poor adaptation, not a short
    chain; the old retry (target_accept 0.95, twice the tuning, twice the draws) cost ~4x the
    first fit where ~2x the draws suffice (measured on 10,000 rows, 200 teams: ESS 283 and 362
    at seeds 1 and 3). R-hat a little above 1.01 (up to :data:`RHAT_LONGER_CHAINS`) with no
    divergences and E-BFMI fine gets half as many chains again (:func:`more_chains_for`; as many
    again when the ESS is short too), same settings, the next seed, kept together with the
    first ones (:func:`join_chains`): 6 chains of 1000 draws, then 10. Why: the maximum R-hat over
    thousands of well-mixing parameters exceeds 1.01 by chance at 4 x 1000 draws (the skill-gap
    forecast at 597 teams, ~11,000 parameters: R-hat max 1.010-1.013 on every run, 1.011 again
    at target_accept 0.95 with twice the tuning, 274 s later; the elements that cross have bulk
    ESS 8,000-10,000 but folded ESS ~1,100, the spread of each chain's draws); its noise falls
    with more draws, not with smaller steps, and more chains give them without throwing the
    first chains away. Two chains mostly suffice: of the 9 fits of a 100-program large-preset
    run that failed on R-hat alone at 4 chains (1.0105-1.0146), 8 passed with the first 6 of
    their chains and the 9th (1.0146) with 10 (benchmarks/results/retry_tuning.md, session 23),
    so a second near miss adds 4 (6 -> 10); on 2 cores 2 chains are one round where 4 are two.
    Before: 4 new chains of twice the tuning and draws, twice the first fit (large preset:
    125 s, then 250-275 s); then 4 more chains, one first fit; now half of one. Any
    other failure climbs the ladder ``RETRIES``: target_accept 0.95, then 0.99 (and twice, then
    three times the draws when the ESS was short too). The tuning is lengthened with it
    (twice, then three times) only when the adaptation itself looks poor (E-BFMI low, or R-hat
    above :data:`RHAT_LONGER_CHAINS`); after divergences alone each rung keeps one tuning length
    less (the first keeps the first attempt's). Why (``benchmarks/bench_retry_tuning.py``,
    benchmarks/results/retry_tuning.md): divergences are cured by smaller steps; on the
    example's count and normal outcomes simulated with 14 seeds, the 25 fits that went up the
    ladder took 13% less sampling time without the doubled tuning (76.2 against 87.2 s), with
    as many retries (34) and fewer still failing in the end (2 against 4).

    ``target_accept``: of the first attempt (default ``DEFAULT_TARGET_ACCEPT``; families with
    harder geometry start higher, see :class:`lndbayes.models.families.Family`).
    """
    first = DEFAULT_TARGET_ACCEPT if target_accept is None else float(target_accept)
    ladder = [r for r in RETRIES if r[0] > first]
    n_retries = len(RETRIES) if retry else 0
    ta, mult, n_draws, rung = first, 1, draws, 0
    history = []
    idata = None
    for i in range(1 + n_retries):
        more_chains, n_more = False, chains
        if i:
            last = history[-1]
            if _only_short_of_draws(last["diag"]):
                factor = more_draws_factor(min(last["diag"]["ess_bulk_min"],
                                               last["diag"]["ess_tail_min"]))
                if factor == 2 and last["chains"] == chains:
                    more_chains = True        # as many chains again: see the docstring
                else:   # factor x the draws of all the last chains, in `chains` chains
                    n_draws = min(8 * draws, n_draws * last["chains"] // chains * factor)
            elif _only_chains_too_short(last["diag"]):
                more_chains = True            # the draws so far are kept: see the docstring
                n_more = more_chains_for(last["diag"], chains, last["chains"])
            elif rung < len(ladder):
                ta, longer = ladder[rung]
                rung += 1
                mult = longer if _poor_adaptation(last["diag"]) else longer - 1
                if last["ess_short"]:
                    n_draws = max(n_draws, draws * longer)  # too few effective draws: more as well
            else:  # nothing left to change: a retry would repeat the last attempt
                break
            progress.emit("retry", attempt=i, target_accept=ta, tune=tune * mult, draws=n_draws,
                          more_chains=n_more if more_chains else 0,
                          why="; ".join(m.split(":")[0] for m in last["messages"]) or "diagnostics failed")
        new = sample(structure_key, build, data, draws=n_draws, tune=tune * mult, chains=n_more,
                     seed=seed + i, target_accept=ta, sampler=sampler)
        idata = join_chains(idata, new) if more_chains else new
        diag = diagnose(idata)
        history.append({"target_accept": ta, "tune": tune * mult, "draws": n_draws,
                        "chains": int(idata["posterior"].sizes["chain"]),
                        "converged": diag["converged"], "messages": diag["messages"],
                        "ess_short": not min(diag["ess_bulk_min"], diag["ess_tail_min"])
                        >= THRESHOLDS["ess_min"], "diag": diag})
        if diag["converged"]:
            break
    for h in history:
        h.pop("diag")
    diag["retries"] = len(history) - 1
    diag["attempts"] = history
    if not diag["converged"]:
        diag["messages"] = diag["messages"] + [
            f"still failing after {diag['retries']} retries (target_accept up to {ta}, "
            f"tuning {tune * mult}). Treat the numbers as unreliable: collect more data per "
            "team, pool more strongly (group=None or tighter priors), or simplify the design."]
    return idata, diag

"""Calibration of the fitting pipeline on simulated data: interval coverage at a fixed truth
(:func:`run_coverage`), coverage of the business-scale estimands (:func:`run_business_coverage`)
and simulation-based calibration (:func:`run_sbc`).

The simulators and rank statistics are :mod:`lndbayes.models.testing`; these drivers fit, so
they sit above :mod:`lndbayes.fitting` (used by tests/test_calibration.py and
benchmarks/bench_calibration.py).
"""

from __future__ import annotations

import time
import warnings

import numpy as np

from lndbayes.fitting import fit_effects
from lndbayes.models.families import get_family
from lndbayes.models.testing import sbc_rank, simulate, simulate_from_prior


def _fit_quietly(df, fit_kwargs):
    with warnings.catch_warnings():
        # short calibration fits are often flagged for ESS < 400 on some team parameter; the
        # checks below look at ranks and coverage, and divergences are counted separately
        warnings.simplefilter("ignore")
        return fit_effects(df, outcome="y", treatment="treated", group="team", **fit_kwargs)


def _divergence_counts(divs):
    d = np.asarray(divs, dtype=int)
    return {"divergences_per_fit": d, "divergent_fits": int(np.sum(d > 0)),
            "divergences": int(d.sum())}


def run_sbc(family, priors, *, n_reps, n_teams=10, n_per_team=20, seed=0, n_keep=99,
            params=("intercept_mean", "effect_mean", "effect_sd_team", "effect_team"),
            fit_kwargs=None, simulate_priors=None):
    """Simulation-based calibration of ``fit_effects`` (randomized design, normal or binary).

    For each of ``n_reps`` replications: draw parameters from ``simulate_priors`` (default:
    ``priors``) with :func:`simulate_from_prior`, fit with ``priors`` and rank each true value
    among ``n_keep`` thinned posterior draws (:func:`sbc_rank`). ``params`` are posterior names;
    ``effect_team`` and ``intercept_team`` mean the first team's (``team_00``) value. When the
    model, the priors and the sampler are right the ranks are uniform: test them with
    :func:`sbc_uniformity_pvalue`. Passing a ``simulate_priors`` that differs from ``priors``
    (e.g. twice as wide) is how to check that the test has power.

    ``fit_kwargs`` go to ``fit_effects`` (draws, tune, chains, centering, ...); ``cache=False``
    and ``retry=False`` are the defaults here. Replication ``i`` uses seed ``seed + i`` for the
    data and for the sampler, so a run is reproducible.

    Returns ``{"ranks": {param: int array}, "n_reps", "n_keep", "divergences_per_fit" (int
    array), "divergent_fits" (fits with at least one divergent transition), "divergences"
    (total), "seconds"}``.
    """
    fk = {"family": family, "cache": False, "retry": False, **(fit_kwargs or {})}
    fk["priors"] = priors
    sim_priors = simulate_priors if simulate_priors is not None else priors
    ranks = {p: [] for p in params}
    divs = []
    t0 = time.perf_counter()
    for i in range(int(n_reps)):
        df, truth = simulate_from_prior(family, sim_priors, n_teams=n_teams,
                                        n_per_team=n_per_team, seed=seed + i)
        res = _fit_quietly(df, {**fk, "seed": seed + i})
        divs.append(int(res.diagnostics()["divergences"]))
        for p in params:
            if p in ("effect_team", "intercept_team"):
                draws, true = res.draws(p, team="team_00"), truth[p][0]
            else:
                draws, true = res.draws(p), truth[p]
            ranks[p].append(sbc_rank(draws, true, n_keep=n_keep))
    return {"ranks": {p: np.asarray(r, dtype=int) for p, r in ranks.items()},
            "n_reps": int(n_reps), "n_keep": int(n_keep), **_divergence_counts(divs),
            "seconds": time.perf_counter() - t0}


def run_coverage(family="normal", *, n_reps, truth, design, seed=0,
                 estimands=("effect_mean", "effect_sd_team"), fit_kwargs=None):
    """Frequentist coverage of the summary's intervals at a fixed truth.

    ``truth`` holds ``effect_mean`` and ``effect_sd_team``; ``design`` the other arguments of
    :func:`simulate` (``n_teams``, ``n_per_team``, ``intercept_mean``, ``intercept_sd``,
    ``sigma``). Each replication redraws the team intercepts and effects and the people from
    that fixed truth (data seed ``seed + i``), fits ``fit_effects`` (default priors) and checks
    whether each estimand's interval (``summary()`` columns ``lower``/``upper``, 90 % equal
    tailed) holds the true value. Coverage of a hierarchical sd is only nominal where the data,
    not the prior, dominate its estimate.

    Returns ``{"coverage": {estimand: rate}, "hits": {estimand: bool array}, "n_reps",
    "divergences_per_fit", "divergent_fits", "divergences", "seconds"}``.
    """
    fk = {"family": family, "cache": False, "retry": False, **(fit_kwargs or {})}
    hits = {e: [] for e in estimands}
    divs = []
    t0 = time.perf_counter()
    for i in range(int(n_reps)):
        df, _ = simulate(family, seed=seed + i, **design, **truth)
        res = _fit_quietly(df, {**fk, "seed": seed + i})
        divs.append(int(res.diagnostics()["divergences"]))
        s = res.summary().set_index("estimand")
        for e in estimands:
            hits[e].append(bool(s.loc[e, "lower"] <= truth[e] <= s.loc[e, "upper"]))
    hits = {e: np.asarray(h) for e, h in hits.items()}
    return {"coverage": {e: float(h.mean()) for e, h in hits.items()}, "hits": hits,
            "n_reps": int(n_reps), **_divergence_counts(divs),
            "seconds": time.perf_counter() - t0}


def business_scale_truth(family: str, df, truth) -> tuple[float, float]:
    """True (``average_effect_abs``, ``average_effect_rel``) of data from
    :func:`lndbayes.models.testing.simulate`, under the estimand's own definition
    (:mod:`lndbayes.estimands`): the mean over the analysed rows (randomized: every row, both
    arms) of E[y | D=1] - E[y | D=0] at the realised team intercept and effect, and that
    difference divided by the mean of E[y | D=0], on the family's business scale.

    Families whose business mean needs auxiliary parameters (sigma, cutpoints) are not
    supported: the simulators do not return them per replication.
    """
    fam = get_family(family)
    team = df["team"].str.slice(5).astype(int).to_numpy()
    alpha = np.asarray(truth["intercept_team"], dtype=float)
    theta = np.array([truth["team_effects"][f"team_{j:02d}"] for j in range(len(alpha))])
    m0 = fam.business_mean(alpha[team], {})
    m1 = fam.business_mean(alpha[team] + theta[team], {})
    return float(np.mean(m1 - m0)), float(np.mean(m1 - m0) / np.mean(m0))


def run_business_coverage(family: str, *, n_reps: int, seed: int, design: dict,
                          fit_kwargs: dict) -> dict:
    """Interval coverage of ``average_effect_abs`` and ``average_effect_rel``: each replication
    draws new team intercepts, effects and people from the fixed ``design`` (keyword arguments
    of :func:`simulate`), fits it (data and sampler seeded by ``seed + i``) and asks whether
    each 90% interval holds that replication's :func:`business_scale_truth`."""
    fam = get_family(family)
    hits = {"average_effect_abs": [], "average_effect_rel": []}
    t0 = time.perf_counter()
    for i in range(n_reps):
        df, truth = simulate(family, seed=seed + i, **design)
        true = dict(zip(hits, business_scale_truth(family, df, truth)))
        kw = dict(fit_kwargs, family=family, seed=seed + i)
        if fam.needs_exposure:
            kw["exposure"] = "exposure"
        s = _fit_quietly(df, kw).summary().set_index("estimand")
        for name in hits:
            hits[name].append(bool(s.loc[name, "lower"] <= true[name] <= s.loc[name, "upper"]))
    return {"coverage": {k: float(np.mean(v)) for k, v in hits.items()}, "n_reps": n_reps,
            "seconds": time.perf_counter() - t0}

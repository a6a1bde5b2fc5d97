r"""Meta-analysis of team-level summary estimates (when only per-team effects are available):
the graph.

{MODEL}

with :math:`s` = max(sd of the estimates, median se) and the priors of
:mod:`lndbayes.models.priors` (:math:`\mu \sim \mathrm{Normal}(0, s)`, :math:`\tau,
\tau_{\mathrm{dept}} \sim \mathrm{HalfNormal}(s/2)`). Estimates are taken on the scale given
(which is both the "link" and the business scale): ``effect_mean`` = :math:`\mu`,
``effect_sd_team`` = :math:`\tau`, ``average_effect_abs`` = mean of :math:`\theta_j` over the
teams given; ``average_effect_rel`` is not defined (NaN). Team :math:`j` is centred when
:math:`\hat\tau^2/\mathrm{se}_j^2 > 1` (its estimate is more precise than the spread between
teams), non-centred otherwise.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pymc as pm
import pytensor.tensor as pt

from lndbayes.models import math as model_math
from lndbayes.models.priors import resolve_priors

__doc__ = __doc__.replace("{MODEL}", ".. math::\n\n" + " \\\\\n".join(
    f"    {e}" for e in model_math.SUMMARY_MODEL))


def summary_priors(est, se, n_dept: int, overrides=None) -> dict:
    """The priors of the meta-analysis, scaled to the estimates."""
    s = float(max(np.std(est), np.median(se)))
    names = ["effect_mean", "effect_sd_team"] + (["effect_sd_dept"] if n_dept > 1 else [])
    return resolve_priors(names, s, 0.0, overrides)


def summary_centring(est, se) -> np.ndarray:
    """Indices of the teams whose estimate dominates (centred parameters)."""
    tau2 = np.var(est, ddof=1) - np.mean(se**2)
    kappa = (tau2 / se**2) if tau2 > 0 else np.zeros(len(est))
    return np.flatnonzero(kappa > 1)


def summary_structure_key(J: int, n_dept: int, centred, pri: dict) -> str:
    """The compile-cache key (the priors are constants of this graph, so part of it)."""
    return repr(("summary", J, n_dept, tuple(centred), tuple(sorted(pri)),
                 tuple(sorted((k, v["sigma"]) for k, v in pri.items()))))


def build_summary_model(est, se, dept_idx, n_dept: int, centred, pri: dict) -> pm.Model:
    """The PyMC graph of the meta-analysis (``estimate`` and ``se`` are ``pm.Data``)."""
    J = len(est)
    centred = np.asarray(centred, dtype=np.int64)
    noncentred = np.setdiff1d(np.arange(J), centred)
    with pm.Model(coords={"team": np.arange(J), "department": np.arange(n_dept)}) as m:
        y = pm.Data("estimate", est)
        sd = pm.Data("se", se)
        mu = pm.Normal("effect_mean", pri["effect_mean"]["mu"], pri["effect_mean"]["sigma"])
        tau = pm.HalfNormal("effect_sd_team", pri["effect_sd_team"]["sigma"])
        loc = mu + pt.zeros((J,))
        if n_dept > 1:
            td = pm.HalfNormal("effect_sd_dept", pri["effect_sd_dept"]["sigma"])
            z = pm.Normal("effect_dept_z", 0, 1, dims="department")
            b = pm.Deterministic("effect_dept", td * z, dims="department")
            loc = loc + b[dept_idx]
        theta = pt.zeros((J,))
        if len(centred):
            c = pm.Normal("effect_team_c", loc[centred], tau, shape=len(centred))
            theta = pt.set_subtensor(theta[centred], c)
        if len(noncentred):
            z = pm.Normal("effect_team_z", 0, 1, shape=len(noncentred))
            theta = pt.set_subtensor(theta[noncentred], loc[noncentred] + tau * z)
        theta = pm.Deterministic("effect_team", theta, dims="team")
        pm.Normal("obs", theta, sd, observed=y)
    return m


def fit_summary_model(df, *, estimate, std_error, group, department=None, priors=None, seed=0,
                      draws=1000, tune=1000, chains=4, cache=True, strict=False, target=None,
                      direction="increase", sampler="nutpie"):
    """The meta-analysis pipeline (cache key, retry, new-team draw, summary rows).

    TEMPORARY here: it belongs with the GLM's pipeline in :mod:`lndbayes.fitting`, which will
    call :func:`build_summary_model`; until then its fitting-layer imports are local, because
    ``lndbayes.models`` must not import the layers above it at module level.
    """
    import xarray as xr

    import lndbayes
    from lndbayes import inference
    from lndbayes.design.matrix import team_estimates
    from lndbayes.errors import FitFailedError
    from lndbayes.results import SUMMARY_COLUMNS, TEAM_COLUMNS, EffectResult, describe, p_beats

    te = team_estimates(df, estimate=estimate, std_error=std_error, group=group,
                        department=department)
    est, se, teams, depts, dept_idx = te.estimate, te.se, te.teams, te.departments, te.dept_idx
    J, n_dept = len(est), len(depts)
    pri = summary_priors(est, se, n_dept, priors)
    centred = summary_centring(est, se)

    def build():
        return build_summary_model(est, se, dept_idx, n_dept, centred, pri)

    settings = {"draws": draws, "tune": tune, "chains": chains, "seed": seed, "sampler": sampler}
    key = inference.hash_payload({"model": "summary", "priors": pri, "settings": settings,
                                  "teams": list(teams), "depts": depts,
                                  "centred": centred.tolist(),
                                  "model_code": inference.model_code_hash(),
                                  "version": lndbayes.__version__},
                                 {"est": est, "se": se, "dept": dept_idx})
    cached = inference.cache_load(key) if cache else None
    if cached is not None:
        idata, diag = cached
    else:
        skey = summary_structure_key(J, n_dept, centred, pri)
        idata, diag = inference.sample_with_retry(skey, build, {"estimate": est, "se": se},
                                                  draws=draws, tune=tune, chains=chains,
                                                  seed=seed, sampler=sampler)
        if cache:
            inference.cache_save(key, idata, diag)
    post = idata["posterior"].to_dataset()
    em = np.asarray(post["effect_mean"].values).reshape(-1)
    tau_d = np.asarray(post["effect_sd_team"].values).reshape(-1)
    th = np.asarray(post["effect_team"].values).reshape(len(em), J)
    rng = np.random.default_rng(seed + 7919)
    new = em + tau_d * rng.standard_normal(len(em))
    if n_dept > 1:
        new = new + np.asarray(post["effect_sd_dept"].values).reshape(-1) * rng.standard_normal(len(em))
    avg = th.mean(1)
    shape = post["effect_mean"].shape
    post["effect_new_team"] = (("chain", "draw"), new.reshape(shape))
    post["average_effect_abs"] = (("chain", "draw"), avg.reshape(shape))
    post = post.assign_coords(team=teams.astype(str))
    if n_dept > 1:
        post = post.assign_coords(department=np.array(depts, dtype=str))
    idata = xr.DataTree.from_dict({"posterior": post,
                                   "sample_stats": idata["sample_stats"].to_dataset()})
    tgt_row = tgt_val = None
    if target:
        if target.get("absolute_change") is not None:
            tgt_row, tgt_val = "average_effect_abs", float(target["absolute_change"])
    rows = []
    for name, x in [("effect_mean", em), ("effect_sd_team", tau_d), ("effect_new_team", new),
                    ("average_effect_abs", avg), ("average_effect_rel", np.full(len(em), np.nan))]:
        r = {"estimand": name, "scale": "as given", **describe(x)}
        if name == "effect_sd_team":
            r["p_gt_0"] = np.nan
        r["p_beats_target"] = p_beats(x, tgt_val, direction) if name == tgt_row else np.nan
        rows.append(r)
    summary = pd.DataFrame(rows, columns=SUMMARY_COLUMNS)
    trows = [{"team": teams[j], "n": 1, "raw_effect": float(est[j]), "raw_se": float(se[j]),
              **describe(th[:, j])} for j in range(J)]
    team_df = pd.DataFrame(trows, columns=TEAM_COLUMNS)
    meta = {"family": "summary", "design": "summary", "outcome": estimate, "n": int(J),
            "teams": list(teams), "priors": pri, "seed": int(seed), "sampler": settings,
            "cache_key": key, "interval": lndbayes.INTERVAL, "target": target,
            "direction": direction, "centred_teams": {"effect": int(len(centred))},
            "version": lndbayes.__version__}
    res = EffectResult(idata, summary, team_df, diag, meta)
    if not res.converged:
        msg = "lndbayes summary fit did NOT converge: " + " ".join(diag["messages"])
        if strict:
            raise FitFailedError(msg)
        warnings.warn(msg, stacklevel=3)
    return res

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


import numpy as np
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

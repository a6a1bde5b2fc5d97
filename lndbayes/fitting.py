r"""The fit pipeline: table -> design matrix -> graph -> cached posterior -> EffectResult.

``fit_effects`` (the hierarchical GLM), ``fit_effects_summary`` (meta-analysis of team
estimates), ``fit_panel`` (a panel built by :func:`lndbayes.design.panel.build_panel`) and
``fit_program`` (build the panel and fit it). Both models go through the same steps:

1. settings checked, priors resolved (lndbayes.models.priors);
2. the posterior cache key: a hash of the graph's structure, priors, sampler settings, labels,
   the model code and the data (lndbayes.inference);
3. the posterior from the disk cache, or sampled with retries (smaller steps, longer tuning)
   while the diagnostics fail;
4. estimands and the result (lndbayes.estimands); a fit that failed its diagnostics warns
   (or raises with ``strict=True``) and says so in every table.

See docs/models.md for the models, priors, estimands and the diagnostics policy.
"""

from __future__ import annotations

import json
import time
import warnings

import numpy as np
import pandas as pd

import lndbayes
from lndbayes import inference, progress
from lndbayes.design.designs import get_design
from lndbayes.design.matrix import Columns, build_design_matrix, team_estimates
from lndbayes.design.panel import Panel, build_panel
from lndbayes.errors import FitFailedError, ModelInputError
from lndbayes.estimands import build_result, build_summary_result
from lndbayes.models.centring import (choose_centering, choose_department_centering,
                                      choose_intercept_mean, choose_program_centering,
                                      choose_treated_mean, team_arm_stats)
from lndbayes.models.families import get_family
from lndbayes.models.graph import (GLMSpec, build_model, centring_data, intercept_weights,
                                   padded_teams, prior_data_names, time_bases, treated_weights)
from lndbayes.models.priors import relevant_priors, resolve_priors
from lndbayes.models.sufficient import collapse as collapse_rows
from lndbayes.models.summary_model import (build_summary_model, summary_centring, summary_priors,
                                            summary_structure_key)

CENTERINGS = {"auto": "auto", "centred": "centred", "centered": "centred",
              "noncentred": "noncentred", "non-centred": "noncentred",
              "noncentered": "noncentred"}


# ============================================================================ shared steps
def check_settings(*, draws, tune, chains, direction) -> None:
    if direction not in ("increase", "decrease"):
        raise ModelInputError(f"direction must be 'increase' or 'decrease', got {direction!r}.")
    for name, v in (("draws", draws), ("tune", tune), ("chains", chains)):
        if not (isinstance(v, (int, np.integer)) and v > 0):
            raise ModelInputError(f"{name} must be a positive integer, got {v!r}.")


def cached_posterior(key: str, *, cache: bool, sample):
    """``(idata, diagnostics)`` from the disk cache under ``key``, else from ``sample()`` (then
    saved); ``diagnostics["cached"]`` says which."""
    cached = inference.cache_load(key) if cache else None
    if cached is not None:
        idata, diag = cached
        diag["cached"] = True
        return idata, diag
    idata, diag = sample()
    if cache:
        inference.cache_save(key, idata, diag)
    diag["cached"] = False
    return idata, diag


def flag_convergence(res, *, strict: bool, what: str, stacklevel: int = 3):
    """Warn (``strict``: raise FitFailedError) when the fit failed its diagnostics."""
    if not res.converged:
        msg = (f"lndbayes {what} did NOT converge; do not report these numbers as they are: "
               + " ".join(res.diagnostics()["messages"]))
        if strict:
            raise FitFailedError(msg)
        warnings.warn(msg, stacklevel=stacklevel)
    return res


def centring_for(centering: str, family: str, matrix, *, hier: bool, n_dept: int,
                 effect_prior_sd: float | None = None, intercept_prior_sd: float | None = None):
    """The centring policy: which team intercepts and effects (indices), which department
    levels (intercept, effect), whether program means are centred, (one program, given
    ``effect_prior_sd``, ``effect_sd_team``'s prior scale) the teams whose mean effect is
    sampled (:func:`lndbayes.models.centring.choose_treated_mean`) and (given
    ``intercept_prior_sd``, ``intercept_sd_team``'s, where few teams inform their spread)
    the teams whose mean intercept is sampled
    (:func:`lndbayes.models.centring.choose_intercept_mean`, which also centres them or not,
    in place of :func:`~lndbayes.models.centring.choose_centering`'s intercept choice).

    ``"auto"`` asks lndbayes.models.centring's rules (centred where the data dominate the
    prior); ``"centred"`` / ``"noncentred"`` force one parameterisation everywhere (and sample
    no team's mean effect or intercept).
    """
    policy = CENTERINGS.get(centering)
    if policy is None:
        raise ModelInputError(f"centering must be 'auto', 'centred' or 'noncentred', got "
                              f"{centering!r}.")
    rows, labels = matrix.rows, matrix.labels
    J, multi = len(labels.teams), matrix.multi_program
    n_combo = len(labels.combo_team) if multi else 0
    mean_teams = int_mean_teams = ()
    if not hier:
        c_int, c_eff, c_dept = (), (), (False, False)
    elif policy == "auto":
        dept = labels.dept_of_team if n_dept > 1 else None
        stats = team_arm_stats(family, rows, J)  # once for the three choices below
        c_int, c_eff = (choose_centering(family, rows, J, effect_unit=rows["combo"],
                                         n_effect=n_combo, effect_group=labels.combo_program,
                                         effect_team=labels.combo_team, dept_of_team=dept,
                                         arm_stats=stats)
                        if multi else choose_centering(family, rows, J, dept_of_team=dept,
                                                       arm_stats=stats))
        c_dept = (choose_department_centering(family, rows, J, dept, arm_stats=stats)
                  if dept is not None else (False, False))
        int_mean_teams, int_mean_centred = choose_intercept_mean(
            family, rows, J, intercept_prior_sd, dept_of_team=dept, arm_stats=stats)
        if int_mean_teams:
            c_int = int_mean_teams if int_mean_centred else ()
        if not multi and effect_prior_sd is not None:
            mean_teams = choose_treated_mean(family, rows, J, effect_prior_sd, c_eff,
                                             arm_stats=stats)
    elif policy == "centred":
        c_int, c_eff, c_dept = tuple(range(J)), tuple(range(n_combo if multi else J)), (True, True)
    else:
        c_int, c_eff, c_dept = (), (), (False, False)
    prog = multi and (policy == "centred" or (
        policy == "auto" and choose_program_centering(family, rows, matrix.n_programs)))
    return c_int, c_eff, c_dept, prog, mean_teams, int_mean_teams


# ============================================================================ the GLM
def _final_attempt(attempts) -> dict:
    """What the kept posterior was sampled with, after retries (``*_final``): a retry may take
    smaller steps, tune longer, draw more or add chains (inference.sample_with_retry)."""
    last = attempts[-1] if attempts else {}
    return {f"{k}_final": last.get(k) for k in ("target_accept", "tune", "draws", "chains")}


def fit_effects(df, outcome, treatment, group=None, baseline=None, covariates=(), family="normal",
                design="randomized", period=None, post=None, event_time=None, exposure=None,
                censored=None, department=None, program=None, priors=None, seed=0, draws=1000,
                tune=1000, chains=4, cache=True, strict=False, *, target=None,
                direction="increase", sampler="nutpie", collapse=True,
                drop_incomplete_teams=False, centering="auto", retry=True):
    r"""Estimate a training program's effect with a hierarchical Bayesian GLM.

    Returns an :class:`lndbayes.results.EffectResult`. The model, priors and estimands are
    described in :mod:`lndbayes.models.graph` and docs/models.md. ``target`` is
    ``{"relative_change": -0.15}`` or ``{"absolute_change": ...}`` on the business scale and
    ``direction`` ("increase"/"decrease") says which way is good. ``collapse=True`` uses exact
    sufficient statistics; ``collapse=False`` the individual-row likelihood.

    ``program``: a column naming each row's program, to fit several programs at once. Treated
    rows are units in that program, control rows its comparison units; team intercepts (and
    period effects) are shared, the effect is per program x team combination,

    .. math::

        \theta_{pj} = \mu_p + b_{d[j]} + \sigma_\theta z_{pj}, \qquad
        \mu_p \sim \mathrm{Normal}(\mu_\theta, \sigma_{\theta,\mathrm{prog}}),

    with one between-team sd :math:`\sigma_\theta` shared by the programs (see
    :mod:`lndbayes.models.graph`). ``effect_mean`` is then the portfolio mean
    :math:`\mu_\theta`; :meth:`~lndbayes.results.EffectResult.program_effects` gives each
    program's :math:`\mu_p` and business-scale average effect, ``team_effects()`` one row per
    program x team, and ``draws("effect_program", program=...)`` the draws of :math:`\mu_p`. A
    column with a single program fits exactly the one-program model.
    """
    check_settings(draws=draws, tune=tune, chains=chains, direction=direction)
    columns = Columns(outcome=outcome, treatment=treatment, group=group, baseline=baseline,
                      covariates=tuple(covariates or ()), period=period, post=post,
                      event_time=event_time, exposure=exposure, censored=censored,
                      department=department, program=program)
    matrix = build_design_matrix(df, columns, family, design,
                                 drop_incomplete_teams=drop_incomplete_teams)
    fam = get_family(matrix.family)
    spec, pri = glm_spec(matrix, fam, priors=priors, centering=centering,
                         collapse=bool(collapse), hier=group is not None)
    data = glm_data(spec, matrix)
    all_data = {**data, **prior_data_names(pri)}
    settings = {"draws": int(draws), "tune": int(tune), "chains": int(chains), "seed": int(seed),
                "sampler": sampler, "retry": bool(retry),
                "target_accept": fam.first_target_accept(matrix.design.name)}
    key = inference.hash_payload(
        {"spec": spec.key(), "priors": pri, "settings": settings,
         "labels": matrix.labels.cache_key(), "model_code": inference.model_code_hash(),
         "version": lndbayes.__version__, "thresholds": inference.THRESHOLDS}, all_data)
    idata, diag = cached_posterior(key, cache=cache, sample=lambda: inference.sample_with_retry(
        spec.key(), lambda: build_model(spec, data, pri), all_data, draws=int(draws),
        tune=int(tune), chains=int(chains), seed=int(seed), sampler=sampler, retry=retry,
        target_accept=settings["target_accept"]))

    attempts = diag.get("attempts")
    meta = {"family": fam.name, "design": spec.design, "outcome": outcome,
            "treatment": treatment, "group": group, "n": int(len(matrix.rows["y"])),
            "n_dropped": matrix.labels.n_dropped,
            "teams": list(map(str, matrix.labels.teams)) if spec.hier else [],
            "departments": list(map(str, matrix.labels.departments)) if spec.n_dept > 1 else [],
            "covariates": matrix.labels.covariates, "priors": pri, "seed": int(seed),
            "sampler": {**settings, **_final_attempt(attempts)},
            "cache_key": key, "link": fam.link, "business_scale": fam.abs_label,
            "target": target, "direction": direction, "interval": lndbayes.INTERVAL,
            "centred_teams": {"intercept": len(spec.int_centred),
                              "effect": len(spec.eff_centred)},
            # teams whose mean effect was sampled directly (graph._treated_team_effects)
            "treated_mean_teams": len(spec.mean_teams),
            # teams whose mean intercept was sampled (graph._intercepts_through_teams)
            "intercept_mean_teams": len(spec.int_mean_teams),
            "centred_departments": {"intercept": bool(spec.dept_int_centred and spec.n_dept > 1),
                                    "effect": bool(spec.dept_eff_centred and spec.n_dept > 1)},
            "n_cells": int(len(data["c_team"])), "collapsed": bool(collapse),
            "version": lndbayes.__version__}
    if program is not None:
        meta.update(program=program, programs=list(map(str, matrix.labels.programs)))
    res = build_result(fam=fam, spec=spec, matrix=matrix, idata=idata, diag=diag,
                       seed=int(seed), target=target, direction=direction, meta=meta)
    return flag_convergence(res, strict=strict, what="fit")


def glm_spec(matrix, fam, *, priors, centering, collapse: bool, hier: bool):
    """The graph's structure (GLMSpec: sizes, centring, likelihood form) and the priors
    resolved on the data's link scale."""
    rows, labels = matrix.rows, matrix.labels
    multi = matrix.multi_program
    n_dept = len(labels.departments) if hier else 1
    n_period, n_event, K = len(labels.periods), len(labels.event_times), rows["X"].shape[1]
    names = relevant_priors(fam.name, has_group=hier, has_dept=n_dept > 1, n_cov=K,
                            has_period=n_period > 1, has_event=n_event > 1, has_program=multi)
    scale = fam.link_scale(rows["y"], rows["exposure"], rows["censored"])
    center = fam.link_center(rows["y"], rows["exposure"], rows["censored"])
    pri = resolve_priors(names, scale, center, priors)
    c_int, c_eff, c_dept, prog_centred, mean_teams, int_mean_teams = centring_for(
        centering, fam.name, matrix, hier=hier, n_dept=n_dept,
        effect_prior_sd=float(pri["effect_sd_team"]["sigma"]) if hier else None,
        intercept_prior_sd=(float(pri["intercept_sd_team"]["sigma"])
                            if hier and fam.has_intercept else None))
    spec = GLMSpec(family=fam.name, design=matrix.design.name, hier=hier, J=len(labels.teams),
                   n_dept=n_dept, n_period=n_period, n_event=n_event, K=K, int_centred=c_int,
                   eff_centred=c_eff, exact=collapse, prior_names=tuple(names),
                   n_program=matrix.n_programs if multi else 1,
                   n_combo=len(labels.combo_team) if multi else 0, prog_centred=prog_centred,
                   dept_int_centred=c_dept[0], dept_eff_centred=c_dept[1],
                   mean_teams=mean_teams, int_mean_teams=int_mean_teams)
    return spec, pri


def glm_data(spec, matrix) -> dict:
    """The arrays the graph reads (``pm.Data``): the likelihood's cells (exact sufficient
    statistics, or the rows), the centring vectors and the department / program indices."""
    labels, multi = matrix.labels, matrix.multi_program
    data = collapse_rows(spec.family, matrix.rows, exact=spec.exact, by_combo=multi)
    data.update(centring_data(spec))
    if spec.hier and not multi:
        data["treated_weight"] = treated_weights(spec)
    if spec.int_mean_teams:
        data["intercept_weight"] = intercept_weights(spec)
    data.update(time_bases(spec))
    if spec.n_dept > 1:
        data["dept_of_team"] = padded_teams(labels.dept_of_team.astype(np.int64), spec)
    if multi:
        data["combo_program"] = labels.combo_program.astype(np.int64)
        if spec.hier and spec.n_dept > 1:
            data["combo_team"] = labels.combo_team.astype(np.int64)
    return data


# ============================================================================ meta-analysis
def fit_effects_summary(df, estimate, std_error, group, department=None, priors=None, seed=0,
                        draws=1000, tune=1000, chains=4, cache=True, strict=False, *,
                        target=None, direction="increase", sampler="nutpie"):
    """Meta-analysis of team-level estimates (one estimate and its standard error per team):
    the model in :mod:`lndbayes.models.summary_model`, fitted through the same steps as
    :func:`fit_effects`."""
    check_settings(draws=draws, tune=tune, chains=chains, direction=direction)
    te = team_estimates(df, estimate=estimate, std_error=std_error, group=group,
                        department=department)
    J, n_dept = len(te.estimate), len(te.departments)
    pri = summary_priors(te.estimate, te.se, n_dept, priors)
    centred = summary_centring(te.estimate, te.se)
    settings = {"draws": draws, "tune": tune, "chains": chains, "seed": seed, "sampler": sampler}
    key = inference.hash_payload({"model": "summary", "priors": pri, "settings": settings,
                                  "teams": list(te.teams), "depts": te.departments,
                                  "centred": centred.tolist(),
                                  "model_code": inference.model_code_hash(),
                                  "version": lndbayes.__version__},
                                 {"est": te.estimate, "se": te.se, "dept": te.dept_idx})
    idata, diag = cached_posterior(key, cache=cache, sample=lambda: inference.sample_with_retry(
        summary_structure_key(J, n_dept, centred, pri),
        lambda: build_summary_model(te.estimate, te.se, te.dept_idx, n_dept, centred, pri),
        {"estimate": te.estimate, "se": te.se}, draws=draws, tune=tune, chains=chains,
        seed=seed, sampler=sampler))
    meta = {"family": "summary", "design": "summary", "outcome": estimate, "n": int(J),
            "teams": list(te.teams), "priors": pri, "seed": int(seed), "sampler": settings,
            "cache_key": key, "interval": lndbayes.INTERVAL, "target": target,
            "direction": direction, "centred_teams": {"effect": int(len(centred))},
            "version": lndbayes.__version__}
    res = build_summary_result(estimates=te, idata=idata, diag=diag, seed=int(seed),
                               target=target, direction=direction, meta=meta)
    return flag_convergence(res, strict=strict, what="summary fit")


# ============================================================================ panels
def fit_panel(panel: Panel, **settings):
    """Fit a panel already built by :func:`~lndbayes.design.panel.build_panel` (so a caller
    that needs the panel too builds it once). ``settings``: as :func:`fit_effects` (seed,
    draws, priors, ...); they override what the panel implies."""
    d, m = panel.data, panel.meta
    des = get_design(m.design)
    kw = dict(outcome="outcome", treatment="treated", group="team", family=m.family,
              design=des.name, direction=m.direction)
    if "department" in d and d["department"].nunique() > 1:
        kw["department"] = "department"
    # one row per person in a panel design: quarters instead of months (see by_quarter)
    quarterly = des.over_time and m.layout == "unit"
    if quarterly:
        d = by_quarter(d)
    kw.update(des.panel_columns(d, quarterly=quarterly))
    fam = get_family(m.family)
    if fam.needs_exposure and "exposure" in d:
        kw["exposure"] = "exposure"
    if fam.needs_censored and "censored" in d:
        kw["censored"] = "censored"
    if isinstance(m.target, dict):
        kw["target"] = {k: v for k, v in m.target.items()
                        if k in ("relative_change", "absolute_change")} or None
    kw.update(settings)
    with progress.scope(program=m.program_id, outcome=m.outcome_id):   # the runner shows it live
        progress.emit("fitting")
        t0 = time.perf_counter()
        try:
            res = fit_effects(d, **kw)
        except Exception as err:
            progress.emit("failed", reason=f"{type(err).__name__}: {err}")
            raise
        progress.emit("fitted", seconds=round(time.perf_counter() - t0, 2), converged=bool(res.converged),
                      retries=int((res.diagnostics() or {}).get("retries") or 0))
    panel_meta = m.to_dict()
    if quarterly:
        panel_meta["time_granularity"] = "quarter"
    res.meta.update({"program_id": m.program_id, "outcome_id": m.outcome_id,
                     "value_per_unit": m.value_per_unit,
                     "panel_meta": json.loads(json.dumps(panel_meta, default=str))})
    return res


def fit_program(org, program_id, outcome_id, **settings):
    """Fit one program's outcome from the organisation's data: ``fit_panel(build_panel(...))``."""
    return fit_panel(build_panel(org, program_id, outcome_id), **settings)


def by_quarter(d: pd.DataFrame) -> pd.DataFrame:
    """Quarter of the period and quarters since the start, for one-row-per-person panels.

    Why: a time-to-event panel has one row per new hire, so monthly hire cohorts hold a handful
    of people each; 24 period effects and 20 event-time effects on ~250 people leave the
    treatment effect barely identified and the sampler in funnels. Quarters keep the
    comparison within hire cohorts while giving each cohort enough people.
    """
    d = d.copy()
    months = pd.PeriodIndex(d["period"].astype(str), freq="M")
    d["period_quarter"] = [str(q) for q in months.asfreq("Q")]
    if "event_time" in d:
        d["event_time_quarter"] = np.floor(pd.to_numeric(d["event_time"]) / 3.0)
    return d

r"""From posterior draws to the numbers a manager reads, and the EffectResult that holds them.

* ``effect_new_team``: ``effect_mean`` plus one normal draw per level below it (team sd, then
  department sd, then program sd), seeded ``seed + 7919`` so it is reproducible;
* ``average_effect_abs``: per posterior draw, the mean over the analysed rows (the design's,
  :meth:`lndbayes.design.designs.Design.analysed_rows`) of
  :math:`E[y \mid D=1] - E[y \mid D=0]` on the business scale (the family's
  ``business_mean``), computed on the unique predictor patterns with their row counts as
  weights; ``average_effect_rel``: the same difference over the mean counterfactual
  :math:`E[y \mid D=0]`;
* per effect unit (team, or program x team) the same business-scale average, and the raw
  comparison of the design (:meth:`~lndbayes.design.designs.Design.raw_unit_effects`);
* staggered designs: the effect by event time, ``effect_mean + event_time_dev``.

Row meanings: :mod:`lndbayes.results`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from lndbayes.errors import ModelInputError
from lndbayes.models.checks import flat, predictive_checks
from lndbayes.models.graph import used_slots
from lndbayes.models.sufficient import group_rows
from lndbayes.results import SUMMARY_COLUMNS, TEAM_COLUMNS, EffectResult, describe, p_beats

REL_LABEL = "relative to counterfactual mean"
#: estimands whose sign means nothing (P(> 0) is left empty)
SPREADS = ("effect_sd_team", "effect_sd_program")
#: seed offset of the new-team draws (so they differ from the sampler's stream)
NEW_TEAM_SEED = 7919


def new_team_draws(effect_mean: np.ndarray, sds: list, seed: int) -> np.ndarray:
    """``effect_mean + sd_1 z_1 + sd_2 z_2 + ...``: the effect in a new team (new department,
    new program: one sd per level, in the order given)."""
    rng = np.random.default_rng(seed + NEW_TEAM_SEED)
    new = effect_mean.copy()
    for sd in sds:
        new = new + sd * rng.standard_normal(len(effect_mean))
    return new


def target_estimand(target) -> tuple[str | None, float | None]:
    """``(estimand, threshold)`` of a target (``{"relative_change": x}`` or
    ``{"absolute_change": x}``), ``(None, None)`` without one."""
    if not target:
        return None, None
    if target.get("relative_change") is not None:
        return "average_effect_rel", float(target["relative_change"])
    if target.get("absolute_change") is not None:
        return "average_effect_abs", float(target["absolute_change"])
    raise ModelInputError("target must hold 'relative_change' or 'absolute_change', "
                          f"got {target!r}.")


def summary_table(estimands, target_row, target_value, direction) -> pd.DataFrame:
    """One row per ``(name, draws, scale)``: mean, sd, interval, P(> 0) and P(beats target)."""
    rows = []
    for name, x, scale in estimands:
        r = {"estimand": name, "scale": scale, **describe(x)}
        if name in SPREADS:
            r["p_gt_0"] = np.nan
        r["p_beats_target"] = (p_beats(x, target_value, direction) if name == target_row
                               else np.nan)
        rows.append(r)
    return pd.DataFrame(rows, columns=SUMMARY_COLUMNS)


# ============================================================================ business scale
def patterns(rows: dict, design):
    """Unique analysed predictor patterns (team, combo, period, event, X) and their weights.

    ``combo`` is the effect's index: the program x team combination (several programs), else
    the team itself (then the column repeats ``team`` and changes nothing).
    """
    A = design.analysed_rows(rows["D"])
    keys = np.column_stack([rows["team"][A], rows["combo"][A], rows["period"][A],
                            rows["event"][A], rows["X"][A]]).astype(float)
    uniq, inv, _ = group_rows(keys)
    w = np.bincount(inv, minlength=len(uniq)).astype(float)
    return uniq, w


def business_draws(fam, post, pat, w, spec, J, chunk_cells=2_000_000):
    """Per-draw business-scale average effect (abs, rel) overall and per effect unit.

    ``J``: number of effect units (teams, or program x team combinations with several
    programs); the per-unit results are indexed by the pattern's ``combo`` column.
    """
    team = pat[:, 0].astype(int)
    unit = pat[:, 1].astype(int)
    per = pat[:, 2].astype(int)
    ev = pat[:, 3].astype(int)
    Xp = pat[:, 4:]
    alpha = flat(post, "intercept_team")
    theta = flat(post, "effect_team")
    S = alpha.shape[0]
    gamma = flat(post, "period_effect") if spec.n_period > 1 else None
    dev = flat(post, "event_time_dev") if spec.n_event > 1 else None
    beta = flat(post, "beta") if spec.K else None
    aux_all = {k: flat(post, k) for k in fam.aux_priors}
    Wt = np.zeros((len(team), J))
    Wt[np.arange(len(team)), unit] = w
    diff_tot = np.empty(S)
    m0_tot = np.empty(S)
    diff_team = np.empty((S, J))
    m0_team = np.empty((S, J))
    step = max(1, chunk_cells // max(len(team), 1))
    for s0 in range(0, S, step):
        sl = slice(s0, min(S, s0 + step))
        eta0 = alpha[sl][:, team]
        if gamma is not None:
            eta0 = eta0 + gamma[sl][:, per]
        if beta is not None:
            eta0 = eta0 + beta[sl] @ Xp.T
        eff = theta[sl][:, unit]
        if dev is not None:
            eff = eff + dev[sl][:, ev]
        # a scalar parameter (sigma) broadcasts over the patterns; a vector one (cutpoints)
        # reaches business_mean as (draws, k)
        aux = {k: v[sl][:, None] if v.ndim == 1 else v[sl] for k, v in aux_all.items()}
        m0 = fam.business_mean(eta0, aux)
        m1 = fam.business_mean(eta0 + eff, aux)
        diff_team[sl] = (m1 - m0) @ Wt
        m0_team[sl] = m0 @ Wt
        diff_tot[sl] = diff_team[sl].sum(1)
        m0_tot[sl] = m0_team[sl].sum(1)
    W = w.sum()
    wt = Wt.sum(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (diff_tot / W, diff_tot / m0_tot, diff_team / wt, wt)


def event_time_rows(post, em, rows, labels, link):
    """Effect by time since start (staggered): effect_mean + event-time deviation, link scale."""
    dev = flat(post, "event_time_dev")
    on = rows["D"] > 0
    counts = np.bincount(rows["event"][on], minlength=dev.shape[1])
    return [{"event_time": int(e), "n": int(counts[k]), "scale": link,
             **describe(em + dev[:, k])} for k, e in enumerate(labels.event_times)]


# ============================================================================ the result
def _labelled_posterior(post, labels, spec, multi, has_program):
    """The posterior with its coordinates named after the data (teams, periods, ...) and, with
    several programs, effect_team laid out by (program, team), NaN where a pair is absent."""
    if has_program:
        post = post.assign_coords(program=np.array(labels.programs, dtype=str))
    post = post.assign_coords(team=np.array(labels.teams, dtype=str))
    if spec.n_dept > 1 and "department" in post.dims:
        post = post.assign_coords(department=np.array(labels.departments, dtype=str))
    if "period" in post.dims:
        post = post.assign_coords(period=np.array(labels.periods, dtype=str))
    if "event_time" in post.dims:
        post = post.assign_coords(event_time=np.array(labels.event_times, dtype=np.int64))
    if "covariate" in post.dims:
        post = post.assign_coords(covariate=np.array(labels.covariates, dtype=str))
    if not multi:
        return post, post
    shape = post["effect_mean"].shape
    th = np.asarray(post["effect_team"].values, dtype=float)
    grid = np.full((*shape, len(labels.programs), spec.J), np.nan)
    grid[:, :, labels.combo_program, labels.combo_team] = th
    out = post.drop_vars([v for v in ("effect_team", "combo") if v in post.variables])
    out["effect_team"] = (("chain", "draw", "program", "team"), grid)
    return post, out


def _team_table(fam, matrix, team_d, team_w, has_program, has_group) -> pd.DataFrame:
    labels = matrix.labels
    raw = matrix.design.raw_unit_effects(fam, matrix.rows, labels)
    trows = []
    for j in range(len(team_w)):  # teams, or program x team combinations
        if team_w[j] == 0:
            continue  # no analysed (treated x post) observations in this team
        n, re_, rse = raw[j]
        trows.append({"program": labels.programs[labels.combo_program[j]],
                      "team": labels.teams[labels.combo_team[j]],
                      "n": n, "raw_effect": re_, "raw_se": rse, **describe(team_d[:, j])})
    team_df = pd.DataFrame(trows, columns=(["program"] if has_program else []) + TEAM_COLUMNS)
    return team_df if has_group else team_df.iloc[0:0]


def build_result(*, fam, spec, matrix, idata, diag, seed, target, direction,
                 meta) -> EffectResult:
    """The EffectResult of a GLM fit: estimands, team table, checks, per-program rows."""
    link_label, abs_label = fam.link_label, fam.abs_label
    rows, labels = matrix.rows, matrix.labels
    has_program = meta.get("program") is not None
    post = used_slots(idata["posterior"].to_dataset(), spec)
    multi = spec.n_program > 1
    # effect units: teams, or program x team combinations (several programs)
    n_unit = spec.n_combo if multi else spec.J
    pat, w = patterns(rows, matrix.design)
    abs_d, rel_d, team_d, team_w = business_draws(fam, post, pat, w, spec, n_unit)
    em = flat(post, "effect_mean")
    S = em.shape[0]
    sds = []
    if spec.hier:
        sd_t = flat(post, "effect_sd_team")
        sds.append(sd_t)
        if spec.n_dept > 1:
            sds.append(flat(post, "effect_sd_dept"))
    else:
        sd_t = np.full(S, np.nan)
    if multi:  # a new team of a new program
        sds.append(flat(post, "effect_sd_program"))
    new = new_team_draws(em, sds, seed)
    shape = post["effect_mean"].shape
    for k, v in {"effect_new_team": new, "average_effect_abs": abs_d,
                 "average_effect_rel": rel_d}.items():
        post[k] = (("chain", "draw"), v.reshape(shape))
    prog_abs = None
    if has_program:
        # business-scale average effect over each program's analysed rows
        c_prog, P = labels.combo_program, len(labels.programs)
        wp = np.bincount(c_prog, weights=team_w, minlength=P)
        tot = np.nan_to_num(team_d) * team_w[None, :]
        prog_abs = np.stack([tot[:, c_prog == k].sum(1) for k in range(P)], axis=1) / wp
        post["average_effect_abs_program"] = (("chain", "draw", "program"),
                                              prog_abs.reshape(*shape, P))
        if not multi:  # one program: its mean effect is effect_mean
            post["effect_program"] = (("chain", "draw", "program"), em.reshape(*shape, 1))
    post, post_out = _labelled_posterior(post, labels, spec, multi, has_program)
    idata = xr.DataTree.from_dict({"posterior": post_out,
                                   "sample_stats": idata["sample_stats"].to_dataset()})

    estimands = [("effect_mean", em, link_label), ("effect_sd_team", sd_t, link_label),
                 ("effect_new_team", new, link_label),
                 ("average_effect_abs", abs_d, abs_label),
                 ("average_effect_rel", rel_d, REL_LABEL)]
    if multi:
        estimands.insert(2, ("effect_sd_program", flat(post, "effect_sd_program"), link_label))
    summary = summary_table(estimands, *target_estimand(target), direction)
    team_df = _team_table(fam, matrix, team_d, team_w, has_program, meta.get("group") is not None)

    extra = {}
    try:
        pc = predictive_checks(fam.name, rows, spec, meta["priors"], post, labels.dept_of_team,
                               seed=seed)
    except (ValueError, FloatingPointError) as err:  # a check must never sink a fit
        pc = {"error": str(err)}
    if pc is not None:
        extra["predictive"] = pc
    if spec.n_event > 1:
        extra["event_time_effects"] = event_time_rows(post, em, rows, labels, link_label)
    if prog_abs is not None:
        mu_p = flat(post, "effect_program")
        n_p = np.bincount(rows["program"], minlength=len(labels.programs))
        extra["program_effects"] = [
            {"program": q, "n": int(n_p[k]), "scale": link_label, **describe(mu_p[:, k]),
             "abs_scale": abs_label,
             **{f"abs_{c}": v for c, v in describe(prog_abs[:, k]).items()}}
            for k, q in enumerate(labels.programs)]
    return EffectResult(idata, summary, team_df, diag, meta, extra)


# ============================================================================ meta-analysis
def build_summary_result(*, estimates, idata, diag, seed, target, direction,
                         meta) -> EffectResult:
    """The EffectResult of the meta-analysis (lndbayes.models.summary_model): estimates are on
    the scale given, so ``average_effect_abs`` is the mean team effect and
    ``average_effect_rel`` is not defined; a target can only be an absolute change."""
    te = estimates
    multi_dept = len(te.departments) > 1
    post = idata["posterior"].to_dataset()
    em = flat(post, "effect_mean")
    tau = flat(post, "effect_sd_team")
    th = flat(post, "effect_team")
    new = new_team_draws(em, [tau] + ([flat(post, "effect_sd_dept")] if multi_dept else []), seed)
    avg = th.mean(1)
    shape = post["effect_mean"].shape
    post["effect_new_team"] = (("chain", "draw"), new.reshape(shape))
    post["average_effect_abs"] = (("chain", "draw"), avg.reshape(shape))
    post = post.assign_coords(team=te.teams.astype(str))
    if multi_dept:
        post = post.assign_coords(department=np.array(te.departments, dtype=str))
    idata = xr.DataTree.from_dict({"posterior": post,
                                   "sample_stats": idata["sample_stats"].to_dataset()})
    tgt = ((None, None) if not target or target.get("absolute_change") is None
           else ("average_effect_abs", float(target["absolute_change"])))
    summary = summary_table([("effect_mean", em, "as given"), ("effect_sd_team", tau, "as given"),
                             ("effect_new_team", new, "as given"),
                             ("average_effect_abs", avg, "as given"),
                             ("average_effect_rel", np.full(len(em), np.nan), "as given")],
                            *tgt, direction)
    team_df = pd.DataFrame([{"team": te.teams[j], "n": 1, "raw_effect": float(te.estimate[j]),
                             "raw_se": float(te.se[j]), **describe(th[:, j])}
                            for j in range(len(te.estimate))], columns=TEAM_COLUMNS)
    return EffectResult(idata, summary, team_df, diag, meta)

r"""The fast interim posterior: team contrasts on the business scale and a normal hierarchical
model over them, integrated exactly on a grid of the between-team sd.

Why not the package's PyMC fit at every checkpoint: measured on the example organisation
(benchmarks/results/monitoring.md), a panel design recompiles at every checkpoint (its number
of periods changes) and takes 15-25 s per checkpoint, a randomized design 1.3 s after the first
compile; twelve monthly checkpoints would add minutes to each report. This approximation takes
milliseconds per checkpoint and is checked against the full fit at the last checkpoint.

Team contrasts (business scale: the units of ``average_effect_abs``)
--------------------------------------------------------------------
Each row has a value :math:`r_i` (the outcome; for counts the rate ``outcome / exposure``) and a
weight :math:`w_i` (the exposure for counts, else 1).

* **One row per unit, both arms in most teams** (employee-randomised): team :math:`j`'s contrast is
  :math:`y_j = \bar r_{j,T} - \bar r_{j,C}` (weighted means), with variance
  :math:`v_j = s^2_T \sum_{T} w_i^2 / (\sum_T w_i)^2 + s^2_C \sum_C w_i^2/(\sum_C w_i)^2`, where
  :math:`s^2_a` is the weighted row variance of arm :math:`a` pooled over teams (so a team with no
  event in an arm still gets a sensible variance). Model :math:`y_j \sim N(\theta, v_j + \tau^2)`.
* **One row per unit, one arm per team** (cluster-randomised): :math:`y_j = \bar r_j`, the same
  variance with its arm's :math:`s^2`, and :math:`y_j \sim N(\alpha + \theta T_j, v_j + \tau^2)`.
* **One row per unit and month** (pre/post, staggered): the imputation estimator. Unit and period
  effects :math:`a_u + b_t` are fitted (weighted, by alternating means) on the untreated rows
  (:math:`D = 0`: controls, and treated units before their start); each treated row's effect is
  :math:`r_i - a_u - b_t`; team :math:`j`'s contrast :math:`y_j` is their weighted mean, with
  variance :math:`s^2 \sum w_i^2/(\sum w_i)^2 + \sum_u (W_u/W)^2 s^2/n_u` (residual variance of
  the untreated rows; the second term is the error of each unit's own level :math:`a_u`,
  estimated from its :math:`n_u` untreated rows). Model :math:`y_j \sim N(\theta + c, v_j + \tau^2)`
  over the treated teams, where :math:`c` is the error every treated team shares: the period
  effects :math:`b_t` are estimated once from the untreated rows and subtracted from all of
  them. With :math:`\omega_t` the treated rows' weight share of period :math:`t` and
  :math:`k_i = \omega_{t(i)} w_i / W_{t(i)}` each untreated row's weight in
  :math:`\sum_t \omega_t b_t`, :math:`\mathrm{Var}(c) = s^2 [\sum_i k_i^2 + \sum_u (\sum_{i \in u} k_i)^2 / n_u]`
  (the rows' noise, and the untreated units' own level errors, which are the same in every period
  and so add up across periods). Given a flat prior the data identify :math:`\theta + c`, so the
  posterior of :math:`\theta` is that of :math:`\theta + c` widened by :math:`\mathrm{Var}(c)`
  (``TeamContrasts.v_common``). Checked with values: no-effect panels with 16 treated and 3
  comparison units give P(works) > 0.95 in 5% of them (22% without :math:`c`).

Posterior
---------
Flat prior on :math:`\alpha, \theta`; :math:`\tau \sim \mathrm{HalfNormal}(s_\tau)` with the
package's own prior for the between-team sd of the effect (HalfNormal(0.5) on the link scale)
carried to the business scale by the link's slope at the control level: :math:`s_\tau = 0.5\,sd`
(normal, ordinal), :math:`0.5\,\bar p(1-\bar p)` (binary), :math:`0.5\,\bar r` (count,
lognormal). Given :math:`\tau` the posterior of the coefficients is normal (generalised least
squares); :math:`\tau` is integrated over a grid of 120 points with weights
:math:`p(\tau)\,|X'WX|^{-1/2}\prod_j W_j^{1/2}\exp(-\tfrac12\sum_j W_j (y_j - X_j\hat\beta)^2)`,
:math:`W_j = 1/(v_j + \tau^2)`. So :math:`\theta \mid y` is a mixture of normals: P(works) is exact,
and draws for money come from it.

Cumulative outcomes (an event within a window: attrition, any binary KPI in a randomized
design) grow with time, so at a checkpoint ``k`` months into a ``window``-month window the
contrast is projected to the whole window, :math:`y \cdot \mathrm{window}/k` (constant hazard:
an effect on leaving per month, accumulated). Means of monthly values (normal, counts per
exposure, ordinal) are not projected.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import special

from lndbayes.design.calendar import isin_keys
from lndbayes.errors import ModelInputError
from lndbayes.models.families import get_family

__all__ = ["TeamContrasts", "team_contrasts", "GridPosterior", "grid_posterior", "SUPPORTED",
           "is_cumulative"]

#: Families the approximation handles (time to event needs censoring-aware contrasts).
SUPPORTED = ("normal", "lognormal", "binary", "count", "ordinal")
TAU_GRID = 120


@dataclass
class TeamContrasts:
    """Team-level contrasts of one panel at one checkpoint (business scale)."""

    y: np.ndarray            # (J,) contrast per team
    v: np.ndarray            # (J,) its sampling variance
    X: np.ndarray            # (J, p): [1] (within-team, imputation) or [1, T] (cluster)
    teams: list
    kind: str                # "within" | "cluster" | "imputation"
    s_tau: float             # prior scale of the between-team sd (business scale)
    control_mean: float      # mean of the comparison rows (business scale)
    n_treated: int           # units with data on the treated side
    n_control: int           # units with data on the comparison side
    events_treated: float    # events (binary, count) on each side; NaN for other families
    events_control: float
    factor: float = 1.0      # projection to the whole window (cumulative outcomes)
    #: variance of an error shared by every team's contrast (imputation: the period effects,
    #: estimated once from the comparison rows and subtracted from every treated team)
    v_common: float = 0.0

    def scaled(self, factor: float) -> "TeamContrasts":
        """The contrasts projected by ``factor`` (means x factor, variances x factor^2)."""
        f = float(factor)
        return TeamContrasts(self.y * f, self.v * f * f, self.X, self.teams, self.kind,
                             self.s_tau * f, self.control_mean * f, self.n_treated,
                             self.n_control, self.events_treated, self.events_control,
                             self.factor * f, self.v_common * f * f)

    def posterior(self, n_grid: int = None) -> "GridPosterior":
        """The interim posterior of the effect from these contrasts."""
        return grid_posterior(self.y, self.v, self.X, self.s_tau, n_grid=n_grid or TAU_GRID,
                              v_common=self.v_common)


def is_cumulative(meta) -> bool:
    """Does the outcome accumulate over its window (an event within the window)?

    One row per unit over a window, and the outcome is whether (or how many per head) an event
    happened in it: binary KPIs ("any month > 0"), HRIS events (attrition, promotion)."""
    from lndbayes.config import HRIS_KPIS

    if getattr(meta, "layout", None) != "unit":
        return False
    return meta.family == "binary" or meta.kpi in HRIS_KPIS


def _values(d: pd.DataFrame, fam) -> tuple[np.ndarray, np.ndarray]:
    y = d["outcome"].to_numpy(float)
    if fam.needs_exposure:
        w = d["exposure"].to_numpy(float)
        w = np.where(np.isfinite(w) & (w > 0), w, np.nan)
        return y / w, w
    return y, np.ones(len(y))


def _wmean(r, w):
    return float(np.sum(w * r) / np.sum(w)) if np.sum(w) > 0 else np.nan


def _wvar(r, w):
    """Weighted row variance (frequency weights for exposure, so a rate's variance per unit
    of exposure), with a floor so a cell of identical values does not claim certainty."""
    if len(r) < 2 or np.sum(w) <= 0:
        return np.nan
    m = _wmean(r, w)
    return float(np.sum(w * (r - m) ** 2) / np.sum(w) * len(r) / (len(r) - 1))


def _s_tau(family: str, control_mean: float, row_sd: float) -> float:
    # HalfNormal(0.5) on the link scale, carried to the business scale by the link's slope
    if family == "binary":
        p = min(max(control_mean, 1e-3), 1 - 1e-3)
        return 0.5 * p * (1 - p)
    if family in ("count", "lognormal"):
        return 0.5 * max(abs(control_mean), 1e-9)
    return 0.5 * max(row_sd, 1e-9)


def _events(family, y_rows) -> float:
    return float(np.nansum(y_rows)) if family in ("binary", "count") else float("nan")


def team_contrasts(panel) -> TeamContrasts:
    """The contrasts of ``panel`` (a :class:`~lndbayes.design.panel.Panel`) by its layout."""
    m = panel.meta
    if m.family not in SUPPORTED:
        raise ModelInputError(
            f"interim monitoring has no fast approximation for {m.family} outcomes "
            f"({m.program_id}/{m.outcome_id}). Fix: monitor another outcome (monitor_program(..., "
            f"outcome=...); supported families: {', '.join(SUPPORTED)})")
    fam = get_family(m.family)
    d = panel.data.copy()
    r, w = _values(d, fam)
    d["r"], d["w"] = r, w
    d = d[np.isfinite(d["r"]) & np.isfinite(d["w"])]
    if d.empty:
        raise ModelInputError(f"no rows with an outcome in {m.program_id}/{m.outcome_id}")
    if m.layout == "unit":
        return _unit_contrasts(d, m)
    return _imputation_contrasts(d, m)


def _unit_contrasts(d: pd.DataFrame, m) -> TeamContrasts:
    arms = {a: d[d["treated"] == a] for a in (0, 1)}
    s2 = {a: _wvar(x["r"].to_numpy(), x["w"].to_numpy()) for a, x in arms.items()}
    s2_all = _wvar(d["r"].to_numpy(), d["w"].to_numpy())
    s2 = {a: (v if np.isfinite(v) and v > 0 else s2_all) for a, v in s2.items()}
    control_mean = _wmean(arms[0]["r"].to_numpy(), arms[0]["w"].to_numpy())
    # per (team, arm): weighted mean and sum of squared weights, in one groupby
    d = d.assign(wr=d["w"] * d["r"], w2=d["w"] ** 2)
    cell = d.groupby(["team", "treated"])[["w", "wr", "w2"]].sum()
    cell["mean"] = cell["wr"] / cell["w"]
    cell["var"] = cell.index.get_level_values("treated").map(s2).to_numpy() * cell["w2"] / cell["w"] ** 2
    per_team = cell.reset_index().groupby("team")["treated"].nunique()
    both = per_team[per_team == 2].index
    # within-team comparisons when most teams hold both arms (a single team randomised within
    # is one comparison; the rule's min_teams decides whether one is enough)
    if len(both) >= max(1, len(per_team) / 2):
        kind = "within"
        t = cell.xs(1, level="treated").reindex(both)
        c = cell.xs(0, level="treated").reindex(both)
        rows = [(team, t.at[team, "mean"] - c.at[team, "mean"], t.at[team, "var"] + c.at[team, "var"],
                 [1.0]) for team in both]
    else:
        kind = "cluster"
        one = cell.reset_index().groupby("team").agg(arm=("treated", "max"), w=("w", "sum"),
                                                     wr=("wr", "sum"), w2=("w2", "sum"))
        one = one[per_team.reindex(one.index) == 1]
        rows = [(team, x.wr / x.w, s2[int(x.arm)] * x.w2 / x.w ** 2, [1.0, float(x.arm)])
                for team, x in one.iterrows()]
    return _finish(rows, kind, m, control_mean, np.sqrt(s2_all),
                   arms[1]["unit"].nunique(), arms[0]["unit"].nunique(),
                   _events(m.family, arms[1]["outcome"]), _events(m.family, arms[0]["outcome"]))


def _imputation_contrasts(d: pd.DataFrame, m) -> TeamContrasts:
    post = d["post"].fillna(0).astype(int) if "post" in d else 1
    d["D"] = ((d["treated"] == 1) & (post == 1)).astype(int)
    untreated, treated = d[d["D"] == 0].copy(), d[d["D"] == 1].copy()
    control_mean = _wmean(untreated["r"].to_numpy(), untreated["w"].to_numpy())
    # two-way effects on the untreated rows by alternating weighted means (converges to the
    # weighted two-way fixed-effects fit); integer codes and bincount keep it in numpy
    units, u_idx = np.unique(untreated["unit"].to_numpy(str), return_inverse=True)
    periods, p_idx = np.unique(untreated["period"].to_numpy(str), return_inverse=True)
    r0, w0 = untreated["r"].to_numpy(float), untreated["w"].to_numpy(float)
    wu, wp = np.bincount(u_idx, w0, len(units)), np.bincount(p_idx, w0, len(periods))
    a, b = np.zeros(len(units)), np.zeros(len(periods))
    for _ in range(200):
        b_new = np.bincount(p_idx, w0 * (r0 - a[u_idx]), len(periods)) / wp
        a_new = np.bincount(u_idx, w0 * (r0 - b_new[p_idx]), len(units)) / wu
        done = max(np.abs(a_new - a).max(), np.abs(b_new - b).max()) < 1e-12 * (1 + np.abs(r0).max())
        a, b = a_new, b_new
        if done:
            break
    e0 = r0 - a[u_idx] - b[p_idx]
    dof = max(len(r0) - (len(units) + len(periods) - 1), 1)
    s2 = float(np.sum(w0 * e0 ** 2) / np.sum(w0) * len(r0) / dof)
    n_u = pd.Series(np.bincount(u_idx, minlength=len(units)), index=units)
    treated["a"] = treated["unit"].astype(str).map(pd.Series(a, index=units))
    treated["b"] = treated["period"].astype(str).map(pd.Series(b, index=periods))
    # a treated row is imputable when its unit was seen untreated and its period has untreated rows
    treated = treated.dropna(subset=["a", "b"])
    treated["e"] = treated["r"] - treated["a"] - treated["b"]
    treated["we"], treated["w2"] = treated["w"] * treated["e"], treated["w"] ** 2
    tw = treated.groupby("team")[["w", "we", "w2"]].sum()
    uw_ = treated.groupby(["team", "unit"])["w"].sum().reset_index()
    uw_["share2"] = (uw_["w"] / uw_["team"].map(tw["w"])) ** 2 * s2 / uw_["unit"].astype(str).map(n_u)
    extra = uw_.groupby("team")["share2"].sum()
    rows = [(team, x.we / x.w, s2 * x.w2 / x.w ** 2 + float(extra.get(team, 0.0)), [1.0])
            for team, x in tw.iterrows()]
    # the period effects b_t are estimated once, from the untreated rows of each period, and
    # subtracted from every treated team alike: their error is common to all contrasts
    # (var b_t ~ s^2 sum w^2 / W_t^2), so pooling teams does not average it away. Weighted by the
    # treated rows' share of each period. (Leaving it out made P(works) overconfident: on
    # placebo pre-periods 10% of relabellings passed 0.95, benchmarks/results/monitoring_placebo.md)
    # b_t is the mean of (r - a_u) over period t's untreated rows, so its error holds their
    # noise and the error of those units' own levels a_u (the same in every period: the
    # comparison units' level errors add up across periods instead of averaging out)
    share = treated.groupby(treated["period"].astype(str))["w"].sum()
    omega = (share / share.sum()).reindex(periods).fillna(0.0).to_numpy() if share.sum() > 0 \
        else np.zeros(len(periods))
    coef = omega[p_idx] * w0 / wp[p_idx]                 # each untreated row's weight in the error
    n_units = np.bincount(u_idx, minlength=len(units))
    v_common = float(s2 * (np.sum(coef ** 2) + np.sum(np.bincount(u_idx, coef, len(units)) ** 2
                                                      / np.maximum(n_units, 1))))
    ctrl_units = d.loc[~isin_keys(d["unit"], treated["unit"]), "unit"].nunique()
    tc = _finish(rows, "imputation", m, control_mean, np.sqrt(s2),
                 treated["unit"].nunique(), ctrl_units,
                 _events(m.family, treated["outcome"]), _events(m.family, untreated["outcome"]))
    tc.v_common = v_common
    return tc


def _finish(rows, kind, m, control_mean, row_sd, n_t, n_c, ev_t, ev_c) -> TeamContrasts:
    rows = [x for x in rows if np.isfinite(x[1]) and np.isfinite(x[2]) and x[2] > 0]
    if rows:
        teams, y, v, X = zip(*rows)
        y, v, X = np.array(y, float), np.array(v, float), np.array(X, float)
    else:
        teams, y, v, X = (), np.zeros(0), np.zeros(0), np.zeros((0, 2 if kind == "cluster" else 1))
    return TeamContrasts(y=y, v=v, X=X, teams=list(map(str, teams)), kind=kind,
                         s_tau=_s_tau(m.family, control_mean, row_sd), control_mean=control_mean,
                         n_treated=int(n_t), n_control=int(n_c), events_treated=ev_t,
                         events_control=ev_c)


# ---------------------------------------------------------------------------------------------
@dataclass
class GridPosterior:
    r"""The posterior of the effect :math:`\theta`: a mixture of normals over a grid of
    :math:`\tau` (arrays of shape ``(..., G)``, leading dimensions for many data sets at once)."""

    weight: np.ndarray       # normalised weights over the tau grid
    mean: np.ndarray         # E[theta | tau, y]
    sd: np.ndarray           # sd[theta | tau, y]
    tau: np.ndarray          # (G,)

    def prob_beyond(self, threshold, direction: str) -> np.ndarray:
        """P(theta > threshold) (``increase``) or P(theta < threshold) (``decrease``)."""
        z = (self.mean - threshold) / self.sd
        if direction == "decrease":
            z = -z
        return np.sum(self.weight * special.ndtr(z), axis=-1)

    def p_works(self, direction: str) -> np.ndarray:
        return self.prob_beyond(0.0, direction)

    def draws(self, n: int, seed=0) -> np.ndarray:
        """``n`` draws of theta (one data set only)."""
        rng = np.random.default_rng(seed)
        g = rng.choice(len(self.tau), size=n, p=self.weight / self.weight.sum())
        return self.mean[g] + self.sd[g] * rng.standard_normal(n)

    def summary(self) -> dict:
        """Mean, sd and the posterior mean of tau (one data set only)."""
        mean = float(np.sum(self.weight * self.mean))
        var = float(np.sum(self.weight * (self.sd ** 2 + self.mean ** 2))) - mean ** 2
        return {"mean": mean, "sd": float(np.sqrt(max(var, 0.0))),
                "tau_mean": float(np.sum(self.weight * self.tau))}


def grid_posterior(y, v, X, s_tau: float, n_grid: int = TAU_GRID, v_common=0.0) -> GridPosterior:
    """Posterior of the last coefficient of ``X`` (the effect), vectorised over leading
    dimensions of ``y`` and ``v`` (shape ``(..., J)``; ``X`` is ``(J, p)`` with p = 1 or 2).

    ``v_common``: variance of an error shared by all ``y`` (scalar, or shape ``(...)``): the data
    identify theta + c with c ~ N(0, v_common), so each mixture component's variance grows by it."""
    y, v, X = np.asarray(y, float), np.asarray(v, float), np.asarray(X, float)
    tau = np.linspace(0.0, 4.0 * s_tau, n_grid)
    W = 1.0 / (v[..., None, :] + tau[:, None] ** 2)            # (..., G, J)

    def wsum(w, z):
        """sum_j w[..., g, j] z[..., j]: one matrix product instead of an (S, G, J) array (the
        operating characteristics pass 2,000 simulated data sets against one W per look)."""
        return z @ w.T if w.ndim == 2 else (w @ z[..., None])[..., 0]

    # The weighted residual sum of squares, sum_j W_gj (y_j - fit_gj)^2, is expanded into sums
    # of W times y, y^2 and x: the same value without the (..., G, J) residual array.
    ysq = wsum(W, y * y)
    if X.shape[1] == 1:
        A = W.sum(-1)
        b1 = wsum(W, y)
        beta = b1 / A
        rss = ysq - 2.0 * beta * b1 + beta ** 2 * A
        logdet, var = np.log(A), 1.0 / A
    else:
        x = X[:, 1]
        a11, a12, a22 = W.sum(-1), (W * x).sum(-1), (W * x * x).sum(-1)
        b1, b2 = wsum(W, y), wsum(W * x, y)
        det = a11 * a22 - a12 ** 2
        alpha = (a22 * b1 - a12 * b2) / det
        beta = (a11 * b2 - a12 * b1) / det
        rss = (ysq - 2.0 * alpha * b1 - 2.0 * beta * b2 + alpha ** 2 * a11
               + 2.0 * alpha * beta * a12 + beta ** 2 * a22)
        logdet, var = np.log(det), a11 / det
    rss = np.maximum(rss, 0.0)          # rounding of the expansion must not make it negative
    logp = (0.5 * np.log(W).sum(-1) - 0.5 * logdet - 0.5 * rss
            - 0.5 * (tau / s_tau) ** 2)
    logp = logp - logp.max(-1, keepdims=True)
    wgt = np.exp(logp)
    wgt = wgt / wgt.sum(-1, keepdims=True)
    var = var + np.asarray(v_common, float)[..., None]
    return GridPosterior(weight=wgt, mean=beta, sd=np.sqrt(var), tau=tau)

r"""Early warning from operational data: which teams' KPIs moved the wrong way, and is it real?

For every team and monitored KPI this compares the **recent window** (the last
``window_months`` months up to ``as_of``) with the **baseline window** (the ``baseline_months``
before it) and asks how probable it is that the team's KPI really moved in the bad direction
(CSAT falling, errors per ticket rising, conversion down after a change), not by noise.
The answer is pooled across the teams of the KPI, so that one noisy month in a small team is not
a flag. It is an empirical-Bayes computation on window means, exact on a parameter grid, and
runs in a fraction of a second (no sampler).

Data per KPI
------------
A team-month value :math:`y_{jt}` with a weight :math:`w_{jt}`:

* team-level KPI (``entity_type = team``): the value, :math:`w = 1`;
* count KPI whose program outcome names an ``exposure`` (errors per ticket, violations per
  employee-month): :math:`y = \text{count} / \text{exposure}`, :math:`w = \text{exposure}`, so
  the window mean :math:`\sum w y / \sum w` is the window's rate;
* ``attrition`` / ``promotion`` (from employees.csv / hris_events.csv, when a program outcome
  uses them): events in the month / employees at its start, :math:`w` = that headcount;
* employee-level KPI: the mean over the team's employees (their team in employees.csv),
  :math:`w` = number of employees with a value that month. Time-to-event KPIs are skipped (a
  monthly mean of partly censored durations is biased).

The model
---------
For team :math:`j` (of :math:`J`) and month :math:`t`,

.. math::

   y_{jt} = \alpha_j + \theta_j \, 1[t \in R] + \gamma_t + \varepsilon_{jt},\qquad
   \varepsilon_{jt} \sim N(0, \sigma_j^2 \lambda_{j,W(t)} / w_{jt}),\qquad \gamma_t \sim N(0, \sigma_\gamma^2)

:math:`\theta_j` is the team's **change** (recent minus baseline level, KPI units or a rate),
:math:`\gamma_t` month shocks common to all teams (a bad month for everybody), and the noise
shrinks with the exposure. :math:`\lambda_{j,W}` is how the noise grows with the level of
window :math:`W` (``VARIANCE``): 1 for normal-type KPIs, the window's rate for counts
(Poisson-like, with half an event added), :math:`p(1-p)` for shares (binomial). The raw change :math:`\delta_j = \bar y_{jR} - \bar y_{jB}`
(exposure-weighted window means) gives

.. math::

   \delta_j = \theta_j + c + e_j,\quad e_j \sim N(0, s_j^2),\quad
   s_j^2 = \tilde\sigma_j^2 \left(\tfrac{\lambda_{jR}}{W_{jR}} + \tfrac{\lambda_{jB}}{W_{jB}}\right),\quad
   c = \bar\gamma_R - \bar\gamma_B \sim N\!\left(0,\ s_c^2 = \sigma_\gamma^2 (\tfrac{1}{n_R} + \tfrac{1}{n_B})\right)

with :math:`W_{jR} = \sum_{t \in R} w_{jt}`. The noise variances are estimated from the
residuals around the window means after removing the month means common to all teams:

* :math:`\tilde\sigma_j^2 = (d_0 \sigma_0^2 + d_j \hat\sigma_j^2) / (d_0 + d_j)`, the team's own
  residual variance (:math:`d_j` degrees of freedom) moderated toward the pooled
  :math:`\sigma_0^2` of all teams with :math:`d_0` = ``PRIOR_DF`` = 8 prior degrees of freedom
  (a scaled inverse-chi-square prior). A single wild month inflates the team's own variance, so
  it cannot by itself make a tight change; the prior keeps a team of zeros from looking exact.
* :math:`\hat\sigma_\gamma^2` = variance of the cross-team month means minus their expected
  noise (method of moments, at least 0; 0 with fewer than 3 teams).

Prior on the changes: spike and slab, for the KPI's overall change and for each team's
deviation from it, so that "no change" is a real possibility and not just a small one:

.. math::

   \theta_j = \mu + u_j,\qquad
   \mu \sim (1-\pi)\,\delta_0 + \pi\, N(0, \sigma_\mu^2),\qquad
   u_j \sim (1-\rho)\,\delta_0 + \rho\, N(0, \tau^2)

* :math:`\pi` = ``P_OVERALL`` = 0.5: a priori the KPI is as likely to have moved for
  everybody as not;
* :math:`\sigma_\mu` uniform on 4 log-spaced values from 0.25 x the median :math:`s_j` to
  3 x (largest :math:`|\delta_j|` + median :math:`s_j`);
* :math:`\rho \sim \text{Beta}(1, 3)` = ``RHO_PRIOR``: the share of teams that deviate from the
  overall change (sceptical: a quarter a priori);
* :math:`\tau` log-uniform (20 values) from ``TAU_MIN`` = 0.25 x the median :math:`s_j`
  (smaller deviations are indistinguishable from none) to 3 x (largest deviation of a
  :math:`\delta_j` from their median + median :math:`s_j`).

Computation (exact up to the grid): the realised common level :math:`m = \mu + c` sits on
nodes: 12 Gauss-Hermite nodes of :math:`N(0, s_c^2)` carry the spike :math:`\mu = 0` (a
single node at 0 when :math:`s_c = 0`), a 61-point grid refined around the likelihood's mass
carries the slab, for each :math:`\sigma_\mu`; :math:`\rho` and :math:`\tau` are on 10 x 20
grids. On every node the likelihood :math:`\prod_j [(1-\rho) N(\delta_j; m, s_j^2) + \rho
N(\delta_j; m, s_j^2+\tau^2)]` is exact. Given a node, :math:`\mu \mid m` is exactly 0 (spike)
or :math:`N(k m, k s_c^2)`, :math:`k = \sigma_\mu^2/(\sigma_\mu^2+s_c^2)` (slab); team
:math:`j` deviates with probability :math:`q_j = \rho N(\delta_j; m, s_j^2+\tau^2) /
p(\delta_j \mid m, \rho, \tau)`, and then :math:`u_j \sim N((1-B_j)(\delta_j - m), (1-B_j)
s_j^2)`, :math:`B_j = s_j^2/(s_j^2+\tau^2)`. So a team that does not deviate carries the
overall change, which is 0 at a spike node; every team's posterior carries the common-shock
variance :math:`s_c^2` (a month that was bad for everybody is not a trend); and a team whose
own numbers are noisy (small, or one wild month) is pulled toward the others.

Outputs
-------
``change`` is the posterior mean of :math:`\theta_j` with its 90% equal-tailed interval
(``change_lo``, ``change_hi``, from 4000 draws with a fixed seed), ``raw_change`` is
:math:`\delta_j` (no pooling) and ``p_real`` = :math:`P(\theta_j \text{ in the bad direction} \mid
\text{data})`, summed exactly over the grid. ``flagged`` = ``p_real >= threshold`` (0.9).
The bad direction is the opposite of the ``direction`` of the programs.yaml outcomes that use the
KPI; a KPI used in both directions, or (with ``include_unlinked=True``) by no program, is
checked both ways (``bad_direction = "either"``, ``p_real`` = the larger of the two
probabilities). KPIs no program outcome uses (including exposures such as tickets or headcount)
are skipped by default. HRIS-derived KPIs that a program uses (attrition, promotion) become
monthly team rates: leavers (or promotions) in the month per employee in the team at its start,
weighted by that headcount. Teams smaller than the organisation's ``privacy_min_group`` keep their influence on
the pooling but are not shown: their numbers are blanked and the note says why.

See docs/early-warning.md for what a flag means and how the threshold behaves (calibration in
benchmarks/results/early_warning.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import special, stats

from lndbayes import INTERVAL
from lndbayes.config.schema import HRIS_KPIS
from lndbayes.errors import ModelInputError
from lndbayes.formatting import decimals_for, fmt_num, fmt_pct
from lndbayes.privacy import min_group_of, suppress_small_groups, suppressed_label

__all__ = ["early_warning", "candidate_skill_gaps", "pool_changes", "window_stats", "kpi_links", "COLUMNS",
           "PRIOR_DF", "RHO_PRIOR", "P_OVERALL", "TAU_MIN", "simulate_kpi_org"]

#: prior degrees of freedom of the team noise variances (moderation toward the pooled variance)
PRIOR_DF = 8.0
#: Beta prior of the share of teams whose change deviates from the KPI's overall change
RHO_PRIOR = (1.0, 3.0)
#: prior probability that the KPI changed for everybody (the overall change mu is not 0)
P_OVERALL = 0.5
#: smallest deviation scale on the tau grid, in units of the median noise sd of the raw changes
TAU_MIN = 0.25
#: a team needs this many months in each window to be assessed
MIN_MONTHS = 2
N_DRAWS = 4000

COLUMNS = ["team", "kpi", "bad_direction", "window", "baseline", "baseline_level", "recent_level",
           "raw_change", "change", "change_lo", "change_hi", "p_real", "flagged", "n_people",
           "unit", "skills", "programs", "reason", "note"]
_KEEP = ("team", "kpi", "bad_direction", "window", "baseline", "unit", "skills", "programs")

_BAD_WORD = {"decrease": "decline", "increase": "rise"}


# ---------------------------------------------------------------------------------------------
# which KPIs, which way is bad, which skills

@dataclass
class KpiInfo:
    kpi: str
    bad_direction: str | None        # "increase" | "decrease" | "either" | None (not linked)
    family: str | None
    exposure: str | None
    unit: str
    programs: list[str]
    skills: list[str]


def kpi_links(programs) -> dict[str, KpiInfo]:
    """Per KPI named by a program outcome: the bad direction, family, exposure, programs, skills."""
    out: dict[str, KpiInfo] = {}
    for prog in programs:
        for o in prog.outcomes:
            bad = "decrease" if o.direction == "increase" else "increase"
            info = out.get(o.kpi)
            if info is None:
                info = out[o.kpi] = KpiInfo(o.kpi, bad, o.family, o.exposure, o.unit_label or "", [], [])
            elif info.bad_direction != bad:
                info.bad_direction = "either"   # programs disagree on which way is good
            info.exposure = info.exposure or o.exposure
            info.unit = info.unit or (o.unit_label or "")
            if prog.id not in info.programs:
                info.programs.append(prog.id)
            for s in prog.program.skills:
                if s not in info.skills:
                    info.skills.append(s)
    return out


def _month_index(period: pd.Series) -> np.ndarray:
    p = pd.PeriodIndex(period.astype(str), freq="M")
    return (p.year * 12 + p.month - 1).to_numpy()


def _period_label(m: int) -> str:
    return f"{m // 12}-{m % 12 + 1:02d}"


def _team_months(kpis: pd.DataFrame, kpi: str, employees: pd.DataFrame) -> pd.DataFrame:
    """team, month, value (summed over the team's employees, or the team row), n (employees with a
    value, or 1) and, for employee rows, people (distinct employees): one row per team and month."""
    rows = kpis[(kpis["kpi"] == kpi) & ~kpis["censored"].fillna(False).astype(bool)]
    team_rows = rows[rows["entity_type"] == "team"]
    if len(team_rows):   # team-level values win over employee rows of the same KPI
        return pd.DataFrame({"team": team_rows["entity_key"].to_numpy(),
                             "month": _month_index(team_rows["period"]),
                             "value": team_rows["value"].to_numpy(float), "n": 1.0})
    emp = rows[rows["entity_type"] == "employee"]
    if not len(emp) or employees.empty:
        return pd.DataFrame(columns=["team", "month", "value", "n"])
    team_of = dict(zip(employees["employee_key"], employees["team"]))
    df = pd.DataFrame({"team": emp["entity_key"].map(team_of).to_numpy(),
                       "month": _month_index(emp["period"]), "value": emp["value"].to_numpy(float),
                       "key": emp["entity_key"].to_numpy()}).dropna(subset=["team"])
    g = df.groupby(["team", "month"], observed=True)
    return pd.DataFrame({"value": g["value"].sum(), "n": g["value"].size().astype(float),
                         "people": g["key"].nunique()}).reset_index()


def _series(kpis, info: KpiInfo, employees) -> tuple[pd.DataFrame | None, str | None]:
    """team, month, y, w for one KPI, or (None, why it is skipped)."""
    if info.family == "time_to_event":
        return None, "time-to-event KPI: a monthly mean of partly censored durations is biased"
    tm = _team_months(kpis, info.kpi, employees)
    if tm.empty:
        return None, "no rows in kpis (or employee rows whose employees are unknown)"
    if info.exposure:
        ex = _team_months(kpis, info.exposure, employees)
        if ex.empty:
            return None, f"its exposure KPI '{info.exposure}' has no rows"
        tm = tm.merge(ex[["team", "month", "value"]].rename(columns={"value": "exposure"}),
                      on=["team", "month"], how="inner")
        tm = tm[tm["exposure"] > 0]
        tm["y"], tm["w"] = tm["value"] / tm["exposure"], tm["exposure"]
    else:
        tm["y"], tm["w"] = tm["value"] / tm["n"], tm["n"]
    tm = tm[np.isfinite(tm["y"]) & (tm["w"] > 0)]
    return tm.reset_index(drop=True), None


def _headcount(employees: pd.DataFrame, start_month: int, end_month: int) -> pd.Series:
    """People per team employed at some time in months [start_month, end_month]."""
    if employees.empty:
        return pd.Series(dtype=float)
    start = pd.Timestamp(year=start_month // 12, month=start_month % 12 + 1, day=1)
    end = pd.Timestamp(year=end_month // 12, month=end_month % 12 + 1, day=1) + pd.offsets.MonthEnd(0)
    hired = pd.to_datetime(employees["hire_date"])
    term = pd.to_datetime(employees.get("termination_date", pd.Series(pd.NaT, index=employees.index)))
    active = (hired <= end) & (term.isna() | (term >= start))
    return employees[active.fillna(False).astype(bool)].groupby("team").size().astype(float)


#: how a family's monthly noise grows with its level (window_stats)
VARIANCE = {"count": "poisson", "binary": "binomial"}
HRIS_UNITS = {"attrition": "leavers per employee-month", "promotion": "promotions per employee-month"}


def _data_end(org) -> int:
    """The organisation's last month: of kpis.csv when there is one, else of the HRIS dates."""
    if len(org.kpis):
        return int(_month_index(org.kpis["period"]).max())
    emp = org.employees
    dates = [pd.to_datetime(emp[c]).max() for c in ("hire_date", "termination_date") if c in emp]
    if len(org.hris_events):
        dates.append(pd.to_datetime(org.hris_events["event_date"]).max())
    last = max(d for d in dates if pd.notna(d))
    return int(last.year * 12 + last.month - 1)


def _hris_series(org, kind: str, end_month: int, n_months: int = 60) -> tuple[pd.DataFrame | None, str | None]:
    """Monthly team rates of an HRIS KPI: leavers (attrition) or promotions per employee in the team
    at the start of the month (the employee's team in employees.csv); team, month, value, n, y, w."""
    emp = org.employees
    if emp.empty:
        return None, "no employees table"
    hire = pd.to_datetime(emp["hire_date"]).to_numpy("datetime64[D]")
    term = pd.to_datetime(emp["termination_date"]).to_numpy("datetime64[D]") \
        if "termination_date" in emp else np.full(len(emp), np.datetime64("NaT"), "datetime64[D]")
    if kind == "attrition":
        ev_key, ev_date = emp["employee_key"].to_numpy(), term
    else:
        ev = org.hris_events
        ev = ev[ev["event_type"].astype(str) == "promotion"] if len(ev) else ev
        if not len(ev):
            return None, "no promotions in hris_events"
        ev_key = ev["employee_key"].astype(str).to_numpy()
        d = pd.to_datetime(ev["event_date"])
        ev_date = (d.dt.tz_localize(None) if d.dt.tz is not None else d).to_numpy("datetime64[D]")
    months = np.arange(end_month - n_months + 1, end_month + 1)
    starts = np.array([np.datetime64(_period_label(m), "M") for m in months]).astype("datetime64[D]")
    ends = np.array([np.datetime64(_period_label(m), "M") + np.timedelta64(1, "M")
                     for m in months]).astype("datetime64[D]")
    with np.errstate(invalid="ignore"):
        active = (hire[None, :] <= starts[:, None]) & (np.isnat(term)[None, :] | (term[None, :] >= starts[:, None]))
    team = emp["team"].astype(str).to_numpy()
    team_of = dict(zip(emp["employee_key"], team))
    ev_team = np.array([team_of.get(k) for k in ev_key], dtype=object)
    ok = ~np.isnat(ev_date) & (ev_team != None)  # noqa: E711  (elementwise on an object array)
    ev_m = np.searchsorted(ends, ev_date[ok], side="right")      # index of the month holding the date
    inside = (ev_m < len(months)) & (ev_date[ok] >= starts[0])
    teams = np.unique(team)
    t_idx = {t: i for i, t in enumerate(teams)}
    head = np.zeros((len(months), len(teams)))
    for i, t in enumerate(teams):
        head[:, i] = active[:, team == t].sum(1)
    events = np.zeros_like(head)
    np.add.at(events, (ev_m[inside], np.array([t_idx[t] for t in ev_team[ok][inside]], dtype=int)), 1)
    M, T = np.nonzero(head > 0)
    tm = pd.DataFrame({"team": teams[T], "month": months[M], "value": events[M, T], "n": head[M, T]})
    tm["y"], tm["w"] = tm["value"] / tm["n"], tm["n"]
    return tm, None


# ---------------------------------------------------------------------------------------------
# the pooling (pure numpy; see the module docstring for the model)

def window_stats(tm: pd.DataFrame, rec: tuple[int, int], base: tuple[int, int], variance: str = "constant") -> dict:
    """Window means, raw changes, moderated noise and the common-shock variance of one KPI.

    ``tm`` has team, month, y, w; ``rec`` and ``base`` are inclusive month-index ranges. Teams
    with fewer than MIN_MONTHS months in either window are returned in ``dropped``.
    ``variance``: how a month's noise depends on the window's level ``lam`` (``constant``:
    it does not; ``poisson``: ∝ rate, counts per exposure; ``binomial``: ∝ p(1 - p), shares), so
    that a window whose rate doubled also counts as twice as noisy.
    """
    tm = tm[(tm["month"] >= base[0]) & (tm["month"] <= rec[1])].copy()
    tm["recent"] = tm["month"] >= rec[0]
    counts = tm.groupby(["team", "recent"]).size().unstack(fill_value=0)
    for col in (False, True):
        if col not in counts:
            counts[col] = 0
    ok = (counts[False] >= MIN_MONTHS) & (counts[True] >= MIN_MONTHS)
    dropped = {t: (int(counts.loc[t, True]), int(counts.loc[t, False])) for t in counts.index[~ok]}
    tm = tm[tm["team"].isin(counts.index[ok])]
    teams = sorted(tm["team"].unique())
    if not teams:
        return {"teams": [], "dropped": dropped}
    tm["wy"] = tm["w"] * tm["y"]
    g = tm.groupby(["team", "recent"])
    W = g["w"].sum().unstack().loc[teams]
    mean = (g["wy"].sum().unstack().loc[teams] / W)
    delta = (mean[True] - mean[False]).to_numpy()
    # the level-dependent part of the noise, per team and window; half an event keeps a window
    # without events from looking noise-free
    if variance == "poisson":
        lam = (mean * W + 0.5) / W
    elif variance == "binomial":
        p_ = (mean * W + 0.5) / (W + 1)
        lam = p_ * (1 - p_)
    else:
        lam = mean * 0 + 1.0
    idx = pd.MultiIndex.from_frame(tm[["team", "recent"]])
    tm["lam"] = lam.stack().reindex(idx).to_numpy()
    # residuals around each team's window mean
    tm["r"] = tm["y"] - mean.stack().reindex(idx).to_numpy()
    J = len(teams)
    n_months = tm.groupby("team").size().loc[teams].to_numpy(float)
    if J >= 3:
        gw = tm.groupby("month")
        g_t = (gw.apply(lambda d: np.sum(d["w"] * d["r"]) / np.sum(d["w"]), include_groups=False))
        tm["e"] = tm["r"] - tm["month"].map(g_t).to_numpy()
        dof = (n_months - 2) * (1 - 1 / J)
    else:
        g_t = None
        tm["e"] = tm["r"]
        dof = n_months - 2
    ss = (tm["w"] * tm["e"] ** 2 / tm["lam"]).groupby(tm["team"]).sum().loc[teams].to_numpy()
    dof = np.maximum(dof, 0.5)
    v_own = ss / dof
    v0 = ss.sum() / dof.sum()
    scale = float(np.nanvar(tm["y"])) or 1.0
    v0 = max(v0, 1e-12 * scale)
    v_mod = (PRIOR_DF * v0 + dof * v_own) / (PRIOR_DF + dof)
    s2 = v_mod * (lam[True].to_numpy() / W[True].to_numpy() + lam[False].to_numpy() / W[False].to_numpy())
    s_c2 = 0.0
    n_r = int(tm.loc[tm["recent"], "month"].nunique())
    n_b = int(tm.loc[~tm["recent"], "month"].nunique())
    if g_t is not None:
        vm = dict(zip(teams, v_mod))
        tm["wv"] = tm["w"] * tm["team"].map(vm) * tm["lam"]
        noise = tm.groupby("month").apply(lambda d: d["wv"].sum() / d["w"].sum() ** 2, include_groups=False)
        # month means are centred within each window: df = n_r + n_b - 2; dividing by df - 2
        # (the posterior mean of a scaled inverse-chi-square) rather than df leans against the
        # under-estimates that would make a common bad month look like a trend
        df_g = n_r + n_b - 2
        var_g = float(np.sum(g_t.to_numpy() ** 2)) / max(df_g - 2, 1)
        sigma_g2 = max(0.0, var_g - float(noise.mean()))
        s_c2 = sigma_g2 * (1 / max(n_r, 1) + 1 / max(n_b, 1))
    return {"teams": teams, "delta": delta, "s2": s2, "s_c2": s_c2, "dropped": dropped,
            "base_level": mean[False].to_numpy(), "recent_level": mean[True].to_numpy(),
            "n_recent": n_r, "n_base": n_b}


def _norm_logpdf(x, var):
    return -0.5 * (np.log(2 * np.pi * var) + x ** 2 / var)


def _team_loglik(delta, s2, m, rho, tau):
    """log p(delta_j | m, rho, tau) of the spike-and-slab deviations: shape (M, R, T, J), and the
    log of each team's slab term (log rho + log N(delta_j; m, s_j^2 + tau^2)) of the same shape."""
    l0 = _norm_logpdf(delta[None, :] - m[:, None], s2[None, :])                  # (M, J)
    v1 = s2[None, :] + tau[:, None] ** 2                                           # (T, J)
    l1 = _norm_logpdf(delta[None, None, :] - m[:, None, None], v1[None, :, :])     # (M, T, J)
    a = np.log1p(-rho)[None, :, None, None] + l0[:, None, None, :]
    b = np.log(rho)[None, :, None, None] + l1[:, None, :, :]
    return np.logaddexp(a, b), b


def pool_changes(delta, s2, s_c2: float = 0.0, *, n_draws: int = N_DRAWS, seed: int = 0) -> dict:
    """Posterior of each team's change theta_j under the spike-and-slab model of the docstring.

    ``delta``: raw changes, ``s2``: their noise variances, ``s_c2``: the common-shock variance.
    Returns per team ``mean``, ``p_below`` = P(theta < 0), ``p_above`` = P(theta > 0) (the rest
    is P(theta = 0)), ``draws`` (n_draws x J); and KPI-wide ``overall_mean``, ``overall_sd``,
    ``p_overall`` = P(mu != 0), ``rho_mean`` and ``tau_median``.

    Computation: the realised common level m = mu + c is put on nodes: Gauss-Hermite nodes of
    N(0, s_c^2) carry the prior mass 1 - P_OVERALL of mu = 0 (one node at 0 when s_c = 0), a
    uniform grid carries mu ~ N(0, sigma_mu^2) (prior density times the step, for each of the
    sigma_mu values). On each node x rho x tau the likelihood is exact; given the node, mu | m is
    0 (spike) or N(k m, k s_c^2) with k = sigma_mu^2 / (sigma_mu^2 + s_c^2) (slab).
    """
    delta = np.asarray(delta, float)
    s2 = np.asarray(s2, float)
    J = len(delta)
    s = np.sqrt(s2)
    s_c = float(np.sqrt(max(s_c2, 0.0)))
    med_s = float(np.median(s))
    spread = float(np.max(np.abs(delta - np.median(delta)))) + med_s
    tau = np.geomspace(TAU_MIN * med_s, 3 * spread, 20)            # log-uniform prior on tau
    sig_mu = np.geomspace(max(TAU_MIN, 0.25) * med_s, 3 * (float(np.max(np.abs(delta))) + med_s), 4)
    rho = (np.arange(10) + 0.5) / 10
    log_prior_rho = stats.beta.logpdf(rho, *RHO_PRIOR)
    log_prior_rho -= special.logsumexp(log_prior_rho)

    def marg_ll(m):                                              # (M, R, T): sum over teams
        lj, _ = _team_loglik(delta, s2, m, rho, tau)
        return lj.sum(-1)

    # the slab grid of m: wide first, then refined around the likelihood's mass
    m_w = np.linspace(np.min(delta - 4 * s), np.max(delta + 4 * s), 121)
    lm = special.logsumexp(marg_ll(m_w) + log_prior_rho[None, :, None], axis=(1, 2))
    cdf = np.cumsum(np.exp(lm - special.logsumexp(lm)))
    step = m_w[1] - m_w[0]
    lo = m_w[max(np.searchsorted(cdf, 1e-6) - 1, 0)] - step
    hi = m_w[min(np.searchsorted(cdf, 1 - 1e-6) + 1, len(m_w) - 1)] + step
    m_slab = np.linspace(lo, hi, 61)
    dm = m_slab[1] - m_slab[0]
    # nodes: (m, log prior weight, k, v) with mu | m ~ N(k m, v)
    if s_c > 0:
        x, wx = special.roots_hermite(12)
        m_spike, lw_spike = np.sqrt(2) * s_c * x, np.log(wx / np.sqrt(np.pi))
    else:
        m_spike, lw_spike = np.zeros(1), np.zeros(1)
    sm = np.repeat(sig_mu, len(m_slab))
    mm = np.tile(m_slab, len(sig_mu))
    node_m = np.concatenate([m_spike, mm])
    node_lw = np.concatenate([np.log1p(-P_OVERALL) + lw_spike,
                              np.log(P_OVERALL) - np.log(len(sig_mu)) + np.log(dm)
                              + _norm_logpdf(mm, sm ** 2 + s_c ** 2)])
    k = np.concatenate([np.zeros(len(m_spike)), sm ** 2 / (sm ** 2 + s_c ** 2)])
    v = k * s_c ** 2
    is_slab = np.arange(len(node_m)) >= len(m_spike)
    # likelihood on the unique m values (the slab grid repeats per sigma_mu)
    um, inv = np.unique(node_m, return_inverse=True)
    lj, lb = _team_loglik(delta, s2, um, rho, tau)                                 # (U, R, T, J)
    lp = lj.sum(-1)[inv] + node_lw[:, None, None] + log_prior_rho[None, :, None]    # (N, R, T)
    W = np.exp(lp - lp.max())
    W /= W.sum()
    # keep the grid points that hold all but 1e-6 of the posterior mass (a few thousand)
    flat = np.sort(W.ravel())[::-1]
    cut = flat[min(np.searchsorted(np.cumsum(flat), 1 - 1e-6), len(flat) - 1)]
    keep = W >= cut
    Wk = W[keep] / W[keep].sum()
    Ni, Ri, Ti = np.nonzero(keep)
    Ui = inv[Ni]
    q = np.exp(lb[Ui, Ri, Ti, :] - lj[Ui, Ri, Ti, :])                              # (G, J) P(team deviates)
    mg, kg, vg, tg = node_m[Ni][:, None], k[Ni][:, None], v[Ni][:, None], tau[Ti][:, None]
    B = s2[None, :] / (s2[None, :] + tg ** 2)
    null_mean = kg * mg                                                            # theta = mu
    slab_mean = null_mean + (1 - B) * (delta[None, :] - mg)                        # theta = mu + u_j
    slab_sd = np.sqrt(vg + (1 - B) * s2[None, :])
    null_sd = np.sqrt(vg)
    with np.errstate(divide="ignore", invalid="ignore"):
        z0 = np.where(null_sd > 0, -null_mean / np.where(null_sd > 0, null_sd, 1), 0.0)
    # P(theta < 0) of a team that does not deviate: with sd 0 theta is exactly k m, which is
    # exactly 0 at a spike node (no change: neither below nor above)
    nb = np.where(null_sd > 0, special.ndtr(z0), null_mean < 0)
    na = np.where(null_sd > 0, special.ndtr(-z0), null_mean > 0)
    sb = special.ndtr(-slab_mean / slab_sd)
    p_below = Wk @ ((1 - q) * nb + q * sb)
    p_above = Wk @ ((1 - q) * na + q * (1 - sb))
    mean = Wk @ ((1 - q) * null_mean + q * slab_mean)
    rng = np.random.default_rng(seed)
    idx = rng.choice(len(Wk), size=n_draws, p=Wk)
    z = rng.standard_normal((n_draws, J))
    dev = rng.random((n_draws, J)) < q[idx]
    draws = np.where(dev, slab_mean[idx] + slab_sd[idx] * z, null_mean[idx] + null_sd[idx] * z)
    mu_mean = float(Wk @ null_mean[:, 0])
    mu_var = float(Wk @ (vg[:, 0] + null_mean[:, 0] ** 2)) - mu_mean ** 2
    tau_cdf = np.cumsum(np.bincount(Ti, weights=Wk, minlength=len(tau)))
    return {"mean": mean, "p_below": np.clip(p_below, 0, 1), "p_above": np.clip(p_above, 0, 1),
            "draws": draws, "overall_mean": mu_mean, "overall_sd": float(np.sqrt(max(mu_var, 0.0))),
            "p_overall": float(Wk @ is_slab[Ni]), "rho_mean": float(Wk @ rho[Ri]),
            "tau_median": float(tau[min(np.searchsorted(tau_cdf, 0.5), len(tau) - 1)])}


# ---------------------------------------------------------------------------------------------
# the table

def _eq(text: str) -> str:
    """``= 42%`` but ``>99%`` (fmt_pct already says how it compares)."""
    return text if text[:1] in "<>" else f"= {text}"


def _reason(kpi, bad, change, lo, hi, p, threshold, raw_z, unit, win, base) -> str:
    """One line: the pooled change with its interval, the windows, P(real) against the threshold."""
    d = decimals_for(abs(hi - lo))
    u = f" {unit}" if unit else ""
    what = "change" if bad == "either" else _BAD_WORD[bad]
    size = (f"{kpi} {fmt_num(change, d, True)}{u} (90% interval {fmt_num(lo, d, True)} to "
            f"{fmt_num(hi, d, True)}) in {win} vs {base}; P(real {what}) {_eq(fmt_pct(p))}")
    if p >= threshold:
        return f"{size}, at or above {fmt_pct(threshold)}: flagged"
    worse = bad == "either" or np.sign(raw_z) == (1 if bad == "increase" else -1)
    if abs(raw_z) >= 1.64 and worse:
        return (f"{size}: the team's own numbers moved, but pooled with the other teams the move "
                f"is within the noise")
    return f"{size}, below {fmt_pct(threshold)}: no flag"


def early_warning(org, *, window_months: int = 6, baseline_months: int = 12, threshold: float = 0.9,
                  as_of: str | None = None, include_unlinked: bool = False,
                  min_group: int | None = None, kpis=None) -> pd.DataFrame:
    """Flag teams whose KPIs moved in the bad direction, with the probability that it is real.

    ``org``: an :class:`lndbayes.data.org.Org` (``lb.load_org()``); the KPIs come from
    ``org.kpis`` and which way is bad from the programs.yaml outcomes that use them.
    ``window_months``: the recent window; ``baseline_months``: the window before it;
    ``as_of``: the last month of the recent window (``YYYY-MM``; default each KPI's last month);
    ``threshold``: ``flagged = p_real >= threshold``; ``include_unlinked``: also check KPIs no
    program uses, in both directions; ``min_group``: privacy threshold (default
    programs.yaml ``organisation.privacy_min_group``); ``kpis``: only these KPI names (default
    all).

    Returns one row per team x KPI (:data:`COLUMNS`); ``attrs["skipped"]`` maps each KPI that
    was not assessed to the reason, ``attrs["kpis"]`` holds one dict per assessed KPI (the
    overall change, its sd, the share of deviating teams, the settings). The model is in the
    module docstring.
    """
    if int(window_months) < MIN_MONTHS or int(baseline_months) < MIN_MONTHS:
        raise ModelInputError(f"window_months ({window_months}) and baseline_months ({baseline_months}) "
                              f"must each be at least {MIN_MONTHS}. Fix: use longer windows")
    if not 0.5 <= float(threshold) < 1:
        raise ModelInputError(f"threshold {threshold} must be a probability in [0.5, 1). Fix: e.g. 0.9")
    as_of_m = None
    if as_of is not None:
        try:
            as_of_m = int(_month_index(pd.Series([as_of]))[0])
        except (ValueError, TypeError) as exc:
            raise ModelInputError(f"as_of '{as_of}' is not a month YYYY-MM. Fix: e.g. as_of='2025-12'") from exc
    table = org.kpis
    only = None if kpis is None else {kpis} if isinstance(kpis, str) else set(kpis)
    employees = org.employees
    min_group = min_group_of(org.programs) if min_group is None else int(min_group)
    links = kpi_links(org.programs)
    skipped: dict[str, str] = {}
    summaries: list[dict] = []
    frames: list[pd.DataFrame] = []
    exposures = {i.exposure for i in links.values() if i.exposure}
    present = sorted(table["kpi"].unique()) if len(table) else []
    for k in sorted(set(links) | set(present)):
        if only is not None and k not in only:
            continue
        info = links.get(k)
        if k in HRIS_KPIS and k not in present:
            # attrition / promotion: monthly team rates from employees.csv and hris_events.csv
            tm, why = _hris_series(org, k, as_of_m if as_of_m is not None else _data_end(org))
            if tm is None:
                skipped[k] = why
                continue
            info = KpiInfo(info.kpi, info.bad_direction, "count", None, HRIS_UNITS[k],
                           info.programs, info.skills)
        elif k not in present:
            skipped[k] = "no rows in kpis"
            continue
        else:
            tm = None
        if info is None:
            if not include_unlinked:
                why = (f"exposure of {', '.join(sorted(i.kpi for i in links.values() if i.exposure == k))}"
                       if k in exposures else "no program outcome uses it")
                skipped[k] = f"{why}: no bad direction known (include_unlinked=True checks both ways)"
                continue
            info = KpiInfo(k, "either", None, None, "", [], [])
        if tm is None:
            tm, why = _series(table, info, employees)
        if tm is None:
            skipped[k] = why
            continue
        end = int(tm["month"].max()) if as_of_m is None else as_of_m
        rec = (end - window_months + 1, end)
        base = (rec[0] - baseline_months, rec[0] - 1)
        st = window_stats(tm, rec, base, VARIANCE.get(info.family, "constant"))
        win = f"{_period_label(rec[0])}..{_period_label(rec[1])}"
        bwin = f"{_period_label(base[0])}..{_period_label(base[1])}"
        if not st["teams"]:
            skipped[k] = f"no team has {MIN_MONTHS}+ months in both {bwin} and {win}"
            continue
        post = pool_changes(st["delta"], st["s2"], st["s_c2"])
        lo, hi = np.quantile(post["draws"], [(1 - INTERVAL) / 2, (1 + INTERVAL) / 2], axis=0)
        bad = info.bad_direction
        if bad == "decrease":
            p = post["p_below"]
        elif bad == "increase":
            p = post["p_above"]
        else:
            p = np.maximum(post["p_below"], post["p_above"])
        raw_z = st["delta"] / np.sqrt(st["s2"] + st["s_c2"])
        if "people" in tm:   # employee-level KPI: the people with a value in the recent window
            sub = tm[(tm["month"] >= rec[0]) & (tm["month"] <= rec[1])]
            n_people = sub.groupby("team")["people"].max().reindex(st["teams"]).to_numpy(float)
        else:
            n_people = _headcount(employees, rec[0], rec[1]).reindex(st["teams"]).to_numpy(float)
        df = pd.DataFrame({
            "team": st["teams"], "kpi": k, "bad_direction": bad, "window": win, "baseline": bwin,
            "baseline_level": st["base_level"], "recent_level": st["recent_level"],
            "raw_change": st["delta"], "change": post["mean"], "change_lo": lo, "change_hi": hi,
            "p_real": p, "flagged": p >= threshold, "n_people": n_people, "unit": info.unit,
            "skills": ", ".join(info.skills), "programs": ", ".join(info.programs)})
        df["reason"] = [_reason(k, bad, c, a, b, pp, threshold, z, info.unit, win, bwin)
                        for c, a, b, pp, z in zip(df["change"], df["change_lo"], df["change_hi"], p, raw_z)]
        for t, (nr, nb) in st["dropped"].items():
            df.loc[len(df)] = {"team": t, "kpi": k, "bad_direction": bad, "window": win, "baseline": bwin,
                               "flagged": False, "unit": info.unit, "skills": ", ".join(info.skills),
                               "programs": ", ".join(info.programs),
                               "reason": f"not assessed: {nr} month(s) in {win} and {nb} in {bwin} "
                                         f"(needs {MIN_MONTHS}+ in each)"}
        frames.append(df)
        summaries.append({"kpi": k, "bad_direction": bad, "window": win, "baseline": bwin,
                          "n_teams": len(st["teams"]), "overall_change": post["overall_mean"],
                          "overall_change_sd": post["overall_sd"], "p_overall_change": post["p_overall"],
                          "share_deviating": post["rho_mean"],
                          "tau_median": post["tau_median"], "common_shock_sd": float(np.sqrt(st["s_c2"])),
                          "n_flagged": int(df["flagged"].sum())})
    if frames:
        out = pd.concat(frames, ignore_index=True)
    else:
        out = pd.DataFrame({c: pd.Series(dtype=object) for c in COLUMNS if c != "note"})
    flagged = out["flagged"].fillna(False).astype(bool)
    out = suppress_small_groups(out, n_col="n_people", min_group=min_group, keep=_KEEP)
    small = out["note"] != ""
    out["flagged"] = flagged & ~small
    out.loc[small, "reason"] = suppressed_label(min_group)
    out = out[COLUMNS].sort_values(["kpi", "team"], ignore_index=True)
    out.attrs["skipped"] = skipped
    out.attrs["kpis"] = summaries
    out.attrs["settings"] = {"window_months": int(window_months), "baseline_months": int(baseline_months),
                             "threshold": float(threshold), "as_of": as_of, "min_group": min_group,
                             "include_unlinked": bool(include_unlinked),
                             "kpis": None if only is None else sorted(only)}
    return out


def candidate_skill_gaps(flags: pd.DataFrame, *, all_rows: bool = False) -> pd.DataFrame:
    """The flagged rows of :func:`early_warning` as candidate gaps, one row per team x skill.

    Columns: team, skill, kpi, p_real, change, change_lo, change_hi, unit, programs, reason; a
    flag whose KPI is linked to no skill gives one row with ``skill`` missing. Sorted by team,
    skill and decreasing p_real, ready to join with the assessment-based forecast on
    (team, skill). ``all_rows=True`` keeps the unflagged (but shown) rows too.
    """
    cols = ["team", "skill", "kpi", "p_real", "change", "change_lo", "change_hi", "unit", "programs", "reason"]
    if flags.empty:
        return pd.DataFrame(columns=cols)
    shown = flags[flags["note"].fillna("") == ""]
    rows = shown if all_rows else shown[shown["flagged"].astype(bool)]
    out = rows.assign(skill=rows["skills"].fillna("").str.split(", ")).explode("skill")
    out["skill"] = out["skill"].replace("", None)
    return out[cols].sort_values(["team", "skill", "p_real"], ascending=[True, True, False],
                                 ignore_index=True)


# ---------------------------------------------------------------------------------------------
# a simulator for tests and benchmarks

PROGRAMS_YAML = """\
organisation: {name: Sim Co, privacy_min_group: 5}
programs:
  - id: service_course
    name: Service course
    program: {type: course, skills: [troubleshooting, product_knowledge]}
    design: {type: pre_post, unit: team, start: 2025-01-01}
    outcomes:
      - {id: csat, kpi: csat, family: normal, direction: increase, measured_on: team,
         unit_label: CSAT points}
      - {id: error_count, kpi: errors, family: count, direction: decrease, measured_on: team,
         exposure: tickets, unit_label: errors per ticket}
"""


def simulate_kpi_org(seed: int, *, n_teams: int = 12, n_months: int = 24, sizes=None,
                     csat_change=None, error_change=None, outlier: dict | None = None,
                     csat_sd: float = 0.08, shock_sd: float = 0.03, ref_size: float = 10.0):
    """A small organisation with monthly team KPIs, for tests and benchmarks.

    Teams of ``sizes`` people (default 6..20); per team and month ``csat`` = 4.1 + team level
    + month shock (sd ``shock_sd``) + noise with sd ``csat_sd * sqrt(ref_size / size)``, and
    ``errors`` ~ negative binomial (alpha 25) on ``tickets`` ~ Poisson(20 x size) at 2.5% per
    ticket x exp(team level + month shock). ``csat_change`` / ``error_change`` (length n_teams,
    CSAT points / log rate ratio) are added in the last 6 months. ``outlier`` = {"team": j,
    "csat": shift}: one shift in the last month only. Returns (org, truth) where truth has the
    planted changes in KPI units over the last 6 months vs the 12 before.
    """
    from pathlib import Path

    from lndbayes.config.loader import programs_from_text
    from lndbayes.data.org import Org

    rng = np.random.default_rng(seed)
    sizes = np.asarray(sizes if sizes is not None else rng.integers(6, 21, n_teams), dtype=float)
    n_teams = len(sizes)
    cc = np.zeros(n_teams) if csat_change is None else np.asarray(csat_change, float)
    ec = np.zeros(n_teams) if error_change is None else np.asarray(error_change, float)
    teams = [f"Team-{j + 1:02d}" for j in range(n_teams)]
    periods = [str(pd.Period("2024-01", freq="M") + i) for i in range(n_months)]
    recent = np.arange(n_months) >= n_months - 6
    a_c = rng.normal(0, 0.15, n_teams)
    g_c = rng.normal(0, shock_sd, n_months)
    sd = csat_sd * np.sqrt(ref_size / sizes)
    csat = 4.1 + a_c[:, None] + g_c[None, :] + cc[:, None] * recent[None, :] \
        + rng.normal(0, 1, (n_teams, n_months)) * sd[:, None]
    if outlier:
        csat[outlier["team"], -1] += outlier["csat"]
    a_e = rng.normal(0, 0.2, n_teams)
    g_e = rng.normal(0, 0.08, n_months)
    tickets = rng.poisson(20.0 * sizes[:, None] * np.ones(n_months)[None, :])
    lam = tickets * 0.025 * np.exp(a_e[:, None] + g_e[None, :] + ec[:, None] * recent[None, :])
    errors = rng.poisson(rng.gamma(25.0, lam / 25.0))
    T, M = np.meshgrid(np.arange(n_teams), np.arange(n_months), indexing="ij")
    base = {"entity_type": "team", "entity_key": np.array(teams)[T.ravel()],
            "period": np.array(periods)[M.ravel()], "censored": False}
    kpis = pd.concat([pd.DataFrame({**base, "kpi": k, "value": v.ravel().astype(float)})
                      for k, v in (("csat", np.round(csat, 3)), ("tickets", tickets), ("errors", errors))],
                     ignore_index=True)
    emp = pd.DataFrame({"employee_key": [f"p_{i:016x}" for i in range(int(sizes.sum()))],
                        "team": np.repeat(teams, sizes.astype(int)),
                        "hire_date": pd.Timestamp("2020-01-01"), "termination_date": pd.NaT})
    org = Org(root=Path("."), tables={"kpis": kpis, "employees": emp}, ledger=pd.DataFrame(),
              programs=programs_from_text(PROGRAMS_YAML))
    base_rate = 0.025 * np.exp(a_e)
    truth = {"teams": teams, "sizes": sizes, "csat_change": cc,
             "error_change": base_rate * (np.exp(ec) - 1),   # errors per ticket
             "csat_sd": sd}
    return org, truth

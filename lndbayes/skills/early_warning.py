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
Per KPI, team :math:`j`'s raw change :math:`\delta_j` (recent minus baseline window mean,
exposure-weighted) is pooled across the KPI's teams under a spike-and-slab prior (the KPI may
have moved for everybody; each team may deviate), with month shocks common to all teams and
each team's noise moderated toward the pooled noise. The math, the priors and the grid
computation are in :mod:`lndbayes.skills.pooling`; the series it reads (KPI rows, exposures,
HRIS rates) are built by :mod:`lndbayes.skills.kpi_series`.

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

import numpy as np
import pandas as pd

from lndbayes import INTERVAL
from lndbayes.config.schema import HRIS_KPIS
from lndbayes.errors import ModelInputError
from lndbayes.formatting import decimals_for, fmt_num, fmt_pct
from lndbayes.privacy import min_group_of, suppress_small_groups, suppressed_label
# the KPI series and the pooling live in their own modules; their names are re-exported here
# (tests, benchmarks and notebooks reach them as early_warning.<name>)
from lndbayes.skills.kpi_series import (  # noqa: F401
    HRIS_UNITS, VARIANCE, KpiInfo, _data_end, _headcount, _hris_series, _month_index, _period_label,
    _series, _team_months, kpi_links)
from lndbayes.skills.pooling import (  # noqa: F401
    MIN_MONTHS, N_DRAWS, P_OVERALL, PRIOR_DF, RHO_PRIOR, TAU_MIN, pool_changes, window_stats)

__all__ = ["early_warning", "candidate_skill_gaps", "pool_changes", "window_stats", "kpi_links", "COLUMNS",
           "PRIOR_DF", "RHO_PRIOR", "P_OVERALL", "TAU_MIN", "simulate_kpi_org"]

COLUMNS = ["team", "kpi", "bad_direction", "window", "baseline", "baseline_level", "recent_level",
           "raw_change", "change", "change_lo", "change_hi", "p_real", "flagged", "n_people",
           "unit", "skills", "programs", "reason", "note"]
_KEEP = ("team", "kpi", "bad_direction", "window", "baseline", "unit", "skills", "programs")

_BAD_WORD = {"decrease": "decline", "increase": "rise"}


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

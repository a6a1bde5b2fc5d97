"""The outcome rows of a panel, one builder per layout: randomized (one row per unit),
pre_post and staggered (one row per unit and month), one row per employee (families with
``one_row_per_person``, e.g. time to event).

Part of ``build_panel`` (docs/architecture.md, "How a panel is derived"). What depends on the
outcome's family is asked of its entry (lndbayes.models.families): how a window's values become
one number (``aggregate_window``) and whether events stay a count over an exposure
(``needs_exposure``) or become a share.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from lndbayes.config import employed_at
from lndbayes.design.calendar import isin_keys, month_index, months_of, period_str, to_naive
from lndbayes.design.designs import get_design
from lndbayes.errors import ModelInputError
from lndbayes.models.families import Family


def _aggregate(values: pd.DataFrame, fam: Family) -> pd.Series:
    """KPI values of several periods -> one number per entity (randomized designs)."""
    return fam.aggregate_window(values.sort_values("period").groupby("entity_key")["value"])


def _hris_events(org, emp, kind: str) -> pd.DataFrame:
    """employee_key, date of each attrition (termination) or promotion event."""
    if kind == "attrition":
        t = emp[emp["termination_date"].notna()]
        return pd.DataFrame({"employee_key": t["employee_key"].values,
                             "date": t["termination_date"].values})
    ev = org.hris_events
    if ev.empty:
        return pd.DataFrame({"employee_key": pd.Series(dtype=str), "date": pd.Series(dtype="datetime64[ns]")})
    ev = ev[ev["event_type"].astype(str) == "promotion"]
    return pd.DataFrame({"employee_key": ev["employee_key"].astype(str).values,
                         "date": to_naive(ev["event_date"]).values})


def tenure_months(emp: pd.DataFrame, at) -> pd.Series:
    at = pd.Timestamp(at)
    return ((at - emp["hire_date"]).dt.days / 30.4375).where(emp["hire_date"] <= at)


def randomized_rows(org, outcome, emp, units, kpi, expo, start, start_m, window, fam: Family,
                    team_level, hris, dropped) -> pd.DataFrame:
    end = start + pd.DateOffset(months=window)
    pre_start = start - pd.DateOffset(months=window)
    post_periods = {period_str(m) for m in range(start_m, start_m + window)}
    pre_periods = {period_str(m) for m in range(start_m - window, start_m)}
    rows = units.copy()
    rows["post"] = 1
    rows["exposure"] = 1.0
    rows["cohort"] = None
    rows["event_time"] = np.nan
    if not team_level:
        employed = emp.set_index("employee_key").pipe(lambda e: employed_at(e, start))
        ok = rows["unit"].map(employed).fillna(False).astype(bool)
        if (~ok).any():
            dropped["not employed at program start"] += int((~ok).sum())
        rows = rows[ok].copy()

    if hris:
        ev = _hris_events(org, emp, outcome.kpi)
        in_win = ev[(ev["date"] >= start) & (ev["date"] < end)]
        in_pre = ev[(ev["date"] >= pre_start) & (ev["date"] < start)]
        if team_level:
            members = emp[employed_at(emp, start)][["employee_key", "team"]].copy()
            members["team"] = members["team"].astype(str)
            members["event"] = isin_keys(members["employee_key"], in_win["employee_key"]).astype(float)
            members["pre"] = isin_keys(members["employee_key"], in_pre["employee_key"]).astype(float)
            g = members.groupby("team")
            n = rows["unit"].map(g.size())
            count = rows["unit"].map(g["event"].sum())
            none = n.isna()
            if none.any():
                dropped["team has nobody employed at program start"] += int(none.sum())
            rows = rows[~none].copy()
            n, count = n[~none], count[~none]
            rows["outcome"] = count if fam.needs_exposure else count / n
            rows["exposure"] = n.astype(float)
            rows["baseline"] = (np.nan if outcome.kpi == "attrition"
                                else rows["unit"].map(g["pre"].mean()))
        else:
            rows["outcome"] = isin_keys(rows["unit"], in_win["employee_key"]).astype(float)
            rows["baseline"] = (np.nan if outcome.kpi == "attrition"
                                else isin_keys(rows["unit"], in_pre["employee_key"]).astype(float))
        return rows

    vals = kpi[isin_keys(kpi["entity_key"], rows["unit"])]
    post = vals[vals["period"].isin(post_periods)]
    if fam.needs_exposure:
        if expo is not None:
            post = post.assign(exposure=post.set_index(["entity_key", "period"]).index.map(expo))
            miss = post["exposure"].isna()
            if miss.any():
                dropped["rows without an exposure value (left out)"] += int(miss.sum())
            post = post[~miss]
            rows["exposure"] = rows["unit"].map(post.groupby("entity_key")["exposure"].sum())
        else:
            rows["exposure"] = rows["unit"].map(post.groupby("entity_key").size()).astype(float)
    rows["outcome"] = rows["unit"].map(_aggregate(post, fam))
    pre = vals[vals["period"].isin(pre_periods)]
    rows["baseline"] = rows["unit"].map(pre.groupby("entity_key")["value"].mean())
    none = rows["outcome"].isna()
    if none.any():
        dropped[f"no '{outcome.kpi}' values in the window"] += int(none.sum())
    return rows[~none].copy()


def panel_rows(org, outcome, emp, units, kpi, expo, design, start_m, window, fam: Family,
               team_level, hris, dropped) -> pd.DataFrame:
    """pre_post and staggered: one row per (unit, period)."""
    pre_periods = {period_str(m) for m in range(start_m - window, start_m)}
    if hris:
        cohorts = units["cohort_m"].dropna()
        lo = int(min([start_m, *cohorts])) - window
        hi = int(max([start_m, *cohorts])) + window
        long = _hris_person_months(org, emp, outcome.kpi, lo, hi)
        if team_level:
            g = long.groupby(["team", "period"])
            tl = pd.DataFrame({"n": g.size(), "events": g["value"].sum()}).reset_index()
            tl["value"] = tl["events"] if fam.needs_exposure else tl["events"] / tl["n"]
            tl["exposure"] = tl["n"].astype(float)
            long = tl.rename(columns={"team": "entity_key"})[["entity_key", "period", "value", "exposure"]]
        else:
            long = long.rename(columns={"employee_key": "entity_key"}).drop(columns="team")
            long["exposure"] = 1.0
        vals = long[isin_keys(long["entity_key"], units["unit"])]
    else:
        vals = kpi[isin_keys(kpi["entity_key"], units["unit"])][["entity_key", "period", "value"]].copy()
        vals["exposure"] = 1.0
        if fam.needs_exposure and expo is not None:
            vals["exposure"] = vals.set_index(["entity_key", "period"]).index.map(expo)
            miss = vals["exposure"].isna()
            if miss.any():
                dropped["rows without an exposure value (left out)"] += int(miss.sum())
            vals = vals[~miss]
    rows = units.merge(vals.rename(columns={"entity_key": "unit", "value": "outcome"}),
                       on="unit", how="inner")
    none = ~isin_keys(units["unit"], rows["unit"])
    if none.any():
        dropped[f"no '{outcome.kpi}' values"] += int(none.sum())
    pm = months_of(rows["period"])
    get_design(design.type).period_timing(rows, pm, start_m)
    if hris and outcome.kpi == "attrition" and not team_level:
        rows["baseline"] = np.nan   # everyone observed before the start was still employed
    else:
        base = vals[vals["period"].isin(pre_periods)].groupby("entity_key")["value"].mean()
        rows["baseline"] = rows["unit"].map(base)
    return rows.sort_values(["unit", "period"])


def _hris_person_months(org, emp, kind, lo, hi) -> pd.DataFrame:
    """employee_key, team, period, value (1 if the event happened that month) for every month in
    [lo, hi) the employee was employed."""
    ev = _hris_events(org, emp, kind)
    ev = ev.assign(period=ev["date"].map(lambda d: period_str(month_index(d))))
    ev_set = set(zip(ev["employee_key"], ev["period"]))
    out = []
    for e in emp.itertuples(index=False):
        if pd.isna(e.hire_date):
            continue
        first = max(lo, month_index(e.hire_date))
        last = hi - 1 if pd.isna(e.termination_date) else min(hi - 1, month_index(e.termination_date))
        for m in range(first, last + 1):
            p = period_str(m)
            out.append((e.employee_key, str(e.team), p, float((e.employee_key, p) in ev_set)))
    return pd.DataFrame(out, columns=["employee_key", "team", "period", "value"])


def person_rows(program, outcome, emp, units, kpi, design, start, dropped) -> pd.DataFrame:
    """One row per employee: the latest KPI value (e.g. days to first deal) and whether it is
    censored; treated and post follow from the hire date (families with one_row_per_person)."""
    if outcome.measured_on == "team" or kpi is None:
        raise ModelInputError(
            f"outcome '{outcome.id}' is {outcome.family}: it needs a per-employee kpis.csv KPI "
            "(days until the event, censored=true while it has not happened) measured on "
            "participants or direct_reports")
    last = kpi.sort_values("period").groupby("entity_key").last()
    rows = units.copy()
    rows["outcome"] = rows["unit"].map(last["value"])
    rows["censored"] = rows["unit"].map(last["censored"]).fillna(False).astype(int)
    none = rows["outcome"].isna()
    if none.any():
        dropped[f"no '{outcome.kpi}' value"] += int(none.sum())
    rows = rows[~none].copy()
    hire = rows["unit"].map(emp.set_index("employee_key")["hire_date"])
    no_hire = hire.isna()
    if no_hire.any():
        dropped["no hire date"] += int(no_hire.sum())
        rows, hire = rows[~no_hire].copy(), hire[~no_hire]
    hire_m = hire.map(month_index)
    rows["period"] = hire_m.map(period_str)
    rows["exposure"] = 1.0
    get_design(design.type).person_timing(rows, hire, hire_m, start)
    return rows

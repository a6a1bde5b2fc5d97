"""Early-warning inputs: which KPIs to watch, which way is bad, and their monthly team series.

One job: read programs.yaml outcomes (:func:`kpi_links`: bad direction, family, exposure,
programs and skills per KPI), kpis.csv (:func:`_series`: team-month values and weights; team
rows, employee rows averaged to teams, counts over their exposure) and the HRIS tables
(:func:`_hris_series`: monthly leavers or promotions per employee in the team). The pooling
that reads these series is :mod:`lndbayes.skills.pooling`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


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

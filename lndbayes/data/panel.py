"""The analysis table of one (program, outcome): who, which arm, when, what was measured.

``build_panel`` follows docs/architecture.md, section "How a panel is derived". Every unit the
population names but the panel leaves out is counted in ``panel.meta["dropped"]`` with its
reason, and every assumption the data forced (no assignments, no control group) is in
``panel.meta["warnings"]``::

    panel = build_panel(org, "manager_coaching", "attrition_12m")
    panel.data        # unit, team, department, treated, post, period, event_time, cohort, ...
    panel.meta        # family, design, n_units, n_people, n_teams, dropped, warnings, ...
    balance_table(panel)
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from lndbayes.config import HRIS_KPIS, Program, check_population, employed_at
from lndbayes.errors import ConfigError, ModelInputError

__all__ = ["Panel", "build_panel", "balance_table", "COLUMNS"]

#: The columns of ``Panel.data``, in this order.
COLUMNS = ["unit", "team", "department", "treated", "post", "period", "event_time", "cohort",
           "outcome", "exposure", "baseline", "censored"]


@dataclass
class Panel:
    """``data``: the tidy table (COLUMNS); ``meta``: what it is and what was left out;
    ``units``: one row per unit (unit, team, department, treated, baseline, tenure_months,
    team_size), used by :func:`balance_table`."""

    data: pd.DataFrame
    meta: dict
    units: pd.DataFrame = field(default_factory=pd.DataFrame)

    def __repr__(self) -> str:
        m = self.meta
        return (f"Panel({m.get('program_id')}/{m.get('outcome_id')}: {m.get('design')}, "
                f"{m.get('family')}, {len(self.data)} rows, {m.get('n_units')} units, "
                f"{m.get('n_teams')} teams)")


# ---------------------------------------------------------------------------------------------
# small helpers

def _month_index(period) -> int:
    """'2025-03' (or a Timestamp) -> 2025*12 + 2."""
    if isinstance(period, str):
        y, m = period[:7].split("-")
        return int(y) * 12 + int(m) - 1
    ts = pd.Timestamp(period)
    return ts.year * 12 + ts.month - 1


def _period_str(month_index: int) -> str:
    return f"{month_index // 12:04d}-{month_index % 12 + 1:02d}"


def _to_naive(s: pd.Series) -> pd.Series:
    s = pd.to_datetime(s, errors="coerce")
    if getattr(s.dt, "tz", None) is not None:
        s = s.dt.tz_convert("UTC").dt.tz_localize(None)
    return s


def _lookup(keys: pd.Series, mapping: pd.Series, dates: bool = False) -> pd.Series:
    """keys.map(mapping) as float (or datetime) whatever the mapping's size and dtype."""
    d = {k: (None if pd.isna(v) else v) for k, v in mapping.items()}
    out = keys.map(lambda k: d.get(k))
    return pd.to_datetime(out) if dates else pd.to_numeric(out, errors="coerce").astype(float)


def _employees(org) -> pd.DataFrame:
    emp = org.employees.copy()
    if emp.empty:
        raise ModelInputError("the organisation has no employees table (employees.csv is required)")
    for col in ("hire_date", "termination_date"):
        emp[col] = _to_naive(emp[col]) if col in emp else pd.NaT
    for col in ("manager_key", "team", "department", "role"):
        if col not in emp:
            emp[col] = pd.NA
    emp["employee_key"] = emp["employee_key"].astype(str)
    return emp.reset_index(drop=True)


def _resolve(org, program_id: str, outcome_id: str):
    cfg = org.programs
    programs = getattr(cfg, "programs", {}) or {}
    errors = getattr(cfg, "errors", {}) or {}
    if program_id not in programs:
        if program_id in errors:
            raise errors[program_id]
        valid = ", ".join(sorted(programs)) or "none"
        raise ModelInputError(f"unknown program '{program_id}'; the valid programs are: {valid}")
    program: Program = programs[program_id]
    if outcome_id not in program.outcome_ids:
        raise ModelInputError(f"program '{program_id}' has no outcome '{outcome_id}'; its outcomes "
                              f"are: {', '.join(program.outcome_ids)}")
    return cfg, program, program.outcome(outcome_id)


def _check_kpi(org, program: Program, outcome, name: str, field_name: str, entity: str):
    """The kpis.csv rows of KPI ``name`` for ``entity``; ConfigError when there are none."""
    k = org.kpis
    idx = program.outcome_ids.index(outcome.id)
    rows = k[k["kpi"] == name] if not k.empty else k
    if not rows.empty:
        at = rows[rows["entity_type"] == entity]
        if not at.empty:
            out = at.copy()
            out["entity_key"] = out["entity_key"].astype(str)
            out["period"] = out["period"].astype(str).str[:7]
            out["value"] = pd.to_numeric(out["value"], errors="coerce")
            out["censored"] = (out["censored"].fillna(False).astype(bool) if "censored" in out
                               else False)
            return out.dropna(subset=["value"])
        have = ", ".join(sorted(rows["entity_type"].astype(str).unique()))
        raise ConfigError(
            f"KPI '{name}' has no {entity}-level observations in kpis.csv (it has {have}-level ones)",
            file=program.source_file, row=program.line_of("outcomes", idx, field_name),
            column=program.field_path("outcomes", idx, field_name),
            fix="set measured_on to match the entity_type of the KPI, or add the missing rows")
    existing = sorted(k["kpi"].astype(str).unique()) if not k.empty else []
    raise ConfigError(
        f"KPI '{name}' has no observations in kpis.csv",
        file=program.source_file, row=program.line_of("outcomes", idx, field_name),
        column=program.field_path("outcomes", idx, field_name),
        fix=(f"use one of the KPIs that exist: {', '.join(existing + list(HRIS_KPIS))}"
             if existing else "add the KPI to kpis.csv, or use an HRIS-derived one: "
             + ", ".join(HRIS_KPIS)))


# ---------------------------------------------------------------------------------------------
# arms

def _arms(org, program: Program, emp: pd.DataFrame, pop: pd.DataFrame, warnings: list):
    """Per population member and per team: treated (1/0, NaN = not assigned) and cohort
    (the start date, NaT for control / never treated)."""
    design = program.design
    start = pd.Timestamp(design.start)
    staggered = design.type == "staggered"
    a = org.assignments
    if not a.empty:
        a = a[a["program_id"].astype(str) == program.id]
    teams_of_pop = pop["team"].astype(str).unique()

    if not a.empty:
        a = a.copy()
        a["unit_key"] = a["unit_key"].astype(str)
        a["treated"] = (a["arm"].astype(str) == "treatment").astype(float)
        sd = _to_naive(a["start_date"]) if "start_date" in a else pd.Series(pd.NaT, index=a.index)
        a["cohort"] = sd.where(a["treated"] == 1, pd.NaT)
        a.loc[(a["treated"] == 1) & a["cohort"].isna(), "cohort"] = start
        ta = a[a["unit_type"] == "team"].drop_duplicates("unit_key", keep="last").set_index("unit_key")
        ea = a[a["unit_type"] == "employee"].drop_duplicates("unit_key", keep="last").set_index("unit_key")
        member = pd.DataFrame({"employee_key": pop["employee_key"].values,
                               "team": pop["team"].astype(str).values})
        own_t = _lookup(member["employee_key"], ea["treated"])
        own_c = _lookup(member["employee_key"], ea["cohort"], dates=True)
        team_t = _lookup(member["team"], ta["treated"])
        team_c = _lookup(member["team"], ta["cohort"], dates=True)
        by_team = own_t.isna()
        member["treated"] = own_t.where(~by_team, team_t)
        member["cohort"] = own_c.where(~by_team, team_c)
        teams = pd.DataFrame({"team": teams_of_pop})
        teams["treated"] = _lookup(teams["team"], ta["treated"])
        teams["cohort"] = _lookup(teams["team"], ta["cohort"], dates=True)
        # teams without a team assignment: the arm their assigned members share, if they agree
        for i in teams.index[teams["treated"].isna()]:
            m = member[(member["team"] == teams.at[i, "team"]) & member["treated"].notna()]
            if len(m) and m["treated"].nunique() == 1:
                teams.at[i, "treated"] = m["treated"].iloc[0]
                teams.at[i, "cohort"] = m["cohort"].min()
        return member, teams, "assignments"

    # no assignments: the arm is "enrolled in any of the program's activities"
    prefix = program.program.lms_activity_prefix
    enr = org.enrollments
    if not enr.empty:
        enr = pd.DataFrame({"employee_key": enr["employee_key"].astype(str),
                            "activity_id": enr["activity_id"].astype(str),
                            "at": _to_naive(enr["enrolled_at"])})
    elif not org.learning_events.empty:
        le = org.learning_events
        enr = pd.DataFrame({"employee_key": le["employee_key"].astype(str),
                            "activity_id": le["activity_id"].astype(str),
                            "at": _to_naive(le["timestamp"])})
    if prefix:
        enr = enr[enr["activity_id"].str.startswith(prefix)] if not enr.empty else enr
    if not prefix or enr.empty:
        raise ModelInputError(
            f"program '{program.id}' has no assignments in assignments.csv and no enrollments "
            f"under its lms_activity_prefix ({prefix!r}), so nobody can be told treated from "
            "control. Fix: add the program's arms to assignments.csv, or set "
            "program.lms_activity_prefix to the prefix of its LMS activity ids")
    first = enr.groupby("employee_key")["at"].min()
    warnings.append(
        "no assignments for this program: treated = enrolled in any of its LMS activities "
        f"(prefix {prefix}); people who chose to enrol may differ from those who did not "
        "(selection bias), so read the effect as an association")
    member = pd.DataFrame({"employee_key": pop["employee_key"].values,
                           "team": pop["team"].astype(str).values})
    member["cohort"] = _lookup(member["employee_key"], first, dates=True)
    member["treated"] = member["cohort"].notna().astype(float)
    teams = member.groupby("team", as_index=False).agg(cohort=("cohort", "min"))
    teams["treated"] = teams["cohort"].notna().astype(float)
    if staggered:  # the team's start is its first enrolment; members share it
        member = member.drop(columns=["treated", "cohort"]).merge(teams, on="team", how="left")
    return member, teams, "enrollments"


# ---------------------------------------------------------------------------------------------
# units

def _units(program, outcome, emp, pop, member, teams, dropped: Counter) -> pd.DataFrame:
    """unit, team, department, treated, cohort (+ employee_key for employee units)."""
    measured_on = outcome.measured_on
    if measured_on == "team":
        dept = emp.groupby(emp["team"].astype(str))["department"].agg(
            lambda s: s.mode().iloc[0] if s.notna().any() else pd.NA)
        u = teams.rename(columns={"team": "unit"}).copy()
        u["team"] = u["unit"]
        u["department"] = u["team"].map(dept)
        missing = u["treated"].isna()
        if missing.any():
            dropped["team not in assignments (or members in both arms)"] += int(missing.sum())
        return u[~missing].reset_index(drop=True)
    if measured_on == "participants":
        u = pop[["employee_key", "team", "department"]].merge(
            member[["employee_key", "treated", "cohort"]], on="employee_key", how="left")
    else:  # direct_reports: arm of their manager
        reports = emp[emp["manager_key"].astype(str).isin(set(pop["employee_key"]))]
        if reports.empty:
            raise ConfigError(
                "nobody reports to the population of this program (no employee has a manager_key "
                "among them)", file=program.source_file, row=program.line_of(
                    "outcomes", program.outcome_ids.index(outcome.id), "measured_on"),
                column=program.field_path("outcomes", program.outcome_ids.index(outcome.id), "measured_on"),
                fix="check manager_id in employees.csv, or measure on participants")
        arm = member.set_index("employee_key")
        u = reports[["employee_key", "team", "department"]].copy()
        u["manager_key"] = reports["manager_key"].astype(str).values
        u["treated"] = _lookup(u["manager_key"], arm["treated"])
        u["cohort"] = _lookup(u["manager_key"], arm["cohort"], dates=True)
        u = u.drop(columns="manager_key")
    u = u.rename(columns={"employee_key": "unit"})
    u["employee_key"] = u["unit"]
    u["team"] = u["team"].astype(str)
    missing = u["treated"].isna()
    if missing.any():
        what = "manager" if measured_on == "direct_reports" else "employee or team"
        dropped[f"{what} not in assignments for the program"] += int(missing.sum())
    return u[~missing].reset_index(drop=True)


# ---------------------------------------------------------------------------------------------
# outcomes

def _aggregate(values: pd.DataFrame, family: str) -> pd.Series:
    """KPI values of several periods -> one number per entity (randomized designs)."""
    g = values.sort_values("period").groupby("entity_key")["value"]
    if family == "binary":
        return (g.max() > 0).astype(float)
    if family == "count":
        return g.sum()
    if family == "ordinal":
        return g.last().round()
    return g.mean()


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
                         "date": _to_naive(ev["event_date"]).values})


def _tenure_months(emp: pd.DataFrame, at) -> pd.Series:
    at = pd.Timestamp(at)
    return ((at - emp["hire_date"]).dt.days / 30.4375).where(emp["hire_date"] <= at)


def _frame(rows: pd.DataFrame) -> pd.DataFrame:
    out = pd.DataFrame(index=rows.index)
    for col in COLUMNS:
        out[col] = rows[col] if col in rows else np.nan
    out["unit"] = out["unit"].astype(str)
    out["team"] = out["team"].astype(str)
    out["department"] = out["department"].astype("str").where(out["department"].notna(), None)
    for col in ("treated", "post", "censored"):
        out[col] = out[col].fillna(0).astype("int8")
    for col in ("event_time", "outcome", "exposure", "baseline"):
        out[col] = pd.to_numeric(out[col], errors="coerce").astype("float64")
    for col in ("period", "cohort"):
        out[col] = out[col].astype(object).where(out[col].notna(), None)
    return out.reset_index(drop=True)


def build_panel(org, program_id: str, outcome_id: str) -> Panel:
    """The analysis table of ``outcome_id`` of ``program_id`` (docs/architecture.md rules)."""
    cfg, program, outcome = _resolve(org, program_id, outcome_id)
    emp = _employees(org)
    design = program.design
    start = pd.Timestamp(design.start)
    start_m = _month_index(start)
    window = outcome.window_months
    family = outcome.family
    warnings: list[str] = []
    dropped: Counter = Counter()

    pop_mask = check_population(program, emp)
    pop = emp[pop_mask].copy()
    member, teams, arm_source = _arms(org, program, emp, pop, warnings)
    units = _units(program, outcome, emp, pop, member, teams, dropped)
    if units.empty:
        raise ModelInputError(
            f"no unit of program '{program_id}' has an arm ({dict(dropped)}). Fix: check that "
            "assignments.csv names the population's employees or teams for this program")
    team_level = outcome.measured_on == "team"
    entity = "team" if team_level else "employee"
    hris = outcome.kpi in HRIS_KPIS
    kpi = None if hris else _check_kpi(org, program, outcome, outcome.kpi, "kpi", entity)
    expo = None
    if outcome.exposure:
        expo = _check_kpi(org, program, outcome, outcome.exposure, "exposure", entity)
        expo = expo.groupby(["entity_key", "period"])["value"].sum()
    units["cohort_m"] = units["cohort"].map(lambda d: np.nan if pd.isna(d) else _month_index(d))

    if family == "time_to_event":
        rows = _time_to_event(program, outcome, emp, units, kpi, design, start, dropped)
    elif design.type == "randomized":
        rows = _randomized(org, outcome, emp, units, kpi, expo, start, start_m, window, family,
                           team_level, hris, dropped)
    else:
        rows = _panel_rows(org, outcome, emp, units, kpi, expo, design, start_m, window, family,
                           team_level, hris, dropped)

    if rows.empty:
        raise ModelInputError(
            f"the panel of {program_id}/{outcome_id} is empty; units left out: {dict(dropped)}")
    data = _frame(rows)
    _check_arms(data, design.type, family, program_id, outcome_id, warnings)

    # one row per unit for the balance check
    kept = units[units["unit"].isin(set(data["unit"]))].copy()
    base = data.groupby("unit")["baseline"].first()
    kept["baseline"] = kept["unit"].map(base)
    at_start = emp[employed_at(emp, start)]
    size = at_start.groupby(at_start["team"].astype(str)).size()
    ten = _tenure_months(emp, start)
    if team_level:
        kept["tenure_months"] = kept["team"].map(
            ten[employed_at(emp, start)].groupby(at_start["team"].astype(str)).mean())
    else:
        kept["tenure_months"] = kept["unit"].map(pd.Series(ten.values, index=emp["employee_key"]))
    kept["team_size"] = kept["team"].map(size).astype(float)
    units_table = kept[["unit", "team", "department", "treated", "baseline", "tenure_months",
                        "team_size"]].reset_index(drop=True)
    units_table["treated"] = units_table["treated"].astype("int8")

    if team_level:
        n_people = int(emp["team"].astype(str).isin(set(data["unit"])).sum()) if design.type != "randomized" \
            else int(at_start["team"].astype(str).isin(set(data["unit"])).sum())
    else:
        n_people = int(data["unit"].nunique())
    periods = sorted(p for p in data["period"].dropna().unique()) if design.type != "randomized" \
        or family == "time_to_event" else []
    target = None
    if program.target is not None and program.target.outcome == outcome.id:
        target = program.target.model_dump()
    meta = {
        "program_id": program.id,
        "program_name": program.name,
        "outcome_id": outcome.id,
        "family": family,
        "design": design.type,
        "direction": outcome.direction,
        "measured_on": outcome.measured_on,
        "unit_type": "team" if team_level else "employee",
        "kpi": outcome.kpi,
        "level": outcome.level,
        "window_months": window,
        "start": start.date().isoformat(),
        "arm_source": arm_source,
        # "unit": one row per unit (randomized; time_to_event); "unit_period": one per (unit, period)
        "layout": "unit" if design.type == "randomized" or family == "time_to_event" else "unit_period",
        "n_rows": int(len(data)),
        "n_units": int(data["unit"].nunique()),
        "n_people": n_people,
        "n_teams": int(data["team"].nunique()),
        "n_treated_units": int(data.groupby("unit")["treated"].max().sum()),
        "periods": periods,
        "value_per_unit": outcome.value_per_unit,
        "unit_label": outcome.unit_label,
        "exposure_kpi": outcome.exposure,
        "target": target,
        "currency": getattr(getattr(cfg, "organisation", None), "currency", None),
        "cost_per_participant": program.program.cost_per_participant,
        "fixed_cost": program.program.fixed_cost,
        "warnings": warnings,
        "dropped": dict(dropped),
    }
    return Panel(data=data, meta=meta, units=units_table)


def _check_arms(data, design_type, family, program_id, outcome_id, warnings):
    arms = set(data["treated"].unique())
    what = f"{program_id}/{outcome_id}"
    if design_type == "randomized" or family == "time_to_event":
        if len(arms) < 2:
            arm = "treatment" if 1 in arms else "control"
            raise ModelInputError(
                f"all {data['unit'].nunique()} units of {what} are in the {arm} arm, so there is "
                "nothing to compare. Fix: check assignments.csv (both arms are needed)")
    elif design_type == "pre_post":
        if (data["post"] == 1).all() or (data["post"] == 0).all():
            side = "after" if (data["post"] == 1).all() else "before"
            raise ModelInputError(f"every observation of {what} is {side} the program start; "
                                  "a pre/post comparison needs both")
        if arms == {1}:
            warnings.append("no control group: the effect is the before/after change of the "
                            "participants, confounded with anything else that changed over time")
        elif arms == {0}:
            raise ModelInputError(f"no unit of {what} is treated. Fix: check assignments.csv")
    elif design_type == "staggered":
        cohorts = set(data["cohort"].dropna().unique())
        never = data["cohort"].isna().any()
        if not cohorts:
            raise ModelInputError(f"no team of {what} ever starts the program. Fix: give treated "
                                  "teams a start_date in assignments.csv")
        if len(cohorts) < 2 and not never:
            raise ModelInputError(
                f"all units of {what} start in the same month ({next(iter(cohorts))}) and none is "
                "never-treated, so the start cannot be told from time. Fix: give teams different "
                "start_date values or keep some teams as control")


def _randomized(org, outcome, emp, units, kpi, expo, start, start_m, window, family,
                team_level, hris, dropped) -> pd.DataFrame:
    end = start + pd.DateOffset(months=window)
    pre_start = start - pd.DateOffset(months=window)
    post_periods = {_period_str(m) for m in range(start_m, start_m + window)}
    pre_periods = {_period_str(m) for m in range(start_m - window, start_m)}
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
            members["event"] = members["employee_key"].isin(set(in_win["employee_key"])).astype(float)
            members["pre"] = members["employee_key"].isin(set(in_pre["employee_key"])).astype(float)
            g = members.groupby("team")
            n = rows["unit"].map(g.size())
            count = rows["unit"].map(g["event"].sum())
            none = n.isna()
            if none.any():
                dropped["team has nobody employed at program start"] += int(none.sum())
            rows = rows[~none].copy()
            n, count = n[~none], count[~none]
            rows["outcome"] = count if family == "count" else count / n
            rows["exposure"] = n.astype(float)
            rows["baseline"] = (np.nan if outcome.kpi == "attrition"
                                else rows["unit"].map(g["pre"].mean()))
        else:
            rows["outcome"] = rows["unit"].isin(set(in_win["employee_key"])).astype(float)
            rows["baseline"] = (np.nan if outcome.kpi == "attrition"
                                else rows["unit"].isin(set(in_pre["employee_key"])).astype(float))
        return rows

    vals = kpi[kpi["entity_key"].isin(set(rows["unit"]))]
    post = vals[vals["period"].isin(post_periods)]
    if family == "count":
        if expo is not None:
            post = post.assign(exposure=post.set_index(["entity_key", "period"]).index.map(expo))
            miss = post["exposure"].isna()
            if miss.any():
                dropped["rows without an exposure value (left out)"] += int(miss.sum())
            post = post[~miss]
            rows["exposure"] = rows["unit"].map(post.groupby("entity_key")["exposure"].sum())
        else:
            rows["exposure"] = rows["unit"].map(post.groupby("entity_key").size()).astype(float)
    rows["outcome"] = rows["unit"].map(_aggregate(post, family))
    pre = vals[vals["period"].isin(pre_periods)]
    rows["baseline"] = rows["unit"].map(pre.groupby("entity_key")["value"].mean())
    none = rows["outcome"].isna()
    if none.any():
        dropped[f"no '{outcome.kpi}' values in the window"] += int(none.sum())
    return rows[~none].copy()


def _panel_rows(org, outcome, emp, units, kpi, expo, design, start_m, window, family,
                team_level, hris, dropped) -> pd.DataFrame:
    """pre_post and staggered: one row per (unit, period)."""
    staggered = design.type == "staggered"
    pre_periods = {_period_str(m) for m in range(start_m - window, start_m)}
    if hris:
        cohorts = units["cohort_m"].dropna()
        lo = int(min([start_m, *cohorts])) - window
        hi = int(max([start_m, *cohorts])) + window
        long = _hris_person_months(org, emp, outcome.kpi, lo, hi)
        if team_level:
            g = long.groupby(["team", "period"])
            tl = pd.DataFrame({"n": g.size(), "events": g["value"].sum()}).reset_index()
            tl["value"] = tl["events"] if family == "count" else tl["events"] / tl["n"]
            tl["exposure"] = tl["n"].astype(float)
            long = tl.rename(columns={"team": "entity_key"})[["entity_key", "period", "value", "exposure"]]
        else:
            long = long.rename(columns={"employee_key": "entity_key"}).drop(columns="team")
            long["exposure"] = 1.0
        vals = long[long["entity_key"].isin(set(units["unit"]))]
    else:
        vals = kpi[kpi["entity_key"].isin(set(units["unit"]))][["entity_key", "period", "value"]].copy()
        vals["exposure"] = 1.0
        if family == "count" and expo is not None:
            vals["exposure"] = vals.set_index(["entity_key", "period"]).index.map(expo)
            miss = vals["exposure"].isna()
            if miss.any():
                dropped["rows without an exposure value (left out)"] += int(miss.sum())
            vals = vals[~miss]
    rows = units.merge(vals.rename(columns={"entity_key": "unit", "value": "outcome"}),
                       on="unit", how="inner")
    none = ~units["unit"].isin(set(rows["unit"]))
    if none.any():
        dropped[f"no '{outcome.kpi}' values"] += int(none.sum())
    pm = rows["period"].map(_month_index)
    if staggered:
        rows["event_time"] = pm - rows["cohort_m"]
        rows["post"] = (rows["event_time"] >= 0).astype(int)
        rows["cohort"] = rows["cohort_m"].map(lambda m: None if pd.isna(m) else _period_str(int(m)))
    else:
        rows["post"] = (pm >= start_m).astype(int)
        rows["event_time"] = np.nan
        rows["cohort"] = None
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
    ev = ev.assign(period=ev["date"].map(lambda d: _period_str(_month_index(d))))
    ev_set = set(zip(ev["employee_key"], ev["period"]))
    out = []
    for e in emp.itertuples(index=False):
        if pd.isna(e.hire_date):
            continue
        first = max(lo, _month_index(e.hire_date))
        last = hi - 1 if pd.isna(e.termination_date) else min(hi - 1, _month_index(e.termination_date))
        for m in range(first, last + 1):
            p = _period_str(m)
            out.append((e.employee_key, str(e.team), p, float((e.employee_key, p) in ev_set)))
    return pd.DataFrame(out, columns=["employee_key", "team", "period", "value"])


def _time_to_event(program, outcome, emp, units, kpi, design, start, dropped) -> pd.DataFrame:
    """One row per employee: the KPI value (e.g. days to first deal) and whether it is censored."""
    if outcome.measured_on == "team" or kpi is None:
        raise ModelInputError(
            f"outcome '{outcome.id}' is time_to_event: it needs a per-employee kpis.csv KPI "
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
    hire_m = hire.map(_month_index)
    rows["period"] = hire_m.map(_period_str)
    rows["exposure"] = 1.0
    if design.type == "staggered":
        team_start = pd.to_datetime(rows["cohort"])
        rows["treated"] = (team_start.notna() & (hire >= team_start)).astype(int)
        rows["event_time"] = hire_m - rows["cohort_m"]
        rows["cohort"] = rows["cohort_m"].map(lambda m: None if pd.isna(m) else _period_str(int(m)))
        rows["post"] = rows["treated"]
    elif design.type == "pre_post":
        rows["post"] = (hire >= start).astype(int)
        rows["cohort"] = None
    else:
        rows["post"] = 1
        rows["cohort"] = None
    return rows


# ---------------------------------------------------------------------------------------------
# balance

def balance_table(panel: Panel) -> pd.DataFrame:
    """Arms compared on baseline outcome, team size and tenure (one row per unit).

    Columns: variable, mean_treated, mean_control, sd_treated, sd_control, n_treated,
    n_control, std_diff ((treated - control) / sqrt((sd_t^2 + sd_c^2) / 2)) and imbalanced
    (|std_diff| > 0.1, the usual rule of thumb).
    """
    u = panel.units
    if u is None or u.empty:
        d = panel.data
        u = d.groupby("unit", as_index=False).agg(treated=("treated", "max"),
                                                  baseline=("baseline", "first"), team=("team", "first"))
        u["team_size"] = u["team"].map(u.groupby("team").size()).astype(float)
        u["tenure_months"] = np.nan
    out = []
    for var in ("baseline", "team_size", "tenure_months"):
        t = pd.to_numeric(u.loc[u["treated"] == 1, var], errors="coerce").dropna()
        c = pd.to_numeric(u.loc[u["treated"] == 0, var], errors="coerce").dropna()
        mt, mc = (t.mean() if len(t) else np.nan), (c.mean() if len(c) else np.nan)
        st, sc = (t.std(ddof=1) if len(t) > 1 else np.nan), (c.std(ddof=1) if len(c) > 1 else np.nan)
        pooled = np.sqrt((np.nan_to_num(st) ** 2 + np.nan_to_num(sc) ** 2) / 2)
        diff = (mt - mc) / pooled if pooled > 0 else (0.0 if mt == mc else np.nan)
        out.append({"variable": var, "mean_treated": mt, "mean_control": mc, "sd_treated": st,
                    "sd_control": sc, "n_treated": int(len(t)), "n_control": int(len(c)),
                    "std_diff": diff, "imbalanced": bool(abs(diff) > 0.1) if pd.notna(diff) else False})
    return pd.DataFrame(out)

"""Who is in which arm: units of a program's population and their treatment and start date.

Part of ``build_panel`` (docs/architecture.md, "How a panel is derived"): ``employees`` reads the
HRIS table, ``arms`` gives each population member and team an arm (from assignments.csv, else from
enrolments), ``units_of`` the units an outcome is measured on with their arm.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pandas as pd

from lndbayes.config import Program
from lndbayes.design.calendar import isin_keys, lookup, to_naive
from lndbayes.design.designs import get_design
from lndbayes.errors import ConfigError, ModelInputError


def employees(org) -> pd.DataFrame:
    """The HRIS table with naive UTC dates, text keys, every column the panels read and a
    default index. At an interim-monitoring checkpoint the whole table is prepared once and cut
    (:meth:`lndbayes.monitoring.asof.CutTables.prepared_employees`: the same rows)."""
    prepared = getattr(org.tables, "prepared_employees", None)
    emp = prepared(_prepare_employees) if prepared is not None else None
    if emp is not None and not emp.empty:
        return emp
    return _prepare_employees(org.employees)


def _prepare_employees(table: pd.DataFrame) -> pd.DataFrame:
    emp = table.copy()
    if emp.empty:
        raise ModelInputError("the organisation has no employees table. Fix: put employees.csv in "
                              "raw/ (docs/data-contract.md) and ingest again")
    for col in ("hire_date", "termination_date"):
        emp[col] = to_naive(emp[col]) if col in emp else pd.NaT
    for col in ("manager_key", "team", "department", "role"):
        if col not in emp:
            emp[col] = pd.NA
    emp["employee_key"] = emp["employee_key"].astype(str)
    return emp.reset_index(drop=True)


def arms(org, program: Program, emp: pd.DataFrame, pop: pd.DataFrame, warnings: list):
    """Per population member and per team: treated (1/0, NaN = not assigned) and cohort
    (the start date, NaT for control / never treated)."""
    design = program.design
    start = pd.Timestamp(design.start)
    staggered = get_design(design.type).has_cohorts
    # the assignments are the design, the same at every interim-monitoring checkpoint (as_of
    # keeps them whole): read once for all of them (CutTables.whole_memo)
    whole = getattr(org.tables, "whole_memo", None)
    key = ("assigned", program.id, start)
    assigned = whole(key, lambda: _assigned(org, program)) if whole else _assigned(org, program)
    teams_of_pop = pop["team"].astype(str).unique()

    if assigned is not None:
        ta, ea = assigned
        member = pd.DataFrame({"employee_key": pop["employee_key"].values,
                               "team": pop["team"].astype(str).values})
        own_t = lookup(member["employee_key"], ea["treated"])
        own_c = lookup(member["employee_key"], ea["cohort"], dates=True)
        team_t = lookup(member["team"], ta["treated"])
        team_c = lookup(member["team"], ta["cohort"], dates=True)
        by_team = own_t.isna()
        member["treated"] = own_t.where(~by_team, team_t)
        member["cohort"] = own_c.where(~by_team, team_c)
        teams = pd.DataFrame({"team": teams_of_pop})
        teams["treated"] = lookup(teams["team"], ta["treated"])
        teams["cohort"] = lookup(teams["team"], ta["cohort"], dates=True)
        # teams without a team assignment: the arm their assigned members share, if they agree
        # (one groupby, not a filter per team: interim monitoring builds panels many times)
        g = member[member["treated"].notna()].groupby("team")
        agree = g["treated"].nunique() == 1
        fill = teams["treated"].isna() & teams["team"].isin(agree.index[agree])
        if fill.any():
            teams.loc[fill, "treated"] = teams.loc[fill, "team"].map(g["treated"].first()).values
            teams.loc[fill, "cohort"] = teams.loc[fill, "team"].map(g["cohort"].min()).values
        return member, teams, "assignments"

    # no assignments: the arm is "enrolled in any of the program's activities"
    prefix = program.program.lms_activity_prefix
    enr = org.enrollments
    if not enr.empty:
        enr = pd.DataFrame({"employee_key": enr["employee_key"].astype(str),
                            "activity_id": enr["activity_id"].astype(str),
                            "at": to_naive(enr["enrolled_at"])})
    elif not org.learning_events.empty:
        le = org.learning_events
        enr = pd.DataFrame({"employee_key": le["employee_key"].astype(str),
                            "activity_id": le["activity_id"].astype(str),
                            "at": to_naive(le["timestamp"])})
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
    member["cohort"] = lookup(member["employee_key"], first, dates=True)
    member["treated"] = member["cohort"].notna().astype(float)
    teams = member.groupby("team", as_index=False).agg(cohort=("cohort", "min"))
    teams["treated"] = teams["cohort"].notna().astype(float)
    if staggered:  # the team's start is its first enrolment; members share it
        member = member.drop(columns=["treated", "cohort"]).merge(teams, on="team", how="left")
    return member, teams, "enrollments"


def _assigned(org, program: Program):
    """(team assignments, employee assignments) of ``program`` from assignments.csv, each
    indexed by unit key with ``treated`` (1/0) and ``cohort`` (its start: the row's start date,
    else the program's; NaT for control), the last row of a unit winning; None without any."""
    a = org.assignments
    if not a.empty:
        a = a[a["program_id"].astype(str) == program.id]
    if a.empty:
        return None
    a = a.copy()
    a["unit_key"] = a["unit_key"].astype(str)
    a["treated"] = (a["arm"].astype(str) == "treatment").astype(float)
    sd = to_naive(a["start_date"]) if "start_date" in a else pd.Series(pd.NaT, index=a.index)
    a["cohort"] = sd.where(a["treated"] == 1, pd.NaT)
    a.loc[(a["treated"] == 1) & a["cohort"].isna(), "cohort"] = pd.Timestamp(program.design.start)
    ta = a[a["unit_type"] == "team"].drop_duplicates("unit_key", keep="last").set_index("unit_key")
    ea = a[a["unit_type"] == "employee"].drop_duplicates("unit_key", keep="last").set_index("unit_key")
    return ta, ea


def team_departments(emp: pd.DataFrame) -> pd.Series:
    """team (as text) -> its most common department (ties: the first by name, as
    ``Series.mode``); teams whose department is always missing are left out.

    Vectorised: a per-team ``mode()`` took 3 s of each monitoring replay at 597 teams; counted
    on integer codes, not by ``value_counts`` and a sort of the text (5 ms a team-level panel at
    20,000 employees, each interim checkpoint building one or two)."""
    d = emp[["team", "department"]].dropna()
    team = d["team"].astype(str)
    if d.empty:
        return pd.Series(d["department"].array, index=pd.Index(team.array, name="team"),
                         name="department")
    teams, team_names = pd.factorize(team, sort=True)
    depts, dept_names = pd.factorize(d["department"], sort=True)
    n_depts = len(dept_names)
    counts = np.bincount(teams * n_depts + depts, minlength=len(team_names) * n_depts)
    # argmax takes the first of the most common: departments are in sorted order, so ties go
    # to the first by name
    best = dept_names.take(counts.reshape(len(team_names), n_depts).argmax(axis=1))
    return pd.Series(best, index=pd.Index(team_names, name="team"), name="department")


def units_of(program, outcome, emp, pop, member, teams, dropped: Counter) -> pd.DataFrame:
    """unit, team, department, treated, cohort (+ employee_key for employee units)."""
    measured_on = outcome.measured_on
    if measured_on == "team":
        dept = team_departments(emp)
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
        reports = emp[isin_keys(emp["manager_key"].astype(str), pop["employee_key"])]
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
        u["treated"] = lookup(u["manager_key"], arm["treated"])
        u["cohort"] = lookup(u["manager_key"], arm["cohort"], dates=True)
        u = u.drop(columns="manager_key")
    u = u.rename(columns={"employee_key": "unit"})
    u["employee_key"] = u["unit"]
    u["team"] = u["team"].astype(str)
    missing = u["treated"].isna()
    if missing.any():
        what = "manager" if measured_on == "direct_reports" else "employee or team"
        dropped[f"{what} not in assignments for the program"] += int(missing.sum())
    return u[~missing].reset_index(drop=True)

"""The analysis table of one (program, outcome): who, which arm, when, what was measured.

``build_panel`` follows docs/architecture.md, section "How a panel is derived". Every unit the
population names but the panel leaves out is counted in ``panel.meta.dropped`` with its
reason, and every assumption the data forced (no assignments, no control group) is in
``panel.meta.warnings``::

    panel = build_panel(org, "manager_coaching", "attrition_12m")
    panel.data        # unit, team, department, treated, post, period, event_time, cohort, ...
    panel.meta        # PanelMeta: family, design, n_units, n_people, n_teams, dropped, warnings, ...
    balance_table(panel)    # lndbayes.design.balance

Who is in which arm: :mod:`lndbayes.design.arms`; the outcome rows per layout:
:mod:`lndbayes.design.outcomes`.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from lndbayes.config import HRIS_KPIS, Program, check_population, employed_at
from lndbayes.data.org import cut_memo
from lndbayes.design.arms import arms, employees, units_of
from lndbayes.design.calendar import isin_keys, month_index
from lndbayes.design.designs import Design, get_design
from lndbayes.design.outcomes import panel_rows, person_rows, randomized_rows, tenure_months
from lndbayes.errors import ConfigError, ModelInputError
from lndbayes.models.families import get_family

__all__ = ["Panel", "PanelMeta", "build_panel", "population", "COLUMNS"]

#: The columns of ``Panel.data``, in this order.
COLUMNS = ["unit", "team", "department", "treated", "post", "period", "event_time", "cohort",
           "outcome", "exposure", "baseline", "censored"]


@dataclass(frozen=True)
class PanelMeta:
    """What a panel is and what was left out of it (docs/architecture.md, "Panel").

    Frozen: a panel is built once and read by the fit and the report, so nobody edits it on
    the way. ``to_dict()`` gives the plain dict (the same keys, in this order) saved with a
    fit's result.
    """

    program_id: str
    program_name: str
    outcome_id: str
    family: str
    design: str
    direction: str
    measured_on: str
    #: "employee" or "team"
    unit_type: str
    kpi: str
    level: str | None
    window_months: int
    #: ISO date of the design's start
    start: str
    #: "assignments" or "enrollments"
    arm_source: str
    #: "unit": one row per unit (randomized; one_row_per_person families);
    #: "unit_period": one per (unit, month)
    layout: str
    n_rows: int
    n_units: int
    #: distinct employees behind the rows (team units: the team's members)
    n_people: int
    n_teams: int
    n_treated_units: int
    #: sorted periods (str); [] for randomized
    periods: list
    value_per_unit: float | None
    unit_label: str | None
    exposure_kpi: str | None
    #: the program's target when it names this outcome, else None
    target: dict | None
    currency: str | None
    cost_per_participant: float | None
    fixed_cost: float | None
    warnings: list = field(default_factory=list)
    #: reason -> number of units (of rows, for "rows without an exposure value") left out
    dropped: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclass
class Panel:
    """``data``: the tidy table (COLUMNS); ``meta``: what it is and what was left out;
    ``units``: one row per unit (unit, team, department, treated, baseline, tenure_months,
    team_size), used by :func:`lndbayes.design.balance.balance_table`."""

    data: pd.DataFrame
    meta: PanelMeta
    units: pd.DataFrame = field(default_factory=pd.DataFrame)

    def __repr__(self) -> str:
        m = self.meta
        return (f"Panel({m.program_id}/{m.outcome_id}: {m.design}, {m.family}, "
                f"{len(self.data)} rows, {m.n_units} units, {m.n_teams} teams)")


def _resolve(org, program_id: str, outcome_id: str):
    cfg = org.programs
    program: Program = cfg.get_program(program_id)
    if outcome_id not in program.outcome_ids:
        raise ModelInputError(f"program '{program_id}' has no outcome '{outcome_id}'; its outcomes "
                              f"are: {', '.join(program.outcome_ids)}")
    return cfg, program, program.outcome(outcome_id)


def _check_kpi(org, program: Program, outcome, name: str, field_name: str, entity: str):
    """The kpis.csv rows of KPI ``name`` for ``entity``; ConfigError when there are none."""
    idx = program.outcome_ids.index(outcome.id)
    # interim monitoring's checkpoints: prepared once, then cut (monitoring.asof.CutTables)
    prepared = getattr(org.tables, "prepared_kpi_rows", None)
    if prepared is not None:
        out = prepared(name, ("check_kpi", entity), lambda rows: _prepared_kpi(rows, entity))
        if out is not None and not out.empty:
            return out
    rows = org.kpi_rows(name)
    if not rows.empty:
        at = rows[rows["entity_type"] == entity]
        if not at.empty:
            return _kpi_values(at)
        have = ", ".join(sorted(rows["entity_type"].astype(str).unique()))
        raise ConfigError(
            f"KPI '{name}' has no {entity}-level observations in kpis.csv (it has {have}-level ones)",
            file=program.source_file, row=program.line_of("outcomes", idx, field_name),
            column=program.field_path("outcomes", idx, field_name),
            fix="set measured_on to match the entity_type of the KPI, or add the missing rows")
    known = getattr(org.tables, "known_kpi_names", None)
    existing = known() if known is not None else None
    if existing is None:
        k = org.kpis
        existing = sorted(k["kpi"].astype(str).unique()) if not k.empty else []
    raise ConfigError(
        f"KPI '{name}' has no observations in kpis.csv",
        file=program.source_file, row=program.line_of("outcomes", idx, field_name),
        column=program.field_path("outcomes", idx, field_name),
        fix=(f"use one of the KPIs that exist: {', '.join(existing + list(HRIS_KPIS))}"
             if existing else "add the KPI to kpis.csv, or use an HRIS-derived one: "
             + ", ".join(HRIS_KPIS)))


def _kpi_values(at: pd.DataFrame) -> pd.DataFrame:
    """One entity's KPI rows with keys as text, periods as 'YYYY-MM', values as numbers (rows
    without a value left out: a missing KPI month is no observation)."""
    out = at.copy()
    out["entity_key"] = out["entity_key"].astype(str)
    out["period"] = out["period"].astype(str).str[:7]
    out["value"] = pd.to_numeric(out["value"], errors="coerce")
    out["censored"] = (out["censored"].fillna(False).astype(bool) if "censored" in out
                       else False)
    return out.dropna(subset=["value"])


def _prepared_kpi(rows: pd.DataFrame, entity: str) -> pd.DataFrame | None:
    """:func:`_kpi_values` of all of a KPI's rows at ``entity``, to be cut per checkpoint; None
    (use the plain path) unless every step is row by row: ``to_numeric`` of text infers one
    dtype from all the values, so a cut of it could differ from the conversion of the cut."""
    if rows is None or rows.empty or rows["value"].dtype != np.float64:
        return None
    return _kpi_values(rows[rows["entity_type"] == entity])


def _frame(rows: pd.DataFrame) -> pd.DataFrame:
    # the columns converted apart and put together once: a column set into a frame at a time
    # cost a third of this (interim monitoring builds ~17 panels a program)
    out = {col: _column(col, rows[col] if col in rows else pd.Series(np.nan, index=rows.index))
           for col in COLUMNS}
    return pd.DataFrame({col: s.reset_index(drop=True) for col, s in out.items()})


def _column(col: str, s: pd.Series) -> pd.Series:
    """Column ``col`` of ``Panel.data`` in its dtype."""
    if col in ("unit", "team"):
        return s.astype(str)
    if col == "department":
        return s.astype("str").where(s.notna(), None)
    if col in ("treated", "post", "censored"):
        return s.fillna(0).astype("int8")
    if col in ("event_time", "outcome", "exposure", "baseline"):
        return pd.to_numeric(s, errors="coerce").astype("float64")
    return s.astype(object).where(s.notna(), None)        # period, cohort: text or None


def _cohort_months(cohort: pd.Series) -> pd.Series:
    """Month index of each start date (NaN for none; int when every unit has one): what
    ``month_index`` gives, a column at a time."""
    if not pd.api.types.is_datetime64_dtype(cohort):
        return cohort.map(lambda d: np.nan if pd.isna(d) else month_index(d))
    months = (cohort.dt.year * 12 + cohort.dt.month - 1).astype("float64")
    return months if months.isna().any() else months.astype("int64")


def population(org, program: Program):
    """(employees, the program's population, its members' and teams' arms, where the arms come
    from, the warnings that decided them): what every outcome's panel of ``program`` shares.
    Kept for the checkpoint when ``org`` is interim monitoring's cut
    (:func:`lndbayes.data.org.cut_memo`); read only."""
    def compute():
        emp = employees(org)
        pop = emp[check_population(program, emp)].copy()
        warnings: list[str] = []
        member, teams, arm_source = arms(org, program, emp, pop, warnings)
        return emp, pop, member, teams, arm_source, tuple(warnings)

    # the program object too: another configuration of the same id is another population
    return cut_memo(org, ("population", program.id, id(program)), compute)


@dataclass(frozen=True)
class _Staff:
    """The employees as they were at a program's start, as the balance table reads them."""

    #: each employee's team (text); of those employed at the start
    team: pd.Series
    team_then: pd.Series
    #: by team: people employed at the start, their mean tenure (months)
    team_size: pd.Series
    team_tenure: pd.Series
    #: by employee key: tenure at the start (NaN if hired later)
    tenure: pd.Series


def _staff_at(org, emp: pd.DataFrame, start: pd.Timestamp) -> _Staff:
    """:class:`_Staff` of ``emp`` (the employees of ``org``) at ``start``. Kept for the checkpoint
    when ``org`` is interim monitoring's cut (:func:`lndbayes.data.org.cut_memo`): every panel
    of a checkpoint asked the same of the same people (~8 ms a panel at 20,000 employees)."""
    def compute():
        employed = employed_at(emp, start)
        team = emp["team"].astype(str)
        team_then = team[employed]
        ten = tenure_months(emp, start)
        return _Staff(team=team, team_then=team_then,
                      team_size=team_then.groupby(team_then).size(),
                      team_tenure=ten[employed].groupby(team_then).mean(),
                      tenure=pd.Series(ten.values, index=emp["employee_key"]))

    return cut_memo(org, ("staff_at", start), compute)


def build_panel(org, program_id: str, outcome_id: str) -> Panel:
    """The analysis table of ``outcome_id`` of ``program_id`` (docs/architecture.md rules)."""
    cfg, program, outcome = _resolve(org, program_id, outcome_id)
    design = program.design
    des = get_design(design.type)
    start = pd.Timestamp(design.start)
    start_m = month_index(start)
    window = outcome.window_months
    family = outcome.family
    fam = get_family(family)
    # one row per unit: randomized designs, and families measured once per person (any design)
    per_unit = des.one_row_per_unit or fam.one_row_per_person
    warnings: list[str] = []
    dropped: Counter = Counter()

    emp, pop, member, teams, arm_source, arm_warnings = population(org, program)
    warnings.extend(arm_warnings)
    units = units_of(program, outcome, emp, pop, member, teams, dropped)
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
    units["cohort_m"] = _cohort_months(units["cohort"])

    if fam.one_row_per_person:
        rows = person_rows(program, outcome, emp, units, kpi, design, start, dropped)
    elif des.one_row_per_unit:
        rows = randomized_rows(org, outcome, emp, units, kpi, expo, start, start_m, window, fam,
                               team_level, hris, dropped)
    else:
        rows = panel_rows(org, outcome, emp, units, kpi, expo, design, start_m, window, fam,
                          team_level, hris, dropped)

    if rows.empty:
        raise ModelInputError(
            f"the panel of {program_id}/{outcome_id} is empty; units left out: {dict(dropped)}. "
            "Fix: check that the population, the KPI and the outcome window overlap (see the "
            "reasons above)")
    data = _frame(rows)
    _check_arms(data, des, per_unit, program_id, outcome_id, warnings)

    # one row per unit for the balance check
    kept = units[isin_keys(units["unit"], data["unit"])].copy()
    base = data.groupby("unit")["baseline"].first()
    kept["baseline"] = kept["unit"].map(base)
    staff = _staff_at(org, emp, start)
    if team_level:
        kept["tenure_months"] = kept["team"].map(staff.team_tenure)
    else:
        kept["tenure_months"] = kept["unit"].map(staff.tenure)
    kept["team_size"] = kept["team"].map(staff.team_size).astype(float)
    units_table = kept[["unit", "team", "department", "treated", "baseline", "tenure_months",
                        "team_size"]].reset_index(drop=True)
    units_table["treated"] = units_table["treated"].astype("int8")

    if team_level:
        n_people = int(isin_keys(staff.team if des.over_time else staff.team_then,
                                 data["unit"]).sum())
    else:
        n_people = int(data["unit"].nunique())
    # one-row-per-person panels keep each person's hire month as their period
    periods = (sorted(p for p in data["period"].dropna().unique())
               if des.over_time or fam.one_row_per_person else [])
    target = None
    if program.target is not None and program.target.outcome == outcome.id:
        target = program.target.model_dump()
    meta = PanelMeta(
        program_id=program.id,
        program_name=program.name,
        outcome_id=outcome.id,
        family=family,
        design=design.type,
        direction=outcome.direction,
        measured_on=outcome.measured_on,
        unit_type="team" if team_level else "employee",
        kpi=outcome.kpi,
        level=outcome.level,
        window_months=window,
        start=start.date().isoformat(),
        arm_source=arm_source,
        layout="unit" if per_unit else "unit_period",
        n_rows=int(len(data)),
        n_units=int(data["unit"].nunique()),
        n_people=n_people,
        n_teams=int(data["team"].nunique()),
        n_treated_units=int(data.groupby("unit")["treated"].max().sum()),
        periods=periods,
        value_per_unit=outcome.value_per_unit,
        unit_label=outcome.unit_label,
        exposure_kpi=outcome.exposure,
        target=target,
        currency=getattr(getattr(cfg, "organisation", None), "currency", None),
        cost_per_participant=program.program.cost_per_participant,
        fixed_cost=program.program.fixed_cost,
        warnings=warnings,
        dropped=dict(dropped),
    )
    return Panel(data=data, meta=meta, units=units_table)


def _check_arms(data, des: Design, per_unit, program_id, outcome_id, warnings):
    arm_values = set(data["treated"].unique())
    what = f"{program_id}/{outcome_id}"
    # one row per unit: only the arms are compared, so both must be there
    if per_unit:
        if len(arm_values) < 2:
            arm = "treatment" if 1 in arm_values else "control"
            raise ModelInputError(
                f"all {data['unit'].nunique()} units of {what} are in the {arm} arm, so there is "
                "nothing to compare. Fix: check assignments.csv (both arms are needed)")
    else:
        des.check_arms(data, what, warnings)

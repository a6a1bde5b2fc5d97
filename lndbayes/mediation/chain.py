"""kirkpatrick_chain: a program's chain program -> L2 -> L3 -> L4, from its programs.yaml entry.

The program's ``kirkpatrick:`` block names kpis.csv KPIs measured on the program's units::

    kirkpatrick:
      learning: coaching_assessment        # L2 (optional if behaviour is given)
      behaviour: coaching_conversations    # L3 (optional if learning is given)
      results: team_goal_attainment        # L4
      window_months: 12                    # averaging window from design.start (default 12)

Each measure becomes one value per unit by the panel builder's own rules for a randomized
design (:func:`lndbayes.design.panel.build_panel`: the unit's arm from assignments.csv, the
mean of the KPI over ``[start, start + window_months)``, its baseline the mean over the same
number of months before the start), so the chain reads the data exactly as the program's
outcomes do. The units with every measure form the table; each measure's baseline is a
covariate when every kept unit has one; the unit's team is the group.
"""

from __future__ import annotations

import dataclasses

import pandas as pd

from lndbayes.config import Outcome, ProgramsConfig
from lndbayes.design.designs import get_design
from lndbayes.design.panel import build_panel
from lndbayes.errors import ConfigError, ModelInputError
from lndbayes.mediation.fit import fit_mediation
from lndbayes.mediation.result import MediationResult

LEVELS = (("learning", 2, "L2"), ("behaviour", 3, "L3"), ("results", 4, "L4"))


def _block(org, program_id):
    program = org.programs.get_program(program_id)
    kp = program.kirkpatrick
    if kp is None:
        raise ConfigError(
            f"program '{program_id}' has no kirkpatrick: block, so its chain measures are unknown",
            file=program.source_file, row=program.line_of(), column=program.field_path("kirkpatrick"),
            fix="add kirkpatrick: {learning: <L2 KPI>, behaviour: <L3 KPI>, results: <L4 KPI>} "
                "to the program (docs/kirkpatrick.md)")
    return program, kp


def _check_measures(org, program, measures, entity):
    k = org.kpis
    have = set(k.loc[k["entity_type"] == entity, "kpi"].astype(str)) if not k.empty else set()
    for field_name, kpi in measures:
        if kpi not in have:
            exist = ", ".join(sorted(have)) or "none"
            raise ConfigError(
                f"KPI '{kpi}' has no {entity}-level observations in kpis.csv",
                file=program.source_file, row=program.line_of("kirkpatrick", field_name),
                column=program.field_path("kirkpatrick", field_name),
                fix=f"name a KPI measured on the program's units ({entity}-level ones: {exist})")


def chain_table(org, program_id: str) -> tuple[pd.DataFrame, dict]:
    """One row per unit: ``team``, ``treated``, one column per measure (named by its KPI) and
    ``baseline_<kpi>`` covariates; plus what the fit needs to know (measures, dropped units)."""
    program, kp = _block(org, program_id)
    design = get_design(program.design.type)
    if not design.one_row_per_unit:
        raise ModelInputError(
            f"program '{program_id}' has a {program.design.type} design; the Kirkpatrick chain "
            "needs one row per unit (a randomized design). Fix: fit the chain on a table of your "
            "own with lb.fit_mediation (one row per person: arm, L2, L3, L4)")
    measures = [(f, getattr(kp, f)) for f, _, _ in LEVELS if getattr(kp, f)]
    entity = "team" if program.design.unit == "team" else "employee"
    _check_measures(org, program, measures, entity)
    levels = {lab: getattr(kp, f) for f, _, lab in LEVELS if getattr(kp, f)}
    # one temporary outcome per measure, so the panel builder applies its own windows and arms
    outcomes = [Outcome(id=f"kirkpatrick_{f}", kpi=getattr(kp, f), family="normal", level=lvl,
                        direction="increase", window_months=kp.window_months,
                        measured_on="team" if entity == "team" else "participants")
                for f, lvl, _ in LEVELS if getattr(kp, f)]
    temp = program.model_copy(update={"outcomes": outcomes, "target": None})
    for extra in ("roi", "decision"):
        if extra in type(program).model_fields:
            setattr(temp, extra, None)
    cfg = ProgramsConfig(organisation=org.programs.organisation, programs={program.id: temp},
                         path=org.programs.path)
    org2 = dataclasses.replace(org, programs=cfg)

    frames, all_units = [], set()
    dropped: dict[str, int] = {}
    for o in outcomes:
        panel = build_panel(org2, program.id, o.id)
        for reason, n in panel.meta.dropped.items():
            dropped[f"{o.kpi}: {reason}"] = int(n)
        df = panel.data[["unit", "team", "treated", "outcome", "baseline"]].rename(
            columns={"outcome": o.kpi, "baseline": f"baseline_{o.kpi}"})
        all_units |= set(df["unit"])
        frames.append(df)
    table = frames[0]
    for df in frames[1:]:
        table = table.merge(df.drop(columns=["team", "treated"]), on="unit", how="inner")
    for o, df in zip(outcomes, frames):
        lost = len(all_units - set(df["unit"]))
        if lost:
            dropped[f"no {o.kpi} value in the window"] = lost
    covariates, notes = [], []
    for o in outcomes:
        col = f"baseline_{o.kpi}"
        v = table[col]
        if v.notna().all() and v.nunique() > 1:
            covariates.append(col)
        else:
            notes.append(f"{col} left out as a covariate: "
                         + ("missing for some units" if v.isna().any() else "constant"))
    table = table.drop(columns=[c for c in table if c.startswith("baseline_") and c not in covariates])
    table["treated"] = table["treated"].astype(int)
    info = {"program_id": program.id, "program_name": program.name, "levels": levels,
            "mediators": [kp.learning, kp.behaviour], "outcome": kp.results,
            "covariates": covariates, "window_months": kp.window_months,
            "start": str(program.design.start), "unit_type": entity,
            "n_units_with_any_measure": len(all_units), "units_dropped": dropped, "notes": notes}
    info["mediators"] = [m for m in info["mediators"] if m]
    return table.drop(columns=["unit"]).reset_index(drop=True), info


def kirkpatrick_chain(org, program_id: str, **settings) -> MediationResult:
    """Fit the Kirkpatrick chain of ``program_id`` (its ``kirkpatrick:`` block; module docstring).

    ``settings`` go to :func:`lndbayes.fit_mediation` (seed, draws, tune, chains, cache,
    strict, rho). Returns its :class:`MediationResult`, with ``meta["chain"]``: the program,
    the KPI of each level (``levels``: L2, L3, L4), the window, the covariates used and the
    units left out (``units_dropped``, reason -> count). The result holds no unit or team
    rows, only population-level effects, so it is safe to show at any group size.
    """
    table, info = chain_table(org, program_id)
    group = "team" if table["team"].nunique() >= 2 else None
    res = fit_mediation(table, treatment="treated", mediator=info["mediators"],
                        outcome=info["outcome"], covariates=info["covariates"], group=group,
                        **settings)
    res.meta["chain"] = info
    return res

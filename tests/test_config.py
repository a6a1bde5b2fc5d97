"""programs.yaml: schema, line-accurate errors, one bad program never stops the others."""

from __future__ import annotations

import textwrap
from datetime import date

import pandas as pd
import pytest

from lndbayes.config import (ProgramsConfig, check_population, load_programs,
                             programs_from_text)
from lndbayes.errors import ConfigError

VALID = """\
organisation:
  name: Example Co
  currency: EUR
  privacy_min_group: 5
programs:
  - id: manager_coaching
    name: First-line manager coaching
    alignment: {organisational_goal: Keep good people, department_kpi: attrition, campaign: Grow 2025, products: [coach_pro]}
    population:
      department: [Sales, Support]
      role: manager
      level: {min: 1, max: 3}
      hired_after: 2018-01-01
      hired_before: 2025-06-01
    program:
      type: coaching
      sessions: 5
      duration_weeks: 8
      cost_per_participant: 1800
      fixed_cost: 20000
      lms_activity_prefix: https://lms.example.org/activities/manager-coaching
      skills: [coaching, feedback]
    design:
      type: randomized
      unit: employee
      start: 2025-03-01
    outcomes:
      - id: attrition_12m
        kpi: attrition
        family: binary
        level: 4
        direction: decrease
        measured_on: direct_reports
        window_months: 12
        exposure: null
        value_per_unit: 45000
        unit_label: percentage points
    target: {outcome: attrition_12m, relative_change: -0.15, description: "Reduce attrition by 15%"}
  - id: sales_course
    name: Sales course
    program: {type: course}
    design: {type: pre_post, start: 2025-01-01}
    outcomes:
      - {id: deals, kpi: deals, family: count, direction: increase, exposure: days_worked}
"""
LINES = VALID.splitlines()


def line_of(text: str) -> int:
    """1-based line of the unique line containing ``text`` in VALID (to cross-check)."""
    hits = [i + 1 for i, line in enumerate(LINES) if text in line]
    assert len(hits) == 1, hits
    return hits[0]


def write(tmp_path, text):
    p = tmp_path / "programs.yaml"
    p.write_text(text)
    return p


def replace(old: str, new: str) -> str:
    assert VALID.count(old) == 1, old
    return VALID.replace(old, new)


def test_valid_file_round_trip(tmp_path):
    cfg = load_programs(write(tmp_path, VALID))
    assert cfg.errors == {}
    assert list(cfg.programs) == ["manager_coaching", "sales_course"]
    assert cfg.organisation.name == "Example Co" and cfg.organisation.privacy_min_group == 5
    p = cfg.programs["manager_coaching"]
    assert p.population.department == ["Sales", "Support"]
    assert p.population.role == ["manager"]          # a scalar means a one-item list
    assert p.population.hired_before == date(2025, 6, 1)
    assert p.design.start == date(2025, 3, 1)
    o = p.outcome("attrition_12m")
    assert (o.family, o.measured_on, o.window_months, o.value_per_unit) == \
        ("binary", "direct_reports", 12, 45000)
    assert p.target.relative_change == -0.15 and p.target.absolute_change is None
    assert p.alignment.products == ["coach_pro"]
    s = cfg.programs["sales_course"]
    assert s.outcomes[0].window_months == 12 and s.outcomes[0].level == 4  # defaults
    assert s.outcomes[0].measured_on == "participants" and s.design.unit == "employee"
    assert s.program.cost_per_participant == 0 and s.target is None
    # the YAML written back reads to the same programs
    again = programs_from_text(cfg.to_yaml())
    assert again.errors == {}
    assert {k: v.model_dump() for k, v in again.programs.items()} == \
        {k: v.model_dump() for k, v in cfg.programs.items()}
    assert again.organisation == cfg.organisation
    # where each field was read from
    assert p.line_of("population") == 9 == line_of("population:")
    assert p.line_of("outcomes", 0, "family") == 30


@pytest.mark.parametrize("old,new,line,column,problem,fix", [
    ("        family: binary", "        famly: binary", 30, "programs[0].outcomes[0].famly",
     "unknown field 'famly'", "did you mean 'family'?"),
    ("        family: binary", "        family: binomial", 30, "programs[0].outcomes[0].family",
     "'binomial' is not an allowed value of 'family'",
     "normal, lognormal, binary, count, time_to_event, ordinal"),
    ("      type: randomized", "      type: randomised", 24, "programs[0].design.type",
     "'randomised' is not an allowed value", "did you mean 'randomized'?"),
    ("      cost_per_participant: 1800", "      cost_per_participant: lots", 19,
     "programs[0].program.cost_per_participant", "must be a number", "number"),
    ("      cost_per_participant: 1800", "      cost_per_participant: -5", 19,
     "programs[0].program.cost_per_participant", "greater than or equal to 0", "correct"),
    ("      start: 2025-03-01", "      start: March", 26, "programs[0].design.start",
     "must be a date", "YYYY-MM-DD"),
    ("        direction: decrease\n", "", 28, "programs[0].outcomes[0].direction",
     "required field 'direction' is missing", "increase, decrease"),
    ("outcome: attrition_12m,", "outcome: attrition,", 38, "programs[0].target.outcome",
     "target names outcome 'attrition'", "attrition_12m"),
    ("relative_change: -0.15,", "relative_change: -0.15, absolute_change: -0.02,", 38,
     "programs[0].target", "exactly one of relative_change or absolute_change", "either"),
    ("  - id: manager_coaching", "  - id: Manager Coaching", 6, "programs[0].id",
     "id 'Manager Coaching' is not valid", "lower-case"),
    ("      level: {min: 1, max: 3}", "      level: {min: 4, max: 3}", 12,
     "programs[0].population.level", "level min (4) is above max (3)", "min"),
    ("    design:\n", "    desgn:\n", 23, "programs[0].desgn", "unknown field 'desgn'",
     "did you mean 'design'?"),
])
def test_bad_program_points_at_the_line(tmp_path, old, new, line, column, problem, fix):
    cfg = load_programs(write(tmp_path, replace(old, new)))
    key = "Manager Coaching" if "Manager Coaching" in new else "manager_coaching"
    assert list(cfg.errors) == [key]
    err = cfg.errors[key]
    assert err.row == line
    assert err.column == column
    assert problem in err.problem
    assert fix in err.fix
    assert str(err).startswith(f"{tmp_path / 'programs.yaml'}, row {line}, column '{column}': ")
    # the other program is untouched
    assert list(cfg.programs) == ["sales_course"]


def test_message_format(tmp_path):
    cfg = load_programs(write(tmp_path, replace("        family: binary", "        famly: binary")))
    assert str(cfg.errors["manager_coaching"]) == (
        f"{tmp_path / 'programs.yaml'}, row 30, column 'programs[0].outcomes[0].famly': unknown "
        "field 'famly'. Fix: remove it or correct its spelling (did you mean 'family'?).")


def test_all_problems_of_a_program_are_listed(tmp_path):
    text = replace("        family: binary", "        famly: binary").replace(
        "        direction: decrease", "        direction: down")
    err = load_programs(write(tmp_path, text)).errors["manager_coaching"]
    assert [(e.row, e.column) for e in err.details] == [
        (30, "programs[0].outcomes[0].famly"), (32, "programs[0].outcomes[0].direction")]
    assert "row 32" in str(err)


def test_one_bad_program_leaves_the_others_valid(tmp_path):
    text = VALID + textwrap.indent(textwrap.dedent("""\
        - name: no id here
          program: {type: course}
          design: {type: pre_post, start: 2025-01-01}
          outcomes: [{id: a, kpi: csat, family: normal, direction: increase}]
        - id: sales_course
          name: duplicate
          program: {type: course}
          design: {type: pre_post, start: 2025-01-01}
          outcomes: [{id: a, kpi: csat, family: normal, direction: increase}]
        """), "  ")
    cfg = load_programs(write(tmp_path, text))
    assert list(cfg.programs) == ["manager_coaching", "sales_course"]
    assert cfg.programs["sales_course"].name == "Sales course"
    assert set(cfg.errors) == {"programs[2]", "programs[3]"}
    assert cfg.errors["programs[2]"].row == 45 and "'id' is missing" in cfg.errors["programs[2]"].problem
    dup = cfg.errors["programs[3]"]
    assert dup.row == 49 and "used twice (first at row 39)" in dup.problem


def test_duplicate_outcome_id(tmp_path):
    text = replace("      - {id: deals, kpi: deals, family: count, direction: increase, exposure: days_worked}",
                   "      - {id: deals, kpi: deals, family: count, direction: increase}\n"
                   "      - {id: deals, kpi: deals2, family: count, direction: increase}")
    err = load_programs(write(tmp_path, text)).errors["sales_course"]
    assert (err.row, err.column) == (45, "programs[1].outcomes[1].id")


def test_duplicate_key_in_a_program(tmp_path):
    text = replace("      unit: employee\n", "      unit: employee\n      unit: team\n")
    err = load_programs(write(tmp_path, text)).errors["manager_coaching"]
    assert (err.row, err.column) == (26, "programs[0].design.unit")


@pytest.mark.parametrize("text,line,problem", [
    (VALID.replace("  currency: EUR", "  currency: [EUR"), 4, "started at row 3"),
    (VALID + "reports: yes\n", 45, "unknown top-level field 'reports'"),
    (VALID.replace("programs:\n", "programmes:\n", 1), 5, "unknown top-level field 'programmes'"),
    (VALID.replace("  privacy_min_group: 5", "  privacy_min_group: 0"), 4, "greater than or equal to 1"),
    ("", None, "the file is empty"),
    ("# only a comment\n", None, "the file is empty"),
    ("programs: {id: x}\n", 1, "'programs' must be a list"),
])
def test_fatal_errors(tmp_path, text, line, problem):
    with pytest.raises(ConfigError) as e:
        load_programs(write(tmp_path, text))
    assert e.value.row == line
    assert problem in str(e.value)


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_programs(tmp_path / "nope.yaml")


def test_did_you_mean_for_top_level(tmp_path):
    with pytest.raises(ConfigError, match="did you mean 'programs'"):
        load_programs(write(tmp_path, VALID.replace("programs:\n", "programmes:\n", 1)))


EMPLOYEES = pd.DataFrame({
    "employee_key": ["a", "b", "c", "d", "e"],
    "team": ["T1", "T1", "T2", "T3", "T3"],
    "department": ["Sales", "Sales", "Support", "Finance", "Sales"],
    "role": ["manager", "rep", "manager", "manager", "manager"],
    "manager_key": [None, "a", None, None, None],
    "hire_date": pd.to_datetime(["2019-01-01", "2024-01-01", "2020-05-01", "2021-01-01", "2025-07-01"]),
    "termination_date": pd.to_datetime([None, None, "2025-01-31", None, None]),
    "level": pd.array([2, 1, 3, 5, 2], dtype="Int64"),
})


def test_population_select():
    cfg = programs_from_text(VALID)
    pop = cfg.programs["manager_coaching"].population
    # Sales/Support managers, level 1..3, hired in [2018-01-01, 2025-06-01): a and c (e too late)
    assert pop.select(EMPLOYEES).tolist() == [True, False, True, False, False]
    # employed on 2025-03-01: c left in January
    assert pop.select(EMPLOYEES, at=date(2025, 3, 1)).tolist() == [True, False, False, False, False]
    # an empty population is everybody
    assert cfg.programs["sales_course"].population.select(EMPLOYEES).all()


def test_population_selects_nobody(tmp_path):
    cfg = load_programs(write(tmp_path, replace("      department: [Sales, Support]",
                                                "      department: [Legal]")))
    prog = cfg.programs["manager_coaching"]
    with pytest.raises(ConfigError) as e:
        check_population(prog, EMPLOYEES)
    err = e.value
    assert err.row == 9 and err.column == "programs[0].population"
    assert "population selects nobody" in err.problem and "'department'" in err.problem
    assert "departments are Finance, Sales, Support" in err.fix
    assert check_population(cfg.programs["sales_course"], EMPLOYEES).sum() == 5


def test_programs_config_defaults():
    cfg = ProgramsConfig()
    assert cfg.organisation.currency == "EUR" and cfg.programs == {} and cfg.errors == {}

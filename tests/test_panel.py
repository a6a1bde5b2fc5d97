"""build_panel on small hand-made organisations: exact values, not shapes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import lndbayes as lb

from lndbayes.config import programs_from_text
from lndbayes.data.org import Org
from lndbayes.design.balance import balance_table
from lndbayes.design.panel import COLUMNS, build_panel
from lndbayes.errors import ConfigError, ModelInputError
from lndbayes.models.families import FAMILIES, get_family

PROGRAMS = """\
organisation: {name: Test Co, currency: EUR}
programs:
  - id: coaching
    name: Manager coaching
    population: {role: manager, department: [Sales, Support]}
    program: {type: coaching, cost_per_participant: 1000, lms_activity_prefix: "lms/coach"}
    design: {type: randomized, unit: employee, start: 2025-03-01}
    outcomes:
      - {id: attrition_12m, kpi: attrition, family: binary, direction: decrease,
         measured_on: direct_reports, window_months: 12, value_per_unit: 40000}
      - {id: csat, kpi: csat, family: normal, direction: increase, measured_on: direct_reports,
         window_months: 2}
      - {id: promo, kpi: promotion, family: binary, direction: increase, measured_on: direct_reports}
      - {id: team_csat, kpi: team_csat, family: normal, direction: increase, measured_on: team}
      - {id: missing_kpi, kpi: nps, family: normal, direction: increase}
    target: {outcome: attrition_12m, relative_change: -0.2, description: fewer leavers}
  - id: deals_course
    name: Sales course
    population: {department: Sales, role: rep}
    program: {type: course}
    design: {type: pre_post, unit: team, start: 2025-03-01}
    outcomes:
      - {id: deals, kpi: deals, family: count, direction: increase, exposure: days_worked}
  - id: onboarding
    name: Onboarding
    population: {role: rep}
    program: {type: elearning}
    design: {type: staggered, unit: team, start: 2025-03-01}
    outcomes:
      - {id: quota, kpi: quota, family: normal, direction: increase}
      - {id: ttfd, kpi: days_to_first_deal, family: time_to_event, direction: decrease}
  - id: micro
    name: Microlearning
    population: {role: rep}
    program: {type: microlearning, lms_activity_prefix: "lms/micro/"}
    design: {type: randomized, start: 2025-03-01}
    outcomes:
      - {id: csat, kpi: csat, family: normal, direction: increase, window_months: 2}
  - id: nobody
    name: Nobody
    population: {department: Legal}
    program: {type: course}
    design: {type: randomized, start: 2025-03-01}
    outcomes:
      - {id: attrition, kpi: attrition, family: binary, direction: decrease}
  - id: one_arm
    name: One arm
    population: {role: manager}
    program: {type: course}
    design: {type: randomized, start: 2025-03-01}
    outcomes:
      - {id: attrition, kpi: attrition, family: binary, direction: decrease, measured_on: direct_reports}
"""


def _employees():
    rows = [
        # key, team, dept, role, manager, hire, termination, level
        ("m1", "T1", "Sales", "manager", None, "2020-01-01", None, 3),
        ("m2", "T2", "Sales", "manager", None, "2020-01-01", None, 3),
        ("m3", "T3", "Support", "manager", None, "2021-01-01", None, 3),
        ("e1", "T1", "Sales", "rep", "m1", "2022-01-01", "2025-06-15", 1),   # leaves in window
        ("e2", "T1", "Sales", "rep", "m1", "2023-03-01", None, 1),
        ("e3", "T1", "Sales", "rep", "m1", "2024-03-01", None, 1),
        ("e4", "T2", "Sales", "rep", "m2", "2022-01-01", "2026-04-01", 1),   # leaves after window
        ("e5", "T2", "Sales", "rep", "m2", "2022-01-01", "2026-02-28", 1),   # last day of window
        ("e6", "T2", "Sales", "rep", "m2", "2023-01-01", None, 2),
        ("e7", "T3", "Support", "rep", "m3", "2023-01-01", None, 1),
        ("e8", "T3", "Support", "rep", "m3", "2024-01-01", None, 1),
        ("e9", "T3", "Support", "rep", "m3", "2024-06-01", None, 1),
        ("e10", "T1", "Sales", "rep", "m1", "2025-06-01", None, 1),          # hired after start
        ("e11", "T2", "Sales", "rep", "m2", "2022-01-01", "2025-01-15", 1),  # left before start
    ]
    df = pd.DataFrame(rows, columns=["employee_key", "team", "department", "role", "manager_key",
                                     "hire_date", "termination_date", "level"])
    df["hire_date"] = pd.to_datetime(df["hire_date"])
    df["termination_date"] = pd.to_datetime(df["termination_date"])
    df["termination_reason"] = None
    df["level"] = df["level"].astype("Int64")
    return df


def _kpis():
    rows = []
    # csat: employee KPI, baseline window (2 months before) and outcome window (2 months after)
    for e, pre, post in [("e2", (3, 5), (6, 8)), ("e3", (4, 4), (5, 7)), ("e6", (2, 2), (3, 3)),
                         ("e7", (1, 3), (4, 4))]:
        for p, v in zip(["2025-01", "2025-02"], pre):
            rows.append(("employee", e, "csat", p, v, False))
        for p, v in zip(["2025-03", "2025-04"], post):
            rows.append(("employee", e, "csat", p, v, False))
    rows.append(("employee", "e2", "csat", "2025-05", 100.0, False))   # outside a 2-month window
    rows.append(("employee", "e8", "csat", "2025-01", 3.0, False))     # baseline only -> dropped
    for t, v in [("T1", 8.0), ("T2", 6.0), ("T3", 7.0)]:
        rows.append(("team", t, "team_csat", "2025-04", v, False))
        rows.append(("team", t, "team_csat", "2025-02", v - 1, False))
    # deals (count) with exposure days_worked, e2 and e5 over 4 months
    for e in ("e2", "e5"):
        for i, p in enumerate(["2025-01", "2025-02", "2025-03", "2025-04"]):
            rows.append(("employee", e, "deals", p, float(i + 1), False))
            if not (e == "e5" and p == "2025-04"):
                rows.append(("employee", e, "days_worked", p, 20.0, False))
    # quota (staggered), every rep from 2025-01 to 2025-06
    for e in ("e2", "e3", "e6", "e7"):
        for m in range(1, 7):
            rows.append(("employee", e, "quota", f"2025-{m:02d}", float(m), False))
    # time to first deal
    rows += [("employee", "e3", "days_to_first_deal", "2024-05", 60.0, False),
             ("employee", "e10", "days_to_first_deal", "2025-08", 40.0, False),
             ("employee", "e9", "days_to_first_deal", "2024-09", 90.0, True)]
    return pd.DataFrame(rows, columns=["entity_type", "entity_key", "kpi", "period", "value",
                                       "censored"])


def _assignments():
    rows = [("coaching", "employee", "m1", "treatment", None),
            ("coaching", "employee", "m2", "control", None),
            ("coaching", "employee", "m3", "treatment", None),
            ("deals_course", "team", "T1", "treatment", None),
            ("deals_course", "team", "T2", "control", None),
            ("onboarding", "team", "T1", "treatment", "2025-03-01"),
            ("onboarding", "team", "T2", "treatment", "2025-05-01"),
            ("onboarding", "team", "T3", "control", None),
            ("one_arm", "employee", "m1", "treatment", None),
            ("one_arm", "employee", "m2", "treatment", None)]
    df = pd.DataFrame(rows, columns=["program_id", "unit_type", "unit_key", "arm", "start_date"])
    df["start_date"] = pd.to_datetime(df["start_date"])
    return df


def _enrollments():
    return pd.DataFrame({
        "employee_key": ["e2", "e6", "e7", "e3"],
        "activity_id": ["lms/micro/1", "lms/micro/2", "lms/micro/1", "lms/other/1"],
        "enrolled_at": pd.to_datetime(["2025-02-20", "2025-03-02", "2025-03-05", "2025-03-01"], utc=True),
        "completed_at": pd.NaT, "score_scaled": np.nan, "success": None, "reaction": np.nan,
    })


@pytest.fixture
def org(tmp_path):
    hris = pd.DataFrame({"employee_key": ["e2", "e3", "e6"],
                         "event_date": pd.to_datetime(["2025-09-01", "2024-12-01", "2026-05-01"]),
                         "event_type": ["promotion", "promotion", "promotion"],
                         "from_value": None, "to_value": None})
    return Org(root=tmp_path, ledger=pd.DataFrame(),
               programs=programs_from_text(PROGRAMS, file="programs.yaml"),
               tables={"employees": _employees(), "kpis": _kpis(), "assignments": _assignments(),
                       "enrollments": _enrollments(), "hris_events": hris})


def test_columns_and_dtypes(org):
    p = build_panel(org, "coaching", "attrition_12m")
    assert list(p.data.columns) == COLUMNS
    for col in ("treated", "post", "censored"):
        assert p.data[col].dtype == np.int8
    assert p.data["outcome"].dtype == np.float64


def test_direct_reports_arms_and_attrition_window(org):
    p = build_panel(org, "coaching", "attrition_12m")
    d = p.data.set_index("unit")
    # e10 hired after start and e11 left before it are counted, not silently lost
    assert sorted(d.index) == ["e1", "e2", "e3", "e4", "e5", "e6", "e7", "e8", "e9"]
    assert p.meta.dropped == {"not employed at program start": 2}
    # arm = the manager's arm (m1, m3 treatment; m2 control)
    assert d["treated"].to_dict() == {"e1": 1, "e2": 1, "e3": 1, "e4": 0, "e5": 0, "e6": 0,
                                      "e7": 1, "e8": 1, "e9": 1}
    # e1 left inside the window, e5 on its last day, e4 one month after it
    assert d.loc[["e1", "e5"], "outcome"].tolist() == [1.0, 1.0]
    assert d.loc["e4", "outcome"] == 0.0
    assert d["outcome"].sum() == 2.0
    assert d["baseline"].isna().all()
    assert d["team"].to_dict()["e7"] == "T3" and d.loc["e7", "department"] == "Support"
    assert (d["exposure"] == 1.0).all()
    m = p.meta
    assert (m.n_units, m.n_people, m.n_teams) == (9, 9, 3)
    assert m.family == "binary" and m.design == "randomized" and m.direction == "decrease"
    assert m.value_per_unit == 40000
    assert m.target == {"outcome": "attrition_12m", "relative_change": -0.2,
                           "absolute_change": None, "description": "fewer leavers"}
    assert m.start == "2025-03-01" and m.warnings == []
    d = m.to_dict()  # the dict saved with a fit's result: same keys as the attributes, in order
    assert list(d)[:3] == ["program_id", "program_name", "outcome_id"] and d["n_units"] == 9


def test_promotion_and_its_baseline(org):
    d = build_panel(org, "coaching", "promo").data.set_index("unit")
    assert d.loc["e2", "outcome"] == 1.0            # promoted 2025-09 (in window)
    assert d.loc["e6", "outcome"] == 0.0            # promoted 2026-05 (after window)
    assert d.loc["e3", "outcome"] == 0.0 and d.loc["e3", "baseline"] == 1.0  # promoted before start
    assert d.loc["e2", "baseline"] == 0.0


def test_kpi_outcome_and_baseline_means(org):
    p = build_panel(org, "coaching", "csat")
    d = p.data.set_index("unit")
    assert d.loc["e2", "outcome"] == 7.0 and d.loc["e2", "baseline"] == 4.0  # 2025-05 outside window
    assert d.loc["e3", "outcome"] == 6.0 and d.loc["e3", "baseline"] == 4.0
    assert d.loc["e6", "outcome"] == 3.0 and d.loc["e6", "baseline"] == 2.0
    assert d.loc["e7", "outcome"] == 4.0 and d.loc["e7", "baseline"] == 2.0
    assert sorted(d.index) == ["e2", "e3", "e6", "e7"]
    assert p.meta.dropped == {"not employed at program start": 2,
                                 "no 'csat' values in the window": 5}


def test_team_level_rows(org):
    d = build_panel(org, "coaching", "team_csat").data.set_index("unit")
    assert d["treated"].to_dict() == {"T1": 1, "T2": 0, "T3": 1}
    assert d["outcome"].to_dict() == {"T1": 8.0, "T2": 6.0, "T3": 7.0}
    assert d["baseline"].to_dict() == {"T1": 7.0, "T2": 5.0, "T3": 6.0}
    assert d.loc["T3", "department"] == "Support"


def test_pre_post_count_with_exposure(org):
    p = build_panel(org, "deals_course", "deals")
    d = p.data
    # population: Sales reps = e1..e6, e10, e11; only e2 and e5 have deals
    assert sorted(d["unit"].unique()) == ["e2", "e5"]
    e2 = d[d["unit"] == "e2"]
    assert e2["period"].tolist() == ["2025-01", "2025-02", "2025-03", "2025-04"]
    assert e2["post"].tolist() == [0, 0, 1, 1]
    assert e2["outcome"].tolist() == [1.0, 2.0, 3.0, 4.0]
    assert e2["exposure"].tolist() == [20.0] * 4
    assert (e2["treated"] == 1).all() and (d.loc[d["unit"] == "e5", "treated"] == 0).all()
    # e5 has no exposure for 2025-04: that row is reported, not silently dropped
    assert d[d["unit"] == "e5"]["period"].tolist() == ["2025-01", "2025-02", "2025-03"]
    assert p.meta.dropped["rows without an exposure value (left out)"] == 1
    assert e2["baseline"].iloc[0] == 1.5
    assert p.meta.periods == ["2025-01", "2025-02", "2025-03", "2025-04"]


def test_staggered_cohorts_and_event_time(org):
    p = build_panel(org, "onboarding", "quota")
    d = p.data
    e2 = d[d["unit"] == "e2"]       # T1 starts 2025-03
    assert e2["cohort"].unique().tolist() == ["2025-03"]
    assert e2["event_time"].tolist() == [-2.0, -1.0, 0.0, 1.0, 2.0, 3.0]
    assert e2["post"].tolist() == [0, 0, 1, 1, 1, 1]
    e6 = d[d["unit"] == "e6"]       # T2 starts 2025-05
    assert e6["event_time"].tolist() == [-4.0, -3.0, -2.0, -1.0, 0.0, 1.0]
    assert e6["post"].tolist() == [0, 0, 0, 0, 1, 1]
    e7 = d[d["unit"] == "e7"]       # T3 never treated
    assert e7["cohort"].isna().all() and e7["event_time"].isna().all()
    assert (e7["treated"] == 0).all() and (e7["post"] == 0).all()


def test_staggered_time_to_event_one_row_per_employee(org):
    p = build_panel(org, "onboarding", "ttfd")
    d = p.data.set_index("unit")
    assert sorted(d.index) == ["e10", "e3", "e9"]
    assert d.loc["e10", "treated"] == 1           # hired 2025-06 into T1 (started 2025-03)
    assert d.loc["e3", "treated"] == 0            # hired before T1 started
    assert d.loc["e9", "treated"] == 0            # T3 never treated
    assert d.loc["e9", "censored"] == 1 and d.loc["e3", "censored"] == 0
    assert d.loc["e10", "outcome"] == 40.0
    assert d.loc["e10", "period"] == "2025-06" and d.loc["e10", "event_time"] == 3.0
    assert np.isnan(d.loc["e9", "event_time"])


def test_enrollment_fallback_warns(org):
    p = build_panel(org, "micro", "csat")
    d = p.data.set_index("unit")
    # enrolled under lms/micro/: e2, e6, e7 (e3's activity has another prefix)
    assert d["treated"].to_dict() == {"e2": 1, "e3": 0, "e6": 1, "e7": 1}
    assert p.meta.arm_source == "enrollments"
    assert any("selection bias" in w for w in p.meta.warnings)


STAG_ENROLLED = """\
  - id: stag_enrolled
    name: Staggered by enrolment
    population: {role: rep}
    program: {type: elearning, lms_activity_prefix: "lms/stag/"}
    design: {type: staggered, unit: team, start: 2025-03-01}
    outcomes:
      - {id: quota, kpi: quota, family: normal, direction: increase}
"""


def test_participants_observed_counts_the_treated_employed_at_the_start_or_hired_later(org):
    from lndbayes.roi import participants_observed

    org.programs = programs_from_text(PROGRAMS + STAG_ENROLLED, file="programs.yaml")
    # e11 (T2) enrolled, then left before the start; e2 (T1) enrolled after the start
    extra = pd.DataFrame({"employee_key": ["e11", "e2"], "activity_id": ["lms/stag/1", "lms/stag/1"],
                          "enrolled_at": pd.to_datetime(["2024-12-01", "2025-04-01"], utc=True),
                          "completed_at": pd.NaT, "score_scaled": np.nan, "success": None,
                          "reaction": np.nan})
    org.tables["enrollments"] = pd.concat([org.enrollments, extra], ignore_index=True)
    count = {pid: participants_observed(org, org.programs.get_program(pid))
             for pid in ("coaching", "onboarding", "micro", "stag_enrolled")}
    # coaching: m1, m3 assigned; onboarding: T1 (e1, e2, e3, e10) and T2 (e4, e5, e6; e11 left
    # before the start); micro: enrolled e2, e6, e7; stag_enrolled: only T1 started (e2), since
    # T2's one enrolment is e11's, who had left: T1's four reps
    assert count == {"coaching": 2, "onboarding": 7, "micro": 3, "stag_enrolled": 4}


def test_a_checkpoints_panels_share_one_population_and_equal_a_plain_cut(org):
    from lndbayes.monitoring.asof import as_of, cut_table
    from lndbayes.roi import participants_observed

    cut = pd.Timestamp("2025-05-01")
    org_k = as_of(org, cut)
    plain = Org(root=org.root, ledger=org.ledger, programs=org.programs,
                tables={k: cut_table(k, v, cut) for k, v in org.tables.items()})
    pairs = [("coaching", "attrition_12m"), ("coaching", "csat"), ("onboarding", "quota"),
             ("micro", "csat"), ("deals_course", "deals")]
    for pid, oid in pairs + pairs:        # the second time from the checkpoint's memo
        a, b = build_panel(org_k, pid, oid), build_panel(plain, pid, oid)
        pd.testing.assert_frame_equal(a.data, b.data)
        pd.testing.assert_frame_equal(a.units, b.units)
        assert a.meta == b.meta
    for pid in ("coaching", "onboarding", "micro"):
        prog = org.programs.get_program(pid)
        assert participants_observed(org_k, prog) == participants_observed(plain, prog)
    memo = org_k.tables.memo
    assert sorted(k[1] for k in memo if k[0] == "population") == [
        "coaching", "deals_course", "micro", "onboarding"]
    # the balance table's view of the employees: one per program start, whatever the outcome
    starts = {pd.Timestamp(org.programs.get_program(pid).design.start) for pid, _ in pairs}
    assert {k for k in memo if k[0] != "population"} == {("staff_at", s) for s in starts}
    assert not hasattr(plain.tables, "memo")     # a loaded organisation recomputes every time


def test_errors(org):
    with pytest.raises(ModelInputError, match="valid programs are: coaching, deals_course"):
        build_panel(org, "coachin", "csat")
    # the analysis resolves the program the same way, before anything is fitted
    with pytest.raises(ModelInputError, match="valid programs are: coaching, deals_course"):
        lb.analyse_program(org, "coachin")
    with pytest.raises(ModelInputError, match="outcomes are: attrition_12m, csat"):
        build_panel(org, "coaching", "nope")
    with pytest.raises(ConfigError, match="KPI 'nps' has no observations") as e:
        build_panel(org, "coaching", "missing_kpi")
    assert e.value.row == 15 and e.value.column == "programs[0].outcomes[4].kpi" and "csat" in e.value.fix and "quota" in e.value.fix
    with pytest.raises(ConfigError, match="population selects nobody") as e:
        build_panel(org, "nobody", "attrition")
    assert e.value.row == 41 and e.value.column == "programs[4].population" and "Sales" in e.value.fix
    with pytest.raises(ModelInputError, match="treatment arm"):
        build_panel(org, "one_arm", "attrition")
    org.tables["enrollments"] = org.enrollments.iloc[0:0]
    with pytest.raises(ModelInputError, match="no assignments"):
        build_panel(org, "micro", "csat")


def test_balance_table(org):
    b = balance_table(build_panel(org, "coaching", "csat")).set_index("variable")
    # treated e2, e3, e7 (baselines 4, 4, 2); control e6 (baseline 2)
    assert b.loc["baseline", "mean_treated"] == pytest.approx(10 / 3)
    assert b.loc["baseline", "mean_control"] == 2.0
    assert (b.loc["baseline", "n_treated"], b.loc["baseline", "n_control"]) == (3, 1)
    sd_t = np.std([4, 4, 2], ddof=1)
    assert b.loc["baseline", "std_diff"] == pytest.approx((10 / 3 - 2) / np.sqrt(sd_t**2 / 2))
    # team size at start: T1 = m1, e1, e2, e3 (e10 not hired yet); T2 = m2, e4, e5, e6; T3 = 4
    assert b.loc["team_size", "mean_treated"] == 4.0 and b.loc["team_size", "mean_control"] == 4.0
    # tenure at 2025-03-01 of e6 (hired 2023-01-01)
    assert b.loc["tenure_months", "mean_control"] == pytest.approx(790 / 30.4375)


EXTRA = """\
  - id: stag_attr
    name: Staggered, HRIS outcomes
    population: {role: rep}
    program: {type: course}
    design: {type: staggered, unit: team, start: 2025-03-01}
    outcomes:
      - {id: attr, kpi: attrition, family: binary, direction: decrease, window_months: 3}
      - {id: team_attr, kpi: attrition, family: count, direction: decrease, measured_on: team,
         window_months: 3}
  - id: rand_team
    name: Team randomised
    population: {role: manager}
    program: {type: course}
    design: {type: randomized, unit: team, start: 2025-03-01}
    outcomes:
      - {id: team_attr, kpi: attrition, family: count, direction: decrease, measured_on: team}
  - id: everyone
    name: No control group
    population: {department: Sales, role: rep}
    program: {type: course}
    design: {type: pre_post, start: 2025-03-01}
    outcomes:
      - {id: deals, kpi: deals, family: count, direction: increase}
"""


@pytest.fixture
def org2(org):
    org.programs = programs_from_text(PROGRAMS + EXTRA, file="programs.yaml")
    extra = pd.DataFrame({
        "program_id": ["stag_attr"] * 3 + ["rand_team"] * 3 + ["everyone"] * 2,
        "unit_type": "team", "unit_key": ["T1", "T2", "T3", "T1", "T2", "T3", "T1", "T2"],
        "arm": ["treatment", "treatment", "control", "treatment", "control", "control",
                "treatment", "treatment"],
        "start_date": pd.to_datetime(["2025-03-01", "2025-05-01"] + [None] * 6)})
    org.tables["assignments"] = pd.concat([org.assignments, extra], ignore_index=True)
    return org


def test_staggered_hris_person_months(org2):
    p = build_panel(org2, "stag_attr", "attr")
    d = p.data
    # months from (earliest start - 3) to (latest start + 3): 2024-12 .. 2025-07, while employed
    e1 = d[d["unit"] == "e1"]         # T1 (2025-03), left 2025-06-15
    assert e1["period"].tolist() == ["2024-12", "2025-01", "2025-02", "2025-03", "2025-04",
                                     "2025-05", "2025-06"]
    assert e1["outcome"].tolist() == [0, 0, 0, 0, 0, 0, 1]
    assert e1["event_time"].tolist() == [-3, -2, -1, 0, 1, 2, 3]
    assert (e1["team"] == "T1").all() and e1["baseline"].isna().all()
    e10 = d[d["unit"] == "e10"]       # hired 2025-06-01
    assert e10["period"].tolist() == ["2025-06", "2025-07"]
    e11 = d[d["unit"] == "e11"]       # T2 (2025-05), left 2025-01-15
    assert e11["period"].tolist() == ["2024-12", "2025-01"] and e11["outcome"].tolist() == [0, 1]
    assert e11["cohort"].unique().tolist() == ["2025-05"] and (e11["post"] == 0).all()


def test_team_level_attrition_counts(org2):
    d = build_panel(org2, "rand_team", "team_attr").data.set_index("unit")
    # employed at 2025-03-01: T1 m1 e1 e2 e3; T2 m2 e4 e5 e6; T3 m3 e7 e8 e9
    assert d["exposure"].to_dict() == {"T1": 4.0, "T2": 4.0, "T3": 4.0}
    # leavers in [2025-03-01, 2026-03-01): e1 (T1), e5 (T2)
    assert d["outcome"].to_dict() == {"T1": 1.0, "T2": 1.0, "T3": 0.0}
    assert d["treated"].to_dict() == {"T1": 1, "T2": 0, "T3": 0}
    assert d["cohort"].isna().all() and (d["post"] == 1).all()
    p = build_panel(org2, "stag_attr", "team_attr")
    t1 = p.data[p.data["unit"] == "T1"].set_index("period")
    assert t1.loc["2025-06", "outcome"] == 1.0 and t1.loc["2025-06", "exposure"] == 5.0


def test_pre_post_without_control_group_warns(org2):
    p = build_panel(org2, "everyone", "deals")
    assert set(p.data["treated"]) == {1}
    assert any("no control group" in w for w in p.meta.warnings)
    # count without an exposure KPI: exposure 1 per row
    assert (p.data["exposure"] == 1.0).all()
    # population e1..e6, e10, e11: six have no deals at all, reported
    assert p.meta.dropped == {"no 'deals' values": 6}


def test_each_family_entry_says_how_a_window_becomes_one_outcome():
    # the panel asks the family entry (lndbayes.models.families), not a switch on its name
    vals = pd.DataFrame({"entity_key": ["a", "a", "a", "b", "b"],
                         "value": [0.0, 2.0, 3.6, 0.0, 0.0]}).groupby("entity_key")["value"]
    got = {f: get_family(f).aggregate_window(vals).tolist() for f in FAMILIES}
    assert got["binary"] == [1.0, 0.0]          # the event happened in some period
    assert got["count"] == [5.6, 0.0]           # events add up over the window
    assert got["ordinal"] == [4.0, 0.0]         # the latest score, a category
    for f in ("normal", "lognormal", "time_to_event"):
        assert got[f] == pytest.approx([5.6 / 3, 0.0])
    assert [f for f in FAMILIES if get_family(f).one_row_per_person] == ["time_to_event"]
    assert [f for f in FAMILIES if get_family(f).needs_exposure] == ["count"]


def test_family_display_scale():
    # a probability reads as percentage points; the outcome's own unit label wins elsewhere
    assert get_family("binary").display_scale() == (100.0, "percentage points")
    assert get_family("binary").display_scale("days") == (100.0, "percentage points")
    assert get_family("ordinal").display_scale() == (1.0, "score points (1\u20135)")
    for f in ("normal", "lognormal", "count", "time_to_event", "ordinal"):
        assert get_family(f).display_scale("days") == (1.0, "days")
    assert get_family("normal").display_scale() == (1.0, "units")


def test_design_entries_carry_the_panel_rules():
    """The panel builder asks the design entry, not the design's name, how a design's rows and
    arm checks are formed (adding a design touches designs.py and one registration)."""
    from lndbayes.design.designs import DESIGNS, get_design

    flags = {n: (d.one_row_per_unit, d.has_cohorts, d.over_time) for n, d in DESIGNS.items()}
    assert flags == {"randomized": (True, False, False), "pre_post": (False, False, True),
                     "staggered": (False, True, True)}
    pre, stag = get_design("pre_post"), get_design("staggered")
    only_after = pd.DataFrame({"treated": [1, 0], "post": [1, 1], "cohort": [None, None]})
    with pytest.raises(ModelInputError, match="every observation of p/o is after the program"):
        pre.check_arms(only_after, "p/o", [])
    warnings: list = []
    pre.check_arms(only_after.assign(post=[0, 1], treated=[1, 1]), "p/o", warnings)
    assert warnings and warnings[0].startswith("no control group")
    with pytest.raises(ModelInputError, match="no unit of p/o is treated"):
        pre.check_arms(only_after.assign(post=[0, 1], treated=[0, 0]), "p/o", [])
    with pytest.raises(ModelInputError, match="no team of p/o ever starts"):
        stag.check_arms(only_after, "p/o", [])
    with pytest.raises(ModelInputError, match=r"start in the same month \(2024-03\)"):
        stag.check_arms(only_after.assign(cohort=["2024-03", "2024-03"]), "p/o", [])
    stag.check_arms(only_after.assign(cohort=["2024-03", None]), "p/o", [])  # never-treated ok
    get_design("randomized").check_arms(only_after, "p/o", [])  # its arms are checked per unit

    hire = pd.Series(pd.to_datetime(["2024-01-15", "2024-05-02"]))
    rows = pd.DataFrame({"cohort": [pd.Timestamp("2024-03-01"), pd.NaT],
                         "cohort_m": [2024 * 12 + 2, np.nan], "treated": [1, 0]})
    r = rows.copy()
    stag.person_timing(r, hire, pd.Series([2024 * 12, 2024 * 12 + 4]), pd.Timestamp("2024-03-01"))
    assert list(r["treated"]) == [0, 0] and list(r["post"]) == [0, 0]
    r = rows.copy()
    pre.person_timing(r, hire, None, pd.Timestamp("2024-03-01"))
    assert list(r["post"]) == [0, 1] and r["cohort"].isna().all()


def test_the_column_helpers_give_what_the_per_key_python_gave():
    """calendar's isin_keys / months_of / period_labels and arms.team_departments replace
    per-element Python over Arrow text (interim monitoring's panels); same results, ties and
    missing values included."""
    from lndbayes.design.arms import team_departments
    from lndbayes.design.calendar import isin_keys, month_index, months_of, period_labels, period_str

    def old_departments(emp):
        d = emp[["team", "department"]].dropna()
        n = d.assign(team=d["team"].astype(str)).value_counts(["team", "department"])
        n = n.rename("n").reset_index().sort_values(["team", "n", "department"],
                                                    ascending=[True, False, True], kind="stable")
        return n.drop_duplicates("team").set_index("team")["department"]

    rng = np.random.default_rng(1)
    for _ in range(50):
        n = int(rng.integers(1, 60))
        text = lambda choices: pd.Series(rng.choice(choices, n), dtype="str")  # noqa: E731
        values, keys = text(["a", "b", "é", None]), text(["a", "x", None])[: int(rng.integers(0, n))]
        pd.testing.assert_series_equal(isin_keys(values, keys), values.isin(set(keys)))
        emp = pd.DataFrame({"team": text(["t1", "t2", "T3", None]),
                            "department": text(["b", "a", "B", "é", None])})
        pd.testing.assert_series_equal(team_departments(emp), old_departments(emp), check_exact=True)
        periods = text(["2024-01", "2023-12", "2025-07"])
        pd.testing.assert_series_equal(months_of(periods), periods.map(month_index))
        months = pd.Series(rng.choice([24290.0, 24300.0, np.nan], n))
        expected = months.map(lambda m: None if pd.isna(m) else period_str(int(m)))
        # as the panel keeps them (_frame): text or None
        kept = expected.astype(object).where(expected.notna(), None)
        assert period_labels(months).tolist() == kept.tolist()
    empty = pd.Series([], dtype="str")
    for emp in (pd.DataFrame({"team": empty, "department": empty}),
                pd.DataFrame({"team": pd.Series(["t1"], dtype="str"), "department": [np.nan]})):
        pd.testing.assert_series_equal(team_departments(emp), old_departments(emp), check_exact=True)

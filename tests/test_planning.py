"""Experiment design (lndbayes.planning): random assignment and Bayesian assurance.

Assignment: reproducible to the byte whatever the row order, balanced within every stratum,
whole teams in a cluster design, and a file the package's own ingestion accepts. Assurance:
checked with values against the closed form (normal outcome, known sd; O'Hagan and Stevens
2001), the z test's power, a direct person-by-person simulation, and the ordering that
clustering must produce.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from scipy import special, stats

import lndbayes as lb
from lndbayes.cli import main as cli_main
from lndbayes.errors import ContractError, LndbayesError, ModelInputError
from lndbayes.planning import (assurance, assurance_closed_form, design_experiment,
                               smallest_sample_size)
from lndbayes.planning.assurance import binary_effect_notes, p_positive_from_data

PROGRAMS_YAML = """\
organisation: {name: Tiny Co, currency: EUR, privacy_min_group: 5}
programs:
  - id: sales_pilot
    name: Sales pilot
    population: {department: [Sales]}
    program: {type: course}
    design: {type: randomized, unit: employee, start: 2025-03-01}
    outcomes: [{id: deals, kpi: deals, family: count, direction: increase}]
  - id: team_pilot
    name: Team pilot
    program: {type: workshop}
    design: {type: randomized, unit: team, start: 2025-03-01}
    outcomes: [{id: csat, kpi: csat, family: normal, direction: increase}]
"""


def people(n=203, teams=13, seed=0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    team = rng.integers(0, teams, n)
    return pd.DataFrame({
        "employee_id": [f"E{i:04d}" for i in range(n)],
        "team": [f"team_{t:02d}" for t in team],
        "department": np.where(team < teams // 2, "Sales", "Ops"),
        "role": rng.choice(["agent", "lead"], n, p=[0.8, 0.2]),
        "level": rng.integers(1, 6, n),
        "hire_date": (pd.Timestamp("2019-01-01") + pd.to_timedelta(rng.integers(0, 2000, n), "D")).strftime("%Y-%m-%d"),
    })


@pytest.fixture(scope="module")
def tiny_root(tmp_path_factory):
    """A data root the package can ingest: employees, one enrolment, programs.yaml."""
    root = tmp_path_factory.mktemp("tiny_org")
    raw = root / "raw"
    raw.mkdir()
    p = people()
    p.assign(termination_date="", termination_reason="", manager_id="").to_csv(raw / "employees.csv", index=False)
    (raw / "enrollments.csv").write_text("employee_id,activity_id,enrolled_at\nE0000,https://lms/x,2025-01-02\n")
    (raw / "programs.yaml").write_text(PROGRAMS_YAML)
    return root


# ============================================================================ assignment
def test_same_seed_same_bytes_whatever_the_row_order(tmp_path):
    df = people()
    a = design_experiment(df, program="pilot", strata=["role"], seed=7, out=tmp_path / "a.csv")
    design_experiment(df.sample(frac=1, random_state=3), program="pilot", strata=["role"], seed=7,
                      out=tmp_path / "b.csv")
    assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes()
    assert (tmp_path / "a_balance.csv").exists()
    c = design_experiment(df, program="pilot", strata=["role"], seed=8)
    assert not a.assignments["arm"].equals(c.assignments["arm"])  # the seed matters
    assert list(a.assignments.columns) == ["program_id", "unit_type", "unit_id", "arm", "start_date"]
    assert a.assignments["unit_id"].is_unique and len(a.assignments) == len(df)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_every_stratum_and_the_totals_are_balanced(seed):
    res = design_experiment(people(seed=seed), program="pilot", strata=["role"], seed=seed)
    m = res.members
    by = m.groupby(["team", "role"])["arm"].agg(lambda a: (a == "treatment").sum() - (a == "control").sum())
    assert by.abs().max() <= 1
    assert abs(res.n("treatment") - res.n("control")) <= 1
    # left-overs (one per odd stratum) are split evenly, not all to one arm
    assert (res.strata["n_treatment"] - res.strata["n_control"]).abs().max() <= 1
    # the balance table: standardised differences of every attribute, small for a randomised split
    b = res.balance.set_index("variable")
    assert {"team_size", "level", "tenure_years", "department=Sales", "role=lead"} <= set(b.index)
    assert b["std_diff"].abs().max() < 0.4
    # a standardised difference is (mean_t - mean_c) / sqrt((sd_t^2 + sd_c^2) / 2)
    r = b.loc["level"]
    assert r["std_diff"] == pytest.approx((r["mean_treated"] - r["mean_control"]) /
                                          math.sqrt((r["sd_treated"] ** 2 + r["sd_control"] ** 2) / 2))


def test_cluster_design_keeps_teams_whole_and_balances_departments():
    res = design_experiment(people(n=400, teams=24), program="pilot", unit="team",
                            strata=["department"], seed=5)
    assert res.design == "cluster" and set(res.assignments["unit_type"]) == {"team"}
    assert res.members.groupby("team")["arm"].nunique().max() == 1
    teams = res.members.drop_duplicates("team")
    per_dept = teams.groupby("department")["arm"].agg(lambda a: (a == "treatment").sum() - (a == "control").sum())
    assert per_dept.abs().max() <= 1
    assert abs(res.n("treatment") - res.n("control")) <= 1


def test_the_file_passes_the_packages_ingestion(tiny_root, tmp_path):
    from lndbayes.data.ingest import ingest

    raw = tmp_path / "raw"
    raw.mkdir()
    for f in ("employees.csv", "enrollments.csv"):
        (raw / f).write_bytes((tiny_root / "raw" / f).read_bytes())
    df = pd.read_csv(raw / "employees.csv", dtype=str)
    a = design_experiment(df, program="pilot", seed=1, start_date="2025-03-01")
    b = design_experiment(df, program="pilot_teams", unit="team", seed=1)
    pd.concat([a.assignments, b.assignments]).to_csv(raw / "assignments.csv", index=False)
    res = ingest(raw, tmp_path, pseudonym_key="k", progress=False)
    led = res.ledger.set_index("table").loc["assignments"]
    assert led["rows_read"] == len(a.assignments) + len(b.assignments)
    assert led["rows_rejected"] == 0
    got = res.tables["assignments"]
    assert (got.groupby("program_id")["arm"].value_counts().unstack()
            .sub(got.groupby("program_id").size() / 2, axis=0).abs() <= 0.5).all().all()


def test_programs_population_from_the_org(tiny_root):
    org = lb.load_org(tiny_root)
    res = lb.design_experiment(org=org, program="sales_pilot", seed=3)
    sales = people().query("department == 'Sales'")
    assert set(res.assignments["unit_id"]) == set(sales["employee_id"])  # raw ids, not keys
    assert set(res.assignments["start_date"]) == {"2025-03-01"}
    team = lb.design_experiment(org=tiny_root, program="team_pilot", seed=3)  # a data root works too
    assert team.unit_type == "team" and len(team.assignments) == people()["team"].nunique()
    with pytest.raises(ModelInputError, match="unknown program 'nope'.*sales_pilot"):
        lb.design_experiment(org=org, program="nope")


def test_bad_people_tables_get_errors_naming_file_column_and_fix(tmp_path):
    df = people(n=20)
    with pytest.raises(ContractError, match=r"column 'team'.*no team column.*Fix"):
        design_experiment(df.drop(columns="team"), program="p")
    bad = pd.concat([df, df.iloc[[3]]])
    path = tmp_path / "people.csv"
    bad.to_csv(path, index=False)
    with pytest.raises(ContractError, match=r"people.csv, column 'employee_id': 1 duplicate id.*line 5 and line 22.*Fix"):
        design_experiment(path, program="p")
    with pytest.raises(ContractError, match="population is empty.*Fix"):
        design_experiment(df.iloc[:0], program="p")
    with pytest.raises(ContractError, match="too small to split: 1 team.*Fix"):
        design_experiment(df.assign(team="one"), program="p", unit="team")
    with pytest.raises(ModelInputError, match="program id"):
        design_experiment(df, program="Not An Id")
    one = df.assign(team=[f"t{i}" for i in range(len(df))])  # every stratum a single person
    res = design_experiment(one, program="p", seed=0)
    assert any("single person" in n for n in res.notes)
    assert abs(res.n("treatment") - res.n("control")) <= 1


def test_design_cli_writes_the_file(tmp_path, capsys):
    path = tmp_path / "people.csv"
    people().to_csv(path, index=False)
    rc = cli_main(["design", "--people", str(path), "--program", "pilot", "--strata", "role",
                   "--seed", "4", "--out", str(tmp_path / "out" / "assign.csv")])
    assert rc == 0
    out = pd.read_csv(tmp_path / "out" / "assign.csv")
    assert len(out) == len(people()) and set(out["arm"]) == {"treatment", "control"}
    assert (tmp_path / "out" / "assign_balance.csv").exists()
    assert cli_main(["design", "--people", str(path), "--program", "pilot", "--team-column", "squad",
                     "--out", str(tmp_path / "x.csv")]) == 2
    assert "column 'squad'" in capsys.readouterr().err


# ============================================================================ assurance
def test_matches_the_closed_form_within_monte_carlo_error():
    ns = [20, 60, 150]
    for prior_sd in (None, 2.0):
        res = assurance("normal", effect=3.0, effect_sd=1.5, outcome_sd=10.0, n_per_arm=ns,
                        analysis_prior_sd=prior_sd, known_sd=True, seed=11)
        exact = assurance_closed_form(effect=3.0, effect_sd=1.5, outcome_sd=10.0, n_per_arm=ns,
                                      analysis_prior_sd=prior_sd)
        assert np.all(np.abs(res.table["assurance"] - exact) < 3.5 * res.table["mc_se"])
        assert res.table["mc_se"].max() < 0.01  # the default number of simulations says so


def test_smallest_sample_search_matches_the_closed_form():
    kw = dict(family="normal", effect=3.0, effect_sd=1.0, outcome_sd=10.0, known_sd=True, seed=3)
    found = smallest_sample_size(0.8, n_max=2000, **kw)
    ns = np.arange(2, 2000)
    exact = ns[np.argmax(assurance_closed_form(effect=3.0, effect_sd=1.0, outcome_sd=10.0, n_per_arm=ns) >= 0.8)]
    # near the target the closed form gains ~0.002 per person, the Monte Carlo sd is ~0.006
    assert found["reached"] and abs(found["n_per_arm"] - exact) <= 12
    # a target above the design prior's P(effect > 0) cannot be reached, and says so
    assert not smallest_sample_size(0.99, n_max=500, **{**kw, "effect_sd": 2.0})["reached"]


def test_point_design_prior_and_flat_analysis_prior_give_the_z_tests_power():
    n, sd, d = np.array([30, 80, 200]), 8.0, 2.5
    res = assurance("normal", effect=d, effect_sd=0.0, outcome_sd=sd, n_per_arm=n,
                    analysis_prior_sd=math.inf, known_sd=True, seed=2)
    power = stats.norm.cdf(d / np.sqrt(2 * sd ** 2 / n) - stats.norm.ppf(0.95))
    assert np.all(np.abs(res.table["assurance"] - power) < 3.5 * res.table["mc_se"])
    # with the sd estimated (the default) it is the one-sided t test's power (noncentral t)
    small = np.array([4, 10])
    t_res = assurance("normal", effect=d, outcome_sd=sd, n_per_arm=small, analysis_prior_sd=math.inf,
                      n_sims=20000, seed=2)
    dof = 2 * small - 2
    t_power = stats.nct.sf(stats.t.ppf(0.95, dof), dof, d / np.sqrt(2 * sd ** 2 / small))
    assert np.all(np.abs(t_res.table["assurance"] - t_power) < 3.5 * t_res.table["mc_se"])
    # a decrease is the mirror image
    dec = assurance("normal", effect=-d, outcome_sd=sd, n_per_arm=n, analysis_prior_sd=math.inf,
                    known_sd=True, direction="decrease", seed=2)
    assert np.all(np.abs(dec.table["assurance"] - power) < 3.5 * dec.table["mc_se"])


def test_monotone_in_n_and_clustering_costs_assurance():
    ns = [20, 80, 320]
    kw = dict(effect=0.5, effect_sd=0.2, base_rate=0.2, n_per_arm=ns, n_sims=2000, seed=1)
    plain = assurance("binary", **kw).table["assurance"].to_numpy()
    cluster = assurance("binary", teams=16, effect_sd_team=0.4, intercept_sd_team=0.5, **kw)
    within = assurance("binary", teams=16, unit="employee", effect_sd_team=0.4, intercept_sd_team=0.5,
                       **{**kw, "n_per_arm": [80, 320]})
    se = cluster.table["mc_se"].to_numpy()
    assert np.all(np.diff(plain) > 0.05) and np.all(np.diff(cluster.table["assurance"]) > 0.03)
    assert np.all(plain - cluster.table["assurance"].to_numpy() > 4 * se)
    # randomising people within teams loses less than randomising whole teams
    assert np.all(within.table["assurance"].to_numpy() - cluster.table["assurance"].to_numpy()[1:]
                  > 3 * se[1:])
    # never above the design prior's own P(effect > 0)
    assert plain.max() <= stats.norm.cdf(0.5 / 0.2) + 0.01
    small = assurance("binary", **{**kw, "n_per_arm": [20, 80, 320, 1280]}).smallest(0.6)
    assert int(small["n_per_arm"].iloc[0]) in (80, 320, 1280)


@pytest.mark.parametrize("layout", ["within", "cluster"])
def test_fast_simulation_agrees_with_a_direct_person_by_person_simulation(layout):
    """The assurance simulation draws cell sufficient statistics; simulating every person and
    analysing the table must give the same assurance (within Monte Carlo error)."""
    T, n, S = 8, 80, 500
    p = dict(effect=0.6, effect_sd=0.3, base_rate=0.25, effect_sd_team=0.3, intercept_sd_team=0.4)
    unit = "employee" if layout == "within" else "team"
    fast = assurance("binary", n_per_arm=n, teams=T, unit=unit, seed=5, n_sims=4000, **p).table.iloc[0]
    rng = np.random.default_rng(9)
    team = np.tile(np.arange(T), 2 * n // T)
    treated = (np.arange(2 * n) < n).astype(int) if layout == "within" else (team < T // 2).astype(int)
    hits = 0
    for _ in range(S):
        delta = p["effect"] + p["effect_sd"] * rng.standard_normal()
        a = p["intercept_sd_team"] * rng.standard_normal(T)
        b = p["effect_sd_team"] * rng.standard_normal(T)
        eta = special.logit(p["base_rate"]) + a[team] + treated * (delta + b[team])
        df = pd.DataFrame({"y": (rng.random(2 * n) < special.expit(eta)).astype(int),
                           "t": treated, "team": team})
        hits += p_positive_from_data(df, family="binary", outcome="y", treatment="t",
                                     group="team", prior_scale=1.0) > 0.95
    direct = hits / S
    se = math.sqrt(fast["mc_se"] ** 2 + direct * (1 - direct) / S)
    assert abs(direct - fast["assurance"]) < 3.5 * se


def test_count_family_durations_add_information():
    res = assurance("count", effect=-0.3, effect_sd=0.1, base_rate=0.2, overdispersion=0.3,
                    n_per_arm=[60], durations=[3, 12], direction="decrease", n_sims=2000)
    a = res.table.set_index("duration_months")["assurance"]
    assert a[12.0] - a[3.0] > 4 * res.table["mc_se"].max()
    wrong_way = assurance("count", effect=0.3, base_rate=0.2, n_per_arm=[200], direction="decrease",
                          n_sims=1000)
    assert wrong_way.table["assurance"].iloc[0] < 0.01


def test_bad_assurance_requests_get_clear_errors():
    with pytest.raises(ModelInputError, match="ordinal.*not supported.*Supported: normal"):
        assurance("ordinal", effect=1.0, n_per_arm=[50])
    with pytest.raises(ModelInputError, match="time-to-event"):
        assurance("time_to_event", effect=1.0, n_per_arm=[50])
    with pytest.raises(ModelInputError, match="outcome_sd must be positive.*Fix"):
        assurance("normal", effect=1.0, outcome_sd=-2, n_per_arm=[50])
    with pytest.raises(ModelInputError, match="outcome_sd is required"):
        assurance("normal", effect=1.0, n_per_arm=[50])
    with pytest.raises(ModelInputError, match="at least 2 per arm"):
        assurance("normal", effect=1.0, outcome_sd=1, n_per_arm=[1, 50])
    with pytest.raises(ModelInputError, match="base_rate.*below 1"):
        assurance("binary", effect=1.0, base_rate=1.5, n_per_arm=[50])
    with pytest.raises(ModelInputError, match="at least 4 teams"):
        assurance("normal", effect=1.0, outcome_sd=1, n_per_arm=[50], teams=2)
    with pytest.raises(ModelInputError, match="cannot fill 40 teams"):
        assurance("normal", effect=1.0, outcome_sd=1, n_per_arm=[10], teams=40, unit="employee")
    with pytest.raises(LndbayesError, match="unknown family"):
        assurance("weibull", effect=1.0, n_per_arm=[50])


def test_assurance_cli_writes_the_json(tmp_path, capsys):
    out = tmp_path / "a.json"
    rc = cli_main(["assurance", "--family", "normal", "--outcome-sd", "10", "--effect", "3",
                   "--effect-sd", "1", "--n-per-arm", "50,100,200", "--out", str(out), "--sims", "2000"])
    assert rc == 0
    js = json.loads(out.read_text())
    rows = js["assurance"]
    assert [r["n_per_arm"] for r in rows] == [50, 100, 200]
    a = [r["assurance"] for r in rows]
    exact = assurance_closed_form(effect=3, effect_sd=1, outcome_sd=10, n_per_arm=[50, 100, 200])
    assert np.all(np.abs(np.array(a) - exact) < 0.04)  # sd estimated here, known in the closed form
    assert all(0 < r["mc_se"] < 0.012 for r in rows)
    assert js["settings"]["threshold"] == 0.95 and js["target_assurance"] == 0.8
    assert js["smallest_sample"][0]["n_per_arm"] == 200
    rc = cli_main(["assurance", "--family", "binary", "--base-rate", "0.2", "--effect", "0.5",
                   "--n-per-arm", "100,200", "--teams", "20", "--effect-sd-team", "0.5",
                   "--sims", "1000", "--out", str(tmp_path / "b.json")])
    assert rc == 0 and json.loads((tmp_path / "b.json").read_text())["assurance"][0]["teams"] == 20
    assert cli_main(["assurance", "--effect", "1", "--outcome-sd", "0", "--n-per-arm", "50",
                     "--out", str(tmp_path / "c.json")]) == 2
    assert "outcome_sd must be positive" in capsys.readouterr().err


def test_binary_effect_that_looks_like_a_probability_difference_is_warned_about(tmp_path, capsys):
    # 0.05 read as a log odds ratio: 0.2 -> expit(logit(0.2) + 0.05) = 0.2081, +0.81 points
    with pytest.warns(UserWarning, match="looks like a difference in probability"):
        res = assurance("binary", effect=0.05, base_rate=0.2, n_per_arm=[100], n_sims=200)
    warn = res.notes[0]
    assert warn.startswith("WARNING: ") and "+0.81 percentage points" in warn
    # the log odds ratio of 0.20 -> 0.25 that the user probably meant
    assert f"--effect {special.logit(0.25) - special.logit(0.2):.3f}" in warn and "--effect 0.288" in warn
    assert any("odds ratio 1.05" in n and "0.208" in n for n in res.notes)
    # a log odds ratio of a plausible size: the meaning is noted, no warning
    import warnings as w
    with w.catch_warnings():
        w.simplefilter("error")
        res = assurance("binary", effect=0.5, base_rate=0.2, n_per_arm=[100], n_sims=200)
    assert not any(n.startswith("WARNING") for n in res.notes)
    assert any("0.292" in n and "+9.2 percentage points" in n for n in res.notes)   # expit(logit(.2)+.5)
    # a negative difference near a small base rate that cannot be one (0.03 - 0.05 < 0): no suggestion
    _, warn = binary_effect_notes(-0.05, 0.03)
    assert "looks like" in warn and "If you meant" not in warn
    # the command line prints it once, on stderr, and still writes the JSON
    rc = cli_main(["assurance", "--family", "binary", "--base-rate", "0.2", "--effect", "0.05",
                   "--n-per-arm", "100", "--sims", "200", "--out", str(tmp_path / "w.json")])
    err = capsys.readouterr().err
    assert rc == 0 and err.count("looks like a difference in probability") == 1 and "--effect 0.288" in err
    assert json.loads((tmp_path / "w.json").read_text())["notes"][0].startswith("WARNING")


def test_assurance_curve_figure():
    res = assurance("normal", effect=3, effect_sd=1, outcome_sd=10, n_per_arm=[50, 100],
                    teams=[8, 16], unit="employee", effect_sd_team=1.0, n_sims=500)
    fig = res.plot()
    ax = fig.axes[0]
    assert len(ax.get_lines()) == 3  # two curves and the target line
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["8 teams", "16 teams"]

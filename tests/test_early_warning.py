"""Early warning from operational KPIs (lndbayes.skills.early_warning): planted declines are
flagged, noise teams rarely, one wild month in a small team never on its own, the bad direction
comes from programs.yaml, small teams are not shown, and the example organisation runs.

Seeds are fixed blocks; the bounds are ones a working model meets for (almost) any block: the
measured rates over many more replications are in benchmarks/results/early_warning.md.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy.stats import norm

from lndbayes.errors import ModelInputError
from lndbayes.skills import early_warning as ew
from lndbayes.skills.early_warning import COLUMNS, candidate_skill_gaps, early_warning, simulate_kpi_org

N_TEAMS = 12
CSAT_TEAMS = [0, 1, 2]          # planted CSAT decline of 0.25 points in the last 6 months
ERROR_TEAMS = [3, 4]            # planted error-rate rise, log rate ratio +1.0 (x2.7)


@pytest.fixture(scope="module")
def planted_runs():
    runs = []
    for seed in range(7100, 7106):
        cc, ec = np.zeros(N_TEAMS), np.zeros(N_TEAMS)
        cc[CSAT_TEAMS], ec[ERROR_TEAMS] = -0.25, 1.0
        org, truth = simulate_kpi_org(seed, n_teams=N_TEAMS, sizes=np.full(N_TEAMS, 12.0),
                                      csat_change=cc, error_change=ec)
        runs.append((early_warning(org), truth))
    return runs


def _by_team(df, kpi):
    return df[df["kpi"] == kpi].set_index("team")


def test_planted_declines_are_flagged_and_noise_teams_are_not(planted_runs):
    planted, noise, p_planted = [], [], []
    for df, truth in planted_runs:
        teams = np.array(truth["teams"])
        for kpi, hit in (("csat", CSAT_TEAMS), ("errors", ERROR_TEAMS)):
            t = _by_team(df, kpi)
            planted += list(t.loc[teams[hit], "flagged"])
            p_planted += list(t.loc[teams[hit], "p_real"])
            noise += list(t.loc[np.delete(teams, hit), "flagged"])
    # 30 planted team-KPIs, each a 4+ standard-error move: all but at most one flagged
    assert sum(planted) >= len(planted) - 1, (sum(planted), len(planted))
    assert np.median(p_planted) > 0.99
    # 114 noise team-KPIs: a calibrated 0.9 threshold flags far fewer than 10% (measured ~1%)
    assert np.mean(noise) <= 0.05, np.mean(noise)


def test_change_estimates_cover_the_planted_change(planted_runs):
    inside, n = 0, 0
    for df, truth in planted_runs:
        t = _by_team(df, "csat")
        for j, team in enumerate(truth["teams"]):
            n += 1
            inside += t.loc[team, "change_lo"] <= truth["csat_change"][j] <= t.loc[team, "change_hi"]
        # the pooled estimate of a planted team is near the planted -0.25, not shrunk to 0
        assert np.all(np.abs(t.loc[np.array(truth["teams"])[CSAT_TEAMS], "change"] + 0.25) < 0.12)
    # 72 team intervals at 90%: binomial 5th percentile is 60; a broken interval falls far below
    assert inside >= 58, (inside, n)


def test_the_bad_direction_comes_from_programs_yaml(planted_runs):
    df, truth = planted_runs[0]
    errors, csat = _by_team(df, "errors"), _by_team(df, "csat")
    assert set(errors["bad_direction"]) == {"increase"} and set(csat["bad_direction"]) == {"decrease"}
    assert errors["skills"].iloc[0] == "troubleshooting, product_knowledge"
    assert errors["programs"].iloc[0] == "service_course" and errors["unit"].iloc[0] == "errors per ticket"
    # the same size of move in the good direction is no flag and a tiny P(bad)
    cc = np.zeros(N_TEAMS)
    cc[CSAT_TEAMS] = +0.25
    org, _ = simulate_kpi_org(7100, n_teams=N_TEAMS, sizes=np.full(N_TEAMS, 12.0), csat_change=cc)
    up = _by_team(early_warning(org, kpis="csat"), "csat").loc[np.array(truth["teams"])[CSAT_TEAMS]]
    assert not up["flagged"].any() and (up["p_real"] < 0.05).all() and (up["change"] > 0.15).all()
    row = csat.loc[truth["teams"][0]]
    assert "P(real decline)" in row["reason"] and "flagged" in row["reason"]
    # candidate gaps: one row per flagged team x linked skill
    gaps = candidate_skill_gaps(df)
    flagged = df[df["flagged"]]
    assert len(gaps) == 2 * len(flagged)
    assert set(gaps["skill"]) == {"troubleshooting", "product_knowledge"}
    assert set(zip(gaps["team"], gaps["kpi"])) == set(zip(flagged["team"], flagged["kpi"]))


def test_one_wild_month_in_a_small_team_is_not_a_flag():
    """A 5-person team's CSAT drops by 1 point (about 9 of its monthly sds) in the last month only.

    Unpooled, the team's own window means would call that a real decline (one-sided P >= 0.9 in
    most seeds); pooled with the eleven steady teams it is not flagged in any seed.
    """
    sizes = np.full(N_TEAMS, 15.0)
    sizes[0] = 5
    pooled, unpooled = [], []
    for seed in range(7200, 7208):
        org, _ = simulate_kpi_org(seed, sizes=sizes, outlier={"team": 0, "csat": -1.0})
        df = early_warning(org, kpis="csat")
        assert set(df["kpi"]) == {"csat"}
        pooled.append(_by_team(df, "csat").loc["Team-01", "p_real"])
        info = ew.kpi_links(org.programs)["csat"]
        tm, _ = ew._series(org.kpis, info, org.employees)
        end = int(tm["month"].max())
        st = ew.window_stats(tm, (end - 5, end), (end - 17, end - 6))
        unpooled.append(norm.cdf(-st["delta"][0] / np.sqrt(st["s2"][0] + st["s_c2"])))
    assert max(pooled) < 0.9, pooled
    assert np.mean(np.array(unpooled) >= 0.9) >= 0.5, unpooled
    # the same team with the decline sustained over the window is flagged (the test can fail)
    cc = np.zeros(N_TEAMS)
    cc[0] = -0.4
    org, _ = simulate_kpi_org(7200, sizes=sizes, csat_change=cc)
    assert _by_team(early_warning(org, kpis=["csat"]), "csat").loc["Team-01", "flagged"]


def test_teams_below_min_group_are_not_shown_but_still_pooled():
    sizes = np.full(N_TEAMS, 12.0)
    sizes[0] = 3
    cc = np.zeros(N_TEAMS)
    cc[0] = -0.6
    org, _ = simulate_kpi_org(7300, sizes=sizes, csat_change=cc)
    df = early_warning(org)
    row = _by_team(df, "csat").loc["Team-01"]
    assert row["note"] == "suppressed (fewer than 5 people)" and row["reason"] == row["note"]
    assert not row["flagged"] and np.isnan(row["p_real"]) and np.isnan(row["change"])
    assert np.isnan(row["n_people"]) and row["skills"]          # names and links stay
    assert list(df.columns) == COLUMNS
    shown = df[df["note"] == ""]
    assert shown["n_people"].min() >= 5 and len(shown) == 2 * (N_TEAMS - 1)
    # min_group=3 shows it, and the decline is flagged
    assert _by_team(early_warning(org, min_group=3, kpis="csat"), "csat").loc["Team-01", "flagged"]


def test_pure_noise_overall_and_kpis_without_a_direction():
    flags = []
    for seed in range(7400, 7404):
        org, _ = simulate_kpi_org(seed)
        df = early_warning(org)
        flags += list(df["flagged"])
    assert np.mean(flags) <= 0.05
    # tickets is the exposure of errors: skipped with the reason, or checked both ways on request
    assert "exposure of errors" in df.attrs["skipped"]["tickets"]
    both = early_warning(org, include_unlinked=True)
    t = both[both["kpi"] == "tickets"]
    assert len(t) == 12 and set(t["bad_direction"]) == {"either"} and (t["p_real"] >= 0).all()
    assert {"csat", "errors"} == {k["kpi"] for k in df.attrs["kpis"]}
    for k in df.attrs["kpis"]:
        assert k["n_teams"] == 12 and 0 <= k["p_overall_change"] <= 1


def test_pool_changes_on_known_changes():
    """Direct check of the pooling: 20 teams, 4 moved by 5 standard errors, the rest not."""
    rng = np.random.default_rng(7500)
    theta = np.zeros(20)
    theta[:4] = -5.0
    s2 = np.full(20, 1.0)
    delta = theta + rng.normal(0, 1, 20)
    post = ew.pool_changes(delta, s2, 0.0)
    assert (post["p_below"][:4] > 0.99).all() and (post["p_below"][4:] < 0.5).all()
    assert abs(post["overall_mean"]) < 0.5 and post["p_overall"] < 0.5
    assert np.all(post["p_below"] + post["p_above"] <= 1 + 1e-9)
    # everybody moved: the overall change is real and every team carries it
    post = ew.pool_changes(delta - 3.0, s2, 0.0)
    assert post["p_overall"] > 0.99 and (post["p_below"] > 0.95).all()


def test_bad_arguments_are_clear_errors():
    org, _ = simulate_kpi_org(7600, n_teams=4)
    with pytest.raises(ModelInputError, match="window_months"):
        early_warning(org, window_months=1)
    with pytest.raises(ModelInputError, match="threshold"):
        early_warning(org, threshold=1.2)
    with pytest.raises(ModelInputError, match="as_of '2025-13'"):
        early_warning(org, as_of="2025-13")
    # windows before the data starts: the KPIs are skipped with the reason, not a crash
    df = early_warning(org, as_of="2024-03")
    assert df.empty and list(df.columns) == COLUMNS
    assert df.attrs["skipped"]["csat"] == "no team has 2+ months in both 2022-10..2023-09 and 2023-10..2024-03"


def test_example_organisation(tmp_path):
    import lndbayes as lb
    from lndbayes.example import simulate_org

    simulate_org(tmp_path / "raw", seed=3, n_employees=400)
    org = lb.load_org(tmp_path)
    df = early_warning(org)
    assert {"csat", "errors", "violations", "quota_attainment"} <= set(df["kpi"])
    # the example plants improvements only (programs that work), no decline: nothing is flagged
    assert not df["flagged"].any()
    assert "time-to-event" in df.attrs["skipped"]["days_to_first_deal"]
    att = df[df["kpi"] == "attrition"]
    assert len(att) >= 10 and set(att["unit"]) == {"leavers per employee-month"}
    assert set(att["skills"]) == {"coaching, feedback"} and set(att["bad_direction"]) == {"increase"}
    assert set(df.loc[df["kpi"] == "violations", "skills"]) == {"compliance"}
    assert not df["team"].str.match(r"p_[0-9a-f]{16}").any()


ATTRITION_YAML = """\
organisation: {name: Sim Co}
programs:
  - id: coaching
    name: Coaching
    program: {type: coaching, skills: [coaching]}
    design: {type: randomized, start: 2024-07-01}
    outcomes:
      - {id: attrition_12m, kpi: attrition, family: binary, direction: decrease}
"""


def _attrition_org(seed, hazard, n_teams=12, size=30):
    """Teams of ``size`` hired in 2020; each month an employee leaves with ``hazard[team, month]``."""
    import pandas as pd

    from lndbayes.config.loader import programs_from_text
    from lndbayes.data.org import Org

    rng = np.random.default_rng(seed)
    months = pd.period_range("2024-01", "2025-12", freq="M")
    rows = []
    for j in range(n_teams):
        for i in range(size):
            left = None
            for m, per in enumerate(months):
                if rng.random() < hazard[j, m]:
                    left = per.start_time + pd.Timedelta(days=int(rng.integers(0, 28)))
                    break
            rows.append({"employee_key": f"p_{j:08x}{i:08x}", "team": f"T{j:02d}",
                         "hire_date": pd.Timestamp("2020-01-01"), "termination_date": left})
    emp = pd.DataFrame(rows)
    emp["termination_date"] = pd.to_datetime(emp["termination_date"])
    kpis = pd.DataFrame({"entity_type": ["team"], "entity_key": ["T00"], "kpi": ["other"],
                         "period": ["2025-12"], "value": [1.0], "censored": [False]})
    return Org(root=Path("."), tables={"employees": emp, "kpis": kpis}, ledger=pd.DataFrame(),
               programs=programs_from_text(ATTRITION_YAML))


def test_attrition_from_the_hris_tables():
    """Monthly leavers per employee: the exact counts, and a planted rise (x6.7, in teams of 60) flagged."""
    hazard = np.full((12, 24), 0.012)
    hazard[:3, 18:] = 0.08                                  # 2025-07..2025-12: 6.7 times the rate
    org = _attrition_org(7700, hazard, size=60)
    tm, why = ew._hris_series(org, "attrition", ew._data_end(org), n_months=24)
    emp = org.employees
    t0 = emp[emp["team"] == "T00"]
    left_in = lambda per: int((t0["termination_date"].dt.to_period("M") == per).sum())  # noqa: E731
    at_start = lambda per: int((t0["termination_date"].isna() | (t0["termination_date"] >= per.start_time)).sum())  # noqa: E731
    row = tm[(tm["team"] == "T00")].set_index("month")
    for per in pd_periods("2025-06", "2025-12"):
        m = per.year * 12 + per.month - 1
        assert row.loc[m, "value"] == left_in(per) and row.loc[m, "n"] == at_start(per)
    df = early_warning(org, kpis="attrition")
    t = df.set_index("team")
    assert t.loc[["T00", "T01", "T02"], "flagged"].all(), t["p_real"].round(3).tolist()
    assert t.loc[[f"T{j:02d}" for j in range(3, 12)], "flagged"].sum() <= 1
    assert set(df["unit"]) == {"leavers per employee-month"} and set(df["skills"]) == {"coaching"}


def pd_periods(a, b):
    import pandas as pd
    return pd.period_range(a, b, freq="M")

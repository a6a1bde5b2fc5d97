"""Random assignment (lndbayes.planning.assignment): review checks added in session 8 (the
original assignment tests stay in tests/test_planning.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lndbayes.planning import design_experiment


def _people(n=60, seed=0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "employee_id": [f"E{i:03d}" for i in range(n)],
        "team": rng.choice(["a", "b", "c", "d"], n),
        "level": rng.integers(1, 6, n).astype(float),
        "role": rng.choice(["agent", "lead"], n),
        "hire_date": (pd.Timestamp("2018-01-01") + pd.to_timedelta(rng.integers(0, 2000, n), "D"))
        .strftime("%Y-%m-%d")})


def test_a_numeric_attribute_with_missing_values_stays_numeric():
    """One missing hire date (so one missing tenure) or level must not turn the attribute into
    one 'tenure_years=6.35' row per distinct value: the balance table compares the numbers
    that are there and shows the share missing in its own row."""
    df = _people()
    df.loc[3, "hire_date"] = ""              # blank in a table = missing, as in a CSV
    df.loc[[5, 6], "level"] = np.nan
    df.loc[7, "role"] = None
    res = design_experiment(df, program="pilot", start_date="2025-01-01", seed=2)
    b = res.balance.set_index("variable")
    assert not any(v.startswith(("tenure_years=", "level=")) for v in b.index), list(b.index)
    assert b.loc["tenure_years", "n_treated"] + b.loc["tenure_years", "n_control"] == len(df) - 1
    assert b.loc["level", "n_treated"] + b.loc["level", "n_control"] == len(df) - 2
    # the share missing, by arm
    miss = b.loc["level (missing)"]
    t = res.members["arm"] == "treatment"
    assert miss["mean_treated"] == pytest.approx(df["level"].isna()[t.to_numpy()].mean())
    assert {"role=agent", "role=lead", "role=(missing)"} <= set(b.index)
    assert "role=" not in b.index


@pytest.mark.parametrize("seed", range(6))
def test_extra_strata_keep_every_team_balanced(seed):
    """With strata inside teams (role x level: many small strata), each odd stratum leaves one
    person over. Those left-overs are balanced within their team first (then within the
    coarser groups, then overall), so every team, every stratum and the totals differ by at
    most one. Before, all left-overs were drawn together and a team of ~15 could end 7 apart."""
    rng = np.random.default_rng(seed)
    n = 203
    df = pd.DataFrame({"employee_id": [f"E{i:04d}" for i in range(n)],
                       "team": [f"t{t:02d}" for t in rng.integers(0, 13, n)],
                       "role": rng.choice(["agent", "lead"], n, p=[0.8, 0.2]),
                       "level": rng.integers(1, 6, n)})
    res = design_experiment(df, program="pilot", strata=["role", "level"], seed=seed)
    m = res.members
    diff = (m["arm"] == "treatment").astype(int) * 2 - 1
    for keys in (["team"], ["team", "role"], ["team", "role", "level"]):
        assert diff.groupby([m[k] for k in keys]).sum().abs().max() <= 1, keys
    assert abs(diff.sum()) <= 1

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

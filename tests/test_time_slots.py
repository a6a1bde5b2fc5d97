"""A month of KPIs more, or a few teams more, reuse the compiled graph: sizes live in slots.

lndbayes.models.graph holds period effects and event-time deviations in slots (the count rounded
up to a multiple of 12) with a zero-sum basis of the used ones as data, so a new month changes
data, not the graph. These tests check the structure key stays, the posterior is cut back to
the periods and event times in the data, and the used effects still sum to zero.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import lndbayes as lb
from lndbayes.inference import sampling
from lndbayes.models.graph import padded_zero_sum_basis, team_slots, time_slots
from lndbayes.models.testing import simulate_panel


@pytest.fixture
def structure_keys(monkeypatch):
    """The structure key of every sampling call (reused or compiled)."""
    keys = []
    inner = sampling.sample

    def spy(structure_key, *a, **k):
        keys.append(structure_key)
        return inner(structure_key, *a, **k)

    monkeypatch.setattr(sampling, "sample", spy)
    return keys


def test_slots_round_up_and_the_padded_basis_is_the_zero_sum_basis_of_the_used_levels():
    assert [time_slots(n) for n in (0, 1, 2, 12, 13, 24, 25)] == [0, 1, 12, 12, 24, 24, 36]
    H = padded_zero_sum_basis(5, 12)
    # H z with z ~ N(0, s^2 I) has covariance s^2 (I - 11'/n) on the used rows: ZeroSumNormal
    np.testing.assert_allclose(H[:5] @ H[:5].T, np.eye(5) - 1 / 5, atol=1e-12)
    assert not H[5:].any() and not H[:, 4:].any()


@pytest.mark.filterwarnings("ignore:lndbayes fit did NOT converge")
def test_a_month_more_reuses_the_structure_and_the_posterior_keeps_the_data_periods(structure_keys):
    keys = structure_keys
    df, truth = simulate_panel("staggered", n_teams=8, n_periods=9, n_per_cell=5, seed=3)
    kw = dict(outcome="y", treatment="treated", group="team", period="period",
              event_time="event_time", design="staggered", draws=300, tune=300, chains=2,
              cache=False, retry=False, seed=1)
    older = lb.fit_effects(df[df.period < "2025-09"], **kw)    # one month less
    newer = lb.fit_effects(df, **kw)
    assert len(keys) == 2 and keys[0] == keys[1]
    for res, n_period in ((older, 8), (newer, 9)):
        gamma = res.idata["posterior"]["period_effect"]
        assert gamma.sizes["period"] == n_period
        assert list(gamma["period"].values) == [f"2025-{t + 1:02d}" for t in range(n_period)]
        np.testing.assert_allclose(gamma.sum("period").values, 0.0, atol=1e-9)
        assert "period_z" not in res.idata["posterior"]
        n_event = len(res.event_time_effects())
        assert res.idata["posterior"]["event_time_dev"].sizes["event_time"] == n_event
    # the estimate is still the effect that was simulated (mean 1.0)
    em = newer.draws("effect_mean")
    assert abs(em.mean() - truth["effect_mean"]) < 4 * em.std()


def test_team_slots_lose_at_most_an_eighth():
    for n in range(1, 3000):
        s = team_slots(n)
        assert s >= n and (n <= 16 and s == n or (s - n) * 8 <= s)


@pytest.mark.filterwarnings("ignore:lndbayes fit did NOT converge")
def test_programs_with_a_few_teams_more_share_the_structure_and_keep_their_teams(structure_keys):
    keys = structure_keys
    rng = np.random.default_rng(4)
    teams = np.repeat([f"t{j:02d}" for j in range(18)], 12)
    df = pd.DataFrame({"team": teams, "treated": np.tile([0, 1], len(teams) // 2)})
    df["y"] = 1.0 + 0.5 * df.treated + rng.normal(0, 1, len(df))
    kw = dict(outcome="y", treatment="treated", group="team", draws=300, tune=300, chains=2,
              cache=False, retry=False, seed=1)
    small = lb.fit_effects(df[df.team != "t17"], **kw)     # 17 teams
    big = lb.fit_effects(df, **kw)                         # 18 teams: the same 18 slots
    assert len(keys) == 2 and keys[0] == keys[1]
    for res, n in ((small, 17), (big, 18)):
        post = res.idata["posterior"]
        assert post["effect_team"].sizes["team"] == n == len(res.team_effects())
        assert list(post["team"].values) == [f"t{j:02d}" for j in range(n)]

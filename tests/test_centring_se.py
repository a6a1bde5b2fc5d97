"""The crude standard errors behind the centring choice (lndbayes.models.centring)."""

from __future__ import annotations

import numpy as np

from lndbayes.models.centring import _team_link_stats, choose_centering
from lndbayes.models.families import get_family


def _rows(y, team, D=None):
    n = len(y)
    return {"y": np.asarray(y, float), "team": np.asarray(team), "exposure": np.ones(n),
            "censored": np.zeros(n, bool),
            "D": np.zeros(n, bool) if D is None else np.asarray(D, bool)}


def test_normal_family_uses_the_pooled_within_team_sd():
    rng = np.random.default_rng(0)
    sizes = [13, 20, 8, 40]
    y = np.concatenate([10 * j + rng.normal(0, 3, n) for j, n in enumerate(sizes)])
    team = np.repeat(np.arange(4), sizes)
    y[team == 0] = 5 + np.linspace(-0.5, 0.5, 13)  # a team whose own sd is low by chance
    est, se = _team_link_stats(get_family("normal"), y, np.ones(len(y)), np.zeros(len(y), bool),
                               team, np.ones(len(y), bool), 4)
    # by hand, on the scale where the outcome is Gaussian (the identity for the normal family)
    z = get_family("normal")._z(y)
    var = [np.var(z[team == j], ddof=1) for j in range(4)]
    pooled = np.sqrt(sum((n - 1) * v for n, v in zip(sizes, var)) / sum(n - 1 for n in sizes))
    np.testing.assert_allclose(se, pooled / np.sqrt(sizes), rtol=1e-12)
    np.testing.assert_allclose(est, [z[team == j].mean() for j in range(4)], rtol=1e-12)


def test_a_team_with_a_small_sample_sd_is_not_centred_alone():
    # eight teams of 13 people, levels with sd 5, residual sd 10: crude se ~2.8 for every team,
    # so no team's intercept is known far better than the teams differ. Team 2's people happen
    # to agree closely (sd 1): with its own sd as its se (0.36) it alone looked data-dominated
    # and was centred (checked against the code before the pooled sd).
    rng = np.random.default_rng(1)
    team = np.repeat(np.arange(8), 13)
    y = 60 + 5 * rng.standard_normal(8)[team] + rng.normal(0, 10, len(team))
    y[team == 2] = 58 + rng.normal(0, 1, 13)
    c_int, _ = choose_centering("normal", _rows(y, team), 8)
    assert 2 not in c_int

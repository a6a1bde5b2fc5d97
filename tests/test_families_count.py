"""Count family (negative binomial): the written-out collapsed likelihood, and centring by the data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lndbayes.design.matrix import Columns, build_design_matrix
from lndbayes.fitting import glm_data, glm_spec
from lndbayes.models.families import get_family
from lndbayes.models.graph import build_model
from lndbayes.models.testing import simulate


def _model(df, *, collapse, **cols):
    fam = get_family("count")
    columns = Columns(outcome="y", treatment="treated", group="team", exposure="exposure", **cols)
    matrix = build_design_matrix(df, columns, "count", "randomized")
    spec, pri = glm_spec(matrix, fam, priors=None, centering="noncentred", collapse=collapse,
                         hier=True)
    data = glm_data(spec, matrix)
    return build_model(spec, data, pri), data


@pytest.fixture(scope="module")
def merged():
    """A count table with many identical rows (whole-number exposures, small counts)."""
    df, _ = simulate("count", seed=4, n_teams=5, n_per_team=120, effect_mean=-0.3,
                     intercept_mean=-0.5, overdispersion=0.7)
    df["exposure"] = np.round(df["exposure"] * 2) / 2  # 0.5, 1, 1.5, 2: rows repeat
    return df


def test_collapsed_likelihood_equals_pymc_negative_binomial_on_rows(merged):
    cells, data = _model(merged, collapse=True)
    rows, _ = _model(merged, collapse=False)
    # the collapse merged rows, and the log-gamma terms run over the distinct counts only
    assert len(data["y"]) < len(merged) / 3
    np.testing.assert_array_equal(data["y_level"], np.unique(merged["y"]))
    assert data["y_level_weight"].sum() == len(merged)
    lp_c, lp_r = cells.compile_logp(), rows.compile_logp()
    g_c, g_r = cells.compile_dlogp(), rows.compile_dlogp()
    rng = np.random.default_rng(0)
    start = rows.initial_point()
    # overdispersion from 3.3 down to 2e-11 (alpha 0.3 to 5e10: both sides of the Poisson switch)
    for od_log in (1.2, 0.0, -2.0, -6.0, -18.0, -20.0, -24.0):
        point = {k: v + rng.normal(0.0, 0.3, np.shape(v)) for k, v in start.items()}
        point["overdispersion_log__"] = np.asarray(od_log)
        a, b = lp_c(point), lp_r(point)
        assert abs(a - b) < 1e-6 * max(1.0, abs(b)), (od_log, a, b)
        gc, gr = g_c(point), g_r(point)
        assert [v.name for v in cells.value_vars][-1] == "overdispersion_log__"
        if od_log >= -6:
            np.testing.assert_allclose(gc, gr, rtol=1e-6, atol=1e-6)
        else:
            # near the Poisson limit the gradient in log(overdispersion) tends to 1 (the
            # log transform's Jacobian; the likelihood's share is ~ overdispersion x mu^2).
            # PyMC's per-row log-gamma differences lose their digits there (measured: 1.027 at
            # log overdispersion -20), the written-out form keeps them
            np.testing.assert_allclose(gc[:-1], gr[:-1], rtol=1e-6, atol=1e-6)
            assert abs(gc[-1] - 1.0) < 1e-4, (od_log, gc[-1], gr[-1])


def test_exact_values_of_one_cell():
    # two teams, two arms: the model's log density at a point is the NB log pmf summed by hand
    from scipy import stats

    df = pd.DataFrame({"team": ["a"] * 6 + ["b"] * 6, "treated": [0, 1] * 6,
                       "exposure": [1.0, 2.0, 1.0, 2.0, 3.0, 3.0] * 2,
                       "y": [0, 4, 0, 7, 2, 2, 1, 0, 12, 3, 3, 5]})
    model, data = _model(df, collapse=True)
    lp = model.compile_logp(sum=False)
    point = model.initial_point()
    point["overdispersion_log__"] = np.asarray(np.log(0.4))
    assert model.potentials[-1].name == "loglik"  # the last term lp returns
    # the linear predictor at the initial point: every level at its prior's centre (no team's
    # mean effect is sampled here, so effect_mean is effect_mean_treated)
    assert not data["treated_weight"].any()
    eta = (float(point["intercept_mean"])
           + float(point["effect_mean_treated"]) * df["treated"].to_numpy())
    mu = df["exposure"].to_numpy() * np.exp(eta)
    alpha = 1 / 0.4
    want = stats.nbinom.logpmf(df["y"], alpha, alpha / (alpha + mu)).sum()
    assert abs(float(lp(point)[-1]) - want) < 1e-9, (lp(point)[-1], want)


def test_data_rich_count_teams_get_centred_intercepts():
    # ~300 events per team: the teams' levels are known far better than the teams differ, so
    # the centring rule centres them (the count family used to be non-centred only)
    from lndbayes.fitting import centring_for

    big, _ = simulate("count", seed=2, n_teams=10, n_per_team=300, intercept_mean=1.0,
                      intercept_sd=0.4, effect_mean=0.0, effect_sd_team=0.0)
    small, _ = simulate("count", seed=2, n_teams=10, n_per_team=6, intercept_mean=-1.0,
                        intercept_sd=0.2, effect_mean=0.0, effect_sd_team=0.0)
    n_centred = []
    for df in (big, small):
        columns = Columns(outcome="y", treatment="treated", group="team", exposure="exposure")
        matrix = build_design_matrix(df, columns, "count", "randomized")
        c_int, c_eff, _, _, _, _ = centring_for("auto", "count", matrix, hier=True, n_dept=1)
        n_centred.append((len(c_int), len(c_eff)))
    assert n_centred[0][0] >= 8 and n_centred[1] == (0, 0), n_centred


def test_link_estimate_se_counts_the_overdispersion():
    # the crude se that chooses centring: over replicated groups of overdispersed counts it
    # matches the spread of the log-rate estimate (the Poisson se 1/sqrt(sum y) is ~2.4x too small here)
    fam = get_family("count")
    rng = np.random.default_rng(1)
    est, se, poisson_se = [], [], []
    for _ in range(400):
        y, extra = fam.simulate(np.full(100, 2.0), rng, overdispersion=0.5)
        e, s = fam.link_estimate(y, extra["exposure"], np.zeros(100))
        est.append(e), se.append(s), poisson_se.append(1 / np.sqrt(y.sum()))
    spread = np.std(est)
    assert 0.85 < np.median(se) / spread < 1.15, (np.median(se), spread)
    assert np.median(poisson_se) / spread < 0.5
    # without overdispersion it is the Poisson se again
    y = rng.poisson(3.0 * np.ones(200))
    assert abs(fam.link_estimate(y, np.ones(200), np.zeros(200))[1] - 1 / np.sqrt(y.sum())) < 0.02

"""The one-program model samples the treated teams' mean effect instead of ``effect_mean``
(lndbayes.models.graph._treated_team_effects): the same posterior, by a shift with Jacobian 1."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from scipy import stats

from lndbayes.design.matrix import Columns, build_design_matrix
from lndbayes.fitting import glm_data, glm_spec
from lndbayes.models.families import get_family
from lndbayes.models.centring import choose_treated_mean
from lndbayes.models.graph import build_model
from lndbayes.models.testing import simulate_panel


def _model(df, centering):
    """The spec, priors and data; ``centering`` a tuple: those teams' effects centred, the rest
    of the model non-centred."""
    fam = get_family("normal")
    cols = Columns(outcome="y", treatment="treated", group="team", department="department",
                   period="period", post="post")
    matrix = build_design_matrix(df, cols, "normal", "pre_post")
    policy = "noncentred" if isinstance(centering, tuple) else centering
    spec, pri = glm_spec(matrix, fam, priors=None, centering=policy, collapse=True, hier=True)
    if isinstance(centering, tuple):
        # every treated non-centred team's mean sampled, whatever the data
        spec = dataclasses.replace(spec, eff_centred=centering, mean_teams=tuple(
            sorted(set(np.unique(matrix.rows["team"][matrix.rows["D"] > 0])) - set(centering))))
    return spec, pri, glm_data(spec, matrix)


@pytest.fixture(scope="module")
def df():
    # 10 teams in 3 departments, 6 periods; the even teams are treated from period 3, the odd
    # ones never (their effects enter no cell)
    d, _ = simulate_panel("pre_post", seed=3, n_teams=10, n_periods=6, n_per_cell=5)
    d["department"] = "dept_" + (d["team"].str[-2:].astype(int) % 3).astype(str)
    return d


def test_weights_are_one_over_the_chosen_teams(df):
    spec, _, data = _model(df, centering=(1, 4))
    w = data["treated_weight"]
    assert spec.eff_centred == (1, 4)
    # the treated teams 0, 2, 4, 6, 8 less the centred 4 (the centred 1 is not treated)
    expected = np.zeros(len(w))
    expected[[0, 2, 6, 8]] = 1 / 4
    np.testing.assert_allclose(w, expected)
    # forced centring: nothing chosen, m is effect_mean itself (the plain model)
    spec_c, _, data_c = _model(df, centering="centred")
    assert spec_c.mean_teams == () and not data_c["treated_weight"].any()


def test_all_treated_teams_or_none_by_the_median_ratio(df):
    """Chosen: every treated, non-centred team when the median crude effect se is small against
    the prior's team sd, else none; never a subset (one strong team among weak ones made every
    other team's effect hang on its coordinate)."""
    cols = Columns(outcome="y", treatment="treated", group="team", period="period", post="post")
    # team_00 keeps its 5 people a cell, the other treated teams 1
    thin = df[(df["team"] == "team_00") | ~df.duplicated(["team", "period"])]
    rows = build_design_matrix(thin, cols, "normal", "pre_post").rows
    assert choose_treated_mean("normal", rows, 10, prior_sd=100.0) == (0, 2, 4, 6, 8)
    assert choose_treated_mean("normal", rows, 10, prior_sd=100.0, centred=(4,)) == (0, 2, 6, 8)
    assert choose_treated_mean("normal", rows, 10, prior_sd=1e-3) == ()
    chosen = {choose_treated_mean("normal", rows, 10, prior_sd=sd)
              for sd in np.geomspace(0.01, 100, 80)}
    assert chosen == {(), (0, 2, 4, 6, 8)}


def test_auto_centring_chooses_by_the_data():
    # one person a cell: a team's pre/post difference has se ~0.8 against a team sd prior of half
    # the outcome sd (~0.8): no team; 40 a cell (se ~0.13): every treated team not centred
    cols = Columns(outcome="y", treatment="treated", group="team", period="period", post="post")
    for n in (1, 40):
        d, _ = simulate_panel("pre_post", seed=3, n_teams=10, n_periods=6, n_per_cell=n)
        matrix = build_design_matrix(d, cols, "normal", "pre_post")
        spec, _ = glm_spec(matrix, get_family("normal"), priors=None, centering="auto",
                           collapse=True, hier=True)
        if n == 1:
            assert spec.mean_teams == ()
        else:
            assert set(spec.mean_teams) == {0, 2, 4, 6, 8} - set(spec.eff_centred)
            assert spec.mean_teams


@pytest.mark.parametrize("centering", [(1, 4), ()])
def test_density_is_the_plain_models_at_the_shifted_point(df, centering):
    """log p(m, r, rest) with weights w equals log p at effect_mean = m - sd * sum(w r) with
    weights 0 (where m is effect_mean): the reparametrisation changes coordinates, not the model."""
    spec, pri, data = _model(df, centering)
    w = data["treated_weight"]
    assert w.sum() == pytest.approx(1.0)
    shifted = build_model(spec, data, pri)
    plain = build_model(spec, {**data, "treated_weight": np.zeros_like(w)}, pri)
    lp_s, lp_p = shifted.compile_logp(), plain.compile_logp()
    em_s = shifted.compile_fn(shifted.replace_rvs_by_values([shifted["effect_mean"]])[0],
                              inputs=shifted.value_vars, on_unused_input="ignore")
    rng = np.random.default_rng(0)
    start = shifted.initial_point()
    for _ in range(5):
        point = {k: v + rng.normal(0.0, 0.7, np.shape(v)) for k, v in start.items()}
        sd = np.exp(point["effect_sd_team_log__"])
        mean = point["effect_mean_treated"] - sd * np.sum(w * point["effect_team_raw"])
        assert em_s(point) == pytest.approx(mean)
        moved = {**point, "effect_mean_treated": mean}
        assert lp_s(point) == pytest.approx(lp_p(moved), rel=1e-10)


def test_potentials_are_the_priors_of_effect_mean_and_the_team_effects(df):
    """The flat m carries no prior; the potentials hold Normal(mu0, s0) for effect_mean and
    Normal(effect_mean + b_d, sd) (centred) or Normal(0, 1) (non-centred) for each team."""
    spec, pri, data = _model(df, (1, 4))
    model = build_model(spec, data, pri)
    names = ["effect_mean", "effect_dept", "effect_sd_team"]
    names += ["effect_mean_prior", "effect_team_prior"]  # the potentials
    values = model.compile_fn(model.replace_rvs_by_values([model[n] for n in names]),
                              inputs=model.value_vars, on_unused_input="ignore")
    rng = np.random.default_rng(1)
    start = model.initial_point()
    centred = np.zeros(len(data["treated_weight"]), bool)
    centred[[1, 4]] = True
    dept = data["dept_of_team"]
    for _ in range(3):
        point = {k: v + rng.normal(0.0, 0.7, np.shape(v)) for k, v in start.items()}
        em, b, sd, pot_mean, pot_team = values(point)
        raw = point["effect_team_raw"]
        p = pri["effect_mean"]
        assert pot_mean == pytest.approx(stats.norm.logpdf(em, p["mu"], p["sigma"]))
        expected = np.where(centred, stats.norm.logpdf(raw, em + b[dept], sd),
                            stats.norm.logpdf(raw, 0.0, 1.0)).sum()
        assert pot_team == pytest.approx(expected, rel=1e-10)

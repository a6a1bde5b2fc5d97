"""Where few teams inform the between-team spread (a program in two to four teams), the model
samples the chosen teams' mean intercept instead of ``intercept_mean``
(lndbayes.models.graph._intercepts_through_teams, chosen by
lndbayes.models.centring.choose_intercept_mean): the same posterior in other coordinates."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from lndbayes.design.matrix import Columns, build_design_matrix
from lndbayes.fitting import fit_effects, glm_data, glm_spec
from lndbayes.models.centring import choose_intercept_mean
from lndbayes.models.families import get_family
from lndbayes.models.graph import build_model
from lndbayes.models.testing import simulate_panel

COLS = Columns(outcome="y", treatment="treated", group="team", period="period", post="post")


def _teams(levels, n_per_cell: int = 40, seed: int = 5):
    """Teams at these levels (outcome sds) over 8 periods, team_00 treated from period 4
    (effect 0.5), the others never; no period shocks."""
    rng = np.random.default_rng(seed)
    recs = []
    for j, level in enumerate(levels):
        for t in range(8):
            post = int(j == 0 and t >= 4)
            for v in level + 0.5 * post + rng.standard_normal(n_per_cell):
                recs.append((f"team_{j:02d}", f"2025-{t + 1:02d}", int(j == 0), post, v))
    return pd.DataFrame(recs, columns=["team", "period", "treated", "post", "y"])


def _two_teams(gap: float, n_per_cell: int = 40):
    """Two teams, team_01's level ``gap`` outcome sds above team_00's."""
    return _teams((0.0, gap), n_per_cell=n_per_cell)


def _rows(d):
    return build_design_matrix(d, COLS, "normal", "pre_post").rows


@pytest.mark.parametrize("gap, centred", [(3.0, True), (0.0, False)])
def test_two_pinned_teams_are_chosen_and_centred_where_they_differ(gap, centred):
    rows = _rows(_two_teams(gap))
    assert choose_intercept_mean("normal", rows, 2, prior_sd=1.0) == ((0, 1), centred)


def test_up_to_four_teams_of_a_department_are_chosen_five_are_not():
    """Under 4 degrees of freedom for the spread (benchmarks/results/target_accept.md,
    session 30: with 5 teams the DerSimonian-Laird rule had no failing fit)."""
    levels = (0.0, 3.0, -2.0, 1.5, 0.7)
    assert choose_intercept_mean("normal", _rows(_teams(levels[:4])), 4, prior_sd=1.0) == (
        (0, 1, 2, 3), True)
    assert choose_intercept_mean("normal", _rows(_teams(levels)), 5, prior_sd=1.0) == ((), False)
    # two departments of two teams: 2 degrees of freedom within them
    assert choose_intercept_mean("normal", _rows(_teams(levels[:4])), 4, prior_sd=1.0,
                                 dept_of_team=[0, 0, 1, 1])[0] == (0, 1, 2, 3)
    # five teams each alone in its department leave no degree of freedom, but more than four
    # teams with a standard error were never measured: the DerSimonian-Laird rule keeps them
    assert choose_intercept_mean("normal", _rows(_teams(levels)), 5, prior_sd=1.0,
                                 dept_of_team=[0, 1, 2, 3, 4]) == ((), False)


def test_nothing_chosen_where_the_spread_is_estimable_or_the_prior_is_tight():
    d, _ = simulate_panel("pre_post", seed=5, n_teams=6, n_periods=8, n_per_cell=40)
    assert choose_intercept_mean("normal", _rows(d), 6, prior_sd=1.0) == ((), False)
    rows = _rows(_two_teams(3.0))
    # a team sd prior far below the teams' standard errors (~0.05): no team is pinned against it
    assert choose_intercept_mean("normal", rows, 2, prior_sd=0.01) == ((), False)


def test_a_structure_without_it_keeps_its_key():
    """Structures that choose no team build the graph and key of before (their disk caches and
    reports unchanged); one that does has a key of its own."""
    d = _two_teams(3.0)
    spec, plain, *_ = _spec_data(d, centred=True)
    assert "intercept_through_teams" not in plain.key() and "int_mean" not in plain.key()
    assert plain.key() == dataclasses.replace(plain, int_centred=(0,)).key()  # data, not structure
    assert spec.key() != plain.key() and "intercept_through_teams" in spec.key()


@pytest.mark.parametrize("centred", [True, False])
def test_the_flat_coordinates_start_at_the_priors_centre(centred):
    """pm.Flat starts at 0, far from an outcome at level 100; the centred levels and the
    non-centred mean intercept start at intercept_mean's prior centre instead."""
    d = _two_teams(3.0 if centred else 0.0)
    d["y"] += 100.0
    spec, _, data, _, pri = _spec_data(d, centred)
    start = build_model(spec, data, pri).initial_point()
    mu0 = pri["intercept_mean"]["mu"]
    assert mu0 == pytest.approx(d["y"].mean(), abs=2.0)
    raw, u = start["intercept_team_raw"], start["intercept_mean_offset"]
    if centred:
        np.testing.assert_allclose(raw[:2], mu0)
        assert u == 0.0
    else:
        np.testing.assert_allclose(raw, 0.0)
        assert u == pytest.approx(mu0)


def _with_and_without(matrix, spec, pri, chosen, centred: bool):
    """The spec with ``chosen`` teams' mean intercept sampled (centred or not), the plain spec
    with the same centring, and their data."""
    spec = dataclasses.replace(spec, int_mean_teams=chosen, int_centred=chosen if centred else ())
    plain = dataclasses.replace(spec, int_mean_teams=())
    data = glm_data(spec, matrix)
    plain_data = {k: v for k, v in data.items() if k != "intercept_weight"}
    return spec, plain, data, plain_data, pri


def _spec_data(d, centred: bool):
    matrix = build_design_matrix(d, COLS, "normal", "pre_post")
    spec, pri = glm_spec(matrix, get_family("normal"), priors=None, centering="auto",
                         collapse=True, hier=True)
    return _with_and_without(matrix, spec, pri, (0, 1), centred)


def _assert_same_density_at_mapped_points(spec, plain_spec, data, plain_data, pri, centred,
                                          seed, n_points=4):
    """log p(r, sd, u, rest) = log p_plain(r, sd, intercept_mean(u), rest) + log|d mean/d u|,
    with intercept_mean(u) computed here from the docstring's formula (department offsets read
    from the graph's ``intercept_dept``): sd * sqrt(sum w^2) centred, 1 non-centred."""
    through, plain = build_model(spec, data, pri), build_model(plain_spec, plain_data, pri)
    lp_t, lp_p = through.compile_logp(), plain.compile_logp()
    names = ["intercept_mean"] + (["intercept_dept"] if spec.n_dept > 1 else [])
    values = through.compile_fn(through.replace_rvs_by_values([through[n] for n in names]),
                                inputs=through.value_vars, on_unused_input="ignore")
    w = data["intercept_weight"]
    rng = np.random.default_rng(seed)
    start = through.initial_point()
    for _ in range(n_points):
        point = {k: v + rng.normal(0.0, 0.5, np.shape(v)) for k, v in start.items()}
        sd, raw, u = (np.exp(point["intercept_sd_team_log__"]), point["intercept_team_raw"],
                      point["intercept_mean_offset"])
        graph_mean, *dept = values(point)
        offset = dept[0][data["dept_of_team"]] if dept else 0.0
        mean = (np.sum(w * (raw - offset)) + sd * np.sqrt(np.sum(w**2)) * u if centred
                else u - sd * np.sum(w * raw))
        assert graph_mean == pytest.approx(mean, rel=1e-12)
        moved = {k: v for k, v in point.items() if k != "intercept_mean_offset"}
        moved["intercept_mean"] = mean
        log_jacobian = np.log(sd * np.sqrt(np.sum(w**2))) if centred else 0.0
        assert lp_t(point) == pytest.approx(lp_p(moved) + log_jacobian, rel=1e-10)


@pytest.mark.parametrize("centred", [True, False])
def test_density_is_the_plain_models_at_the_mapped_point(centred):
    d = _two_teams(3.0 if centred else 0.0)
    spec, plain_spec, data, plain_data, pri = _spec_data(d, centred)
    assert spec.key() != plain_spec.key()  # a structure of its own: other graphs keep theirs
    np.testing.assert_allclose(data["intercept_weight"], 0.5)  # two teams, two slots
    _assert_same_density_at_mapped_points(spec, plain_spec, data, plain_data, pri, centred,
                                          seed=0, n_points=5)


def test_potentials_hold_the_priors_of_intercept_mean_and_the_teams():
    d = _two_teams(3.0)
    spec, _, data, _, pri = _spec_data(d, centred=True)
    model = build_model(spec, data, pri)
    names = ["intercept_mean", "intercept_sd_team", "intercept_mean_prior", "intercept_team_prior"]
    values = model.compile_fn(model.replace_rvs_by_values([model[n] for n in names]),
                              inputs=model.value_vars, on_unused_input="ignore")
    w = data["intercept_weight"]
    centred = data["centre_intercept"] > 0
    rng = np.random.default_rng(1)
    start = model.initial_point()
    for _ in range(3):
        point = {k: v + rng.normal(0.0, 0.7, np.shape(v)) for k, v in start.items()}
        mean, sd, pot_mean, pot_team = values(point)
        p = pri["intercept_mean"]
        assert pot_mean == pytest.approx(stats.norm.logpdf(mean, p["mu"], p["sigma"])
                                         + np.log(sd * np.sqrt(np.sum(w**2))))
        raw = point["intercept_team_raw"]
        expected = np.where(centred, stats.norm.logpdf(raw, mean, sd),
                            stats.norm.logpdf(raw, 0.0, 1.0)).sum()
        assert pot_team == pytest.approx(expected, rel=1e-10)


def test_a_two_team_fit_uses_it_and_recovers_the_team_levels():
    """The whole path (choice, graph, compile, the variables computed after sampling): the
    team intercepts' posterior means lie within 4 posterior sds of the levels the data were
    built with (a property of any sampling seed, with the data pinning each level to ~0.03)."""
    d = _two_teams(3.0, n_per_cell=60)
    res = fit_effects(d, "y", "treated", group="team", design="pre_post", period="period",
                      post="post", draws=500, tune=500, chains=2, cache=False, seed=11)
    assert res.meta["intercept_mean_teams"] == 2
    assert res.meta["centred_teams"]["intercept"] == 2
    post = res.idata["posterior"]
    alpha = post["intercept_team"]
    gap = (alpha.sel(team="team_01") - alpha.sel(team="team_00")).values
    assert abs(gap.mean() - 3.0) < 4 * gap.std()
    mean = post["intercept_mean"].values
    # two teams: intercept_mean is their average give or take sd/sqrt(2)
    assert abs(np.median(mean - alpha.mean("team").values)) < 0.5


@pytest.mark.parametrize("centred", [True, False])
def test_density_with_departments_and_padded_team_slots(centred):
    """The same at 17 teams in 3 departments (18 team slots: one padded, weight 0, drawing its
    prior): the chosen teams' offsets o_j are their departments' intercepts."""
    d = _teams(tuple(0.3 * (j % 5) for j in range(17)), n_per_cell=5)
    d["department"] = "dept_" + (d["team"].str[-2:].astype(int) % 3).astype(str)
    cols = Columns(outcome="y", treatment="treated", group="team", department="department",
                   period="period", post="post")
    matrix = build_design_matrix(d, cols, "normal", "pre_post")
    spec, pri = glm_spec(matrix, get_family("normal"), priors=None, centering="noncentred",
                         collapse=True, hier=True)
    # two of department 0, one of 1: their offsets do not average to 0 (the departments' do)
    built = _with_and_without(matrix, spec, pri, (0, 1, 3), centred)
    spec, data = built[0], built[2]
    assert spec.n_dept == 3 and len(data["intercept_weight"]) == 18
    _assert_same_density_at_mapped_points(*built, centred, seed=2)

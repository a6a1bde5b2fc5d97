"""Skill-gap forecast (issue #14): backtest numbers on the example, "no data", bad input.

The backtest runs on the example organisation simulated with seed 0 (a private copy): data and
seed are fixed, so its numbers are fixed too and the bounds below cannot drift by chance. They
are the issue's done-when figures:

* 80% intervals cover 72-88% of the held-out team x skill means (fit on months 1-18, forecast
  months 19-24);
* P(gap) beats last-value-carried-forward and the constant rate on Brier score and log loss;
* each gap that truth.json plants (a decline or a requirement rise, 0.8-1.4 points short at the
  end; 38 of 274 pairs) ranks in the top quarter of all team x skill pairs by expected
  shortfall (measured: all 38, the lowest at rank 53 of the top 69, so a bit-level change in
  the draws cannot move it out; over seeds 1-5 every seed meets it too, see
  docs/skill-gaps.md);
* pairs with no gap in truth.json are flagged as a likely gap (P >= 0.8) at most 5% of the
  time (measured 2.1%).
"""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import lndbayes as lb
from lndbayes.errors import ContractError
from lndbayes.skills.backtest import backtest, brier, log_loss, reliability_table
from lndbayes.skills.data import Requirements, prepare, skill_key
from lndbayes.skills.forecast import run_forecast


@pytest.fixture(scope="module")
def example(tmp_path_factory):
    root = tmp_path_factory.mktemp("skills_example")
    lb.simulate_org(root / "raw", seed=0)
    return lb.load_org(root)


@pytest.fixture(scope="module")
def bt(example):
    return backtest(example)


def test_backtest_interval_coverage_in_band(bt):
    assert bt.diagnostics["converged"]
    assert bt.coverage["n"] > 400
    assert 0.72 <= bt.coverage["80"] <= 0.88, bt.coverage


def test_backtest_beats_both_baselines(bt):
    s = bt.scores.set_index("method")
    for metric in ("brier", "log_loss"):
        assert s.loc["model", metric] < s.loc["last value", metric], s
        assert s.loc["model", metric] < s.loc["constant", metric], s


def test_backtest_finds_planted_gaps(bt):
    p = bt.planted
    assert 0.10 * p["pairs"] <= p["planted"] <= 0.16 * p["pairs"], p     # distinct, material gaps
    assert p["planted_min_gap"] >= 0.8, p
    assert p["planted_in_top_quarter"] == p["planted"], p
    assert p["planted_worst_rank"] <= p["top_quarter"], p
    # pairs with no gap in truth.json, flagged as likely gaps (P >= 0.8)
    assert p["no_gap_pairs"] > 150
    assert p["no_gap_likely_rate"] <= 0.05, p


def test_scores_and_reliability_helpers():
    y = np.array([0, 1, 1, 0])
    assert brier([0, 1, 1, 0], y) == 0
    assert brier([0.5] * 4, y) == pytest.approx(0.25)
    assert log_loss([0.5] * 4, y) == pytest.approx(math.log(2))
    t = reliability_table([0.05, 0.05, 0.95, 0.95], [0, 0, 1, 1], bins=10)
    assert t.loc[0, "n"] == 2 and t.loc[0, "observed"] == 0 and t.loc[9, "observed"] == 1


# ---- bad input and "no data" ----------------------------------------------------------------

@pytest.fixture(scope="module")
def messy(tmp_path_factory):
    """The seed-0 example with one team's assessments removed and bad rows added."""
    root = tmp_path_factory.mktemp("skills_messy")
    raw = lb.simulate_org(root / "raw", seed=0)
    emp = pd.read_csv(raw / "employees.csv")
    gone = set(emp.loc[emp["team"] == "Finance-02", "employee_id"])
    a = pd.read_csv(raw / "skill_assessments.csv")
    a = a[~a["employee_id"].isin(gone)]
    someone = a.iloc[0]
    bad = pd.DataFrame([
        {**someone, "proficiency": 7.0, "assessed_at": "2025-11-01"},             # off the scale
        {**someone, "assessed_at": "2031-03-15"},                                 # in the future
        {**someone, "skill": "Product  Knowledge", "assessed_at": "2025-10-01"},  # case and spacing
        {**someone, "skill": "Product  Knowledge", "assessed_at": "2025-10-02"},
    ])
    pd.concat([a, bad]).to_csv(raw / "skill_assessments.csv", index=False)
    r = pd.read_csv(raw / "skill_requirements.csv")
    extra = pd.DataFrame([{"scope_type": "team", "scope_id": "Sales-01", "skill": "juggling",
                           "required_level": 3.0, "effective_date": "2025-01-01"}])
    pd.concat([r, extra]).to_csv(raw / "skill_requirements.csv", index=False)
    return lb.load_org(root)


def test_bad_rows_are_counted_with_their_reason(messy):
    # the 0-5 scale is checked at ingestion: the row is in the ledger's rejected count
    led = messy.ledger[messy.ledger["table"] == "skill_assessments"]
    assert int(led["rows_rejected"].sum()) == 1
    data = prepare(messy, today="2026-01-31")
    rej = data.rejected.set_index("reason")["rows"]
    future = [k for k in rej.index if "in the future" in k]
    assert future and rej[future[0]] == 1
    spelled = [k for k in rej.index if "'Product  Knowledge' differs from 'product_knowledge'" in k]
    assert spelled and rej[spelled[0]] == 2
    nobody = [k for k in rej.index if "'juggling' that nobody is assessed on" in k]
    assert nobody and rej[nobody[0]] == 1
    assert "Product  Knowledge" not in set(data.cells["skill"])


def test_no_assessments_for_a_team_gives_no_data(messy):
    fc = run_forecast(messy, 2, today="2026-01-31", draws=200, tune=200, chains=2, cache=False,
                      retry=False)   # a short run: its checks are not the point here
    assert fc.from_cache is False            # sampled now: the report says "fitted in N s"
    t = fc.table
    fin = t[t["team"] == "Finance-02"]
    assert len(fin) and (fin["status"] == "no data").all()
    assert fin["p_gap"].isna().all() and fin["mean"].isna().all()
    assert set(fin["skill"]) >= {"compliance", "financial_analysis"}
    assert (t.loc[t["team"] != "Finance-02", "status"] == "ok").all()
    # privacy: rows about fewer than min_group people carry no numbers
    small = t[t["note"] != ""]
    assert len(small) and small["p_gap"].isna().all() and small["n_people"].isna().all()


def test_input_errors_say_what_to_fix(example):
    class Empty:
        programs = example.programs

        def table(self, name):
            return pd.DataFrame()
    with pytest.raises(ContractError, match="no skill assessments.*Fix: add skill_assessments.csv"):
        prepare(Empty())
    with pytest.raises(ContractError, match="no skill assessments on or before as_of"):
        prepare(example, as_of="2020-01-01")
    with pytest.raises(lb.ModelInputError, match="horizon"):
        run_forecast(example, 0)


def test_requirements_team_scope_wins_and_rises_on_its_date():
    reqs = pd.DataFrame({"scope_type": ["role", "role", "team"], "scope_id": ["agent", "lead", "T1"],
                         "skill": ["x", "x", "x"], "required_level": [3.0, 4.0, 3.5],
                         "effective_date": pd.to_datetime(["2023-01-01", "2023-01-01", "2025-01-01"])})
    book = Requirements(reqs)
    assert book.level("T1", "x", "2024-06-30", ["agent", "agent", "agent", "lead"]) == pytest.approx(3.25)
    assert book.level("T1", "x", "2025-01-01", ["agent"]) == 3.5
    assert book.level("T2", "x", "2025-06-30", ["nobody"]) != book.level("T2", "x", "2025-06-30", ["nobody"])  # NaN
    assert skill_key(" Product  knowledge") == skill_key("product_knowledge")


def _gain_cells(A, C, gain, half_life):
    """Each cell's gain term, from the model's exposure rows (numpy)."""
    g_cell = np.zeros(len(C["y"]))
    e_age = A["age_level"][A["e_age_idx"]]
    np.add.at(g_cell, C["e_cell"], A["e_share"] * gain[A["e_ps"]] * 2.0 ** (-e_age / half_life))
    return g_cell


def _gain_lines(A, C, gain, half_life, at_least=10):
    """(pair, slope, level) of the weighted least-squares line through the gain terms of the
    first 40 trained pairs with 3 or more cells (at least ``at_least`` of them)."""
    g_cell = _gain_cells(A, C, gain, half_life)
    lines = []
    for p in np.unique(C["pair"][C["e_cell"]])[:40]:
        c = C["pair"] == p
        if c.sum() >= 3:
            lines.append((p, *np.polyfit(C["t"][c], g_cell[c], 1, w=1 / C["se"][c])))
    assert len(lines) >= at_least
    return lines


def test_sampler_coordinates_are_a_reparametrisation(example):
    """The integrated graph's coordinates (docs/skill-gaps.md, "Sampling"): department offsets
    (levels and drifts) sum to zero within a skill; the free team drift is ``b`` plus the slope of
    the weighted least-squares line of the pair's gain terms over time; the level spreads' polar
    coordinates give back sd_a and sd_dept_a; padding drifts are standard normals whatever the
    spreads."""
    import pytensor

    from lndbayes.skills.model import build_model, model_inputs

    inputs = dataclasses.replace(model_inputs(prepare(example)), levels_integrated=True)
    A, C = inputs.arrays, inputs.cells
    model = build_model(inputs)
    # the whole graph: these free variables and potentials and nothing else (b_raw's density is
    # the drift prior's potential, not a distribution of its own)
    kinds = {rv.name: type(rv.owner.op).__name__ for rv in model.free_RVs}
    assert kinds == {"sd_dept_b": "HalfNormalRV", "level_sd_total": "WeibullBetaRV", "level_sd_angle": "UniformRV",
                     "sd_b": "HalfNormalRV", "gain_c": "NormalRV", "gain_z": "NormalRV", "gain_mean_z": "NormalRV",
                     "half_life": "LogNormalRV", "sd_q": "HalfNormalRV", "b_raw": "FlatRV",
                     "drift_precision_mix": "GammaRV", "mu_z": "NormalRV", "dept_a_prior_z": "NormalRV",
                     "dept_a_noise_z": "NormalRV", "a_z": "NormalRV", "beta_z": "NormalRV",
                     "dept_b_prior_z": "NormalRV", "dept_b_noise_z": "NormalRV"}, kinds
    assert {p.name for p in model.potentials} == {"drift_prior", "loglik"}
    rng = np.random.default_rng(1)
    point = {k: v + 0.3 * rng.standard_normal(np.shape(v)) for k, v in model.initial_point().items()}
    names = ["b", "dept_a", "dept_b", "gain", "half_life", "sd_a", "sd_dept_a", "level_sd_total", "level_sd_angle"]
    f = pytensor.function(model.value_vars, model.replace_rvs_by_values([model[n] for n in names]),
                          on_unused_input="ignore")
    b, dept_a, dept_b, gain, half_life, sd_a, sd_dept_a, total, angle = f(**point)
    b_raw = point["b_raw"]
    ds_skill = A["ds_skill"]
    lone = np.bincount(ds_skill)[ds_skill] == 1
    for offsets in (dept_a, dept_b):
        assert np.allclose(np.bincount(ds_skill, weights=offsets), 0, atol=1e-12)
        assert lone.any() and np.all(offsets[lone] == 0) and np.abs(offsets).max() > 0
    assert sd_a == pytest.approx(total * np.sin(angle)) and sd_dept_a == pytest.approx(total * np.cos(angle))
    # the shift is the slope of each pair's weighted least-squares line through its gain terms
    for p, slope, _ in _gain_lines(A, C, gain, half_life):
        assert b_raw[p] - b[p] == pytest.approx(slope, abs=1e-9)
    assert np.abs(b_raw - b).max() > 1e-3
    # padding drifts: standard normal, whatever the spreads (the drift prior's padding part)
    n_real = int(A["pair_real"].sum())
    assert n_real < len(A["pair_real"])
    prior = pytensor.function(model.value_vars, model.replace_rvs_by_values([model["drift_prior"]])[0],
                              on_unused_input="ignore")
    moved = dict(point)
    moved["b_raw"] = b_raw.copy()
    moved["b_raw"][n_real:] += 1.0
    want = stats.norm.logpdf(moved["b_raw"][n_real:]).sum() - stats.norm.logpdf(b_raw[n_real:]).sum()
    for sd in (0.1, 2.0):
        at = {"sd_b_log__": np.log(sd), "sd_dept_b_log__": np.log(sd)}
        assert prior(**{**moved, **at}) - prior(**{**point, **at}) == pytest.approx(want, rel=1e-9)


def test_sampler_coordinates_are_a_reparametrisation_levels_sampled(example):
    """The model's sampling parametrisation (docs/skill-gaps.md, "Sampling"): department offsets
    sum to zero within a skill; the free team level and drift are ``a``, ``b`` plus the weighted
    least-squares line of the pair's gain terms over time (so the joint density is unchanged);
    padding entries are standard normals tied to no hyper-parameter."""
    import pymc as pm

    from lndbayes.skills.model import build_model, model_inputs

    inputs = model_inputs(prepare(example))
    assert not inputs.levels_integrated       # the example: 8-12 teams per department x skill
    A, C = inputs.arrays, inputs.cells
    model = build_model(inputs)
    names = ["a", "b", "a_raw", "b_raw", "dept_b", "gain", "half_life"]
    a, b, a_raw, b_raw, dept_b, gain, half_life = pm.draw([model[n] for n in names], random_seed=1)
    ds_skill = A["ds_skill"]
    assert np.allclose(np.bincount(ds_skill, weights=dept_b), 0, atol=1e-12)
    lone = np.bincount(ds_skill)[ds_skill] == 1
    assert lone.any() and np.all(dept_b[lone] == 0) and np.abs(dept_b).max() > 0
    # the shift is each pair's weighted least-squares line through its gain terms
    for p, slope, level in _gain_lines(A, C, gain, half_life):
        assert a_raw[p] - a[p] == pytest.approx(level, abs=1e-9)
        assert b_raw[p] - b[p] == pytest.approx(slope, abs=1e-9)
    assert np.abs(b_raw - b).max() > 1e-3
    # padding pairs: standard normal, whatever the hyper-parameters
    n_real = int(A["pair_real"].sum())
    assert n_real < len(A["pair_real"])
    point = model.initial_point()
    point["a_raw"] = np.random.default_rng(0).normal(size=point["a_raw"].shape)
    logp = model.compile_logp(vars=[model["a_raw"]], sum=False)
    for sd in (0.1, 2.0):
        lp = logp({**point, "sd_a_log__": np.log(sd)})[0]
        assert np.allclose(lp[n_real:], -0.5 * point["a_raw"][n_real:] ** 2 - 0.5 * np.log(2 * np.pi))


@pytest.fixture(scope="module")
def small_org(tmp_path_factory):
    """200 employees: each department has one team with a given skill."""
    root = tmp_path_factory.mktemp("skills_small")
    lb.simulate_org(root / "raw", seed=11, n_employees=200)
    return lb.load_org(root)


def _dense_groups(inputs, sd_team, sd_dept, prior):
    """A pair-level Gaussian hierarchy written out densely: latent (skill means, department
    offsets) with their prior mean and covariance and the 0/1 map to each real pair."""
    A = inputs.arrays
    n_sk, n_ds, n_p = len(inputs.skills), len(inputs.dept_skills), int(A["pair_real"].sum())
    k = np.bincount(A["ds_skill"], minlength=n_sk)
    L = np.zeros((n_p, n_sk + n_ds))
    L[np.arange(n_p), A["pair_skill"][:n_p]] = 1
    L[np.arange(n_p), n_sk + A["pair_ds"][:n_p]] = 1
    cov = np.zeros((n_sk + n_ds,) * 2)
    cov[:n_sk, :n_sk] = np.eye(n_sk) * prior[1] ** 2
    for s in np.flatnonzero(k > 1):
        idx = n_sk + np.flatnonzero(A["ds_skill"] == s)
        cov[np.ix_(idx, idx)] = sd_dept ** 2 * k[s] / (k[s] - 1) * (np.eye(k[s]) - 1.0 / k[s])
    return L, np.r_[np.full(n_sk, prior[0]), np.zeros(n_ds)], cov, n_p


def test_drift_prior_and_its_draws_are_the_documented_model(example):
    """Integrated graph: given the t scales, the team drifts' prior with beta and the department
    drift offsets integrated out is the dense multivariate normal (scipy), and beta and dept_b
    are drawn from the exact Gaussian conditional (an affine map of their standard normals,
    mean and covariance computed exactly); the scale mixture's Gamma(nu/2, rate nu/2) makes each
    team's drift the documented Student-t (nu = 2) around its department's."""
    import pytensor
    from scipy import integrate

    from lndbayes.skills.levels import BETA_PRIOR
    from lndbayes.skills.model import DRIFT_NU, build_model, model_inputs

    rng = np.random.default_rng(7)
    inputs = dataclasses.replace(model_inputs(prepare(example)), levels_integrated=True)
    A = inputs.arrays
    model = build_model(inputs)
    point = {k: v + 0.3 * rng.standard_normal(np.shape(v)) for k, v in model.initial_point().items()}
    names = ("drift_prior", "b", "sd_b", "sd_dept_b", "drift_precision_mix", "beta", "dept_b")
    f = pytensor.function(model.value_vars, model.replace_rvs_by_values([model[n] for n in names]),
                          on_unused_input="ignore")
    got, b, sd_b, sd_dept_b, lam, beta, dept_b = f(**point)
    L, mean, cov, n_p = _dense_groups(inputs, sd_b, sd_dept_b, BETA_PRIOR)
    u = sd_b ** 2 / lam[:n_p]
    x = b[:n_p]
    want = (stats.multivariate_normal(L @ mean, L @ cov @ L.T + np.diag(u)).logpdf(x)
            + stats.norm.logpdf(b[n_p:]).sum())
    assert got == pytest.approx(want, rel=1e-10)
    # the conditional of (beta, dept_b) given the drifts
    gain = cov @ L.T @ np.linalg.inv(L @ cov @ L.T + np.diag(u))
    want_mean, want_cov = mean + gain @ (x - L @ mean), cov - gain @ L @ cov
    draw = pytensor.function(model.value_vars, model.replace_rvs_by_values([model["beta"], model["dept_b"]]),
                             on_unused_input="ignore")
    zs = ("beta_z", "dept_b_prior_z", "dept_b_noise_z")
    zero = {n: np.zeros(np.shape(point[n])) for n in zs}
    at_zero = np.concatenate(draw(**{**point, **zero}))
    J = np.array([np.concatenate(draw(**{**point, **zero, n: np.eye(zero[n].size)[i]})) - at_zero
                  for n in zs for i in range(zero[n].size)]).T
    np.testing.assert_allclose(at_zero, want_mean, atol=1e-9)
    np.testing.assert_allclose(J @ J.T, want_cov, atol=1e-10)
    # the scale mixture: integrating the model's own Gamma over the normal gives the t
    lam_logp = model.compile_logp(vars=[model["drift_precision_mix"]], sum=False)
    size = np.shape(point["drift_precision_mix_log__"])

    def gamma_pdf(v):   # the model's density of one scale (its log transform's Jacobian removed)
        return float(np.exp(lam_logp({**point, "drift_precision_mix_log__": np.full(size, np.log(v))})[0][0]) / v)

    for z in (0.0, 0.7, 3.0):
        mix, _ = integrate.quad(lambda v: stats.norm.pdf(z, scale=1 / np.sqrt(v)) * gamma_pdf(v), 0, np.inf)
        assert mix == pytest.approx(stats.t.pdf(z, DRIFT_NU), rel=1e-6)


def test_levels_are_integrated_where_departments_have_one_or_two_teams_with_a_skill(example, small_org):
    """The rule (lndbayes.skills.levels.levels_integrated_for): integrated when the median
    department x skill group has at most 2 teams (a 200-person organisation, not the example's
    8-12); the two graphs compile under different keys."""
    from lndbayes.skills.levels import levels_integrated_for
    from lndbayes.skills.model import model_inputs, posterior_key, structure_key

    assert levels_integrated_for([1, 1, 1]) and levels_integrated_for([1, 2, 2, 9])
    assert not levels_integrated_for([2, 3, 3]) and not levels_integrated_for([2, 2, 3, 3])
    assert not levels_integrated_for([])
    small = model_inputs(prepare(small_org))
    assert small.levels_integrated and "line_m1" not in small.arrays
    inputs = model_inputs(prepare(example))
    assert not inputs.levels_integrated
    flipped = dataclasses.replace(inputs, levels_integrated=True)
    assert structure_key(inputs) != structure_key(flipped)
    assert posterior_key(inputs, {"seed": 0}) != posterior_key(flipped, {"seed": 0})


def test_small_organisation_fit_recovers_each_team_level(small_org):
    """The integrated graph compiled and sampled by nutpie (short chains): the levels come back
    from their conditionals with the shapes the forecast reads, department offsets summing to 0
    within each skill, and each team x skill level near the pair's own mean of its cells (time
    is centred on the cells' mean, the quarters are balanced and the drifts are small, so
    a ~ the cells' mean within a tenth of a point; se of a pair's level ~0.02)."""
    from lndbayes.skills.model import fit_skill_model

    data = prepare(small_org)
    post = fit_skill_model(data, draws=150, tune=150, chains=2, cache=False, retry=False)
    assert post.inputs.levels_integrated
    n_pairs = int((data.pairs["pair"] >= 0).sum())
    assert post.draws["a"].shape == (300, n_pairs) and np.isfinite(post.draws["a"]).all()
    A = post.inputs.arrays
    np.testing.assert_allclose(np.array([np.bincount(A["ds_skill"], weights=d) for d in post.draws["dept_a"]]), 0,
                               atol=1e-9)
    C = post.inputs.cells
    pair_mean = np.bincount(C["pair"], weights=C["y"]) / np.bincount(C["pair"])
    assert np.abs(post.draws["a"].mean(0) - pair_mean[:n_pairs]).max() < 0.1


def test_level_spreads_prior_is_two_half_normals():
    """The polar coordinates of (sd_dept_a, sd_a) carry the documented prior exactly: the
    model's log density over the sampler's coordinates (log radius, logit angle) equals two
    HalfNormal(0.5) log densities plus the polar Jacobian (the radius) and the transforms'."""
    import pymc as pm
    from scipy.special import expit

    from lndbayes.skills.levels import LEVEL_SD_PRIOR, level_spreads

    with pm.Model() as model:
        level_spreads()
    logp = model.compile_logp()
    for log_r, x in [(-3.0, -4.0), (-1.0, 0.3), (0.5, 2.5), (-6.0, 6.0)]:
        r, phi = np.exp(log_r), np.pi / 2 * expit(x)
        want = (stats.halfnorm.logpdf(r * np.sin(phi), scale=LEVEL_SD_PRIOR)
                + stats.halfnorm.logpdf(r * np.cos(phi), scale=LEVEL_SD_PRIOR)
                + np.log(r)                                                   # polar Jacobian
                + log_r + np.log(np.pi / 2 * expit(x) * (1 - expit(x))))     # log and logit transforms
        got = logp({"level_sd_total_log__": log_r, "level_sd_angle_interval__": x})
        assert got == pytest.approx(want, rel=1e-8)


def _fewer_cells(data, rng):
    """``data`` with about a third of the cells of every other pair left out (their exposure rows
    too): pairs with different numbers of quarters, as a real organisation's assessments give."""
    import dataclasses

    cells = data.cells
    pair = cells["pair"].to_numpy()
    drop = (pair % 2 == 0) & (rng.random(len(cells)) < 0.35)
    keep_first = cells.groupby("pair").cumcount().to_numpy() == 0     # every pair keeps a cell
    kept = ~drop | keep_first
    new_index = np.cumsum(kept) - 1
    expo = data.exposure[kept[data.exposure["cell"].to_numpy()]].copy()
    expo["cell"] = new_index[expo["cell"].to_numpy()]
    return dataclasses.replace(data, cells=cells[kept].reset_index(drop=True), exposure=expo.reset_index(drop=True))


def _example_data(example, layout, rng):
    """The example's skill data, or (``layout`` "pairs with fewer quarters") a copy whose pairs
    have different numbers of cells."""
    data = prepare(example)
    if layout != "every pair every quarter":
        data = _fewer_cells(data, rng)
        counts = data.cells.groupby("pair").size()
        assert counts.min() < counts.max()
    return data


def _dense_levels(inputs, sd_a, sd_dept_a):
    """The levels' joint Gaussian written out densely (the module docstring of
    lndbayes.skills.levels): latent (mu_s, department offsets, team deviations) with their prior
    mean and covariance, and the 0/1 map from them to each cell's level."""
    from lndbayes.skills.levels import MU_PRIOR

    A, C = inputs.arrays, inputs.cells
    n_sk, n_ds, n_p = len(inputs.skills), len(inputs.dept_skills), int(A["pair_real"].sum())
    k = np.bincount(A["ds_skill"], minlength=n_sk)
    pair = C["pair"]
    rows = np.arange(len(pair))
    L = np.zeros((len(pair), n_sk + n_ds + n_p))
    L[rows, A["pair_skill"][pair]] = 1
    L[rows, n_sk + A["pair_ds"][pair]] = 1
    L[rows, n_sk + n_ds + pair] = 1
    prior = np.zeros((L.shape[1],) * 2)
    prior[:n_sk, :n_sk] = np.eye(n_sk) * MU_PRIOR[1] ** 2
    for s in np.flatnonzero(k > 1):
        idx = n_sk + np.flatnonzero(A["ds_skill"] == s)
        prior[np.ix_(idx, idx)] = sd_dept_a ** 2 * k[s] / (k[s] - 1) * (np.eye(k[s]) - 1.0 / k[s])
    prior[n_sk + n_ds:, n_sk + n_ds:] = np.eye(n_p) * sd_a ** 2
    mean = np.r_[np.full(n_sk, MU_PRIOR[0]), np.zeros(n_ds + n_p)]
    return L, mean, prior, (n_sk, n_ds, n_p)


def _point_and_residuals(model, inputs, rng, names=(), spreads=None):
    """A random point of the model, the graph's values there, and each cell's residual given
    the drifts and gains (the cell mean minus b (t - t0) minus the gain term) and variance.
    ``spreads``: (sd_a, sd_dept_a) to put the point at, through their polar coordinates."""
    import pytensor
    from scipy.special import logit

    A, C = inputs.arrays, inputs.cells
    point = {k: v + 0.2 * rng.standard_normal(np.shape(v)) for k, v in model.initial_point().items()}
    if spreads is not None:
        sd_a, sd_dept_a = spreads
        point["level_sd_total_log__"] = np.log(np.hypot(sd_a, sd_dept_a))
        point["level_sd_angle_interval__"] = logit(np.arctan2(sd_a, sd_dept_a) / (np.pi / 2))
    names = ("b", "gain", "half_life", "sd_q", "sd_a", "sd_dept_a", *names)
    vals = dict(zip(names, pytensor.function(model.value_vars, model.replace_rvs_by_values([model[n] for n in names]),
                                             on_unused_input="ignore")(**point)))
    r = C["y"] - vals["b"][C["pair"]] * C["t"] - _gain_cells(A, C, vals["gain"], vals["half_life"])
    return point, vals, r, C["se"] ** 2 + vals["sd_q"] ** 2


@pytest.mark.parametrize("layout,spreads", [("every pair every quarter", None), ("pairs with fewer quarters", None),
                                            ("every pair every quarter", (1e-8, 0.4)),
                                            ("every pair every quarter", (0.3, 30.0))])
def test_likelihood_and_drift_prior_are_the_documented_densities(example, layout, spreads):
    """The cells' likelihood with the levels integrated out is the documented model's: the cell
    means Normal(a + b (t - t0) + g, sqrt(se^2 + sd_q^2)) with team levels, zero-sum department
    offsets and skill means integrated out, i.e. one multivariate normal of all cells written
    out densely (scipy), although the graph computes it from sums per pair, department and
    skill over a pairs x slots matrix. Also when pairs have different numbers of cells (empty
    slots), and at the ends of the level spreads' ridge (no team spread; a department spread 60
    prior sds out). (The graph with the levels sampled, and its drift prior:
    test_likelihood_is_the_documented_density_levels_sampled; the integrated graph's drift prior:
    test_drift_prior_and_its_draws_are_the_documented_model.)"""
    from lndbayes.skills.model import build_model, model_inputs

    rng = np.random.default_rng(3)
    data = _example_data(example, layout, rng)
    inputs = dataclasses.replace(model_inputs(data), levels_integrated=True)
    A, C = inputs.arrays, inputs.cells
    assert A["cell_mask"].sum() == len(data.cells) == len(C["y"])
    model = build_model(inputs)
    _, vals, r, var = _point_and_residuals(model, inputs, rng, ("loglik",), spreads)
    if spreads is not None:
        np.testing.assert_allclose([vals["sd_a"], vals["sd_dept_a"]], spreads, rtol=1e-9)
    L, mean, prior, _ = _dense_levels(inputs, vals["sd_a"], vals["sd_dept_a"])
    want = stats.multivariate_normal(L @ mean, L @ prior @ L.T + np.diag(var)).logpdf(r)
    assert vals["loglik"] == pytest.approx(want, rel=1e-10)


@pytest.mark.parametrize("spreads", [None, (1e-8, 0.4), (0.3, 5.0)])
def test_levels_are_drawn_from_their_exact_conditional(example, spreads):
    """mu, dept_a and a given everything else are the Gaussian conditional of the levels given
    the cells: the graph's draw is an affine map of its standard normals (mu_z, dept_a_z,
    dept_a_noise_z, a_z), so its mean (all at 0) and covariance (the map's columns, one unit
    normal at a time) are computed exactly and compared with dense Gaussian conditioning; also at
    the ends of the level spreads' ridge."""
    import pytensor

    from lndbayes.skills.model import build_model, model_inputs

    rng = np.random.default_rng(5)
    inputs = dataclasses.replace(model_inputs(prepare(example)), levels_integrated=True)
    A = inputs.arrays
    model = build_model(inputs)
    point, vals, r, var = _point_and_residuals(model, inputs, rng, spreads=spreads)
    L, mean, prior, (n_sk, n_ds, n_p) = _dense_levels(inputs, vals["sd_a"], vals["sd_dept_a"])
    gain = prior @ L.T @ np.linalg.inv(L @ prior @ L.T + np.diag(var))
    want_mean = mean + gain @ (r - L @ mean)
    want_cov = prior - gain @ L @ prior
    draw = pytensor.function(model.value_vars, model.replace_rvs_by_values([model[n] for n in ("mu", "dept_a", "a")]),
                             on_unused_input="ignore")

    def latent(z):
        mu, dept, a = draw(**{**point, **z})
        a = a[:n_p]
        return np.r_[mu, dept, a - mu[A["pair_skill"][:n_p]] - dept[A["pair_ds"][:n_p]]]

    names = ("mu_z", "dept_a_prior_z", "dept_a_noise_z", "a_z")
    zero = {n: np.zeros(np.shape(point[n])) for n in names}
    at_zero = latent(zero)
    columns = []
    for n in names:
        for i in range(zero[n].size):
            unit = {**zero, n: np.eye(zero[n].size)[i]}
            columns.append(latent(unit) - at_zero)
    J = np.array(columns).T
    np.testing.assert_allclose(at_zero, want_mean, atol=1e-8)
    np.testing.assert_allclose(J @ J.T, want_cov, atol=1e-9 * max(1.0, np.abs(want_cov).max()))
    assert np.diag(want_cov)[n_sk + n_ds:].min() > 0 or spreads[0] < 1e-6


@pytest.mark.parametrize("layout", ["every pair every quarter", "pairs with fewer quarters"])
def test_likelihood_is_the_documented_density_levels_sampled(example, layout):
    """The cell means' likelihood is Normal(theta, sqrt(se^2 + sd_q^2)) and each drift's prior a
    Student-t (2 df; 10,000 for padding pairs), as the module docstring says, although the graph
    writes the one with the variance, over a pairs x slots matrix of the cells, and gives the
    other's constant as data (speed). Also when pairs have different numbers of cells (empty
    slots)."""
    import pytensor

    from lndbayes.skills.graph import _student_t_logp
    from lndbayes.skills.model import build_model, model_inputs

    rng = np.random.default_rng(3)
    data = _example_data(example, layout, rng)
    inputs = model_inputs(data)
    assert not inputs.levels_integrated
    A, C = inputs.arrays, inputs.cells
    assert A["cell_mask"].sum() == len(data.cells) == len(C["y"])
    model = build_model(inputs)
    point = {k: v + 0.2 * rng.standard_normal(np.shape(v)) for k, v in model.initial_point().items()}
    names = ("loglik", "a", "b", "gain", "half_life", "sd_q")
    got, a, b, gain, half_life, sd_q = pytensor.function(
        model.value_vars, [model[n] for n in names], on_unused_input="ignore")(**point)
    theta = a[C["pair"]] + b[C["pair"]] * C["t"] + _gain_cells(A, C, gain, half_life)
    want = stats.norm.logpdf(C["y"], theta, np.sqrt(C["se"] ** 2 + sd_q ** 2)).sum()
    assert got == pytest.approx(want, rel=1e-12)
    # the drift prior: scipy's Student-t log-density, for the real pairs' 2 df and the padding's 10,000
    n_real = int(A["pair_real"].sum())
    assert set(A["b_nu"][:n_real]) == {2.0} and set(A["b_nu"][n_real:]) == {1e4}
    x, mu, sd = rng.normal(size=50), rng.normal(size=50), rng.uniform(0.05, 2.0, 50)
    for nu in (2.0, 1e4):
        i = int(np.flatnonzero(A["b_nu"] == nu)[0])
        lp = _student_t_logp(x, mu, sd, nu, A["b_t_const"][i]).eval()
        np.testing.assert_allclose(lp, stats.t.logpdf(x, nu, mu, sd), rtol=1e-10, atol=1e-10)


def test_forecast_is_found_from_its_inputs_without_preparing_them_again(example, tmp_path, monkeypatch):
    """Every program report of a run asks for the organisation's forecast: the second asker
    finds it from the processed tables alone (prepare is ~16 s at 20,000 employees), and any
    change to a table, the date or the privacy threshold misses."""
    import lndbayes.skills.forecast as forecast
    import lndbayes.skills.forecast_cache as forecast_cache

    monkeypatch.setenv("LNDBAYES_CACHE", str(tmp_path))
    events = tmp_path / "progress.jsonl"
    monkeypatch.setenv("LNDBAYES_PROGRESS", str(events))
    settings = dict(today="2026-01-31", draws=100, tune=100, chains=2, retry=False)
    first = run_forecast(example, 1, **settings)
    # a sign of life between the fit and the forecast's tables (a minute at 20,000 employees)
    sections = [e["section"] for e in map(json.loads, events.read_text().splitlines()) if e["stage"] == "section"]
    n_pairs = int((prepare(example, today="2026-01-31").pairs["pair"] >= 0).sum())
    assert sections == [f"Skill-gap forecast of {n_pairs:,} team x skill pairs and their programs' what-ifs"]
    events.unlink()

    def no_prepare(*a, **k):
        raise AssertionError("prepared again")

    monkeypatch.setattr(forecast, "prepare", no_prepare)
    again = run_forecast(example, 1, **settings)
    pd.testing.assert_frame_equal(again.table, first.table)
    # the report then says the forecast was read back, not fitted in the reading's seconds; the
    # first was sampled into this empty cache
    assert first.from_cache is False and again.from_cache is True

    key = forecast_cache.inputs_key(example, None, "2026-01-31", None, horizon=1)
    assert key == forecast_cache.inputs_key(lb.load_org(example.root), None, "2026-01-31", None, horizon=1)
    assert key != forecast_cache.inputs_key(example, None, "2026-02-01", None, horizon=1)
    assert key != forecast_cache.inputs_key(example, None, "2026-01-31", 7, horizon=1)
    assert key != forecast_cache.inputs_key(example, None, "2026-01-31", None, horizon=2)
    changed = lb.load_org(example.root)
    a = changed.tables["skill_assessments"].copy()
    p0 = float(a["proficiency"].iat[0])
    a.loc[a.index[0], "proficiency"] = p0 - 0.25 if p0 >= 0.25 else p0 + 0.25
    changed.tables["skill_assessments"] = a
    assert forecast_cache.inputs_key(changed, None, "2026-01-31", None, horizon=1) != key
    with pytest.raises(AssertionError, match="prepared again"):
        run_forecast(changed, 1, **settings)
    assert not events.exists()          # read back: nothing computed, no section announced


class _SeenTables(dict):
    """The org's tables, remembering which ones were read."""

    def __init__(self, tables, seen):
        super().__init__(tables)
        self.seen = seen

    def __getitem__(self, name):
        self.seen.add(name)
        return super().__getitem__(name)

    def get(self, name, default=None):
        self.seen.add(name)
        return super().get(name, default)

    def __iter__(self):
        self.seen.update(self.keys())
        return super().__iter__()

    def items(self):
        self.seen.update(self.keys())
        return super().items()

    def values(self):
        self.seen.update(self.keys())
        return super().values()


def test_prepare_reads_only_the_tables_its_cache_key_hashes(example):
    """The forecast's input key hashes PREPARE_TABLES only (a new month of KPIs keeps it): if
    prepare ever read another table, a cached forecast could go stale. This fails first."""
    import dataclasses

    from lndbayes.skills.data import PREPARE_TABLES
    from lndbayes.skills.forecast_cache import inputs_key

    seen: set = set()
    watched = dataclasses.replace(example, tables=_SeenTables(example.tables, seen))
    prepare(watched, today="2026-01-31")
    assert seen and seen <= set(PREPARE_TABLES), sorted(seen - set(PREPARE_TABLES))
    more_kpis = dataclasses.replace(example, tables={**example.tables, "kpis": example.tables["kpis"].iloc[:-10]})
    assert inputs_key(more_kpis, None, "2026-01-31") == inputs_key(example, None, "2026-01-31")


def test_backtest_is_read_back_without_preparing_again(example, bt, monkeypatch):
    import lndbayes.skills.backtest as backtest_module

    def no_prepare(*a, **k):
        raise AssertionError("prepared again")

    monkeypatch.setattr(backtest_module, "prepare", no_prepare)
    again = backtest(example)
    pd.testing.assert_frame_equal(again.held, bt.held)
    assert again.coverage == bt.coverage
    with pytest.raises(AssertionError, match="prepared again"):
        backtest(example, cut=bt.cut - pd.Timedelta(days=31))


def test_heatmap_shows_at_most_the_teams_with_the_most_likely_gaps():
    from lndbayes.report.skills_views import heatmap_teams

    rng = np.random.default_rng(3)
    rows = [{"team": f"T{i:03d}", "skill": s, "quarter": q, "p_gap": p}
            for i in range(120) for s in ("a", "b") for q in ("2026Q1", "2026Q2")
            for p in [rng.uniform() if i % 7 else np.nan]]
    t = pd.DataFrame(rows)
    shown, n = heatmap_teams(t, most=80)
    assert n == 120 and len(shown) == 80 and shown == sorted(shown)
    likely = (t["p_gap"] >= 0.8).groupby(t["team"]).sum()
    assert likely[shown].min() >= likely.drop(shown).max()
    assert heatmap_teams(t[t["team"] < "T050"], most=80) == (sorted(t.loc[t["team"] < "T050", "team"].unique()), 50)


def test_a_forecast_another_process_is_computing_defers_or_waits(example, tmp_path, monkeypatch):
    """wait=<seconds>: a report worker does not sit on the lock for minutes (597 teams) but
    defers; the one computing it is not disturbed; once it is there, nobody waits."""
    import lndbayes.skills.forecast as forecast
    import lndbayes.skills.forecast_cache as forecast_cache
    from lndbayes.errors import Deferred

    monkeypatch.setenv("LNDBAYES_CACHE", str(tmp_path))
    from lndbayes.skills.model import DEFAULT_SETTINGS

    # the key run_forecast computes with its defaults (a wrong one would not be locked: no Deferred)
    ikey = forecast_cache.inputs_key(example, None, "2026-01-31", None, horizon=1, retry=True, **DEFAULT_SETTINGS)
    with forecast_cache.inputs_lock(ikey):                 # "another worker" computing it
        with pytest.raises(Deferred, match="being computed by another worker"):
            run_forecast(example, 1, today="2026-01-31", wait=0.3)


def test_forecast_key_follows_the_code_that_post_processes_the_draws(monkeypatch):
    """A forecast made by older post-processing code (lndbayes/skills/draws.py) is not found again
    under the forecast's key once that code changed (it was keyed by forecast.py alone)."""
    from pathlib import Path

    import lndbayes.skills.forecast_cache as forecast_cache

    before = forecast_cache._forecast_source_hash()
    real = Path.read_bytes
    for name in ("draws.py", "forecast.py"):
        monkeypatch.setattr(Path, "read_bytes", lambda self, n=name: real(self) + (b"# changed" if self.name == n else b""))
        assert forecast_cache._forecast_source_hash() != before, name


def test_cell_slots_give_every_cell_its_own_slot_in_its_pairs_row():
    from lndbayes.skills.model import cell_slots

    pair = np.array([3, 0, 3, 1, 3, 0])
    slot, n_slots = cell_slots(pair, 5)
    assert n_slots == 3                                  # pair 3 has three cells
    assert len(set(slot)) == len(pair)                   # one slot each
    assert list(slot // n_slots) == list(pair)           # in its pair's row
    assert list(slot % n_slots) == [0, 0, 1, 0, 2, 1]    # k-th cell of its pair, in the cells' order
    assert cell_slots(np.array([], np.int64), 5)[1] == 1
    with pytest.raises(ValueError, match="0..4"):
        cell_slots(np.array([5]), 5)


def test_gain_coordinates_give_the_documented_prior(example):
    """The gains are sampled as their mean and zero-sum deviations with gain_mean integrated out
    and drawn afterwards from its conditional (lndbayes/skills/model.py): the joint prior must
    still be gain_mean ~ N(0, 0.5), gains ~ N(gain_mean, 0.25) independently, padding gains 0.
    40,000 prior draws with a fixed seed: each sd below is estimated to ~0.4%."""
    import pymc as pm

    from lndbayes.skills.model import GAIN_MEAN_SD, GAIN_SD, build_model, model_inputs

    inputs = model_inputs(prepare(example))
    n = int(inputs.arrays["ps_real"].sum())
    model = build_model(inputs)
    gain, gain_mean = pm.draw([model["gain"], model["gain_mean"]], draws=40_000, random_seed=7)
    assert n >= 2 and np.all(gain[:, n:] == 0)
    dev = gain[:, :n] - gain_mean[:, None]
    assert gain_mean.std() == pytest.approx(GAIN_MEAN_SD, rel=0.02)
    assert abs(gain_mean.mean()) < 0.02
    np.testing.assert_allclose(dev.std(axis=0), GAIN_SD, rtol=0.03)
    np.testing.assert_allclose(dev.mean(axis=0), 0, atol=0.01)
    # independent of gain_mean and of each other
    corr = np.corrcoef(np.column_stack([gain_mean, dev]).T)
    assert np.abs(corr[np.triu_indices(n + 1, 1)]).max() < 0.03

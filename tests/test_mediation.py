"""The Kirkpatrick chain (lndbayes.mediation): recovery, sensitivity, the example's chain, CLI.

Two compiled graphs serve every fit here: one mediator with one covariate and up to 32 teams
(the simulated table, its confounded twin and the CLI), and the L2 -> L3 chain with three
baselines (the example organisation). Everything is seeded, so each assert is about fixed
numbers; the tolerances say how far off they may be and why.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import lndbayes as lb
from lndbayes.cli import main
from lndbayes.config import programs_from_text
from lndbayes.errors import ConfigError, ModelInputError
from lndbayes.mediation import (
    ROW_NAMES,
    MediationResult,
    b_at_rho,
    fit_mediation,
    iky_closed_form,
    kirkpatrick_chain,
)
from lndbayes.mediation.chain import chain_table
from lndbayes.mediation.testing import simulate_binary_mediation, simulate_mediation

A, B, C = 0.5, 0.6, 0.3            # the simulated table's truth: indirect 0.3, total 0.6
SAMPLER = {"draws": 1000, "tune": 1000, "chains": 4, "cache": False}


def _fit(df, **kw):
    return fit_mediation(df, treatment="T", mediator="M", outcome="Y", covariates=["x"],
                         group="team", **{**SAMPLER, **kw})


@pytest.fixture(scope="module")
def sim():
    df = simulate_mediation(400, a=A, b=B, c_prime=C, n_groups=20, seed=11)
    return df, _fit(df)


# ------------------------------------------------------------------ recovery
def test_recovers_known_effects_on_simulated_table(sim):
    _, res = sim
    assert res.converged
    assert [r["estimand"] for r in res.rows] == list(ROW_NAMES)
    truth = {"indirect": A * B, "direct": C, "total": C + A * B,
             "proportion_mediated": A * B / (C + A * B)}
    for name, true in truth.items():
        r = res.row(name)
        assert r["lower"] <= true <= r["upper"], (name, true, r)
    # this seeded table's estimate: within 0.1 of the truth (1.5 posterior sds; the OLS
    # estimate of a*b on the same table is 0.326)
    assert abs(res.row("indirect")["mean"] - A * B) < 0.1
    assert res.row("proportion_mediated")["unstable"] is False
    co = {c["parameter"]: c for c in res.coefficients}
    assert co["a"]["lower"] <= A <= co["a"]["upper"] and co["b"]["lower"] <= B <= co["b"]["upper"]
    # draw by draw: total = direct + indirect exactly, proportion = indirect / total
    d = res.draws
    assert np.allclose(d["total"], d["direct"] + d["indirect"])
    assert np.allclose(d["proportion_mediated"], d["indirect"] / d["total"])
    assert res.meta["n"] == 400 and res.meta["n_groups"] == 20 and res.meta["dropped"] == {}


def test_unstable_proportion_when_total_spans_zero(sim):
    df = simulate_mediation(400, a=0.0, b=0.0, c_prime=0.0, n_groups=20, seed=5)
    res = _fit(df)
    tot = res.row("total")
    assert tot["lower"] < 0 < tot["upper"]
    assert res.row("proportion_mediated")["unstable"] is True


def test_binary_outcome_recovers_a_known_indirect_effect_on_the_probability_scale():
    """A 0/1 outcome (logit link), team intercepts, one covariate: 800 people in 20 teams with
    a known indirect effect of 0.120 on the probability scale (the table's own average, as the
    model estimates it; simulate_binary_mediation)."""
    df, truth = simulate_binary_mediation(800, seed=3, group_sd=0.5)
    assert truth["indirect"] == pytest.approx(0.1203, abs=5e-4) and truth["total"] == pytest.approx(0.1945, abs=5e-4)
    # the simulator's truth: no mediator -> outcome path (b = 0) means no indirect effect, and a
    # coarse quadrature gives nearly the same integral
    assert simulate_binary_mediation(800, seed=3, group_sd=0.5, b=0.0)[1]["indirect"] == 0.0
    assert simulate_binary_mediation(800, seed=3, group_sd=0.5, nodes=8)[1]["indirect"] == \
        pytest.approx(truth["indirect"], abs=1e-4)
    # 500 draws per chain (ESS ~500-1000, enough for a 90% interval; the Gauss-Hermite effects
    # cost draws x rows x nodes, so half the draws halve that part of the test)
    res = fit_mediation(df, treatment="T", mediator="M", outcome="Y", covariates=["x"], group="team",
                        family="binary", **{**SAMPLER, "draws": 500})
    assert res.converged
    for name in ("indirect", "direct", "total"):
        r = res.row(name)
        assert r["lower"] <= truth[name] <= r["upper"], (name, truth[name], r)
    # this seeded table: the indirect effect within 0.02 of the truth (its posterior sd is ~0.015)
    assert abs(res.row("indirect")["mean"] - truth["indirect"]) < 0.02
    d = res.draws
    assert np.allclose(d["total"], d["direct"] + d["indirect"])
    assert res.sensitivity is None and "probability" in res.meta["effect_scale"]
    assert res.meta["family"] == "binary" and res.meta["n_groups"] == 20


# ------------------------------------------------------------------ sensitivity
def test_b_at_rho_equals_imai_keele_yamamoto_closed_form():
    """Two derivations of the same quantity: re-solving the outcome equation for a given rho
    (the package) and IKY (2010)'s closed form from the reduced form Y ~ T (sigma_1, rho~)."""
    rng = np.random.default_rng(0)
    for _ in range(50):
        a, b = rng.normal(0, 1, 2)
        sm, sy = rng.uniform(0.2, 3, 2)
        rho = np.linspace(-0.95, 0.95, 39)
        sigma_1 = np.sqrt(sy ** 2 + b ** 2 * sm ** 2)     # the error of Y on T alone
        rho_tilde = b * sm / sigma_1                       # its correlation with the mediator's
        ours = a * b_at_rho(b, sm, sy, rho)
        theirs = iky_closed_form(a, sigma_1, sm, rho_tilde, rho)
        np.testing.assert_allclose(ours, theirs, rtol=1e-10, atol=1e-12)
        assert abs(a * b_at_rho(b, sm, sy, rho_tilde)) < 1e-10   # zero at rho = rho~


def test_sensitivity_matches_closed_form_from_least_squares(sim):
    """The posterior-mean curve against IKY's closed form evaluated at the least-squares fits
    of the same table (M ~ T + x + team, Y ~ T + x + team): the model is Bayesian with
    pooled team intercepts, so they agree closely but not exactly."""
    df, res = sim
    X = np.column_stack([df["T"], df["x"], pd.get_dummies(df["team"]).to_numpy(float)])

    def fit(y):
        coef = np.linalg.lstsq(X, y, rcond=None)[0]
        return coef, y - X @ coef

    bm, e2 = fit(df["M"].to_numpy())
    _, e1 = fit(df["Y"].to_numpy())
    rho_tilde = np.corrcoef(e1, e2)[0, 1]
    s = res.sensitivity
    grid = np.array(s["rho"])
    closed = iky_closed_form(bm[0], e1.std(), e2.std(), rho_tilde, grid)
    inner = np.abs(grid) <= 0.9
    gap = np.abs(np.array(s["indirect_mean"]) - closed)[inner].max()
    assert gap < 0.02, gap                                  # 0.3 posterior sds of the indirect effect
    assert abs(s["rho_at_zero"] - rho_tilde) < 0.02
    assert s["rho_at_zero_draws"]["lower"] < rho_tilde < s["rho_at_zero_draws"]["upper"]
    lo, hi = s["rho_where_interval_includes_0"][0]
    assert lo < s["rho_at_zero"] < hi
    assert s["mediator"] == "M" and len(s["rho"]) == len(s["indirect_lower"])


def test_sensitivity_at_the_true_rho_recovers_a_confounded_effect():
    """An unmeasured confounder (error correlation 0.4) biases the fitted indirect effect;
    the sensitivity curve read at rho = 0.4 covers the true one again."""
    df = simulate_mediation(400, a=A, b=B, c_prime=C, n_groups=20, rho=0.4, seed=13)
    res = _fit(df)
    naive = res.row("indirect")
    assert naive["lower"] > A * B                           # biased upwards, interval misses
    s = res.sensitivity
    i = s["rho"].index(0.4)
    assert s["indirect_lower"][i] <= A * B <= s["indirect_upper"][i]
    fig = res.plot_sensitivity()
    assert fig.axes[0].get_xlabel().startswith("rho")


# ------------------------------------------------------------------ the example's chain
@pytest.fixture(scope="module")
def example(tmp_path_factory):
    root = tmp_path_factory.mktemp("kirkpatrick_org")
    lb.simulate_org(root / "raw", seed=0)
    org = lb.load_org(root)
    truth = json.loads((root / "truth.json").read_text())["kirkpatrick"]["manager_coaching"]
    return org, truth


def test_chain_on_example_recovers_truth(example):
    org, truth = example
    table, info = chain_table(org, "manager_coaching")
    assert len(table) == truth["n_managers"] and int(table["treated"].sum()) == truth["n_treated"]
    assert info["levels"] == {"L2": "coaching_assessment", "L3": "coaching_conversations",
                              "L4": "team_goal_attainment"}
    assert info["units_dropped"] == {} and len(info["covariates"]) == 3
    res = kirkpatrick_chain(org, "manager_coaching", seed=0, draws=1000, tune=1000, chains=4,
                            cache=False)
    assert res.converged
    for name in ("indirect", "direct", "total"):
        r = res.row(name)
        assert r["lower"] <= truth[name] <= r["upper"], (name, truth[name], r)
    # each path inside its 99% interval (three paths, so a 90% miss is not rare)
    labels = {"T -> learning -> behaviour -> results": ["coaching_assessment", "coaching_conversations"],
              "T -> learning -> results": ["coaching_assessment"],
              "T -> behaviour -> results": ["coaching_conversations"]}
    for key, path in labels.items():
        row = res.row("indirect_path", path)
        draws = res.draws_of(row["label"])
        lo, hi = np.quantile(draws, [0.005, 0.995])
        assert lo <= truth["paths"][key] <= hi, (key, truth["paths"][key], lo, hi)
    assert np.isclose(sum(r["mean"] for r in res.rows if r["estimand"] == "indirect_path"),
                      res.row("indirect")["mean"])
    # strict JSON both ways, and the chain's facts travel with it
    text = res.to_json()
    back = MediationResult.from_json(text)
    assert back.rows == json.loads(text)["rows"] and back.meta["chain"]["levels"]["L3"] == "coaching_conversations"
    json.loads(text, parse_constant=lambda c: pytest.fail(f"non-strict JSON constant {c}"))
    assert back.draws is None and back.sensitivity["rho_at_zero"] == res.sensitivity["rho_at_zero"]


def test_chain_needs_the_block_and_a_randomized_design(example):
    org, _ = example
    with pytest.raises(ConfigError, match="no kirkpatrick: block"):
        chain_table(org, "sales_onboarding")
    text = org.programs.to_yaml()
    bad = programs_from_text(text.replace("results: team_goal_attainment", "results: nope"), file="p.yaml")
    org2 = type(org)(root=org.root, tables=org.tables, ledger=org.ledger, programs=bad)
    with pytest.raises(ConfigError, match="KPI 'nope' has no employee-level observations"):
        chain_table(org2, "manager_coaching")
    only = programs_from_text(text.replace("  learning: coaching_assessment\n", "  learning: null\n")
                              .replace("  behaviour: coaching_conversations\n", "  behaviour: null\n"),
                              file="p.yaml")
    assert "manager_coaching" in only.errors
    assert "at least one of learning" in str(only.errors["manager_coaching"])


# ------------------------------------------------------------------ bad input
@pytest.mark.parametrize("change, match", [
    (lambda d: d.drop(columns="M"), r"column\(s\) 'M' not in the table"),
    (lambda d: d.assign(T=d["T"] * 2), "treatment must be binary"),
    (lambda d: d.assign(M=1.0), "mediator is constant"),
    (lambda d: d.assign(x=d["x"].astype(object).where(d.index != 3, "abc")),
     r"covariate must be numeric.*'abc' at row position 3"),
    (lambda d: d.assign(M=d["M"].where(~d.index.isin([4, 9]))),
     r"2 of 400 rows have missing values \(M: 2; first at row position 4, 9\)"),
])
def test_bad_input_is_named(sim, change, match):
    df, _ = sim
    with pytest.raises(ModelInputError, match=match):
        fit_mediation(change(df.copy()), treatment="T", mediator="M", outcome="Y",
                      covariates=["x"], group="team", **SAMPLER)


# ------------------------------------------------------------------ CLI
def test_cli_writes_the_named_rows_and_counts_dropped_rows(sim, tmp_path, capsys):
    df, _ = sim
    data = df.copy()
    data.loc[[4, 9], "M"] = np.nan
    path = tmp_path / "t.csv"
    data.to_csv(path, index=False)
    out = tmp_path / "r.json"
    args = ["mediate", "--data", str(path), "--treatment", "T", "--mediator", "M", "--outcome", "Y",
            "--covariates", "x", "--group", "team", "--draws", "1000", "--tune", "1000",
            "--out", str(out)]
    assert main(args) == 2                                  # missing values: an error that counts them
    err = capsys.readouterr().err
    assert "t.csv: 2 of 400 rows have missing values (M: 2; first at line 6, 11)" in err
    assert "--drop-missing" in err
    assert main(args + ["--drop-missing"]) == 0
    printed = capsys.readouterr().out
    assert "left out: 2 of 400 rows" in printed and "sensitivity: the indirect effect is 0 at rho" in printed
    obj = json.loads(out.read_text())
    assert [r["estimand"] for r in obj["rows"]] == list(ROW_NAMES)
    for r in obj["rows"]:
        assert {"mean", "lower", "upper"} <= set(r) and r["lower"] <= r["mean"] <= r["upper"]
    assert obj["meta"]["n"] == 398 and obj["meta"]["dropped"] == {"M": 2}
    bad = tmp_path / "bad.csv"
    data.assign(x=data["x"].astype(object).where(data.index != 7, "abc")).to_csv(bad, index=False)
    assert main(["mediate", "--data", str(bad), "--treatment", "T", "--mediator", "M", "--outcome",
                 "Y", "--covariates", "x", "--out", str(out)]) == 2
    assert "bad.csv, column 'x': the covariate must be numeric" in capsys.readouterr().err

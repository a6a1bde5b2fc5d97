"""The model math and priors table the report shows are those of the model actually fitted."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lndbayes.design.matrix import Columns, build_design_matrix
from lndbayes.fitting import glm_spec
from lndbayes.models import graph
from lndbayes.models.families import FAMILIES, get_family
from lndbayes.models.math import model_math, priors_table
from lndbayes.models.testing import simulate_panel


def _binary_panel(n_departments=3, seed=0):
    """Team x period binary panel: half the teams start at period 3; a covariate."""
    rng = np.random.default_rng(seed)
    rows = []
    for j in range(9):
        start = 3 if j % 2 == 0 else None
        for t in range(6):
            post = int(start is not None and t >= start)
            for _ in range(8):
                x = rng.standard_normal()
                p = 1 / (1 + np.exp(-(-0.3 + 0.1 * t + 0.6 * post + 0.3 * x)))
                rows.append({"team": f"t{j}", "department": f"d{j % n_departments}", "period": t,
                             "treated": int(start is not None), "post": post, "x": x,
                             "y": int(rng.random() < p)})
    return pd.DataFrame(rows)


def _meta(df, columns, family, design):
    """What a fit's meta says about the model (the graph's structure is in its priors)."""
    matrix = build_design_matrix(df, columns, family, design)
    spec, pri = glm_spec(matrix, get_family(family), priors=None, centering="auto",
                         collapse=True, hier=True)
    return {"family": family, "design": design, "priors": pri,
            "departments": list(matrix.labels.departments) if spec.n_dept > 1 else [],
            "covariates": matrix.labels.covariates}


PANEL = dict(outcome="y", treatment="treated", group="team", period="period", post="post")


def test_binary_pre_post_shows_its_likelihood_period_term_and_priors():
    # the meta as fit_effects records it, without sampling (structure and priors are resolved
    # before sampling; a sampled fit costs minutes on a busy 2-core machine)
    df = _binary_panel()
    meta = _meta(df, Columns(**PANEL, covariates=("x",), department="department"), "binary",
                 "pre_post")
    res = type("Fit", (), {"meta": meta})
    math = model_math(res.meta)
    assert r"\mathrm{Bernoulli}(\mathrm{logit}^{-1}(\eta_i))" in math
    assert r"\gamma_{t[i]}" in math and r"\mathrm{ZeroSumNormal}(\sigma_\gamma)" in math
    assert r"\delta_{e[i]}" not in math and "event time" not in math
    assert r"x_i^\top\beta" in math and "x" in math
    assert r"a_{d[j]}" in math  # three departments: a department level
    assert r"\theta_{p[i]" not in math  # one program

    table = priors_table(res.meta["priors"])
    assert list(table["parameter"]) == list(res.meta["priors"])
    for _, row in table.iterrows():
        used = res.meta["priors"][row["parameter"]]
        assert row["distribution"] == used["dist"]
        for par in ("mu", "sigma"):
            if par in used:
                assert row[par] == pytest.approx(float(used[par]), rel=0, abs=0)
            else:
                assert np.isnan(row[par])
    # the intercept prior is centred on the data's logit mean, not a default constant
    p = np.clip(df["y"].mean(), 0.01, 0.99)
    assert table.set_index("parameter").loc["intercept_mean", "mu"] == pytest.approx(
        np.log(p / (1 - p)))


def test_staggered_shows_the_event_time_term():
    df, _ = simulate_panel("staggered", n_teams=6, n_periods=8, n_per_cell=3, seed=1)
    meta = _meta(df, Columns(**PANEL, event_time="event_time"), "normal", "staggered")
    math = model_math(meta)
    assert r"(\theta_{j[i]} + \delta_{e[i]})" in math
    assert r"\mathrm{ZeroSumNormal}(1)" in math and r"\mathrm{Normal}(\eta_i,\ \sigma)" in math
    assert "event_time_sd" in set(priors_table(meta["priors"])["parameter"])


@pytest.mark.parametrize("n_departments,has_level", [(2, False), (3, True)])
def test_department_term_only_with_three_or_more_departments(n_departments, has_level):
    df = _binary_panel(n_departments=n_departments)
    meta = _meta(df, Columns(**PANEL, department="department"), "binary", "pre_post")
    math = model_math(meta)
    assert (r"a_{d[j]}" in math) is has_level
    assert (r"\mathrm{ZeroSumNormal}(\sigma_{\alpha,\mathrm{dept}})" in math) is has_level
    assert ("intercept_sd_dept" in meta["priors"]) is has_level


def test_every_family_line_is_in_its_docstring_and_draws_with_mathtext():
    import io

    from matplotlib import mathtext

    for name in FAMILIES:
        fam = get_family(name)
        assert fam.latex and fam.latex in type(fam).__doc__
        mathtext.math_to_image(f"${fam.latex}$", io.BytesIO(), format="png")
    # the graph's docstring carries the math model_math writes (one source)
    from lndbayes.models import math as mm

    assert mm.general_model_rst() in graph.__doc__
    assert mm.PERIOD_EFFECTS in graph.__doc__ and mm.EVENT_EFFECTS in graph.__doc__


def test_every_block_of_every_variant_draws_with_mathtext():
    import io
    import re

    from matplotlib import mathtext

    full = {n: {"dist": "Normal", "mu": 0.0, "sigma": 1.0} for n in (
        "intercept_mean", "effect_mean", "intercept_sd_team", "effect_sd_team",
        "intercept_sd_dept", "effect_sd_dept", "effect_sd_program", "beta", "period_effect",
        "event_time_sd")}
    metas = [{"family": f, "design": "staggered", "priors": full} for f in FAMILIES]
    metas.append({"family": "binary", "design": "randomized",
                  "priors": {"effect_mean": full["effect_mean"]}})  # no team level
    metas.append({"family": "summary", "design": "summary", "priors": {}})
    for meta in metas:
        blocks = re.findall(r"\$\$(.+?)\$\$", model_math(meta), flags=re.S)
        assert blocks
        for b in blocks:
            mathtext.math_to_image(f"${b.strip()}$", io.BytesIO(), format="png")


# ---- the estimands a manager reads, the covariates' scaling, quarters --------------------------

#: per family: the business-scale mean the appendix must show, and the same formula in numbers
#: (checked against the family's business_mean, so the LaTeX says what the code computes)
CUTS = np.array([-2.0, -0.7, 0.5, 1.8])


def _ordinal_mean(eta):
    cdf = np.concatenate([1 / (1 + np.exp(-(CUTS - eta))), [1.0]])
    return float(np.sum(np.arange(1, 6) * np.diff(np.concatenate([[0.0], cdf]))))


BUSINESS_MEAN = {
    "binary": (r"\mu(\eta) = \mathrm{logit}^{-1}(\eta)", lambda e, s: 1 / (1 + np.exp(-e))),
    "count": (r"\mu(\eta) = e^{\eta}", lambda e, s: np.exp(e)),
    "normal": (r"\mu(\eta) = \eta", lambda e, s: e),
    "lognormal": (r"\mu(\eta) = e^{\eta + \sigma^2/2}", lambda e, s: np.exp(e + s**2 / 2)),
    "ordinal": (r"\mu(\eta) = \sum_{k=1}^{5} k\,P(y = k \mid \eta)", lambda e, s: _ordinal_mean(e)),
    "time_to_event": (r"\mu(\eta) = e^{\eta}", lambda e, s: np.exp(e)),
}
#: per design: the words for the rows averaged over, and which of rows with D = (0, 1) they are
ANALYSED = {"randomized": ("all analysed units, both arms", [True, True]),
            "pre_post": ("the treated rows after the start", [False, True]),
            "staggered": ("the treated rows after the start", [False, True])}
TEAM_PRIORS = {n: {"dist": "Normal", "mu": 0.0, "sigma": 1.0} for n in (
    "intercept_mean", "effect_mean", "intercept_sd_team", "effect_sd_team")}


def test_every_family_has_its_business_mean_checked_here():
    assert set(BUSINESS_MEAN) == set(FAMILIES)


@pytest.mark.parametrize("family", sorted(BUSINESS_MEAN))
@pytest.mark.parametrize("design", sorted(ANALYSED))
def test_the_average_effect_block_defines_the_summary_numbers(family, design):
    math = model_math({"family": family, "design": design, "priors": TEAM_PRIORS})
    latex, formula = BUSINESS_MEAN[family]
    words, analysed = ANALYSED[design]
    assert "**Average effect**" in math
    assert "`average_effect_abs`" in math and "`average_effect_rel`" in math
    assert f"$$ {latex} $$" in math
    assert get_family(family).abs_label in math  # the unit the absolute effect is read in
    assert words in math
    # the words match the rows the estimand code averages over (D = 0 row, D = 1 row)
    from lndbayes.design.designs import get_design

    assert get_design(design).analysed_rows(np.array([0.0, 1.0])).tolist() == analysed
    # abs: mean over A of mu(eta1) - mu(eta0); rel: that over the mean of mu(eta0)
    assert (r"\frac{1}{|A|}\sum_{i \in A}\,[\mu(\eta_i^{(1)}) - \mu(\eta_i^{(0)})]"
            in math)
    assert (r"\mathrm{average\_effect\_abs}\ /\ \frac{1}{|A|}\sum_{i \in A}\,"
            r"\mu(\eta_i^{(0)})") in math
    # the LaTeX states what business_mean computes
    fam = get_family(family)
    eta, sigma = np.array([0.3, -1.2]), 0.7
    aux = {"sigma": sigma, "cutpoints": CUTS}
    got = np.asarray(fam.business_mean(eta, aux), dtype=float)
    assert got == pytest.approx([formula(e, sigma) for e in eta], rel=1e-12)


def test_covariates_say_which_are_standardised_and_which_are_indicators():
    rng = np.random.default_rng(3)
    df = _binary_panel()
    df["treated"] = rng.integers(0, 2, len(df))  # arms vary within teams: a treated_group column
    df["post"] = (df["period"] >= 3).astype(int)
    df["baseline"] = np.where(rng.random(len(df)) < 0.2, np.nan, rng.standard_normal(len(df)))
    with pytest.warns(UserWarning, match="missing-baseline indicator"):
        meta = _meta(df, Columns(**PANEL, covariates=("x",), baseline="baseline"), "binary",
                     "pre_post")
    assert set(meta["covariates"]) == {"baseline", "baseline_missing", "x", "treated_group"}
    math = model_math(meta)
    assert ("Covariates $x_i$: standardised (mean 0, sd 1): `baseline`, `x`; 0/1 indicators, "
            "unscaled: `baseline_missing`, `treated_group`.") in math
    assert "(standardised)" not in math
    # without indicators nothing is called one
    only = model_math({**meta, "covariates": ["x"]})
    assert "standardised (mean 0, sd 1): `x`." in only and "indicators" not in only


def test_time_to_event_panels_fitted_by_quarter_say_quarters():
    df, _ = simulate_panel("staggered", n_teams=6, n_periods=8, n_per_cell=3, seed=1)
    meta = _meta(df, Columns(**PANEL, event_time="event_time"), "normal", "staggered")
    # fit_panel records the quarterly time axis of one-row-per-person panels in panel_meta
    meta = {**meta, "family": "time_to_event", "panel_meta": {"time_granularity": "quarter"}}
    math = model_math(meta)
    assert ("periods $t$ are calendar quarters and event times $e$ are quarters since the "
            "team's start.") in math
    assert r"$$ \mu(\eta) = e^{\eta} $$" in math and "in days" in math
    monthly = model_math({**meta, "panel_meta": {}})
    assert "quarter" not in monthly

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

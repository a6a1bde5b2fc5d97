"""The half-life is reported as a finding only when the data identify it (some gain seen)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lndbayes.report.skills_views import half_life_text
from lndbayes.skills.forecast import half_life_summary


def _gains(*p_gt_0):
    return pd.DataFrame({"program_id": [f"p{i}" for i in range(len(p_gt_0))], "p_gt_0": list(p_gt_0)})


@pytest.mark.parametrize("p, seen", [((0.5, 0.914, 0.279), 0), ((0.5, 0.96), 1), ((0.03, 0.97, 0.6), 2),
                                     ((0.95,), 1), ((0.05,), 1), ((0.9499, 0.0501), 0)])
def test_identified_when_some_gain_excludes_zero(p, seen):
    draws = np.random.default_rng(0).lognormal(np.log(2.0), 0.5, 4000)
    hl = half_life_summary(draws, _gains(*p))
    assert hl["gains_seen"] == seen and hl["identified"] is (seen > 0)
    assert hl["lower"] < hl["mean"] < hl["upper"]
    assert hl["lower"] == pytest.approx(np.quantile(draws, 0.05)) and hl["upper"] == pytest.approx(np.quantile(draws, 0.95))


def test_no_gains_at_all_is_not_identified():
    assert half_life_summary(np.full(10, 2.0), _gains())["identified"] is False


def test_text_keeps_small_half_lives_and_says_why():
    # the large preset's collapsed posterior: shown with its digits, and flagged
    small = half_life_text({"mean": 0.01323, "lower": 0.01096, "upper": 0.01568, "identified": False})
    assert small["half_life"] == "0.0132 (0.0110 to 0.0157)"
    assert small["half_life_identified"] is False and "distinguishable from zero" in small["half_life_why"]
    # the example's: one decimal, as before; a forecast cached before the flag counts as identified
    ex = half_life_text({"mean": 1.948, "lower": 0.670, "upper": 4.037})
    assert ex["half_life"] == "1.9 (0.7 to 4.0)" and ex["half_life_identified"] is True


def test_report_sections_say_not_estimable():
    from lndbayes.report.templating import render

    args = half_life_text({"mean": 0.0132, "lower": 0.011, "upper": 0.0157, "identified": False})
    model = render("skill_gaps.html.j2", section="model", n_cells="10", seconds="1", diag="ok",
                   rejected=None, notes=[], **args)
    assert "posterior 0.0132 (0.0110 to 0.0157) years, which is not evidence" in model
    assert "means in 1 s;" in model and "cache" not in model
    cached = render("skill_gaps.html.j2", section="model", n_cells="10", seconds="0", from_cache=True,
                    diag="ok", rejected=None, notes=[], **args)
    assert "means (read back from an earlier run's cache in 0 s: the same data and settings);" in cached
    progs = render("skill_gaps.html.j2", section="programs", t="<table></table>", gains="", quarter="2026Q1",
                   **args)
    assert "half-life (not estimable from these data, since no program" in progs
    shown = render("skill_gaps.html.j2", section="programs", t="<table></table>", gains="", quarter="2026Q1",
                   **half_life_text({"mean": 1.9, "lower": 0.7, "upper": 4.0, "identified": True}))
    assert "half-life (1.9 (0.7 to 4.0) years)" in shown and "not estimable" not in shown

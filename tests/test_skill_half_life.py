"""The half-life is reported as a finding only when the data may inform it: the gains' average,
or more program x skill gains than chance gives, exclude zero."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lndbayes.report.skills_views import half_life_text
from lndbayes.skills.forecast import AVERAGE_GAIN, gains_beyond_chance, half_life_summary


def _gains(*p_gt_0, average=0.5):
    """Program x skill gains with these P(gain > 0), then the average row (``_gains_table``)."""
    return pd.DataFrame({"program_id": [f"p{i}" for i in range(len(p_gt_0))] + [AVERAGE_GAIN],
                         "p_gt_0": [*p_gt_0, average]})


@pytest.mark.parametrize("p, average, seen, identified", [
    ((0.5, 0.914, 0.279), 0.5, 0, False),       # the example's kind: nothing seen
    ((0.5, 0.96), 0.5, 1, False),               # one of two: chance allows one
    ((0.03, 0.97, 0.99), 0.5, 3, True),         # three of three: beyond chance
    ((0.5, 0.6), 0.97, 0, True),                # the average is seen
    ((0.5, 0.6), 0.03, 0, True),                # ... either way
    ((0.9499, 0.0501, 0.5), 0.9499, 0, False),  # just inside
])
def test_informed_only_when_gains_show_beyond_chance(p, average, seen, identified):
    draws = np.random.default_rng(0).lognormal(np.log(2.0), 0.5, 4000)
    hl = half_life_summary(draws, _gains(*p, average=average))
    assert hl["gains_seen"] == seen and hl["gains"] == len(p) and hl["identified"] is identified
    assert hl["lower"] < hl["mean"] < hl["upper"]
    assert hl["lower"] == pytest.approx(np.quantile(draws, 0.05)) and hl["upper"] == pytest.approx(np.quantile(draws, 0.95))


def test_no_gains_at_all_is_not_informed():
    assert half_life_summary(np.full(10, 2.0), pd.DataFrame({"program_id": [], "p_gt_0": []}))["identified"] is False


def test_chance_bound_grows_with_the_gains():
    # 10% of true-zero gains exclude zero; the 95% quantile of that count
    assert [gains_beyond_chance(n) for n in (0, 1, 8, 200)] == [0, 1, 2, 27]
    rng = np.random.default_rng(5)
    # simulated organisations with 200 zero gains: the rule says "informed" in about 5% of them or less
    false = np.mean([(rng.random(200) < 0.10).sum() > gains_beyond_chance(200) for _ in range(4000)])
    assert false < 0.06


def test_text_keeps_small_half_lives_and_says_why():
    # the large preset's collapsed posterior: shown with its digits, and flagged
    small = half_life_text({"mean": 0.01323, "lower": 0.01096, "upper": 0.01568, "identified": False,
                            "gains_seen": 21, "gains": 200, "gains_by_chance": 27})
    assert small["half_life"] == "0.0132 (0.0110 to 0.0157)"
    assert small["half_life_identified"] is False
    assert small["half_life_why"] == ("the programs' average gain is not distinguishable from zero (its 90% "
                                      "interval includes 0), and 21 of 200 program x skill gains exclude "
                                      "zero, no more than chance gives (up to 27)")
    # a wide interval keeps a decimal: no "0" years as a bound
    assert half_life_text({"mean": 12.3, "lower": 0.46, "upper": 40.2})["half_life"] == "12.3 (0.5 to 40.2)"
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
    assert "half-life (not estimable from these data). The what-ifs below therefore rest on gains" in progs
    shown = render("skill_gaps.html.j2", section="programs", t="<table></table>", gains="", quarter="2026Q1",
                   **half_life_text({"mean": 1.9, "lower": 0.7, "upper": 4.0, "identified": True}))
    assert "half-life (1.9 (0.7 to 4.0) years)" in shown and "not estimable" not in shown
    # an identified half-life carries its measured coverage (benchmarks/results/skill_gaps.md,
    # session 29: 86% of simulated fits), an unidentified one does not
    ident = half_life_text({"mean": 1.9, "lower": 0.7, "upper": 4.0, "identified": True})
    shown_model = render("skill_gaps.html.j2", section="model", n_cells="10", seconds="1", diag="ok",
                         rejected=None, notes=[], **ident)
    assert "posterior 1.9 (0.7 to 4.0) years. In simulations with known half-lives, this 90% interval held" \
        " the truth in about 86% of fits" in shown_model
    assert "In simulations with known half-lives" not in model

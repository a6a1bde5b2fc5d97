"""The decision layer, tested with values: known draws give known probabilities and intervals."""

from __future__ import annotations

import numpy as np
import pytest

from lndbayes import decisions as d

# 10 draws whose quantiles are easy to compute by hand
DRAWS = np.array([-5.0, -4.0, -3.0, -2.0, -1.0, 0.0, 1.0, 2.0, 3.0, 4.0])


def test_p_works_counts_draws_strictly_in_the_good_direction():
    assert d.p_works(DRAWS, "increase") == pytest.approx(0.4)   # 1,2,3,4
    assert d.p_works(DRAWS, "decrease") == pytest.approx(0.5)   # -5..-1 (0 is not "works")


def test_p_beats_target_is_at_least_as_good_as_the_target():
    assert d.p_beats_target(DRAWS, -3.0, "decrease") == pytest.approx(0.3)  # -5,-4,-3
    assert d.p_beats_target(DRAWS, 2.0, "increase") == pytest.approx(0.3)   # 2,3,4
    assert d.p_beats_target(DRAWS, None, "increase") is None


def test_interval_is_equal_tailed_90_percent():
    draws = np.arange(1001, dtype=float)  # 0..1000
    iv = d.interval(draws)
    assert (iv.mean, iv.lower, iv.upper, iv.prob) == pytest.approx((500.0, 50.0, 950.0, 0.90))


def test_monetised_benefit_is_effect_times_units_times_value_draw_by_draw():
    # attrition falls by 2..6 percentage points (decrease is good): benefit is positive
    draws = -np.linspace(0.02, 0.06, 1001)
    b = d.monetised_benefit(draws, n_units=100, value_per_unit=45000, direction="decrease")
    assert b.mean == pytest.approx(0.04 * 100 * 45000)
    assert b.lower == pytest.approx(0.022 * 100 * 45000)
    assert b.upper == pytest.approx(0.058 * 100 * 45000)
    assert b.draws.shape == draws.shape
    # the same effect on an "increase is good" KPI is a loss
    loss = d.monetised_benefit(draws, 100, 45000, "increase")
    assert loss.mean == pytest.approx(-b.mean)
    assert loss.to_dict()["n_units"] == 100


def test_monetised_benefit_rejects_bad_input():
    with pytest.raises(ValueError):
        d.monetised_benefit(DRAWS, 10, 1.0, "up")
    with pytest.raises(ValueError):
        d.monetised_benefit([np.nan], 10, 1.0, "increase")


@pytest.mark.parametrize("p_works, p_target, converged, action, words", [
    (0.95, 0.60, True, "scale", "P(meets target) = 60%"),
    (0.90, 0.50, True, "scale", "at least 90%"),          # thresholds are inclusive
    (0.95, None, True, "scale", "no target was agreed"),
    (0.95, 0.20, True, "iterate", "short of the agreed target"),
    (0.70, 0.60, True, "iterate", "not yet convincing"),
    (0.50, 0.00, True, "iterate", "not yet convincing"),  # 0.5 is not below 0.5
    (0.49, 0.00, True, "stop", "below 50%"),
    (0.05, None, True, "stop", "more likely not to help"),
    (0.999, 0.99, False, "iterate", "evidence unreliable"),  # non-converged never scales
    (0.01, 0.00, False, "iterate", "evidence unreliable"),
])
def test_recommend_every_branch(p_works, p_target, converged, action, words):
    rec = d.recommend(p_works, p_target, converged)
    assert rec.action == action
    assert words in rec.reason
    assert str(rec).startswith(action + ": ")


def test_thresholds_are_configurable():
    strict = d.Thresholds(scale_p_works=0.99, scale_p_target=0.8, stop_p_works=0.2)
    assert d.recommend(0.95, 0.9, True, strict).action == "iterate"
    assert d.recommend(0.3, None, True, strict).action == "iterate"


def test_decide_outcome_combines_everything():
    rng = np.random.default_rng(1)
    abs_draws = rng.normal(-0.04, 0.01, 4000)          # percentage-point change in attrition
    rel_draws = abs_draws / 0.2                        # baseline 20%: -20% relative
    out = d.decide_outcome(abs_draws, rel_draws, outcome_id="attrition_12m", direction="decrease",
                           converged=True, target=-0.15, target_scale="rel", n_units=200,
                           value_per_unit=45000)
    assert out.p_works == pytest.approx(np.mean(abs_draws < 0))
    assert out.p_target == pytest.approx(np.mean(rel_draws <= -0.15))
    assert out.benefit.mean == pytest.approx(-abs_draws.mean() * 200 * 45000)
    assert out.recommendation.action == "scale"
    js = out.to_dict()
    assert js["recommendation"] == "scale" and js["effect_rel"]["upper"] < 0
    # without value_per_unit there is no benefit
    out2 = d.decide_outcome(abs_draws, None, outcome_id="x", direction="decrease", converged=True)
    assert out2.benefit is None and out2.p_target is None and out2.effect_rel is None


def test_target_for_reads_relative_or_absolute_targets():
    prog = {"target": {"outcome": "a", "relative_change": -0.15}}
    assert d.target_for(prog, "a") == (-0.15, "rel")
    assert d.target_for(prog, "b") == (None, None)
    assert d.target_for({"target": {"outcome": "a", "absolute_change": 2}}, "a") == (2.0, "abs")
    assert d.target_for({}, "a") == (None, None)


def test_decide_program_never_scales_on_unreliable_evidence():
    good = d.decide_outcome(np.full(100, 1.0), None, outcome_id="a", direction="increase", converged=True)
    bad = d.decide_outcome(np.full(100, 1.0), None, outcome_id="b", direction="increase", converged=False)
    assert d.decide_program({"a": good}, "a").action == "scale"
    rec = d.decide_program({"a": good, "b": bad}, "a")
    assert rec.action == "iterate" and "b" in rec.reason
    rec = d.decide_program({"a": good}, "a", failed={"c": "KPI missing"})
    assert rec.action == "iterate"
    assert d.decide_program({}, None).action == "iterate"


def test_thresholds_default_and_from_programs_yaml():
    t = d.Thresholds.from_config(None)
    assert t == d.DEFAULT_THRESHOLDS
    assert (t.scale_p_roi, t.scale_min_net_benefit, t.stop_p_roi) == (0.8, 0.0, 0.2)
    custom = d.Thresholds.from_config({**t.to_dict(), "scale_p_roi": 0.95})
    assert custom.scale_p_roi == 0.95 and custom.scale_p_works == 0.9
    # the rule's statement carries the thresholds actually used
    assert "at least 95%" in d.rule_text(custom) and "at least 80%" not in d.rule_text(custom)


def test_money_rule_overrides_the_odds_when_roi_is_known():
    good = d.decide_outcome(np.full(100, 1.0), None, outcome_id="a", direction="increase", converged=True)
    assert good.recommendation.action == "scale"          # on odds alone
    roi = type("R", (), {"p_roi_positive": 0.5, "expected_net_benefit": 100.0})()
    rec = d.decide_program({"a": good}, "a", roi=roi)     # works for sure, but pays only half the time
    assert rec.action == "iterate" and "P(ROI > 0) = 50% (scaling needs 80%)" in rec.reason


def test_reasons_show_estimated_probabilities_as_the_tables_do():
    # P(ROI > 0) of 0.2% is "<1%" in every table; the reason must not say 0%
    rec = d.recommend_program(0.97, None, 0.002, -5000.0, True)
    assert rec.action == "stop" and "P(ROI > 0) = <1%, below 20%" in rec.reason and "= 0%" not in rec.reason
    rec = d.recommend(0.9996, 0.7, True)
    assert rec.action == "scale" and "P(works) = >99%" in rec.reason and "P(meets target) = 70%" in rec.reason


def test_a_probability_just_short_of_its_threshold_never_reads_as_the_threshold():
    """0.797 against a threshold of 80% reads "79.7%", not "80% (scaling needs 80%)" (seen on a
    600-person organisation's sales_onboarding report); elsewhere whole percent as before."""
    rec = d.recommend_program(0.999, 0.999, 0.797, 300_000.0, True)
    assert rec.action == "iterate" and "P(ROI > 0) = 79.7% (scaling needs 80%)" in rec.reason
    rec = d.recommend_program(0.999, 0.999, 0.2004, 300_000.0, True)     # not short of the stop
    assert rec.action == "iterate" and "P(ROI > 0) = 20% (scaling needs 80%)" in rec.reason
    rec = d.recommend_program(0.999, 0.999, 0.1996, -1.0, True)
    assert rec.action == "stop" and "P(ROI > 0) = 20.0%, below 20%" in rec.reason
    rec = d.recommend(0.897, None, True)                                  # scaling needs 90%
    assert rec.action == "iterate" and rec.reason.startswith("P(works) = 89.7%: promising")
    rec = d.recommend(0.89, None, True)
    assert rec.reason.startswith("P(works) = 89%: promising")
    rec = d.recommend(0.99, 0.496, True)                                  # target needs 50%
    assert rec.action == "iterate" and "P(meets target) = 49.6%, below 50%" in rec.reason

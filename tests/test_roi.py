"""ROI on posterior draws, the money-and-odds rule and the value of more data, tested with values."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from lndbayes import decisions as d
from lndbayes import roi as r
from lndbayes import value_of_information as voi


def money(oid="a", direction="decrease", value=1000.0, units=100.0, **kw):
    return r.OutcomeMoney(oid, direction, value, units, **kw)


# ---- ROI of known draws, by hand ------------------------------------------------------------------

def test_roi_of_known_draws_matches_the_hand_computation():
    # attrition falls by 0.01 .. 0.05 (decrease is good); 100 report-windows x 1000 per leaver
    eff = np.array([-0.05, -0.04, -0.03, -0.02, -0.01])
    costs = r.Costs(cost_per_participant=10.0, participants=100, fixed_cost=1000.0)   # 2000
    rd = r.roi_draws({"a": eff}, {"a": money()}, costs)
    assert rd.cost == 2000.0
    np.testing.assert_allclose(rd.benefit, [5000, 4000, 3000, 2000, 1000])
    np.testing.assert_allclose(rd.net_benefit, [3000, 2000, 1000, 0, -1000])
    np.testing.assert_allclose(rd.roi, [1.5, 1.0, 0.5, 0.0, -0.5])
    np.testing.assert_allclose(rd.bcr, [2.5, 2.0, 1.5, 1.0, 0.5])
    assert rd.p_roi_positive == pytest.approx(0.6)          # 0 is not > 0
    pr = r.program_roi({"a": eff}, {"a": money()}, costs, horizon_months=12)
    assert pr.roi.mean == pytest.approx(0.5) and pr.bcr.mean == pytest.approx(1.5)
    assert pr.net_benefit.mean == pytest.approx(1000.0)
    # break-even: 0.02 fewer leavers per unit pays the 2000 (= 2000 / (100 x 1000)), as a decrease
    assert pr.break_even["a"] == pytest.approx(-0.02)
    # payback = 12 x 2000 / benefit: 4.8, 6, 8, 12, 24 months; median 8
    assert pr.payback["median"] == pytest.approx(8.0)
    assert pr.payback["p_within_horizon"] == pytest.approx(0.8)


def test_payback_counts_one_off_benefit_at_once_and_level_benefit_evenly():
    costs = r.Costs(cost_per_participant=10.0, participants=100, fixed_cost=1000.0)   # 2000, up front
    lvl = money("q", "increase", value=10.0, units=100.0, accrual="level")              # 1000 per effect unit
    once = money("t", "decrease", value=20.0, units=100.0, accrual="once")              # 2000 per day sooner
    # level alone: benefit 1000 x e over 12 months, evenly: payback = 12 x 2000 / (1000 e)
    pr = r.program_roi({"q": np.array([1.0, 2.0, 4.0, 8.0])}, {"q": lvl}, costs, horizon_months=12)
    np.testing.assert_allclose(np.sort(r.payback_months(pr.draws.benefit, 2000.0, 12)), [3, 6, 12, 24])
    assert pr.payback["median"] in (6.0, 12.0) and pr.payback["p_within_horizon"] == pytest.approx(0.75)
    # one-off alone: all at month 0 when it covers the costs, never when it does not (it does not recur)
    e_once = np.array([-0.5, -1.0, -1.5, -2.0])            # 1000, 2000, 3000, 4000 (days sooner x 2000)
    pr = r.program_roi({"t": e_once}, {"t": once}, costs, horizon_months=12)
    np.testing.assert_allclose(r.payback_months(pr.draws.benefit, 2000.0, 12, once=pr.draws.benefit),
                               [np.inf, 0, 0, 0])
    assert pr.payback["median"] == 0.0 and pr.payback["p_within_horizon"] == pytest.approx(0.75)
    # both: one-off 1000 at once, the remaining 1000 of costs repaid by the level part (1000 e a year)
    pr = r.program_roi({"t": np.array([-0.5, -0.5]), "q": np.array([2.0, 0.5])}, {"t": once, "q": lvl},
                       costs, horizon_months=12)
    pb = r.payback_months(pr.draws.benefit, 2000.0, 12, once=pr.draws.by_outcome["t"])
    np.testing.assert_allclose(pb, [12 * 1000 / 2000, 12 * 1000 / 500])     # 6 and 24 months
    # the old even-spread formula would say 12 x 2000 / 3000 = 8 and 12 x 2000 / 1500 = 16
    assert pr.payback["lower"] == pytest.approx(6.0) and pr.payback["upper"] == pytest.approx(24.0)
    # a one-off gain that covers costs but a lasting loss that eats it within the horizon: never
    np.testing.assert_allclose(r.payback_months(np.array([1500.0, 2500.0]), 2000.0, 12,
                                                once=np.array([3000.0, 3000.0])), [np.inf, 0.0])


def test_payback_text_caps_far_paybacks_and_says_never():
    from lndbayes.analysis import payback_text

    pb = {"median": 254.9, "lower": 26.8, "upper": None, "p_within_horizon": 0.03}
    assert payback_text(pb) == ("more than 120 months (26.8 to never); "
                                "P(paid back within the horizon) = 3%")
    assert payback_text({"median": 6.0, "lower": 1.5, "upper": 30.0, "p_within_horizon": 0.8}) == \
        "6.0 months (1.5 to 30.0)"
    assert payback_text({"median": None, "lower": 40.0, "upper": None, "p_within_horizon": 0.004}) == \
        "never for most draws (P(paid back within the horizon) = <1%)"


def test_break_even_is_the_effect_at_which_roi_is_zero_exactly():
    m = money("x", "increase", value=900.0, units=48.0)
    costs = r.Costs(250.0, 40, 30000.0)
    for other in (0.0, 12345.0):
        be = r.break_even_effect(m, costs.total, other)
        # at the break-even effect the net benefit is exactly 0
        assert m.sign * be * m.per_effect_unit + other - costs.total == pytest.approx(0.0, abs=1e-6)
    assert r.break_even_effect(m, costs.total) == pytest.approx(40000 / (48 * 900))
    # a decrease-is-good KPI breaks even at a negative effect
    assert r.break_even_effect(money(direction="decrease"), 5000.0) == pytest.approx(-0.05)


def test_zero_costs_leave_roi_undefined_but_p_roi_defined():
    eff = np.array([0.1, -0.1, 0.2, 0.3])
    rd = r.roi_draws({"a": eff}, {"a": money(direction="increase")}, r.Costs(0, 10, 0))
    assert rd.roi is None and rd.bcr is None
    assert rd.p_roi_positive == pytest.approx(0.75)
    pr = r.program_roi({"a": eff}, {"a": money(direction="increase")}, r.Costs(0, 10, 0))
    assert pr.roi is None and pr.payback["median"] == 0.0


def test_outcomes_are_added_draw_by_draw_not_by_their_means():
    # two outcomes whose benefits are perfectly negatively correlated: their sum is certain
    rng = np.random.default_rng(0)
    z = rng.normal(0.0, 1.0, 4000)
    effects = {"a": 1.0 + z, "b": 1.0 - z}
    m = {"a": money("a", "increase", 1.0, 1.0), "b": money("b", "increase", 1.0, 1.0)}
    pr = r.program_roi(effects, m, r.Costs(0, 1, 1.5))
    assert pr.benefit.mean == pytest.approx(2.0)
    assert pr.benefit.upper - pr.benefit.lower == pytest.approx(0.0, abs=1e-9)
    assert pr.p_roi_positive == 1.0
    # adding the two intervals (as if the means and ends could be summed) is much wider
    ends = pr.outcome_benefit["a"].upper + pr.outcome_benefit["b"].upper - \
        (pr.outcome_benefit["a"].lower + pr.outcome_benefit["b"].lower)
    assert ends > 6.0
    # with independent draws P(ROI > 0) is no longer 1
    effects["b"] = 1.0 + rng.normal(0.0, 1.0, 4000)
    assert r.program_roi(effects, m, r.Costs(0, 1, 1.5)).p_roi_positive < 0.7


def test_separately_fitted_outcomes_show_the_interval_under_perfect_positive_correlation():
    # benefits 1000 x e_a and 1000 x e_b, independent N(1, 1): the sum has sd sqrt(2) x 1000;
    # were they perfectly correlated (sorted draws) sd 2 x 1000: the 90% interval widens by sqrt(2)
    rng = np.random.default_rng(3)
    effects = {"a": rng.normal(1.0, 1.0, 20_000), "b": rng.normal(1.0, 1.0, 20_000)}
    m = {"a": money("a", "increase", 10.0, 100.0), "b": money("b", "increase", 10.0, 100.0)}
    pr = r.program_roi(effects, m, r.Costs(10.0, 100, 0.0), horizon_months=12)       # cost 1000
    dep = pr.dependence
    width = pr.net_benefit.upper - pr.net_benefit.lower
    dep_width = dep["net_benefit"]["upper"] - dep["net_benefit"]["lower"]
    assert width == pytest.approx(2 * 1.6449 * math.sqrt(2) * 1000, rel=0.03)
    assert dep_width == pytest.approx(2 * 1.6449 * 2 * 1000, rel=0.03)
    assert dep["net_benefit"]["mean"] == pytest.approx(pr.net_benefit.mean)       # the mean is unchanged
    # the quantiles of the comonotonic sum are the sums of the outcomes' quantiles
    q = np.quantile(r.comonotonic_benefit(pr.draws.by_outcome), [0.05, 0.95])
    q_sum = sum(np.quantile(v, [0.05, 0.95]) for v in pr.draws.by_outcome.values())
    np.testing.assert_allclose(q, q_sum, rtol=1e-3)
    # P(ROI > 0) = P(sum > 1000): Phi(1000 / 1414) independent, Phi(1000 / 2000) perfectly correlated
    assert pr.p_roi_positive == pytest.approx(0.760, abs=0.01)
    assert dep["p_roi_positive"] == pytest.approx(0.691, abs=0.01)
    assert dep["roi"]["mean"] == pytest.approx(pr.roi.mean)
    # one monetised outcome: nothing to pair, no check; the check survives a save and read back
    assert r.program_roi({"a": effects["a"]}, {"a": m["a"]}, r.Costs(10.0, 100, 0.0)).dependence is None
    assert r.ProgramRoi.from_dict(pr.to_dict()).dependence == dep


def test_draws_of_different_lengths_are_thinned_evenly():
    a = np.arange(4000.0)
    b = np.arange(3000.0)
    al = r.align_draws({"a": a, "b": b})
    assert al["a"].size == al["b"].size == 3000
    assert al["b"] is b or np.array_equal(al["b"], b)
    assert al["a"][0] == 0 and al["a"][-1] == 3999      # every chain keeps its share
    assert np.all(np.diff(al["a"]) >= 1)
    pr = r.program_roi({"a": a, "b": b}, {"a": money("a", "increase"), "b": money("b", "increase")},
                       r.Costs(1, 1, 0))
    assert "thinned to 3000" in pr.aligned and pr.n_draws == 3000


def test_intangibles_never_count():
    rd = r.roi_draws({"a": np.ones(10), "soft": np.full(10, 1e9)}, {"a": money("a", "increase", 1, 1)},
                     r.Costs(0, 0, 1))
    assert set(rd.by_outcome) == {"a"} and rd.benefit.mean() == 1.0


def test_costs_reject_negative_or_non_numeric_values():
    with pytest.raises(ValueError, match="cost_per_participant"):
        r.Costs(-1, 10, 0)
    with pytest.raises(ValueError, match="fixed_cost"):
        r.Costs(1, 10, "lots")
    assert r.Costs(1800, 40, 20000).total == 92000


def test_round_trip_of_program_roi_through_json():
    import json

    eff = np.random.default_rng(1).normal(-0.03, 0.01, 1000)
    pr = r.program_roi({"a": eff}, {"a": money(units_per_month=8.3)}, r.Costs(10, 100, 0),
                       intangibles=["soft"], overlap_warnings=["x"])
    back = r.ProgramRoi.from_dict(json.loads(json.dumps(pr.to_dict(), allow_nan=False)))
    assert back.to_dict() == pr.to_dict()
    assert back.expected_net_benefit == pytest.approx(pr.net_benefit.mean)


# ---- units per month: the arithmetic of docs/decisions.md ---------------------------------------

def _panel(family, layout, rows, window=12):
    meta = SimpleNamespace(family=family, layout=layout, window_months=window)
    return SimpleNamespace(data=pd.DataFrame(rows), meta=meta)


def test_units_per_month_per_accrual():
    # randomized attrition (event over a 12-month window): 120 treated people -> 10 per month
    rows = {"unit": range(200), "treated": [1] * 120 + [0] * 80, "post": 1, "exposure": 1.0, "period": None}
    assert r.units_per_month(_panel("binary", "unit", rows))[:2] == (10.0, "event")
    # the same people, a normal KPI (a level kept every month): 120 person-months per month
    assert r.units_per_month(_panel("normal", "unit", rows))[:2] == (120.0, "level")
    # pre/post team panel, count with tickets as exposure: per team its mean tickets per month
    rows = {"unit": ["t1"] * 4 + ["t2"] * 4, "treated": 1, "post": [0, 0, 1, 1] * 2,
            "exposure": [9, 9, 100, 200, 9, 9, 50, 50], "period": ["2025-01"] * 8}
    assert r.units_per_month(_panel("count", "unit_period", rows))[:2] == (150.0 + 50.0, "event")
    # time to event: 30 treated hires over 2025-01..2025-06 -> 5 per month
    rows = {"unit": range(40), "treated": [1] * 30 + [0] * 10, "post": [1] * 30 + [0] * 10, "exposure": 1.0,
            "period": [f"2025-0{1 + i % 6}" for i in range(30)] + ["2024-01"] * 10}
    assert r.units_per_month(_panel("time_to_event", "unit", rows))[:2] == (5.0, "once")


def test_outcome_money_scales_by_horizon_and_participants():
    rows = {"unit": range(24), "treated": 1, "post": 1, "exposure": 1.0, "period": None}
    o = SimpleNamespace(id="att", direction="decrease", value_per_unit=45000.0, measured_on="direct_reports",
                        kpi="attrition", family="binary")
    m = r.outcome_money(_panel("binary", "unit", rows), o, horizon_months=24, participant_scale=1.5)
    assert m.units_per_month == 2.0 and m.units == 2.0 * 24 * 1.5
    with pytest.raises(ValueError, match="intangible"):
        r.outcome_money(_panel("binary", "unit", rows), SimpleNamespace(**(o.__dict__ | {"value_per_unit": None})),
                        horizon_months=12)


def test_overlap_rule_warns_for_the_same_people_unless_declared_separate():
    o = lambda i, on: SimpleNamespace(id=i, measured_on=on)  # noqa: E731
    prog = SimpleNamespace(outcomes=[o("a", "direct_reports"), o("b", "direct_reports"), o("c", "team")], roi=None)
    w = r.overlap_warnings(prog, ["a", "b", "c"])
    assert len(w) == 1 and "a and b" in w[0] and "roi.separate" in w[0]
    prog.roi = SimpleNamespace(separate=[["b", "a"]], overlaps=[SimpleNamespace(outcomes=["a", "c"], note="same money")])
    w = r.overlap_warnings(prog, ["a", "b", "c"])
    assert w == ["a and c may count the same gain twice: same money"]
    assert r.overlap_warnings(prog, ["a"]) == []


# ---- the money-and-odds rule ---------------------------------------------------------------------

@pytest.mark.parametrize("p_works, p_target, p_roi, enb, converged, action, words", [
    (0.99, 0.9, 0.95, 1e5, True, "scale", "every scaling condition holds"),
    (0.99, None, 0.80, 1.0, True, "scale", "no target was agreed"),        # thresholds inclusive
    (0.99, 0.2, 0.95, 1e5, True, "iterate", "P(meets target) = 20%"),      # over-ambitious target
    (0.99, 0.9, 0.60, 1e4, True, "iterate", "P(ROI > 0) = 60% (scaling needs 80%)"),
    (0.99, 0.9, 0.90, -5.0, True, "iterate", "expected net benefit"),
    (0.60, 0.1, 0.10, -1e5, True, "stop", "returns less than it costs"),   # zero-effect program
    (0.40, None, 0.50, 1e3, True, "stop", "P(works) = 40%"),
    (0.999, 0.99, 0.99, 1e6, False, "iterate", "evidence unreliable"),     # never scale unconverged
])
def test_recommend_program_every_branch(p_works, p_target, p_roi, enb, converged, action, words):
    rec = d.recommend_program(p_works, p_target, p_roi, enb, converged)
    assert rec.action == action and words in rec.reason


def test_decide_program_uses_money_and_never_scales_unreliable_evidence():
    good = d.decide_outcome(np.full(100, 1.0), None, outcome_id="a", direction="increase", converged=True)
    bad = d.decide_outcome(np.full(100, 1.0), None, outcome_id="b", direction="increase", converged=False)
    rich = SimpleNamespace(p_roi_positive=0.99, expected_net_benefit=1e6)
    poor = SimpleNamespace(p_roi_positive=0.05, expected_net_benefit=-1e6)
    assert d.decide_program({"a": good}, "a", roi=rich).action == "scale"
    assert d.decide_program({"a": good}, "a", roi=poor).action == "stop"     # works, but does not pay
    assert d.decide_program({"a": good, "b": bad}, "a", roi=rich).action == "iterate"
    assert d.decide_program({"a": good}, "a", failed={"c": "no KPI"}, roi=rich).action == "iterate"
    strict = d.Thresholds(scale_p_roi=0.999)
    assert d.decide_program({"a": good}, "a", thresholds=strict, roi=rich).action == "iterate"


def test_rule_is_stated_with_its_thresholds_and_checks():
    t = d.Thresholds.from_config({"scale_p_roi": 0.7, "scale_min_net_benefit": 5000, "scale_p_works": 0.9,
                                  "scale_p_target": 0.5, "stop_p_roi": 0.1, "stop_p_works": 0.5})
    text = d.rule_text(t, "money", "EUR")
    assert "at least 70%" in text and "EUR 5,000" in text and "below 10%" in text
    assert "odds alone" in d.rule_text(t, "odds")
    checks = d.rule_checks(0.95, None, 0.75, 6000.0, t)
    byname = {(c["name"], c["role"]): c["ok"] for c in checks}
    assert byname[("P(ROI > 0)", "scale")] and byname[("expected net benefit", "scale")]
    assert not byname[("P(ROI > 0)", "stop")]
    assert ("P(meets target)", "scale") not in byname      # no target: no check


def test_decision_block_is_validated(tmp_path):
    from lndbayes.config import programs_from_text

    text = open("lndbayes/example/programs.yaml").read()
    anchor = "  - id: sales_onboarding"
    ok = programs_from_text(text.replace(anchor, "    decision: {scale_p_roi: 0.9, stop_p_roi: 0.1}\n"
                                         "    roi: {horizon_months: 24, participants: 50}\n" + anchor))
    p = ok.programs["manager_coaching"]
    assert d.Thresholds.from_config(p.decision).scale_p_roi == 0.9
    assert p.roi.horizon_months == 24 and p.roi.participants == 50
    bad = programs_from_text(text.replace(anchor, "    decision: {scale_p_roi: 0.9, p_scale: 1}\n" + anchor))
    msg = str(bad.errors["manager_coaching"])
    assert "unknown field 'p_scale'" in msg and "column 'programs[0].decision.p_scale'" in msg
    bad = programs_from_text(text.replace(anchor, "    decision: {scale_p_roi: 0.9, stop_p_roi: 0.95}\n" + anchor))
    assert "stop_p_roi (0.95) is above scale_p_roi (0.9)" in str(bad.errors["manager_coaching"])
    bad = programs_from_text(text.replace(anchor, "    roi: {horizon_months: 0}\n" + anchor))
    assert "column 'programs[0].roi.horizon_months'" in str(bad.errors["manager_coaching"])
    bad = programs_from_text(text.replace(anchor, "    roi: {exclude: [nope]}\n" + anchor))
    msg = str(bad.errors["manager_coaching"])
    assert "roi.exclude names outcome 'nope'" in msg and "Fix: use one of this program's outcome ids" in msg
    # roi asked for with nothing to value
    nov = text.replace("value_per_unit: 45000", "unit_label: x").replace("value_per_unit: 5000", "unit_label: y")
    bad = programs_from_text(nov.replace(anchor, "    roi: {horizon_months: 12}\n" + anchor))
    assert "no outcome has a value_per_unit" in str(bad.errors["manager_coaching"])


# ---- value of information --------------------------------------------------------------------------

def test_evsi_matches_a_brute_force_preposterior_simulation():
    for mean, sd, n0, n in [(10.0, 30.0, 20, 20), (-5.0, 8.0, 10, 40), (0.0, 1.0, 5, 5)]:
        closed = voi.evsi_normal(mean, sd, n0, n)
        mc = voi.evsi_monte_carlo(mean, sd, n0, n, sims=400_000, seed=3)
        # Monte Carlo error of E[max(M', 0)] is about sd / sqrt(sims)
        assert closed == pytest.approx(mc, abs=4 * sd / math.sqrt(400_000)), (mean, sd, n0, n)


def test_evsi_properties():
    mean, sd, n0 = 5.0, 20.0, 10
    values = [voi.evsi_normal(mean, sd, n0, n) for n in (0, 1, 5, 10, 50, 1000, 1e7)]
    assert values[0] == 0.0
    assert all(b > a for a, b in zip(values, values[1:]))             # grows with the sample
    assert all(v <= voi.evpi_normal(mean, sd) + 1e-12 for v in values)  # bounded by EVPI
    assert values[-1] == pytest.approx(voi.evpi_normal(mean, sd), rel=1e-3)
    # a decision that is already certain gains nothing from more data
    assert voi.evsi_normal(1000.0, 10.0, n0, 1000) < 1e-12
    assert voi.evsi_normal(-1000.0, 10.0, n0, 1000) < 1e-12
    # EVPI on draws agrees with the normal EVPI for normal draws
    nb = np.random.default_rng(2).normal(mean, sd, 200_000)
    assert voi.evpi(nb) == pytest.approx(voi.evpi_normal(mean, sd), rel=0.03)


def test_sample_information_options_and_costs():
    nb = np.random.default_rng(4).normal(20_000, 100_000, 4000)
    si = voi.sample_information(nb, teams=10, months_observed=12, horizon_months=12, participants=40,
                                cost_per_participant=100)
    kinds = [(o.kind, o.amount) for o in si.options]
    assert kinds == [("more_teams", 5.0), ("more_teams", 10.0), ("more_teams", 20.0),
                     ("longer", 3.0), ("longer", 6.0), ("longer", 12.0)]
    assert si.options[1].cost == pytest.approx(40 * 100)               # twice the teams: 40 more people
    assert si.options[4].cost == pytest.approx(6 / 12 * nb.mean())     # 6 months of forgone net benefit
    assert all(0 <= o.evsi <= si.evpi + 1e-9 for o in si.options)
    assert si.best is not None and si.options[si.best].net == max(o.net for o in si.options)
    back = voi.SampleInformation.from_dict(si.to_dict())
    assert back.to_dict() == si.to_dict()


def test_an_option_worth_less_than_one_currency_unit_is_not_worth_gathering():
    """A program clearly not worth scaling (E[NB] = -190k, sd 48k) gets a vanishing EVSI for free
    longer follow-up; it must not be called worth gathering (the report showed 'net +EUR 0')."""
    nb = np.random.default_rng(5).normal(-190_000, 48_000, 4000)
    si = voi.sample_information(nb, teams=10, months_observed=10, horizon_months=12, participants=218,
                                cost_per_participant=800)
    assert max(o.net for o in si.options) < voi.MIN_NET
    assert si.best is None
    worth = voi.SampleInformation(0.0, 1.0, 10.0, [voi.SampleOption("longer", 3.0, "months", 10.0, 5.0, 1.0, "x")])
    assert worth.best == 0


def test_more_teams_count_the_benefit_the_program_earns_on_the_added_people():
    # E[NB] = 20,000 with 40 study participants who cost 100 each: the program earns
    # E[benefit] / P = 1,000 per participant over the horizon
    nb = np.random.default_rng(4).normal(20_000, 100_000, 4000)
    kw = dict(teams=10, months_observed=12, horizon_months=12, participants=40, cost_per_participant=100)
    without = voi.sample_information(nb, **kw)
    si = voi.sample_information(nb, benefit_per_participant=1000.0, **kw)
    for o, o0, extra in zip(si.options[:3], without.options[:3], (20, 40, 80)):   # +5, +10, +20 teams
        assert o.kind == "more_teams" and o.cost == pytest.approx(extra * 100)
        assert o.benefit == pytest.approx(extra * 1000.0)
        assert o.net == pytest.approx(o.evsi - extra * 100 + extra * 1000.0)
        assert o.net - o0.net == pytest.approx(extra * 1000.0)
    for o in si.options[3:]:                       # longer follow-up adds no participants
        assert o.benefit == 0.0 and o.net == pytest.approx(o.evsi - o.cost)
    # with 900 of benefit per 100 of cost, 20 more teams are the best option (their benefit)
    assert si.options[si.best].amount == 20.0
    assert voi.SampleInformation.from_dict(si.to_dict()).to_dict() == si.to_dict()
    # a saved analysis from before the field reads back with no benefit
    old = si.to_dict()
    for o in old["options"]:
        o.pop("benefit"), o.pop("benefit_basis")
    assert voi.SampleInformation.from_dict(old).options[0].benefit == 0.0


# ---- wired into the analysis: saved, read back, shown -------------------------------------------

def _fake_analysis(tmp_path, converged=True):
    """A ProgramAnalysis with two monetised outcomes and one intangible, built from known draws
    (no fit): what analyse_program assembles after fitting."""
    import xarray as xr

    from lndbayes import analysis as A
    from lndbayes.results import EffectResult

    rng = np.random.default_rng(7)
    spec = {"att": ("decrease", -0.04, 0.01, 45000.0, 60.0, "binary"),
            "ready": ("increase", 0.05, 0.02, 5000.0, 60.0, "binary"),
            "eng": ("increase", 0.2, 0.1, None, None, "ordinal")}
    outs = {}
    for oid, (direction, mu, sd, value, units, family) in spec.items():
        draws = rng.normal(mu, sd, 2000)
        tree = xr.DataTree.from_dict({"posterior": xr.Dataset(
            {"average_effect_abs": (("chain", "draw"), draws.reshape(2, -1))})})
        summ = pd.DataFrame([{"estimand": "average_effect_abs", "scale": "abs", "mean": mu, "sd": sd,
                              "lower": mu - 1.6 * sd, "upper": mu + 1.6 * sd, "p_gt_0": 0.5, "p_beats_target": None}])
        res = EffectResult(tree, summ, pd.DataFrame(columns=["team", "n", "mean"]),
                           {"converged": converged, "rhat_max": 1.0, "messages": []},
                           {"family": family, "design": "randomized"})
        dec = d.decide_outcome(draws, None, outcome_id=oid, direction=direction, converged=converged,
                               n_units=units, value_per_unit=value)
        disp = A._display(dec, 100.0 if family == "binary" else 1.0, "pp", "EUR")
        outs[oid] = A.OutcomeAnalysis(
            outcome_id=oid, title=oid, family=family, level=4, direction=direction, measured_on="direct_reports",
            display_scale=100.0 if family == "binary" else 1.0, unit="pp", link_meaning="", result=res,
            decision=dec, display=disp, panel={"window_months": 12}, n_people=500,
            team_table=pd.DataFrame({"team": ["t1"], "note": [""]}), event_time=pd.DataFrame(), predictive={},
            balance=None, population={"rows": 500, "units_treated": 250, "units_control": 250, "teams": 10},
            model_math="", priors=pd.DataFrame(columns=["parameter", "prior"]))
    money = {k: r.OutcomeMoney(k, spec[k][0], spec[k][3], spec[k][4] * 2, units_per_month=spec[k][4] / 6,
                               accrual="event", horizon_months=12, basis="60 treated units per 12-month window")
             for k in ("att", "ready")}
    costs = r.Costs(1800, 40, 20000)
    pr = r.program_roi({k: o.result.draws("average_effect_abs") for k, o in outs.items()}, money, costs,
                       horizon_months=12, participants_observed=40, intangibles=["eng"],
                       overlap_warnings=["att and ready are both measured on the same people"])
    thresholds = d.Thresholds()
    an = A.ProgramAnalysis(
        program={"id": "p", "name": "P", "type": "coaching", "design": {"type": "randomized", "unit": "employee",
                                                                         "start": "2025-01-01"},
                 "alignment": {}, "target": None, "population": {}, "skills": [], "decision": None, "roi": None,
                 "outcomes": [{"id": k, "level": 4, "measured_on": "direct_reports", "title": k} for k in outs]},
        organisation="Org", currency="EUR", min_group=5, settings={}, outcomes=outs, failures={}, primary="att",
        recommendation=d.decide_program({k: o.decision for k, o in outs.items()}, "att", roi=pr),
        roi=pr, evsi=voi.sample_information(pr.draws.net_benefit, teams=10, months_observed=12,
                                           horizon_months=12, participants=40, cost_per_participant=1800))
    an.decision_rule = A.decision_rule(an, thresholds)
    an.roi_display = A.roi_display(an)
    return an


def test_analysis_holds_roi_rule_and_evsi_and_round_trips(tmp_path):
    import json

    from lndbayes import load_analysis

    an = _fake_analysis(tmp_path)
    s = an.summary()
    # the hand computation: benefit = 45000 x 120 x 0.04 + 5000 x 120 x 0.05 = 246000 on average
    assert s["roi"]["benefit"]["mean"] == pytest.approx(an.roi.draws.benefit.mean())
    assert s["roi"]["costs"]["total"] == 1800 * 40 + 20000
    assert s["roi"]["roi_pct"]["mean"] == pytest.approx(100 * (an.roi.draws.benefit.mean() - 92000) / 92000)
    assert s["p_roi_positive"] == s["roi"]["p_roi_positive"] == pytest.approx(np.mean(an.roi.draws.net_benefit > 0))
    assert s["break_even_effect"]["outcome"] == "att"
    assert s["break_even_effect"]["value"] == pytest.approx(-92000 / (120 * 45000))
    assert s["outcomes"]["eng"]["intangible"] and s["outcomes"]["eng"]["money"] is None
    assert s["outcomes"]["att"]["money"]["units"] == 120
    assert s["decision_rule"]["basis"] == "money" and "at least 80%" in s["decision_rule"]["text"]
    assert s["recommendation"]["action"] == "scale"
    assert 0 <= s["evsi"]["options"][0]["evsi"] <= s["evsi"]["evpi"]
    assert s["roi"]["dependence"]["net_benefit"]["mean"] == pytest.approx(s["roi"]["net_benefit"]["mean"])
    assert "perfectly positively correlated" in s["roi"]["display"]["dependence"]
    an.save(tmp_path / "p")
    text = (tmp_path / "p" / "analysis.json").read_text()
    json.loads(text, parse_constant=lambda c: pytest.fail(f"analysis.json holds {c}: not JSON"))
    back = load_analysis(tmp_path / "p")
    assert back.summary() == json.loads((tmp_path / "p" / "summary.json").read_text())
    assert back.roi.to_dict() == an.roi.to_dict() and back.evsi.to_dict() == an.evsi.to_dict()


def test_report_sections_show_roi_rule_and_evsi(tmp_path):
    import html
    import re

    from lndbayes.report import views

    an = _fake_analysis(tmp_path)
    page = re.sub(r"\s+", " ", html.unescape(re.sub(r"(?s)<[^>]+>", " ", views.executive_summary(an)
                                                   + views.roi(an))))
    disp = an.roi_display
    for key in ("roi_pct", "p_roi_positive", "net_benefit", "payback_months", "benefit", "bcr", "dependence"):
        assert disp[key] in page, key
    assert "later release" not in page
    assert "Scale when P(ROI > 0) is at least 80%" in page
    assert "Possible double counting" in page and "Intangibles" in page and "eng" in page
    assert "units touched" in page and "Expected value of sample information" in page
    # a non-converged fit never scales, and says why
    bad = _fake_analysis(tmp_path, converged=False)
    assert bad.recommendation.action == "iterate" and "evidence unreliable" in bad.recommendation.reason


def test_a_failing_optional_section_is_reported_and_never_stops_the_report(tmp_path, monkeypatch):
    import json

    from lndbayes import analysis as A
    from lndbayes import load_analysis
    from lndbayes.report import views

    def boom(org, program, an, settings):
        raise RuntimeError("no checkpoints in the data")

    an = _fake_analysis(tmp_path)
    extra = A.Extra("Interim monitoring", boom, None, None, None)
    A.run_extra(an, "monitoring", extra, None, None, {})
    assert an.extras_status["monitoring"] == {"status": "failed",
                                              "message": "RuntimeError: no checkpoints in the data"}
    html, fig = views.monitoring(an)
    assert "could not be computed" in html and "no checkpoints in the data" in html and fig is None
    A.run_extra(an, "other", A.Extra("Other", lambda *a: None, None, None, None), None, None, {})
    assert an.extras_status["other"]["status"] == "not applicable"
    # a program not started yet: "does not apply", with why, not a failure of the section
    from lndbayes.errors import NotApplicableYet

    def not_yet(org, program, an, settings):
        raise NotApplicableYet("the data end before its first month is over: nothing to monitor yet")

    A.run_extra(an, "early", A.Extra("Interim monitoring", not_yet, None, None, None), None, None, {})
    assert an.extras_status["early"] == {"status": "not applicable", "message":
                                         "the data end before its first month is over: nothing to monitor yet"}
    an.save(tmp_path / "p")
    back = load_analysis(tmp_path / "p")
    assert back.summary()["sections"]["monitoring"]["status"] == "failed"
    assert back.summary() == json.loads((tmp_path / "p" / "summary.json").read_text())
    assert "no checkpoints in the data" in views.monitoring(back)[0]
    assert views.executive_summary(back) and views.roi(back)
    # a ROI that could not be computed is said so, in both places, and the rule falls back on the odds
    back.roi, back.roi_display, back.roi_error = None, {}, "ValueError: effect draws of att are not all finite"
    back.decision_rule = A.decision_rule(back, d.Thresholds())
    assert back.decision_rule["basis"] == "odds"
    for page in (views.roi(back), views.executive_summary(back)):
        assert "could not be computed" in page and "not all finite" in page


def test_kirkpatrick_and_monitoring_sections_show_their_numbers_and_read_back(tmp_path):
    import json

    from lndbayes import analysis as A
    from lndbayes import load_analysis
    from lndbayes.mediation import MediationResult
    from lndbayes.monitoring import Monitoring
    from lndbayes.report import views

    an = _fake_analysis(tmp_path)
    rows = [{"estimand": e, "path": None, "label": None, "mean": m, "sd": 0.1, "lower": lo, "upper": hi,
             "p_gt_0": 0.99, "unstable": False}
            for e, m, lo, hi in [("indirect", 3.3, 2.4, 4.2), ("direct", 1.4, 0.4, 2.4), ("total", 4.7, 3.6, 5.7),
                                 ("proportion_mediated", 0.71, 0.53, 0.91)]]
    med = MediationResult(rows=rows, coefficients=[], sensitivity={"rho_at_zero": 0.81,
                          "rho_where_interval_includes_0": [[0.71, 0.9]], "rho": [0.0], "indirect_mean": [3.3],
                          "indirect_lower": [2.4], "indirect_upper": [4.2]},
                          meta={"n": 214, "n_groups": 60, "assumptions": "Sequential ignorability ...",
                                "diagnostics": {"converged": True},
                                "chain": {"levels": {"L2": "assessment", "L3": "conversations", "L4": "goals"}}})
    table = pd.DataFrame({"checkpoint": [1, 2], "as_of": ["2025-02-01", "2025-03-01"],
                          "last_month": ["2025-01", "2025-02"], "n_treated": [30, 30], "n_control": [30, 30],
                          "teams": [10, 10], "events_treated": [5.0, 12.0], "events_control": [6.0, 14.0],
                          "enough": [False, True], "effect_mean": [np.nan, -0.03], "effect_lower": [np.nan, -0.05],
                          "effect_upper": [np.nan, -0.01], "p_works": [np.nan, 0.97], "p_target": [np.nan, 0.6],
                          "p_roi_positive": [np.nan, 0.85], "action": ["too little data", "continue"],
                          "reason": ["too little data", "not decided yet"]})
    mon = Monitoring("p", "att", "decrease", "2025-01-01", 12, "probability", 100.0, False, ["att"], table,
                     {"text": "From month 3 on ...", "thresholds": {"scale_p_works": 0.99, "scale_p_roi": 0.8,
                                                                     "alter_p_works": 0.9, "alter_p_roi": 0.2,
                                                                     "stop_p_works": 0.1, "min_months": 3}},
                     {"available": True, "n_sims": 100, "scenarios": {"no effect": {
                         "effect": 0.0, "p_scale": 0.02, "p_stop": 0.3, "p_alter": 0.0, "p_no_decision": 0.68,
                         "scale_month": None}}})
    for name, obj in (("kirkpatrick", med), ("monitoring", mon)):
        extra = A.EXTRAS[name]
        A.run_extra(an, name, A.Extra(extra.title, lambda *a, o=obj: o, extra.to_json, extra.from_json,
                                      extra.display), None, None, {})
        assert an.extras_status[name]["status"] == "ok", an.extras_status[name]
    an.save(tmp_path / "p")
    back = load_analysis(tmp_path / "p")
    assert back.summary() == json.loads((tmp_path / "p" / "summary.json").read_text())
    kp = views.kirkpatrick(back)[0]
    assert "+3.3 (+2.4 to +4.2)" in kp and "71% (53% to 91%)" in kp and "rho = +0.81" in kp
    assert "L2: assessment" in kp and "Sequential ignorability" in kp
    mo, fig = views.monitoring(back)
    assert fig is not None
    assert "\u22123.0 pp (\u22125.0 to \u22121.0)" in mo and "85%" in mo and "too little data" in mo
    assert back.summary()["sections"]["monitoring"]["summary"] == "no scale or stop decision at any checkpoint"


def test_skill_forecast_section_shows_the_teams_and_reads_back(tmp_path):
    import json

    from lndbayes import analysis as A
    from lndbayes import load_analysis
    from lndbayes.report import views

    an = _fake_analysis(tmp_path)
    an.program["skills"] = ["coaching", "feedback"]
    fc = {"program_id": "p", "as_of": "2025-12-15", "quarter": "2026Q4", "link": None, "skills": [
        {"skill": "coaching", "assessed": True, "hidden": 2,
         "gain": {"mean": 0.3, "lower": 0.1, "upper": 0.5, "p_gt_0": 0.99},
         "teams": [{"team": "Sales-01", "quarter": "2026Q4", "required_level": 3.5, "mean": 1.67, "lower": 1.41,
                    "upper": 1.95, "p_gap": 1.0, "shortfall": 1.83, "flag": "likely gap",
                    "p_gap_if_trained": 0.4, "cost_if_trained": 7200.0}]},
        {"skill": "feedback", "assessed": False, "teams": [], "gain": None}]}
    extra = A.EXTRAS["skills"]
    A.run_extra(an, "skills", A.Extra(extra.title, lambda *a: fc, extra.to_json, extra.from_json, extra.display),
                None, None, {})
    an.save(tmp_path / "p")
    back = load_analysis(tmp_path / "p")
    assert back.summary() == json.loads((tmp_path / "p" / "summary.json").read_text())
    page = views.skills(back)
    for text in ("Sales-01", "1.67 (1.41 to 1.95)", "&gt;99%", "40%", "EUR 7,200", "+0.30 (+0.10 to +0.50)",
                 "2 team(s) not shown", "No assessment of this skill"):
        assert text in page, text
    assert back.summary()["sections"]["skills"]["summary"] == "1 team x skill gap(s) likely (P >= 80%) in 2026Q4"


def test_skill_section_shows_the_first_teams_and_counts_the_rest(tmp_path):
    from lndbayes import analysis as A
    from lndbayes.report import views

    an = _fake_analysis(tmp_path)
    an.program["skills"] = ["coaching"]
    rows = [{"team": f"Team-{i:03d}", "quarter": "2026Q4", "required_level": 3.0, "mean": 2.0, "lower": 1.5,
             "upper": 2.5, "p_gap": 1.0 - i / 100, "shortfall": 1.0, "flag": "", "p_gap_if_trained": None,
             "cost_if_trained": None} for i in range(views.SKILL_ROWS + 5)]
    fc = {"program_id": "p", "as_of": "2025-12-15", "quarter": "2026Q4", "link": None, "skills": [
        {"skill": "coaching", "assessed": True, "hidden": 0, "gain": None, "teams": rows}]}
    extra = A.EXTRAS["skills"]
    A.run_extra(an, "skills", A.Extra(extra.title, lambda *a: fc, extra.to_json, extra.from_json, extra.display),
                None, None, {})
    page = views.skills(an)
    shown = [f"Team-{i:03d}" for i in range(len(rows)) if f"Team-{i:03d}" in page]
    assert shown == [f"Team-{i:03d}" for i in range(views.SKILL_ROWS)]      # the most likely gaps
    assert "5 more team(s)" in page and "skill-gap report" in page


def test_evsi_never_exceeds_the_draws_evpi_when_net_benefit_is_skewed():
    # Right-skewed NB (log-normal shape): the normal approximation alone gives EVSI 589 for 20
    # more teams against an EVPI of 542 on the draws; the reported EVSI is capped at the EVPI.
    nb = np.exp(np.random.default_rng(0).normal(0.0, 1.0, 4000)) * 1000 - 1500
    si = voi.sample_information(nb, teams=10, months_observed=12, horizon_months=12, participants=100,
                                cost_per_participant=10)
    assert voi.evsi_normal(float(nb.mean()), float(nb.std(ddof=1)), 10, 20) > si.evpi  # the failure mode
    assert all(0 <= o.evsi <= si.evpi + 1e-9 for o in si.options)
    assert max(o.evsi for o in si.options) == pytest.approx(si.evpi)

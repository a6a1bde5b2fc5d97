"""Recovery on the built-in example organisation: every program and outcome, against truth.json.

The acceptance check of the models issue: for the example organisation the reports run on
(seed 0), every fit passes its diagnostics and the true average effect (``effect_mean`` on the
link scale, as truth.json defines it) lies inside its 99% interval, with at most 3 of the 9
90% intervals missing (a calibrated model misses more with probability 0.8%). Each outcome is a
separate test so a miss names the program and outcome.

The business-scale estimands a manager reads (``average_effect_abs``, ``average_effect_rel``:
they drive P(target), the benefit and the recommendation) are checked against truth.json too,
from the same fits (one per outcome, shared by the tests through a module fixture). Their truth
is defined as the estimand is (lndbayes.estimands): the mean over the analysed units of
E[y | D=1] - E[y | D=0] at the realised team values, and that over the mean of E[y | D=0].

What this can and cannot show: each interval covers with probability ~0.9, so across eight
outcomes a calibrated model misses at least one about half the time for a random seed. Seed 0 is
the shipped example and is not chosen for passing; tests/test_calibration.py and
tests/test_business_scale.py measure coverage over replications, which is the calibration
evidence. So the business-scale checks ask what a calibrated model meets for (almost) any seed:
every truth inside its 99% interval, and at most 4 of the 18 90% intervals missing (a
calibrated model exceeds that with probability ~3-5%: 1.8 misses expected, abs and rel of one
outcome usually miss together). Seed 0 misses 3 of 18 (attrition_12m abs and rel: the
treated-minus-control difference in its data is 1.7 binomial sd from its expectation given the
simulated team values; promotion_readiness rel: its control arm came out 1.8 sd low): chance,
not a definition mismatch (checked over 200 simulated organisations, issue 12).

The example is there to show every answer (issue 13): lean_workshop has no effect at all and
support_upskilling an agreed target beyond its true effect. Their seed-0 analyses must say so:
the zero-effect program's intervals cover 0 and it is stopped, the over-ambitious one is iterated
on, neither is scaled (over example seeds 0-6 both got these actions every time; the numbers are
in docs/alignment.md).
"""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

import lndbayes as lb

pytestmark = pytest.mark.slow

BUSINESS = ("average_effect_abs", "average_effect_rel")


@pytest.fixture(scope="module")
def example(tmp_path_factory):
    root = tmp_path_factory.mktemp("example_org")
    lb.simulate_org(root / "raw", seed=0)
    org = lb.load_org(root)
    truth = json.loads((root / "truth.json").read_text())
    return org, truth


@pytest.fixture(scope="module")
def fitted(example, tmp_path_factory):
    """``fitted(program, outcome)``: the seed-0 fit of one outcome, fitted once per module."""
    org, _ = example
    cache = tmp_path_factory.mktemp("cache")
    done = {}

    def get(program, outcome):
        if (program, outcome) not in done:
            mp = pytest.MonkeyPatch()
            mp.setenv("LNDBAYES_CACHE", str(cache))
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    done[program, outcome] = lb.fit_program(org, program, outcome, seed=0)
            finally:
                mp.undo()
        return done[program, outcome]

    get.cache = cache  # the posterior cache the fits went to (analyses reuse it)
    return get


def _cases():
    # the outcome list of the example organisation; a change there must show up here
    return [("manager_coaching", "attrition_12m"), ("manager_coaching", "promotion_readiness"),
            ("manager_coaching", "engagement"), ("sales_onboarding", "time_to_first_deal"),
            ("sales_onboarding", "quota_attainment"), ("support_upskilling", "csat"),
            ("support_upskilling", "error_count"), ("compliance_training", "violations"),
            ("lean_workshop", "error_count")]


def test_case_list_matches_truth(example):
    _, truth = example
    listed = {(p, o) for p, v in truth["programs"].items() for o in v["outcomes"]}
    assert listed == set(_cases())


@pytest.mark.parametrize("program,outcome", _cases())
def test_true_effect_inside_99_interval_and_fit_converged(example, fitted, program, outcome):
    _, truth = example
    true = truth["programs"][program]["outcomes"][outcome]["effect_mean"]
    res = fitted(program, outcome)
    row = res.summary().set_index("estimand").loc["effect_mean"]
    assert res.converged, res.diagnostics()["messages"]
    lo99, hi99 = np.quantile(res.draws("effect_mean"), [0.005, 0.995])
    assert lo99 <= true <= hi99, (
        f"{program}/{outcome}: truth {true} outside the 99% interval [{lo99:.3f}, {hi99:.3f}]")
    # the business-scale effect must have the sign of the link-scale one when the evidence is
    # clear (P > 0.95 either way); near-zero effects may disagree in posterior mean
    abs_row = res.summary().set_index("estimand").loc["average_effect_abs"]
    if row["p_gt_0"] > 0.95:
        assert abs_row["p_gt_0"] > 0.9
    if row["p_gt_0"] < 0.05:
        assert abs_row["p_gt_0"] < 0.1


def _business_check(res, true):
    """Per estimand: (inside the 90% interval, inside the 99% interval, text for a message)."""
    out = {}
    s = res.summary().set_index("estimand")
    for name in BUSINESS:
        lo90, hi90 = s.loc[name, "lower"], s.loc[name, "upper"]
        lo99, hi99 = np.quantile(res.draws(name), [0.005, 0.995])
        out[name] = (bool(lo90 <= true[name] <= hi90), bool(lo99 <= true[name] <= hi99),
                     f"{name}: truth {true[name]:.4g}, 90% [{lo90:.4g}, {hi90:.4g}], "
                     f"99% [{lo99:.4g}, {hi99:.4g}]")
    return out


@pytest.mark.parametrize("program,outcome", _cases())
def test_business_scale_truth_inside_99_interval(example, fitted, program, outcome):
    _, truth = example
    true = truth["programs"][program]["outcomes"][outcome]
    for name, (_, in99, text) in _business_check(fitted(program, outcome), true).items():
        assert in99, f"{program}/{outcome} {text}"


def test_effect_mean_misses_at_90_within_chance(example, fitted):
    # 9 intervals at 90%: 0.9 misses expected; more than 3 has probability 0.8% for a
    # calibrated model (Binomial(9, 0.1))
    _, truth = example
    misses = []
    for program, outcome in _cases():
        true = truth["programs"][program]["outcomes"][outcome]["effect_mean"]
        row = fitted(program, outcome).summary().set_index("estimand").loc["effect_mean"]
        if not row["lower"] <= true <= row["upper"]:
            misses.append(f"{program}/{outcome}: truth {true}, 90% [{row['lower']:.3f}, "
                          f"{row['upper']:.3f}]")
    print(f"{len(misses)} of 9 effect_mean 90% intervals miss the truth:", *misses, sep="\n  ")
    assert len(misses) <= 3, misses


def test_business_scale_misses_at_90_within_chance(example, fitted):
    # 18 intervals at 90%: 1.8 misses expected; more than 4 has probability ~3% (independent)
    # to ~5% (abs and rel of an outcome missing together) for a calibrated model
    _, truth = example
    misses = []
    for program, outcome in _cases():
        true = truth["programs"][program]["outcomes"][outcome]
        for name, (in90, _, text) in _business_check(fitted(program, outcome), true).items():
            if not in90:
                misses.append(f"{program}/{outcome} {text}")
    print(f"{len(misses)} of 18 business-scale 90% intervals miss the truth:", *misses, sep="\n  ")
    assert len(misses) <= 4, misses


def test_zero_effect_programs_intervals_cover_zero(example, fitted):
    # lean_workshop's true effect is 0 in every team: the intervals the report prints cover it
    _, truth = example
    true = truth["programs"]["lean_workshop"]["outcomes"]["error_count"]
    assert true["effect_mean"] == true["average_effect_abs"] == true["average_effect_rel"] == 0
    s = fitted("lean_workshop", "error_count").summary().set_index("estimand")
    for name in ("effect_mean", "average_effect_abs", "average_effect_rel"):
        assert s.loc[name, "lower"] < 0 < s.loc[name, "upper"], (name, s.loc[name].to_dict())


@pytest.fixture(scope="module")
def analysed(example, fitted):
    """analyse_program of the two programs made to stop and to iterate (the fits come from the
    posterior cache the ``fitted`` fixture filled: same panels, same settings)."""
    org, _ = example
    for pid in ("lean_workshop", "support_upskilling"):
        for o in org.programs.get_program(pid).outcomes:
            fitted(pid, o.id)
    mp = pytest.MonkeyPatch()
    mp.setenv("LNDBAYES_CACHE", str(fitted.cache))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return {pid: lb.analyse_program(org, pid, seed=0) for pid in ("lean_workshop", "support_upskilling")}
    finally:
        mp.undo()


def test_zero_effect_program_is_stopped_and_over_ambitious_one_iterated(example, analysed):
    _, truth = example
    lean, sup = analysed["lean_workshop"], analysed["support_upskilling"]
    # the panels the fits used went to the sections and were let go afterwards
    assert lean.panels == {} and sup.panels == {}
    # no effect: the workshop costs more than it can be shown to return
    assert lean.recommendation.action == "stop", lean.recommendation.reason
    assert lean.roi.p_roi_positive < 0.2 and lean.roi.net_benefit.upper < 0
    # works and pays for itself, but probably falls short of the target agreed beyond its true effect
    tg = truth["programs"]["support_upskilling"]["target"]
    assert not tg["true_effect_meets_target"]
    d = sup.outcomes["error_count"].decision
    assert d.p_works > 0.95 and d.p_target < 0.1
    assert sup.recommendation.action == "iterate", sup.recommendation.reason
    assert "meets target" in sup.recommendation.reason

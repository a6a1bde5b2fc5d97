"""The retry policy of sample_with_retry: a fit short only of effective draws draws more at the
same settings, one whose R-hat is a little high with a clean sampler runs longer chains, other
failures take smaller steps and longer tuning."""

from __future__ import annotations

import pytest

from lndbayes.inference import sampling


def _diag(rhat=1.0, ess=1000.0, div=0, ebfmi=1.0):
    msgs = []
    if rhat > 1.01:
        msgs.append("R-hat max")
    if ess < 400:
        msgs.append("effective sample size min")
    if div:
        msgs.append("divergent transitions")
    return {"rhat_max": rhat, "ess_bulk_min": ess, "ess_tail_min": ess, "divergences": div,
            "ebfmi_min": ebfmi, "converged": not msgs, "messages": msgs}


def _run(monkeypatch, verdicts, **kw):
    calls = []
    monkeypatch.setattr(sampling, "sample", lambda key, build, data, **k: calls.append(k) or k)
    it = iter(verdicts)
    monkeypatch.setattr(sampling, "diagnose", lambda idata: next(it))
    _, diag = sampling.sample_with_retry("k", None, {}, draws=1000, tune=1000, chains=4, seed=7,
                                         **kw)
    return calls, diag


def test_more_draws_factor_aims_past_400_with_a_margin():
    assert sampling.more_draws_factor(399) == 2
    assert sampling.more_draws_factor(200) == 3          # 1.3 x 400 / 200 = 2.6
    assert sampling.more_draws_factor(10) == 4           # capped
    for ess in (50, 150, 250, 350):
        assert ess * sampling.more_draws_factor(ess) >= 400 or sampling.more_draws_factor(ess) == 4


def test_short_of_draws_only_keeps_step_size_and_tuning_and_draws_more(monkeypatch):
    calls, diag = _run(monkeypatch, [_diag(ess=283), _diag()])
    assert [(c["target_accept"], c["tune"], c["draws"]) for c in calls] == [
        (0.8, 1000, 1000), (0.8, 1000, 2000)]
    assert [c["seed"] for c in calls] == [7, 8]
    assert diag["converged"] and diag["retries"] == 1


def test_divergences_climb_the_ladder_and_a_short_chain_is_lengthened_too(monkeypatch):
    calls, diag = _run(monkeypatch, [_diag(div=3, ess=300), _diag(div=1), _diag(rhat=1.02)])
    assert [(c["target_accept"], c["tune"], c["draws"]) for c in calls] == [
        (0.8, 1000, 1000), (0.95, 2000, 2000), (0.99, 3000, 2000)]
    assert not diag["converged"] and diag["retries"] == 2
    assert "still failing after 2 retries" in diag["messages"][-1]


def test_r_hat_a_little_high_with_a_clean_sampler_gets_longer_chains_not_smaller_steps(monkeypatch):
    calls, diag = _run(monkeypatch, [_diag(rhat=1.012), _diag(rhat=1.011), _diag()])
    assert [(c["target_accept"], c["tune"], c["draws"]) for c in calls] == [
        (0.8, 1000, 1000), (0.8, 2000, 2000), (0.8, 2000, 4000)]
    assert diag["converged"] and diag["retries"] == 2
    # far above the rule, or with divergences: the ladder
    calls, _ = _run(monkeypatch, [_diag(rhat=1.2), _diag()])
    assert calls[1]["target_accept"] == 0.95
    calls, _ = _run(monkeypatch, [_diag(rhat=1.02, div=1), _diag()])
    assert calls[1]["target_accept"] == 0.95


def test_repeated_shortfall_keeps_lengthening_up_to_eight_times(monkeypatch):
    calls, _ = _run(monkeypatch, [_diag(ess=100), _diag(ess=100), _diag(ess=100)])
    assert [c["draws"] for c in calls] == [1000, 4000, 8000]
    assert {c["target_accept"] for c in calls} == {0.8}


@pytest.mark.parametrize("first", [0.9, 0.95])
def test_a_family_starting_higher_skips_the_rungs_below_it(monkeypatch, first):
    calls, _ = _run(monkeypatch, [_diag(div=1), _diag(div=1), _diag(div=1)], target_accept=first)
    tas = [c["target_accept"] for c in calls]
    assert tas[0] == first and all(b > a for a, b in zip(tas, tas[1:]))


def test_no_retry_means_one_attempt(monkeypatch):
    calls, diag = _run(monkeypatch, [_diag(div=2)], retry=False)
    assert len(calls) == 1 and diag["retries"] == 0 and not diag["converged"]

"""The retry policy of sample_with_retry: a fit short only of effective draws draws more at the
same settings, one whose R-hat is a little high with a clean sampler gets more chains (kept with
the first ones), other failures take smaller steps and longer tuning."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from lndbayes.inference import sampling


def _idata(chains: int, draws: int, seed: int):
    """A fit as sampling.sample returns it (posterior and sample stats, chain x draw)."""
    rng = np.random.default_rng(seed)
    coords = {"chain": np.arange(chains), "draw": np.arange(draws)}
    post = xr.Dataset({"mu": (("chain", "draw"), rng.normal(size=(chains, draws))),
                       "team": (("chain", "draw", "t"), rng.normal(size=(chains, draws, 3)))},
                      coords=coords)
    stats = xr.Dataset({"diverging": (("chain", "draw"), np.zeros((chains, draws), bool))},
                       coords=coords)
    return xr.DataTree.from_dict({"posterior": post, "sample_stats": stats})


def _diag(rhat=1.0, ess=1000.0, div=0, ebfmi=1.0):
    msgs = []
    if rhat > 1.01:
        msgs.append("R-hat max")
    if ess < 400:
        msgs.append("effective sample size min")
    if div:
        msgs.append("divergent transitions")
    if ebfmi < 0.3:
        msgs.append("E-BFMI min")
    return {"rhat_max": rhat, "ess_bulk_min": ess, "ess_tail_min": ess, "divergences": div,
            "ebfmi_min": ebfmi, "converged": not msgs, "messages": msgs}


def _run(monkeypatch, verdicts, **kw):
    calls = []
    monkeypatch.setattr(sampling, "sample", lambda key, build, data, **k: calls.append(k) or
                        _idata(k["chains"], 5, k["seed"]))
    it = iter(verdicts)
    monkeypatch.setattr(sampling, "diagnose", lambda idata: next(it))
    idata, diag = sampling.sample_with_retry("k", None, {}, draws=1000, tune=1000, chains=4, seed=7,
                                             **kw)
    return calls, diag, idata


def test_more_draws_factor_aims_past_400_with_a_margin():
    assert sampling.more_draws_factor(399) == 2
    assert sampling.more_draws_factor(200) == 3          # 1.3 x 400 / 200 = 2.6
    assert sampling.more_draws_factor(10) == 4           # capped
    for ess in (50, 150, 250, 350):
        assert ess * sampling.more_draws_factor(ess) >= 400 or sampling.more_draws_factor(ess) == 4


def test_short_of_draws_only_keeps_step_size_and_tuning_and_draws_more(monkeypatch):
    # twice the draws suffice: as many chains again, kept with the first ones
    calls, diag, idata = _run(monkeypatch, [_diag(ess=283), _diag()])
    assert [(c["target_accept"], c["tune"], c["draws"], c["chains"]) for c in calls] == [
        (0.8, 1000, 1000, 4), (0.8, 1000, 1000, 4)]
    assert [c["seed"] for c in calls] == [7, 8]
    assert diag["converged"] and diag["retries"] == 1
    assert [a["chains"] for a in diag["attempts"]] == [4, 8]
    assert idata["posterior"].sizes["chain"] == 8
    np.testing.assert_array_equal(idata["posterior"]["mu"].values[:4],
                                  _idata(4, 5, 7)["posterior"]["mu"].values)
    # a larger shortfall: longer chains (three times the draws cost less that way)
    calls, diag, idata = _run(monkeypatch, [_diag(ess=200), _diag()])
    assert [(c["draws"], c["chains"]) for c in calls] == [(1000, 4), (3000, 4)]
    assert idata["posterior"].sizes["chain"] == 4
    # short again after the chains were added: a new fit with chains long enough for twice
    # the 8 x 1000 draws that fell short, not 12 chains
    calls, diag, idata = _run(monkeypatch, [_diag(ess=300), _diag(ess=390), _diag()])
    assert [(c["draws"], c["chains"]) for c in calls] == [(1000, 4), (1000, 4), (4000, 4)]
    assert [a["chains"] for a in diag["attempts"]] == [4, 8, 4]


def test_divergences_climb_the_ladder_and_a_short_chain_is_lengthened_too(monkeypatch):
    # divergences alone: smaller steps, the tuning one length shorter than the ladder's
    calls, diag, _ = _run(monkeypatch, [_diag(div=3, ess=300), _diag(div=1), _diag(rhat=1.02)])
    assert [(c["target_accept"], c["tune"], c["draws"]) for c in calls] == [
        (0.8, 1000, 1000), (0.95, 1000, 2000), (0.99, 2000, 2000)]
    assert not diag["converged"] and diag["retries"] == 2
    assert "still failing after 2 retries" in diag["messages"][-1]


@pytest.mark.parametrize("poor", [dict(ebfmi=0.2), dict(rhat=1.2), dict(div=2, ebfmi=0.1)])
def test_a_poor_adaptation_gets_longer_tuning_with_the_smaller_steps(monkeypatch, poor):
    calls, diag, _ = _run(monkeypatch, [_diag(**poor), _diag(**poor), _diag()])
    assert [(c["target_accept"], c["tune"], c["draws"]) for c in calls] == [
        (0.8, 1000, 1000), (0.95, 2000, 1000), (0.99, 3000, 1000)]
    assert diag["converged"] and [a["tune"] for a in diag["attempts"]] == [1000, 2000, 3000]


def test_r_hat_a_little_high_with_a_clean_sampler_gets_more_chains_not_smaller_steps(monkeypatch):
    calls, diag, idata = _run(monkeypatch, [_diag(rhat=1.012), _diag(rhat=1.011), _diag()])
    # the same settings each time, the next seed: 4 chains, 2 more, then (a second near miss)
    # 4 more, all kept
    assert [(c["target_accept"], c["tune"], c["draws"], c["chains"], c["seed"]) for c in calls] == [
        (0.8, 1000, 1000, 4, 7), (0.8, 1000, 1000, 2, 8), (0.8, 1000, 1000, 4, 9)]
    assert diag["converged"] and diag["retries"] == 2
    assert [a["chains"] for a in diag["attempts"]] == [4, 6, 10]
    assert idata["posterior"].sizes["chain"] == 10
    np.testing.assert_array_equal(idata["posterior"]["chain"].values, np.arange(10))
    # the first attempt's draws are the first four chains, untouched, the retry's the next two
    np.testing.assert_array_equal(idata["posterior"]["mu"].values[:4],
                                  _idata(4, 5, 7)["posterior"]["mu"].values)
    np.testing.assert_array_equal(idata["posterior"]["mu"].values[4:6],
                                  _idata(2, 5, 8)["posterior"]["mu"].values)
    # short of effective draws as well: as many chains again (twice the draws are needed)
    calls, diag, _ = _run(monkeypatch, [_diag(rhat=1.012, ess=300), _diag()])
    assert [c["chains"] for c in calls] == [4, 4] and diag["attempts"][-1]["chains"] == 8
    # far above the rule, or with divergences: the ladder
    calls, _, _ = _run(monkeypatch, [_diag(rhat=1.2), _diag()])
    assert calls[1]["target_accept"] == 0.95
    calls, _, _ = _run(monkeypatch, [_diag(rhat=1.02, div=1), _diag()])
    assert calls[1]["target_accept"] == 0.95


def test_repeated_shortfall_keeps_lengthening_up_to_eight_times(monkeypatch):
    calls, _, _ = _run(monkeypatch, [_diag(ess=100), _diag(ess=100), _diag(ess=100)])
    assert [c["draws"] for c in calls] == [1000, 4000, 8000]
    assert {c["target_accept"] for c in calls} == {0.8}


@pytest.mark.parametrize("first", [0.9, 0.95])
def test_a_family_starting_higher_skips_the_rungs_below_it(monkeypatch, first):
    calls, _, _ = _run(monkeypatch, [_diag(div=1), _diag(div=1), _diag(div=1)], target_accept=first)
    tas = [c["target_accept"] for c in calls]
    assert tas[0] == first and all(b > a for a, b in zip(tas, tas[1:]))


def test_no_retry_means_one_attempt(monkeypatch):
    calls, diag, _ = _run(monkeypatch, [_diag(div=2)], retry=False)
    assert len(calls) == 1 and diag["retries"] == 0 and not diag["converged"]


def test_join_chains_keeps_every_draw_and_numbers_the_chains_after_each_other():
    a, b = _idata(4, 6, 1), _idata(3, 6, 2)
    joined = sampling.join_chains(a, b)
    for group, var in (("posterior", "mu"), ("posterior", "team"), ("sample_stats", "diverging")):
        got = joined[group][var].values
        np.testing.assert_array_equal(got[:4], a[group][var].values)
        np.testing.assert_array_equal(got[4:], b[group][var].values)
    np.testing.assert_array_equal(joined["posterior"]["chain"].values, np.arange(7))
    assert joined["posterior"]["team"].dims == ("chain", "draw", "t")

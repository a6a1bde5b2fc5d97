"""EffectResult.save copies posterior.nc from the saved-posterior store only when the content is
exactly the same; the copy reads back identical to a fresh write."""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from lndbayes.results import EffectResult, load_result, saved_posterior_store, tree_digest


def _result(seed=0, team="a"):
    rng = np.random.default_rng(seed)
    post = xr.Dataset({"effect_mean": (("chain", "draw"), rng.normal(size=(2, 50))),
                       "effect_team": (("chain", "draw", "team"), rng.normal(size=(2, 50, 2)))},
                      coords={"chain": [0, 1], "draw": np.arange(50), "team": [team, "b"]})
    stats = xr.Dataset({"diverging": (("chain", "draw"), np.zeros((2, 50), bool))},
                       coords={"chain": [0, 1], "draw": np.arange(50)})
    idata = xr.DataTree.from_dict({"posterior": post, "sample_stats": stats})
    summary = pd.DataFrame([{"estimand": "effect_mean", "scale": "log", "mean": 0.1, "sd": 1.0,
                             "lower": -1.0, "upper": 1.0, "p_gt_0": 0.5, "p_beats_target": np.nan}])
    team = pd.DataFrame(columns=["team", "n", "raw_effect", "raw_se", "mean", "sd", "lower", "upper", "p_gt_0"])
    return EffectResult(idata, summary, team, {"converged": True, "messages": []}, {"family": "normal"})


def test_same_content_is_copied_from_the_store_and_reads_back_identical(tmp_path, monkeypatch):
    monkeypatch.setenv("LNDBAYES_CACHE", str(tmp_path / "cache"))
    r = _result()
    r.save(tmp_path / "one")
    stored = list(saved_posterior_store().rglob("*.nc"))
    assert len(stored) == 1
    r.save(tmp_path / "two")                               # from the store
    assert list(saved_posterior_store().rglob("*.nc")) == stored
    assert (tmp_path / "one" / "summary.json").read_bytes() == (tmp_path / "two" / "summary.json").read_bytes()
    a, b = load_result(tmp_path / "one"), load_result(tmp_path / "two")
    assert a.idata.identical(b.idata) and a.idata.identical(r.idata)


def test_any_difference_in_draws_or_labels_is_a_new_entry(tmp_path, monkeypatch):
    monkeypatch.setenv("LNDBAYES_CACHE", str(tmp_path / "cache"))
    base = _result()
    other_draws, other_label = _result(seed=1), _result(team="z")
    assert len({tree_digest(x.idata) for x in (base, other_draws, other_label)}) == 3
    for i, r in enumerate((base, other_draws, other_label)):
        r.save(tmp_path / str(i))
        assert load_result(tmp_path / str(i)).idata.identical(r.idata)
    assert len(list(saved_posterior_store().rglob("*.nc"))) == 3


def test_a_store_that_cannot_be_written_only_costs_the_copy(tmp_path, monkeypatch):
    blocker = tmp_path / "cache"
    blocker.write_text("not a folder")                     # the store cannot be created
    monkeypatch.setenv("LNDBAYES_CACHE", str(blocker))
    r = _result()
    r.save(tmp_path / "out")
    assert load_result(tmp_path / "out").idata.identical(r.idata)

"""lndbayes.inference.convergence reproduces ArviZ's R-hat, bulk ESS and tail ESS element by element."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import xarray as xr

import arviz as az
from lndbayes.inference import convergence as cv

RTOL = 1e-8


def _ar1(rng, shape, phi):
    e = rng.normal(size=shape)
    x = np.empty(shape)
    x[:, 0] = e[:, 0]
    for t in range(1, shape[1]):
        x[:, t] = phi * x[:, t - 1] + e[:, t]
    return x


def _reference(values, prob=None):
    """az.rhat / az.ess on a DataTree with a posterior group holding ``values`` as one variable."""
    dims = ["chain", "draw"] + [f"d{i}" for i in range(values.ndim - 2)]
    tree = xr.DataTree.from_dict({"posterior": xr.Dataset({"x": (dims, values)})})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rhat = az.rhat(tree)["x"].values
        bulk = az.ess(tree, method="bulk")["x"].values
        tail = az.ess(tree, method="tail", prob=prob)["x"].values
    return np.asarray(rhat, float), np.asarray(bulk, float), np.asarray(tail, float)


def _cases():
    rng = np.random.default_rng(20240611)
    cases = {
        "normal (4,1000)": rng.normal(size=(4, 1000)),
        "AR(1) 0.95 (4,500,7)": _ar1(rng, (4, 500, 7), 0.95),
        "AR(1) 0.995 (4,500,3)": _ar1(rng, (4, 500, 3), 0.995),
        "normal (2,300,3,2)": rng.normal(size=(2, 300, 3, 2)),
        "bernoulli ties (4,200,5)": rng.binomial(1, 0.3, size=(4, 200, 5)).astype(float),
        "poisson ints (4,101,3)": rng.poisson(2, size=(4, 101, 3)),
        "short chains (4,10,5)": rng.normal(size=(4, 10, 5)),
        "one chain (1,501,4)": _ar1(rng, (1, 501, 4), 0.9),
        "odd draws (3,333,2)": _ar1(rng, (3, 333, 2), 0.6),
        "4 draws (3,4,3)": rng.normal(size=(3, 4, 3)),
        "3 draws: invalid (3,3,3)": rng.normal(size=(3, 3, 3)),
        "float32 (3,120,4)": _ar1(rng, (3, 120, 4), 0.7).astype(np.float32),
    }
    mixed = rng.normal(size=(4, 300, 5))
    mixed[..., 0] = 1.5  # constant element
    mixed[2, :, 1] += 3.0  # one chain stuck at another mean: bad R-hat
    mixed[1, :, 2] = np.nan  # NaN draws
    mixed[0, 5, 3] = np.inf
    mixed[..., 4] = np.arange(4.0)[:, None]  # each chain constant at its own value
    cases["constant / stuck / NaN / inf (4,300,5)"] = mixed
    # a balanced two-valued element: the folded draws are constant (NaN folded R-hat)
    balanced = np.zeros((4, 100, 2))
    balanced[:, :50, 0] = 1.0
    balanced[:, :, 1] = rng.permutation(np.repeat([0.0, 1.0], 200)).reshape(4, 100)
    cases["balanced 0/1 (4,100,2)"] = balanced
    # anti-correlated chains: first pair sum 1 + rho_1 <= 0, so Geyer's loop never runs
    alt = ((-1.0) ** np.arange(40))[None, :, None] * (1 + 0.01 * rng.normal(size=(4, 40, 6)))
    cases["alternating (4,40,6)"] = alt
    return cases


CASES = _cases()


@pytest.mark.parametrize("name", list(CASES))
def test_matches_arviz(name):
    values = CASES[name]
    ref_rhat, ref_bulk, ref_tail = _reference(values)
    assert np.allclose(cv.rhat_rank(values), ref_rhat, rtol=RTOL, atol=0, equal_nan=True)
    assert np.allclose(cv.ess_bulk(values), ref_bulk, rtol=RTOL, atol=0, equal_nan=True)
    assert np.allclose(cv.ess_tail(values), ref_tail, rtol=RTOL, atol=0, equal_nan=True)
    both = cv.diagnostics(values)
    assert both["rhat"].shape == values.shape[2:]
    for got, ref in ((both["rhat"], ref_rhat), (both["ess_bulk"], ref_bulk),
                     (both["ess_tail"], ref_tail)):
        assert np.allclose(got, ref, rtol=RTOL, atol=0, equal_nan=True)


def test_tail_prob_05_95():
    values = CASES["AR(1) 0.95 (4,500,7)"]
    ref = _reference(values, prob=(0.05, 0.95))[2]
    assert np.allclose(cv.ess_tail(values, prob=(0.05, 0.95)), ref, rtol=RTOL, atol=0)


def test_edge_rules():
    values = CASES["constant / stuck / NaN / inf (4,300,5)"]
    rhat, bulk = cv.rhat_rank(values), cv.ess_bulk(values)
    assert bulk[0] == 4 * 300 and np.isnan(rhat[0])  # constant: ess = size, R-hat undefined
    assert rhat[1] > 1.1  # a stuck chain shows
    assert np.isnan(rhat[2]) and np.isnan(bulk[2])  # NaN draws
    assert rhat[4] > 1e3  # chains constant at different values (inf up to rounding)
    assert np.isnan(cv.rhat_rank(CASES["one chain (1,501,4)"])).all()
    assert np.isnan(cv.ess_bulk(CASES["3 draws: invalid (3,3,3)"])).all()


def test_random_small_shapes():
    """Short chains hit every branch of Geyer's initial positive / monotone sequence."""
    from arviz_stats.base import array_stats

    rng = np.random.default_rng(5)
    for _ in range(60):
        n_chain, n_draw = int(rng.integers(1, 5)), int(rng.integers(4, 40))
        x = _ar1(rng, (n_chain, n_draw, 8), rng.choice([-0.9, -0.3, 0.0, 0.6, 0.97]))
        if rng.random() < 0.3:
            x = np.round(x)
        arr = np.moveaxis(x, (0, 1), (-2, -1))  # array_stats wants (..., chain, draw)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ref = (array_stats.rhat(arr), array_stats.ess(arr, method="bulk"),
                   array_stats.ess(arr, method="tail", prob=0.89))
        got = (cv.rhat_rank(x), cv.ess_bulk(x), cv.ess_tail(x))
        for g, r in zip(got, ref):
            assert np.allclose(g, r, rtol=RTOL, atol=0, equal_nan=True), (n_chain, n_draw)


def test_summarize_ignores_nan():
    rng = np.random.default_rng(3)
    a = _ar1(rng, (4, 200, 3), 0.8)
    a[0, 0, 2] = np.nan
    ds = xr.Dataset({"a": (("chain", "draw", "team"), a),
                     "b": (("grp", "chain", "draw"), np.moveaxis(_ar1(rng, (4, 200, 2), 0.3),
                                                                   2, 0))})
    out = cv.summarize(ds)
    ref = [_reference(a[..., :2]), _reference(np.moveaxis(ds["b"].values, 0, 2))]
    assert np.isclose(out["rhat_max"], max(r[0].max() for r in ref), rtol=RTOL)
    assert np.isclose(out["ess_bulk_min"], min(r[1].min() for r in ref), rtol=RTOL)
    assert np.isclose(out["ess_tail_min"], min(r[2].min() for r in ref), rtol=RTOL)
    empty = cv.summarize(ds, var_names=[])
    assert all(np.isnan(v) for v in empty.values())

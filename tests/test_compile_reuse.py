"""A model compiled now and the same model loaded from the disk cache give the same draws.

lndbayes.inference.compiled keeps nutpie's compiled callbacks on disk, so every report worker
after the first loads them instead of compiling. These tests check what must not change with
that: for the same data and seed the posterior draws are identical whether the callbacks were
compiled in this process, loaded from disk, or compiled by two other processes at once into the
same folder; swapping data of another shape into a loaded model works.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
import warnings

import numpy as np
import pymc as pm
import pytensor
import pytest

nutpie = pytest.importorskip("nutpie")

from lndbayes.inference import compiled  # noqa: E402

SCRIPT = r"""
import json, sys
import numpy as np
sys.path.insert(0, {tests!r})
from test_compile_reuse import model_for, draws_of
from lndbayes.inference import compiled
c = compiled.compile_pymc_model(model_for(*{data!r}), salt={salt!r}, structure_key={key!r})
print("RESULT " + json.dumps({{"hits": c.cache_hits, "by_structure": c.loaded_by_structure,
                               "draws": draws_of(c).tolist()}}))
"""


def simulate(n_groups: int, n: int, seed: int):
    rng = np.random.default_rng(seed)
    g = rng.integers(0, n_groups, n)
    y = rng.normal(0.5 + rng.normal(0, 0.3, n_groups)[g], 1.0)
    return g.tolist(), y.round(6).tolist(), n_groups


def model_for(g, y, n_groups):
    """A small hierarchical normal model whose data (and one prior scale) are pm.Data; one
    array has a static shape, as lndbayes.models.graph gives its structure-sized data."""
    with pm.Model(coords={"group": np.arange(n_groups)}) as m:
        gi = pm.Data("g", np.asarray(g, dtype=np.int64))
        yy = pm.Data("y", np.asarray(y, dtype=float))
        scale = pm.Data("prior_scale", np.asarray(1.0))
        z_scale = pm.Data("z_scale", np.ones(n_groups), shape=(n_groups,))
        mu = pm.Normal("mu", 0.0, scale)
        tau = pm.HalfNormal("tau", 1.0)
        z = pm.Normal("z", 0.0, z_scale, dims="group")
        sigma = pm.HalfNormal("sigma", 2.0)
        group_mean = pm.Deterministic("group_mean", mu + tau * z * z_scale, dims="group")
        pm.Deterministic("z_square_sum", (z ** 2).sum())   # a sum: expansion._SumOf
        pm.Normal("obs", group_mean[gi], sigma, observed=yy)
    return m


def draws_of(c, seed: int = 3) -> np.ndarray:
    tr = nutpie.sample(c, draws=100, tune=100, chains=2, seed=seed, progress_bar=False)
    # lndbayes' compiled models: the trace holds unconstrained draws, turned into the variables
    post = c.posterior(tr) if isinstance(c, compiled.CachedPyMCModel) else tr.posterior
    return np.concatenate([post["mu"].values.ravel(), post["tau"].values.ravel()])


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("LNDBAYES_COMPILE_CACHE", str(tmp_path / "compiled"))
    return tmp_path / "compiled"


def _subprocess(data, salt, env_dir, key=None):
    import os
    tests = str(__import__("pathlib").Path(__file__).resolve().parent)
    code = SCRIPT.format(tests=tests, data=data, salt=salt, key=key)
    env = {**os.environ, "LNDBAYES_COMPILE_CACHE": str(env_dir)}
    return subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _result(proc):
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err[-2000:]
    line = [x for x in out.splitlines() if x.startswith("RESULT ")][0]
    return json.loads(line[7:])


def test_compiled_now_loaded_and_other_processes_give_identical_draws(cache, monkeypatch):
    data = simulate(6, 80, seed=1)
    salt = uuid.uuid4().hex  # a key no earlier run can have cached
    # two other processes compile the same structure at once into one empty folder
    other_dir = cache.parent / "shared"
    procs = [_subprocess(data, salt + "-shared", other_dir) for _ in range(2)]

    fresh = compiled.compile_pymc_model(model_for(*data), salt=salt)
    assert fresh.cache_hits == 0
    a = draws_of(fresh)
    loaded = compiled.compile_pymc_model(model_for(*data), salt=salt)
    assert loaded.cache_hits == 1          # the compiled log density came from disk
    np.testing.assert_array_equal(draws_of(loaded), a)

    others = [_result(p) for p in procs]
    for r in others:
        np.testing.assert_array_equal(np.asarray(r["draws"]), a)
    # what the concurrent writers left is a complete, loadable entry
    monkeypatch.setenv("LNDBAYES_COMPILE_CACHE", str(other_dir))
    again = compiled.compile_pymc_model(model_for(*data), salt=salt + "-shared")
    assert again.cache_hits == 1
    np.testing.assert_array_equal(draws_of(again), a)
    assert not [p for p in other_dir.rglob("*") if ".tmp." in p.name]

    # new data of another size through a loaded model == the model built on that data
    monkeypatch.setenv("LNDBAYES_COMPILE_CACHE", str(cache))
    data2 = simulate(6, 130, seed=2)
    swapped = loaded.with_data(g=np.asarray(data2[0]), y=np.asarray(data2[1]),
                               prior_scale=np.asarray(1.0))
    direct = compiled.compile_pymc_model(model_for(*data2), salt=salt)
    assert direct.cache_hits == 1          # same structure: the same cache entry
    b = draws_of(swapped)
    assert not np.array_equal(b, a)
    np.testing.assert_array_equal(b, draws_of(direct))


def test_loaded_by_structure_key_gives_identical_draws(cache):
    """A structure compiled before loads by its key without PyTensor's functions being built,
    and samples exactly as the full compile does, in another process and on other data of the
    same structure; whatever does not match (other shared arrays, a Numba entry gone) compiles
    in full instead of giving a broken model."""
    data = simulate(6, 80, seed=1)
    salt = uuid.uuid4().hex
    full = compiled.compile_pymc_model(model_for(*data), salt=salt, structure_key="normal-6")
    assert not full.loaded_by_structure and full.cache_hits == 0
    a = draws_of(full)

    other_process = _result(_subprocess(data, salt, cache, key="normal-6"))
    assert other_process["by_structure"] and other_process["hits"] == 1
    np.testing.assert_array_equal(np.asarray(other_process["draws"]), a)

    data2 = simulate(6, 130, seed=2)
    fast2 = compiled.compile_pymc_model(model_for(*data2), salt=salt, structure_key="normal-6")
    assert fast2.loaded_by_structure
    full2 = compiled.compile_pymc_model(model_for(*data2), salt=salt)   # no key: built in full
    assert not full2.loaded_by_structure and full2.cache_hits == 1
    b = draws_of(fast2)
    assert not np.array_equal(b, a)
    np.testing.assert_array_equal(b, draws_of(full2))

    # shared arrays of another static shape under the same key (7 groups): not loaded by key
    data3 = simulate(7, 80, seed=1)
    seven = compiled.compile_pymc_model(model_for(*data3), salt=salt, structure_key="normal-6")
    assert not seven.loaded_by_structure

    # Numba's entries gone: the key's layout is no longer enough, the model compiles in full
    fresh_salt = uuid.uuid4().hex
    compiled.compile_pymc_model(model_for(*data), salt=fresh_salt, structure_key="normal-6")
    for f in cache.iterdir():
        if f.suffix in (".nbi", ".nbc"):
            f.unlink()
    again = compiled.compile_pymc_model(model_for(*data), salt=fresh_salt, structure_key="normal-6")
    assert not again.loaded_by_structure and again.cache_hits == 0
    np.testing.assert_array_equal(draws_of(again), a)


def test_one_process_compiles_a_structure_the_others_wait_and_load_it(cache):
    """Two processes that need the same structure at once (the skill-gap forecast and its
    backtest on a machine that never compiled it): one compiles, the other waits for it and
    loads it by its key; same draws. Whatever the timing, never two full compiles."""
    data = simulate(6, 80, seed=4)
    salt = uuid.uuid4().hex
    procs = [_subprocess(data, salt, cache, key="normal-6-lock") for _ in range(2)]
    results = [_result(p) for p in procs]
    assert sorted(r["by_structure"] for r in results) == [False, True]
    np.testing.assert_array_equal(np.asarray(results[0]["draws"]), np.asarray(results[1]["draws"]))


def test_a_process_waiting_for_a_structure_being_compiled_says_so(cache, tmp_path, monkeypatch):
    """While another process holds a structure's compile lock, compile_pymc_model emits a
    ``compile-wait`` progress event (the run shows the worker is waiting, not hung), then
    compiles once the lock is free."""
    import threading

    from lndbayes.atomic import file_lock
    from lndbayes.progress.events import ENV

    events = tmp_path / "events.jsonl"
    monkeypatch.setenv(ENV, str(events))
    data = simulate(6, 80, seed=5)
    salt = uuid.uuid4().hex
    path = compiled._structure_file(salt, "normal-6-wait")
    done = []
    with file_lock(path.with_name(path.name + ".lock")):      # "another process" compiling it
        t = threading.Thread(target=lambda: done.append(
            compiled.compile_pymc_model(model_for(*data), salt=salt, structure_key="normal-6-wait")))
        t.start()
        deadline = time.monotonic() + 120                      # a liveness bound, not a speed claim
        while "compile-wait" not in (events.read_text() if events.exists() else "") \
                and time.monotonic() < deadline:
            time.sleep(0.05)
        assert "compile-wait" in events.read_text() and not done   # still waiting for the lock
    t.join(300)
    assert done and not done[0].loaded_by_structure                # then it compiled itself


def test_same_draws_as_nutpies_own_compile(cache):
    """The cached callbacks change nothing in the results: nutpie's compile, same seed. The
    whole posterior is nutpie's: the same variables (a transformed parameter, a non-centred
    vector, a deterministic), dims and coords; the values computed after sampling from the
    unconstrained draws (lndbayes.inference.expansion) agree with nutpie's Numba expand
    callback to rounding."""
    data = simulate(6, 80, seed=1)
    ours = compiled.compile_pymc_model(model_for(*data))
    with pytensor.config.change_flags(numba__fastmath=False):  # as lndbayes always compiles
        theirs = nutpie.compile_pymc_model(model_for(*data))
    kw = dict(draws=100, tune=100, chains=2, seed=5, progress_bar=False)
    mine = ours.posterior(nutpie.sample(ours, **kw))
    nutpies = nutpie.sample(theirs, **kw).posterior.to_dataset()
    assert list(mine.data_vars) == list(nutpies.data_vars) == [
        "mu", "z", "tau", "sigma", "group_mean", "z_square_sum"]
    for name in ("mu", "z"):     # the sampler's own coordinates: the same draws bit for bit
        np.testing.assert_array_equal(mine[name].values, nutpies[name].values)
    for name in nutpies.data_vars:
        assert mine[name].dims == nutpies[name].dims
        np.testing.assert_allclose(mine[name].values, nutpies[name].values, rtol=1e-13, atol=1e-13)
    assert mine["group_mean"].dims == ("chain", "draw", "group")
    np.testing.assert_array_equal(mine["group"].values, np.arange(6))
    # the draws are computed in chunks (bounded memory): chunk boundaries change nothing
    from lndbayes.inference import expansion
    trace = nutpie.sample(ours, **kw)
    whole = ours.posterior(trace)
    real, expansion.CHUNK = expansion.CHUNK, 7
    try:
        chunked = ours.posterior(trace)
    finally:
        expansion.CHUNK = real
    for name in whole.data_vars:
        np.testing.assert_array_equal(chunked[name].values, whole[name].values)
    # no draws kept: empty variables of the right shapes, not an error
    values = [ours.shared_data[ours.shared_var_keys[v]] for v in ours.expansion.shared]
    with warnings.catch_warnings():   # arviz: "chain dimension longer than draw dimension"
        warnings.simplefilter("ignore", UserWarning)
        empty = ours.expansion.posterior(np.zeros((2, 0, ours.expansion.n_dim)), values)
    assert empty["group_mean"].shape == (2, 0, 6) and empty["z_square_sum"].shape == (2, 0)
    # a rank change is refused with the variable's name, as nutpie does
    with pytest.raises(ValueError, match="y"):
        ours.with_data(y=np.zeros((2, 2)))
    # so is another size of an array whose shape the graph fixed (compiled for that size)
    with pytest.raises(ValueError, match="z_scale"):
        ours.with_data(z_scale=np.ones(7))


def test_unreadable_cache_falls_back_to_nutpie_with_the_same_draws(cache):
    """A corrupt cache entry (disk full, killed writer on a filesystem without atomic rename)
    must not stop a fit: lndbayes warns, compiles without the cache, and the draws are the same."""
    from lndbayes.inference import sampling
    data = simulate(6, 80, seed=1)
    salt = uuid.uuid4().hex
    good = compiled.compile_pymc_model(model_for(*data), salt=salt)
    a = draws_of(good)
    for f in cache.iterdir():
        f.write_bytes(b"not a numba cache file")
    with pytest.raises(Exception):
        compiled.compile_pymc_model(model_for(*data), salt=salt)
    real, compiled.compile_pymc_model = compiled.compile_pymc_model, (
        lambda model, **kw: real(model, salt=salt, **kw))
    try:
        with pytest.warns(UserWarning, match="could not be used"), \
                pytensor.config.change_flags(numba__fastmath=False):
            fallback = sampling._compile("test-structure", model_for(*data))
    finally:
        compiled.compile_pymc_model = real
    assert sampling.compile_log()[-1]["how"] == "nutpie"
    # the same sampler draws; tau (log-transformed) is computed by nutpie's Numba callback
    # there and by numpy here (lndbayes.inference.expansion): equal to rounding
    np.testing.assert_allclose(draws_of(fallback), a, rtol=1e-13, atol=0)

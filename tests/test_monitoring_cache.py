"""Interim-monitoring checkpoints read back from the disk cache (lndbayes.monitoring.look_cache):
the digest of what is known at a cut changes exactly when the cut tables do, and a monitoring
computed with read-back checkpoints is the one computed from scratch."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

import lndbayes as lb
from lndbayes.monitoring import as_of, cut_date, monitor_program
from lndbayes.monitoring.asof import KnownDigest
from test_monitoring import _perturb_after


@pytest.fixture(scope="module")
def org(tmp_path_factory):
    root = tmp_path_factory.mktemp("monitoring_cache_org")
    lb.simulate_org(root / "raw", seed=0)
    return lb.load_org(root)


@pytest.fixture
def cache_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("LNDBAYES_CACHE", str(tmp_path))
    return tmp_path


def _with(org, name, df):
    return dataclasses.replace(org, tables={**org.tables, name: df})


def _cut(org, months):
    return cut_date(org.programs.get_program("manager_coaching").design.start, months)


@pytest.mark.parametrize("months,seed", [(2, 1), (7, 2)])
def test_digest_ignores_everything_after_the_cut(org, months, seed):
    cut = _cut(org, months)
    later = _perturb_after(org, cut, seed)
    assert KnownDigest(org).digest(cut) == KnownDigest(later).digest(cut)
    # the month after, the perturbed data are known, and the digest says so
    after = cut_date(cut, 1)
    assert KnownDigest(org).digest(after) != KnownDigest(later).digest(after)


def test_digest_changes_with_anything_known_at_the_cut(org):
    cut = _cut(org, 5)
    base = KnownDigest(org).digest(cut)

    k = org.kpis.copy()
    before = np.flatnonzero((k["period"].astype(str) < str(cut)[:7]).to_numpy())
    k.loc[k.index[before[0]], "value"] += 1.0
    assert KnownDigest(_with(org, "kpis", k)).digest(cut) != base

    e = org.employees.copy()
    gone = np.flatnonzero((e["termination_date"] < cut).fillna(False).to_numpy())
    e.loc[e.index[gone[0]], "termination_reason"] = "changed"
    assert KnownDigest(_with(org, "employees", e)).digest(cut) != base
    # two people swapping their (known) terminations: the same values, not the same table
    e = org.employees.copy()
    i, j = e.index[gone[0]], e.index[gone[1]]
    e.loc[[i, j], "termination_date"] = e.loc[[j, i], "termination_date"].to_numpy()
    assert not as_of(_with(org, "employees", e), cut).employees.equals(as_of(org, cut).employees)
    assert KnownDigest(_with(org, "employees", e)).digest(cut) != base

    en = org.tables["enrollments"].copy()
    done = np.flatnonzero((en["completed_at"].dt.tz_convert("UTC").dt.tz_localize(None) < cut)
                          .fillna(False).to_numpy())
    en.loc[en.index[done[0]], "score_scaled"] = 0.123
    assert KnownDigest(_with(org, "enrollments", en)).digest(cut) != base

    a = org.tables["assignments"].copy()               # not cut by date: always known
    a.loc[a.index[0], "arm"] = "control" if a["arm"].iloc[0] != "control" else "treatment"
    assert KnownDigest(_with(org, "assignments", a)).digest(cut) != base


def test_row_order_does_not_change_the_monitoring(org, cache_folder):
    """The digest ignores row order (an export may sort rows differently each month): that is
    safe only because the checkpoints do not depend on it."""
    rng = np.random.default_rng(5)
    shuffled = dataclasses.replace(org, tables={
        name: df.iloc[rng.permutation(len(df))] if df is not None else df for name, df in org.tables.items()})
    cut = _cut(org, 6)
    assert KnownDigest(shuffled).digest(cut) == KnownDigest(org).digest(cut)
    for pid in ("manager_coaching", "support_upskilling"):
        a = monitor_program(org, pid, cache=False, n_sims=200)
        b = monitor_program(shuffled, pid, cache=False, n_sims=200)
        pd.testing.assert_frame_equal(a.table, b.table)


@pytest.mark.parametrize("pid", ["manager_coaching", "support_upskilling"])
def test_a_new_month_reads_the_earlier_checkpoints_back_with_the_same_result(org, cache_folder, pid,
                                                                             monkeypatch):
    from lndbayes.monitoring import core

    fresh = monitor_program(org, pid, cache=False, n_sims=200)
    # last month's run: the data known a month ago fills the cache
    last_month = cut_date(pd.Timestamp(org.kpis["period"].astype(str).max() + "-01"), 0)
    monitor_program(as_of(org, last_month), pid, n_sims=200)
    assert list((cache_folder / "monitoring").rglob("*.pkl"))

    computed = []
    real = core._look
    monkeypatch.setattr(core, "_look", lambda *a, **k: computed.append(a[9]) or real(*a, **k))
    again = monitor_program(org, pid, n_sims=200)
    assert again.to_json() == fresh.to_json()
    # only the checkpoints after last month's cut were computed (support_upskilling: its last;
    # manager_coaching's checkpoints all lie before it: none)
    after = [int(c) for c, day in zip(fresh.table["checkpoint"], fresh.table["as_of"])
             if pd.Timestamp(day) > last_month]
    assert computed == after
    assert len(after) == {"manager_coaching": 0, "support_upskilling": 1}[pid]
    computed.clear()
    assert monitor_program(org, pid, n_sims=200).to_json() == fresh.to_json()
    assert computed == []

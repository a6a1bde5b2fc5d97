"""A report worker's reports share one load of the organisation (lndbayes.data.org.remember_loaded):
each gets its own copy, nothing one report changes reaches the next, and any change to what
decides the organisation loads it again."""

from __future__ import annotations

import dataclasses

import pandas as pd
import pytest

import lndbayes as lb
from lndbayes.data import org as org_module
from lndbayes.monitoring.asof import KnownDigest


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    root = tmp_path_factory.mktemp("org_memo")
    lb.simulate_org(root / "raw", seed=3)
    lb.load_org(root)                        # ingested once, outside the memo
    return root


@pytest.fixture
def remembering():
    org_module.remember_loaded()
    yield
    org_module.remember_loaded(False)


def _reads(monkeypatch) -> list:
    """Count the reads of the processed tables from here on."""
    calls = []
    real = org_module.read_processed
    monkeypatch.setattr(org_module, "read_processed", lambda r: calls.append(r) or real(r))
    return calls


def test_a_second_load_is_a_copy_equal_to_a_fresh_load(root, remembering, monkeypatch):
    reads = _reads(monkeypatch)
    first = lb.load_org(root)
    second = lb.load_org(root)
    assert len(reads) == 1                               # the second came from memory
    org_module.remember_loaded(False)
    fresh = lb.load_org(root)
    assert len(reads) == 2
    assert sorted(second.tables) == sorted(fresh.tables)
    for name, df in fresh.tables.items():
        pd.testing.assert_frame_equal(second.tables[name], df)
        assert second.tables[name] is not first.tables[name]
    pd.testing.assert_frame_equal(second.ledger, fresh.ledger)
    assert second.programs == fresh.programs and second.programs is not first.programs
    assert second.meta == fresh.meta


def test_what_one_report_changes_does_not_reach_the_next(root, remembering):
    a = lb.load_org(root)
    kpis = a.tables["kpis"]
    before = kpis.copy()
    kpis.loc[kpis.index[0], "value"] = -12345.0          # in place, and a new column
    a.tables["kpis"]["scratch"] = 1
    a.tables["employees"] = a.tables["employees"].iloc[:3]
    a.meta["stamp"]["files"].clear()
    n_programs, truth_keys = len(a.programs.programs), sorted(a.truth)
    a.programs.programs.clear()                          # programs and truth: new objects each load
    a.truth.clear()
    b = lb.load_org(root)
    pd.testing.assert_frame_equal(b.tables["kpis"], before)
    assert len(b.tables["employees"]) > 3 and b.meta["stamp"]["files"]
    assert len(b.programs.programs) == n_programs > 0 and sorted(b.truth) == truth_keys != []
    c = lb.load_org(root)
    assert c.programs == b.programs and c.programs is not b.programs and c.truth is not b.truth


def test_a_changed_raw_file_loads_again(tmp_path, remembering, monkeypatch):
    lb.simulate_org(tmp_path / "raw", seed=4)
    lb.load_org(tmp_path)
    reads = _reads(monkeypatch)
    lb.load_org(tmp_path)
    assert reads == []
    yaml = tmp_path / "raw" / "programs.yaml"
    yaml.write_text(yaml.read_text() + "\n# a comment changes the file's hash\n")
    again = lb.load_org(tmp_path)                        # ingested again, not the remembered one
    assert again.meta["ingested"]
    assert lb.load_org(tmp_path).meta["stamp"] == again.meta["stamp"] and reads == []


def test_derived_values_are_computed_once_per_load_and_never_for_a_changed_org(root, remembering):
    computed = []

    def digest(o):
        return org_module.derived(o, "known_digest", lambda: computed.append(1) or KnownDigest(o))

    a, b = lb.load_org(root), lb.load_org(root)
    assert digest(a) is digest(b) and len(computed) == 1
    cut = dataclasses.replace(b, tables={**b.tables, "kpis": b.tables["kpis"].iloc[:10]})
    d = digest(cut)                                     # another organisation: computed for it
    assert len(computed) == 2 and d is not digest(a)
    some_day = pd.Timestamp("2030-01-01")
    assert d.digest(some_day) != digest(a).digest(some_day)


def test_without_remembering_every_load_reads_the_tables(root, monkeypatch):
    org_module.remember_loaded(False)
    reads = _reads(monkeypatch)
    a, b = lb.load_org(root), lb.load_org(root)
    assert len(reads) == 2 and a.tables["kpis"] is not b.tables["kpis"]
    assert org_module.derived(a, "x", lambda: object()) is not org_module.derived(a, "x", lambda: object())

"""Keyed pseudonyms: HMAC-SHA256, stable per key, different across keys, key file handling."""

from __future__ import annotations

import hashlib
import hmac
import os
import stat

import pandas as pd
import pytest

from lndbayes.data.pseudonym import ENV_VAR, get_key, pseudonymise


def test_value_is_hmac_sha256_prefix():
    expected = "p_" + hmac.new(b"secret", b"E0001", hashlib.sha256).hexdigest()[:16]
    assert pseudonymise("E0001", "secret") == expected
    assert pseudonymise("E0001", b"secret") == expected
    assert len(expected) == 18 and expected.startswith("p_")


def test_stable_and_key_dependent():
    ids = ["E0001", "E0002", "E0001"]
    a = pseudonymise(ids, "k1")
    assert a == pseudonymise(ids, "k1") and a[0] == a[2] and a[0] != a[1]
    assert not set(a) & set(pseudonymise(ids, "k2"))


def test_series_and_missing_values():
    s = pd.Series(["E0001", None, "E0002"])
    out = pseudonymise(s, "k")
    assert out[0] == pseudonymise("E0001", "k") and pd.isna(out[1]) and out[2] == pseudonymise("E0002", "k")
    assert pseudonymise([None, float("nan")], "k") == [None, None]


def test_key_precedence_and_key_file(tmp_path, monkeypatch):
    monkeypatch.delenv(ENV_VAR, raising=False)
    k = get_key(tmp_path)
    path = tmp_path / ".pseudonym_key"
    assert len(k) == 64 and path.read_text().strip() == k
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert get_key(tmp_path) == k                      # generated once
    monkeypatch.setenv(ENV_VAR, "from-env")
    assert get_key(tmp_path) == "from-env"             # env wins over the file
    assert get_key(tmp_path, "explicit") == "explicit"  # argument wins over env


def test_no_key_source_is_an_error(monkeypatch):
    monkeypatch.delenv(ENV_VAR, raising=False)
    with pytest.raises(ValueError):
        get_key(None)
    with pytest.raises(ValueError):
        pseudonymise("E1", "")


def test_the_simulated_example_gets_its_seeds_key_so_fresh_clones_agree(tmp_path, monkeypatch):
    """Two fresh example roots (two clones) get the same key, hence the same pseudonyms (the
    draws depend on them); a root that already has a key, or a key in the environment, wins."""
    import lndbayes as lb
    from lndbayes import paths
    from lndbayes.data.pseudonym import ENV_VAR, KEY_FILE, example_key

    monkeypatch.delenv(ENV_VAR, raising=False)
    people = []
    for clone in ("a", "b"):
        root = tmp_path / clone
        monkeypatch.setattr(paths, "EXAMPLE_ROOT", root)
        org = lb.load_org(root)
        assert (root / KEY_FILE).read_text().strip() == example_key(0)
        people.append(sorted(org.employees["employee_key"]))
    assert people[0] == people[1]
    assert example_key(0) != example_key(1)

    kept = tmp_path / "kept"
    (kept).mkdir()
    (kept / KEY_FILE).write_text("an-existing-key\n")
    monkeypatch.setattr(paths, "EXAMPLE_ROOT", kept)
    lb.load_org(kept)
    assert (kept / KEY_FILE).read_text().strip() == "an-existing-key"

    env_root = tmp_path / "env"
    monkeypatch.setattr(paths, "EXAMPLE_ROOT", env_root)
    monkeypatch.setenv(ENV_VAR, "from-the-environment")
    lb.load_org(env_root)
    assert not (env_root / KEY_FILE).exists()


def test_lndbayes_simulate_into_a_raw_folder_writes_the_seeds_key(tmp_path, monkeypatch):
    from lndbayes.cli import main
    from lndbayes.data.pseudonym import ENV_VAR, KEY_FILE, example_key

    monkeypatch.delenv(ENV_VAR, raising=False)
    assert main(["simulate", "--out", str(tmp_path / "root" / "raw"), "--seed", "2", "--employees", "300"]) == 0
    assert (tmp_path / "root" / KEY_FILE).read_text().strip() == example_key(2)
    assert main(["simulate", "--out", str(tmp_path / "elsewhere"), "--seed", "2", "--employees", "300"]) == 0
    assert not (tmp_path / KEY_FILE).exists()          # not a data root's raw/: no key written

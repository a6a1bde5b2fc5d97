"""Privacy: small groups are suppressed; no employee identifier survives into a report."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from lndbayes import privacy as pv


def _teams():
    return pd.DataFrame({"team": ["Alpha", "Beta", "Gamma", "Delta"],
                         "n": [12, 4, 5, np.nan],
                         "mean": [0.1, 0.2, 0.3, 0.4], "lower": [0.0, 0.1, 0.2, 0.3]})


def test_groups_below_min_group_lose_their_numbers_but_keep_their_name():
    out = pv.suppress_small_groups(_teams(), min_group=5)
    beta = out.set_index("team").loc["Beta"]
    assert beta["note"] == "suppressed (fewer than 5 people)"
    assert pd.isna(beta["mean"]) and pd.isna(beta["lower"]) and pd.isna(beta["n"])
    # exactly min_group people may be shown; an unknown size may not
    assert out.set_index("team").loc["Gamma", "mean"] == 0.3
    assert out.set_index("team").loc["Delta", "note"].startswith("suppressed")
    assert list(pv.reportable(out)["team"]) == ["Alpha", "Gamma"]
    # the input is not modified
    assert _teams()["mean"].tolist() == [0.1, 0.2, 0.3, 0.4]


def test_min_group_is_configurable_and_read_from_the_config():
    out = pv.suppress_small_groups(_teams(), min_group=10)
    assert list(pv.reportable(out)["team"]) == ["Alpha"]
    assert out["note"].iloc[1] == "suppressed (fewer than 10 people)"
    assert pv.min_group_of({"organisation": {"privacy_min_group": 8}}) == 8
    assert pv.min_group_of({}) == 5


def test_integer_counts_are_blanked_too():
    df = pd.DataFrame({"team": ["A", "B"], "n": [3, 9], "k": [1, 2]})
    out = pv.suppress_small_groups(df)
    assert pd.isna(out.loc[0, "k"]) and out.loc[1, "k"] == 2


def test_people_per_group_counts_distinct_people():
    panel = pd.DataFrame({"team": ["A", "A", "A", "B"], "unit": ["x", "x", "y", "z"]})
    assert pv.people_per_group(panel).to_dict() == {"A": 2, "B": 1}


KEY = "p_0123456789abcdef"


@pytest.mark.parametrize("text, raw, keys, leaked", [
    ("Team Alpha: +3.1 pp", ["E1001"], [KEY], False),
    ("unit E1001 left", ["E1001"], [KEY], True),
    ("unit E10012 is another id", ["E1001"], [], False),           # whole tokens only
    (f"row {KEY}", [], [KEY], True),
    ("p_fedcba9876543210 appears", [], [], True),                   # any pseudonym-shaped key
    ("data:image/png;base64,AAAE1001BBB", ["E1001"], [], False),   # figure payloads are not text
])
def test_find_identifiers(text, raw, keys, leaked):
    hits = pv.find_identifiers(text, raw, keys)
    assert any(hits.values()) == leaked


def _regex_hits(text, ids, min_length):
    """The whole-token count of one regex alternation over every id (the earlier method)."""
    import re

    words = sorted({i.strip() for i in ids if len(i.strip()) >= min_length}, key=len, reverse=True)
    pat = re.compile(rf"(?<![0-9A-Za-z_])(?:{'|'.join(map(re.escape, words))})(?![0-9A-Za-z_])")
    return len(pat.findall(pv._DATA_URI_RE.sub("data:", text)))


@pytest.mark.parametrize("seed", range(5))
def test_token_lookup_finds_what_the_regex_alternation_found(seed):
    """Ids of word characters are counted by a set lookup of word runs, others by a regex: the
    counts equal the single regex's on texts mixing ids, near-misses, ids with '-' and '.',
    ids next to punctuation, digits and letters."""
    rng = np.random.default_rng(seed)
    ids = [f"E{n}" for n in rng.integers(1000, 99999, 40)] + ["A-17", "x.y9", "Z_1", "B-2-3"]
    pieces = ids + ["E", "1000", "A-1", "x.y", "-", ".", " ", "\n", ",", "<td>", "</td>", "_", "9", "é", "Q"]
    for _ in range(50):
        text = "".join(rng.choice(pieces, int(rng.integers(1, 40))))
        for min_length in (1, 3, 5):
            got = pv.find_identifiers(text, ids, [], min_length)["raw_ids"]
            want = _regex_hits(text, ids, min_length)
            assert (got > 0) == (want > 0), text
            if not any(c in text for c in "-."):     # overlaps only arise through '-' and '.'
                assert got == want, text


def test_assert_no_identifiers_scans_files_and_never_prints_the_ids(tmp_path):
    html = tmp_path / "report.html"
    html.write_text("<html><body><p>Average effect +2.0</p>"
                    "<img src='data:image/png;base64,E1001AAAA'></body></html>")
    pv.assert_no_identifiers([html], raw_ids=["E1001"], keys=[KEY])
    nb = tmp_path / "report.ipynb"
    nb.write_text(json.dumps({"cells": [{"cell_type": "code", "source": "x", "outputs": [
        {"output_type": "execute_result", "data": {"text/plain": f"{KEY} 0.3"}}]}], "metadata": {}}))
    with pytest.raises(pv.PrivacyError) as err:
        pv.assert_no_identifiers([html, nb], raw_ids=["E1001"], keys=[KEY])
    assert "report.ipynb" in str(err.value) and KEY not in str(err.value)


def test_org_identifiers_reads_raw_ids_and_keys(tmp_path):
    (tmp_path / "raw").mkdir()
    pd.DataFrame({"employee_id": ["E1", "E2"], "manager_id": ["E2", None], "team": ["A", "A"]}) \
        .to_csv(tmp_path / "raw" / "employees.csv", index=False)

    class Org:
        root = tmp_path
        employees = pd.DataFrame({"employee_key": [KEY], "manager_key": [None]})

    raw, keys = pv.org_identifiers(Org())
    assert raw == ["E1", "E2"] and keys == [KEY]


def test_a_workers_identifiers_are_read_again_only_when_their_files_change(tmp_path):
    """build._Ids.of keeps the ids a worker scans every report for; a changed employees file
    (a new hire, another pseudonym key after ingest) is read again, never missed."""
    import pandas as pd

    from lndbayes.report.build import _Ids

    (tmp_path / "raw").mkdir()
    (tmp_path / "processed").mkdir()
    (tmp_path / "raw" / "employees.csv").write_text("employee_id,manager_id\nE1001,E1000\n")
    pd.DataFrame({"employee_key": [KEY]}).to_parquet(tmp_path / "processed" / "employees.parquet")
    first = _Ids.of(tmp_path)
    assert first.raw == ["E1000", "E1001"] and first.keys == [KEY]
    assert _Ids.of(str(tmp_path)) is first                       # unchanged files: not read again

    (tmp_path / "raw" / "employees.csv").write_text("employee_id,manager_id\nE1001,E1000\nE2002,E1000\n")
    assert _Ids.of(tmp_path).raw == ["E1000", "E1001", "E2002"]
    other = "p_fedcba9876543210"                                   # re-keyed, written as ingest does
    pd.DataFrame({"employee_key": [other]}).to_parquet(tmp_path / "processed" / "new.parquet")
    (tmp_path / "processed" / "new.parquet").replace(tmp_path / "processed" / "employees.parquet")
    assert _Ids.of(tmp_path).keys == [other]
    with pytest.raises(pv.PrivacyError, match="1 raw ids"):       # and the new ones are searched
        pv.assert_no_identifiers("team of E2002", raw_ids=_Ids.of(tmp_path).raw, keys=_Ids.of(tmp_path).keys)

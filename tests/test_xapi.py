"""xAPI 1.0.3 parsing: statements in the form of the spec's examples -> tidy rows."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from lndbayes.data.xapi import parse_statements
from lndbayes.data.xapi_sql import parse_duration

# The "simple statement" and "long example" of the xAPI 1.0.3 specification (section 2.6),
# the latter trimmed of its long definition/extensions.
SPEC_SIMPLE = {
    "id": "fd41c918-b88b-4b20-a0a5-a4c32391aaa0",
    "timestamp": "2015-11-18T12:17:00+00:00",
    "actor": {"objectType": "Agent", "name": "Project Tin Can API", "mbox": "mailto:user@example.com"},
    "verb": {"id": "http://example.com/xapi/verbs#sent-a-statement", "display": {"en-US": "sent"}},
    "object": {"id": "http://example.com/xapi/activity/simplestatement", "objectType": "Activity"},
}
SPEC_LONG = {
    "id": "6690e6c9-3ef0-4ed3-8b37-7f3964730bee",
    "actor": {"name": "Team PB", "mbox": "mailto:teampb@example.com", "member": [], "objectType": "Group"},
    "verb": {"id": "http://adlnet.gov/expapi/verbs/attended", "display": {"en-GB": "attended"}},
    "result": {"success": True, "completion": True, "response": "We agreed on some example actions.",
               "duration": "PT1H0M0S"},
    "context": {"registration": "ec531277-b57b-4c15-8d91-d292c5b2b8f7", "platform": "Example virtual meeting software",
                "language": "tlh"},
    "timestamp": "2013-05-18T05:32:34.804+00:00",
    "stored": "2013-05-18T05:32:34.804+00:00",
    "object": {"id": "http://www.example.com/meetings/occurances/34534"},
}
SPEC_ACCOUNT = {  # the spec's account example with a scored result
    "id": "12345678-1234-5678-1234-567812345678",
    "actor": {"objectType": "Agent", "account": {"homePage": "http://www.example.com", "name": "1625378"}},
    "verb": {"id": "http://adlnet.gov/expapi/verbs/completed", "display": {"en-US": "completed"}},
    "object": {"id": "http://www.example.com/tincan/activities/multipart", "objectType": "Activity"},
    "result": {"completion": True, "success": True, "score": {"scaled": 0.95, "raw": 95, "min": 0, "max": 100},
               "duration": "PT45.5S"},
    "context": {"registration": "ec531277-b57b-4c15-8d91-d292c5b2b8f7"},
    "timestamp": "2012-06-01T19:09:13.245-05:00",
}


def _jsonl(tmp_path, statements, name="s.jsonl"):
    p = tmp_path / name
    p.write_text("\n".join(s if isinstance(s, str) else json.dumps(s) for s in statements) + "\n")
    return p


@pytest.mark.parametrize("text,seconds", [
    ("PT1H30M", 5400.0), ("PT45.5S", 45.5), ("P1DT2H", 93600.0), ("PT0S", 0.0), ("P1W", 604800.0),
    ("PT1H0M0S", 3600.0), ("P1Y", 365 * 86400.0), ("PT0,5S", 0.5),
    ("PT", None), ("P", None), ("1 hour", None), ("PT1.5", None), ("P1DT", None),
])
def test_iso8601_duration_python_and_sql_agree(tmp_path, text, seconds):
    assert parse_duration(text) == seconds
    st = dict(SPEC_ACCOUNT, result={"duration": text})
    df = parse_statements(_jsonl(tmp_path, [st]))
    if seconds is None:
        assert df.reason[0] == f"result.duration '{text}' is not an ISO 8601 duration (e.g. PT1H30M)"
    else:
        assert pd.isna(df.reason[0]) and df.duration_s[0] == pytest.approx(seconds)


def test_spec_examples_parse(tmp_path):
    df = parse_statements(_jsonl(tmp_path, [SPEC_SIMPLE, SPEC_LONG, SPEC_ACCOUNT]))
    assert df.line.tolist() == [1, 2, 3]
    # simple: a verb id outside the vocabulary is rejected with the id named
    assert df.reason[0].startswith("unknown verb 'http://example.com/xapi/verbs#sent-a-statement'")
    assert df.actor[0] == "mailto:user@example.com"
    # long: the actor is a Group -> not one learner
    assert df.reason[1] == "actor is a Group, not one learner"
    # account actor, scaled score wins over raw, offset converted to UTC
    r = df.iloc[2]
    assert pd.isna(r.reason)
    assert r.actor == "http://www.example.com|1625378"
    assert r.verb == "completed" and r.score_scaled == 0.95
    assert bool(r.success) and bool(r.completion) and r.duration_s == 45.5
    assert r.timestamp == pd.Timestamp("2012-06-02 00:09:13.245", tz="UTC")
    assert r.registration == "ec531277-b57b-4c15-8d91-d292c5b2b8f7"


def test_scores_and_reactions(tmp_path):
    base = dict(SPEC_ACCOUNT)
    rows = [
        dict(base, result={"score": {"raw": 42, "min": 0, "max": 60}}),         # 0.7
        dict(base, result={"score": {"raw": 7, "max": 10}}),                    # min defaults to 0 -> 0.7
        dict(base, result={"score": {"raw": 12, "min": 10, "max": 20}}),        # 0.2
        dict(base, verb={"id": "http://adlnet.gov/expapi/verbs/rated"}, result={"score": {"raw": 4, "min": 1, "max": 5}}),
        dict(base, verb={"id": "http://adlnet.gov/expapi/verbs/responded"}, result={"score": {"scaled": 0.5}}),
        dict(base, result={"score": {"scaled": 1.5}}),
        dict(base, result={"score": {"raw": "n/a", "max": 5}}),
        dict(base, result={"score": {"raw": 70, "min": 0, "max": 60}}),
        dict(base, verb={"id": "https://w3id.org/xapi/adl/verbs/passed/"}, result={}),
        dict(base, verb={"id": "http://adlnet.gov/expapi/verbs/failed"}, result={"success": "maybe"}),
    ]
    df = parse_statements(_jsonl(tmp_path, rows))
    assert df.score_scaled[:3].round(6).tolist() == [0.7, 0.7, 0.2]
    assert df.reaction[3] == 4.0 and pd.isna(df.score_scaled[3])          # level 1, not level 2
    assert df.reaction[4] == 3.0                                          # 0.5 * 4 + 1
    assert df.reason[5] == "result.score.scaled '1.5' is not a number in -1..1"
    assert df.reason[6] == "result.score.raw 'n/a' is not a number"
    assert df.reason[7] == "result.score.raw 70 is outside min..max"
    assert df.verb[8] == "passed" and bool(df.success[8]) and pd.isna(df.reason[8])   # success implied
    assert df.reason[9] == "result.success 'maybe' is not true/false"


def test_bad_lines_keep_their_line_numbers(tmp_path):
    lines = [
        SPEC_ACCOUNT,
        '{"id": "x", "actor": ',                                   # 2 malformed
        "",                                                        # 3 blank: not a statement
        '["an", "array"]',                                         # 4 valid JSON, not an object
        {k: v for k, v in SPEC_ACCOUNT.items() if k != "actor"},   # 5
        dict(SPEC_ACCOUNT, timestamp="yesterday"),                 # 6
        dict(SPEC_ACCOUNT, actor={"objectType": "Agent", "name": "no ifi"}),  # 7
        {k: v for k, v in SPEC_ACCOUNT.items() if k != "object"},  # 8
    ]
    df = parse_statements(_jsonl(tmp_path, lines))
    assert df.line.tolist() == [1, 2, 4, 5, 6, 7, 8]
    assert dict(zip(df.line, df.reason.fillna("ok"))) == {
        1: "ok",
        2: "malformed JSON (the line is not valid JSON: truncated, or a quote or brace is missing)",
        4: "not a statement (a JSON value that is not an object)",
        5: "statement has no actor",
        6: "timestamp 'yesterday' is not an ISO 8601 date-time",
        7: "actor has no identifier (mbox, mbox_sha1sum, openid or account.name)",
        8: "statement has no object.id",
    }


def test_json_array_single_and_statement_result(tmp_path):
    (tmp_path / "a.json").write_text(json.dumps([SPEC_ACCOUNT, SPEC_SIMPLE]))
    (tmp_path / "b.json").write_text(json.dumps(SPEC_ACCOUNT))
    (tmp_path / "c.json").write_text(json.dumps({"statements": [SPEC_ACCOUNT], "more": ""}))
    df = parse_statements(tmp_path)
    assert list(zip(df.source_file.map(lambda s: s.rsplit("/", 1)[-1]), df.line)) == [
        ("a.json", 1), ("a.json", 2), ("b.json", 1), ("c.json", 1)]
    assert df.reason.isna().tolist() == [True, False, True, True]
    assert (df.dropna(subset=["score_scaled"]).score_scaled == 0.95).all()


def test_mbox_sha1sum_and_openid_actor_strings(tmp_path):
    rows = [dict(SPEC_ACCOUNT, actor={"mbox_sha1sum": "ABCDEF0123456789ABCDEF0123456789ABCDEF01"}),
            dict(SPEC_ACCOUNT, actor={"openid": "http://openid.example.org/12345"}),
            dict(SPEC_ACCOUNT, actor={"mbox": "MAILTO:Someone@Example.COM"})]
    df = parse_statements(_jsonl(tmp_path, rows))
    assert df.actor.tolist() == ["sha1:abcdef0123456789abcdef0123456789abcdef01",
                                 "http://openid.example.org/12345", "mailto:someone@example.com"]


def test_fast_path_agrees_with_exact_line_by_line_path(tmp_path, monkeypatch):
    """JSON lines are parsed by read_json + a raw-line pass (fast); the line-by-line
    json_extract path is the reference. Same rows, same reasons, same line numbers."""
    import duckdb

    from lndbayes.data import xapi

    lines = [SPEC_ACCOUNT, "", '{"broken": ', '["x"]', SPEC_SIMPLE, SPEC_LONG,
             dict(SPEC_ACCOUNT, result={"score": {"raw": 42, "min": 0, "max": 60}, "duration": "P1DT2H"}),
             {k: v for k, v in SPEC_ACCOUNT.items() if k != "actor"}, "   ",
             dict(SPEC_ACCOUNT, actor={"mbox_sha1sum": "ABCDEF0123456789ABCDEF0123456789ABCDEF01"}),
             dict(SPEC_ACCOUNT, verb={"id": "http://adlnet.gov/expapi/verbs/rated"},
                  result={"score": {"raw": 4, "min": 1, "max": 5}, "success": False})]
    path = _jsonl(tmp_path, lines)
    con = duckdb.connect()
    xapi.create_raw_table(con)
    assert xapi._fast_jsonl(con, str(path), "columns={'line': 'VARCHAR'}, header=false, delim=chr(1), "
                            "quote='', escape='', auto_detect=false", 0)
    fast = parse_statements(path)
    monkeypatch.setenv("LNDBAYES_XAPI_EXACT", "1")
    exact = parse_statements(path)
    pd.testing.assert_frame_equal(fast, exact)
    assert fast.line.tolist() == [1, 3, 4, 5, 6, 7, 8, 10, 11]

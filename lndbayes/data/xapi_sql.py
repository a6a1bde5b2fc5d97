"""What an xAPI 1.0.3 statement means, in SQL: the JSON paths read, the parsing of each field
(scores, durations, actors, verbs) and the reason a statement is rejected.

What is read from a statement (docs/data-contract.md has the full mapping):
``id``; ``actor`` by ``mbox`` (``mailto:``), ``mbox_sha1sum``, ``openid`` or ``account``
({homePage, name}); ``verb.id`` (the last path segment names the verb); ``object.id``;
``result.score`` (``scaled``, or ``raw`` scaled with ``min``/``max``); ``result.success``;
``result.completion``; ``result.duration`` (ISO 8601 duration -> seconds; a year counts 365 days,
a month 30); ``context.registration``; ``timestamp`` (else ``stored``; ISO 8601 with offset ->
UTC; no offset means UTC). Voiding statements (verb ``voided``) remove their target.

lndbayes.data.xapi reads the files and feeds their text or read_json rows through
:func:`parse_select`.
"""

from __future__ import annotations

import re

from lndbayes.data.contract import COMPLETE_VERBS, REACTION_VERBS, XAPI_VERBS

#: JSON paths read from each statement, in this order (1-based list index in SQL)
PATHS = {
    "id": "$.id",
    "actor": "$.actor",
    "actor_type": "$.actor.objectType",
    "mbox": "$.actor.mbox",
    "mbox_sha1sum": "$.actor.mbox_sha1sum",
    "openid": "$.actor.openid",
    "home_page": "$.actor.account.homePage",
    "account_name": "$.actor.account.name",
    "verb_id": "$.verb.id",
    "object_id": "$.object.id",
    "scaled": "$.result.score.scaled",
    "raw": "$.result.score.raw",
    "min": "$.result.score.min",
    "max": "$.result.score.max",
    "success": "$.result.success",
    "completion": "$.result.completion",
    "duration": "$.result.duration",
    "registration": "$.context.registration",
    "timestamp": "$.timestamp",
    "stored": "$.stored",
}
_IDX = {k: i + 1 for i, k in enumerate(PATHS)}
_PATH_LIST = "[" + ", ".join(f"'{p}'" for p in PATHS.values()) + "]"

_NUM = r"(\d+(?:[.,]\d+)?)"
DURATION_RE = rf"P(?:{_NUM}Y)?(?:{_NUM}M)?(?:{_NUM}W)?(?:{_NUM}D)?(?:T(?:{_NUM}H)?(?:{_NUM}M)?(?:{_NUM}S)?)?"
_DUR_PARTS = {"y": 365 * 86400, "mo": 30 * 86400, "w": 7 * 86400, "d": 86400, "h": 3600, "mi": 60, "s": 1}

VOIDED = "voided"

#: read_json schema: every leaf as VARCHAR (numbers and booleans arrive as their JSON text)
JSON_COLUMNS = ("{'id': 'VARCHAR', 'actor': 'STRUCT(objectType VARCHAR, mbox VARCHAR, mbox_sha1sum VARCHAR, "
                 "openid VARCHAR, account STRUCT(homePage VARCHAR, name VARCHAR))', 'verb': 'STRUCT(id VARCHAR)', "
                 "'object': 'STRUCT(id VARCHAR)', 'result': 'STRUCT(score STRUCT(scaled VARCHAR, raw VARCHAR, "
                 "min VARCHAR, max VARCHAR), success VARCHAR, completion VARCHAR, duration VARCHAR)', "
                 "'context': 'STRUCT(registration VARCHAR)', 'timestamp': 'VARCHAR', 'stored': 'VARCHAR'}")
STRUCT_FIELDS = {
    "id": "j.id", "actor": "CASE WHEN j.actor IS NOT NULL THEN '{}' END", "actor_type": "j.actor.objectType",
    "mbox": "j.actor.mbox", "mbox_sha1sum": "j.actor.mbox_sha1sum", "openid": "j.actor.openid",
    "home_page": "j.actor.account.homePage", "account_name": "j.actor.account.name", "verb_id": "j.verb.id",
    "object_id": "j.object.id", "scaled": "j.result.score.scaled", "raw": "j.result.score.raw",
    "min": "j.result.score.min", "max": "j.result.score.max", "success": "j.result.success",
    "completion": "j.result.completion", "duration": "j.result.duration",
    "registration": "j.context.registration", "timestamp": "j.timestamp", "stored": "j.stored",
}
assert set(STRUCT_FIELDS) == set(PATHS)


def _v(name: str) -> str:
    return f"v[{_IDX[name]}]"


def duration_parts_sql(expr: str) -> str:
    """SQL: a struct of the parts of an ISO 8601 duration in ``expr`` (strings, '' when absent)."""
    parts = "['" + "','".join(_DUR_PARTS) + "']"
    return f"regexp_extract({expr}, '^{DURATION_RE}$', {parts})"


def duration_seconds_sql(expr: str, parts: str) -> str:
    """SQL: seconds of the ISO 8601 duration ``expr`` given its ``parts`` struct (NULL if invalid)."""
    # ``parts`` comes from one anchored regexp_extract: no match gives '' for every part, and the
    # only digits a match can hold are inside the parts, so "matches and holds a digit" is "some
    # part is not ''" (one regex evaluation instead of three).
    terms = " + ".join(f"coalesce(TRY_CAST(replace(nullif({parts}.{k}, ''), ',', '.') AS DOUBLE), 0) * {s}"
                       for k, s in _DUR_PARTS.items())
    some = " OR ".join(f"{parts}.{k} <> ''" for k in _DUR_PARTS)
    return f"CASE WHEN ({some}) AND NOT ends_with({expr}, 'T') THEN {terms} END"


def parse_duration(text: str | None) -> float | None:
    """Python twin of the SQL duration parser (used in tests and for single values)."""
    if text is None:
        return None
    m = re.fullmatch(DURATION_RE, text)
    if not m or not re.search(r"\d", text) or text.endswith("T"):
        return None
    return sum(float(g.replace(",", ".")) * s for g, s in zip(m.groups(), _DUR_PARTS.values()) if g)


def extract_select(text_expr: str) -> str:
    return (f"SELECT {text_expr} IS NULL OR trim({text_expr}) = '' AS blank, json_valid({text_expr}) AS is_json, "
            f"json_valid({text_expr}) AND starts_with(ltrim({text_expr}), '{{') AS is_obj, "
            f"CASE WHEN json_valid({text_expr}) AND starts_with(ltrim({text_expr}), '{{') "
            f"THEN json_extract_string({text_expr}, {_PATH_LIST}) END AS v")


MALFORMED = "malformed JSON (the line is not valid JSON: truncated, or a quote or brace is missing)"


def _one_of(expr: str, values) -> str:
    """SQL: ``expr`` is one of ``values`` (false for NULL). A CASE, not ``IN (...)``: DuckDB turns
    a long IN list into a hash join, which does not keep the row order (see parse_select)."""
    return f"(CASE {expr} " + " ".join(f"WHEN '{v}' THEN true" for v in values) + " ELSE false END)"


def parse_select(file_idx: int, source_select: str, named: bool = False) -> str:
    """SQL: parse the statements produced by ``source_select`` (columns blank, is_json, is_obj and
    either ``v``, the list of PATHS values, or with ``named`` src_line and one column per PATHS key):
    one row per line with the parsed fields, the actor string and ``reason`` (NULL when the
    statement itself is fine). Nothing in it may reorder rows, as the paths that number lines by
    ``rowid`` rely on insertion order: the CTEs are NOT MATERIALIZED, and lists of verbs are
    tested with CASE (``_one_of``), not ``IN (...)``, which DuckDB turns into a hash join whose
    output under parallel execution is not in input order."""
    understood = ", ".join(XAPI_VERBS)
    dur = duration_seconds_sql("duration", "dparts")
    return f"""
    WITH e AS NOT MATERIALIZED (
        {source_select}
    ), f AS NOT MATERIALIZED (
        {"SELECT * FROM e" if named else "SELECT blank, is_obj, is_json, NULL::BIGINT AS src_line, "
         + ", ".join(f"{_v(k)} AS {k}" for k in PATHS) + " FROM e"}
    ), g AS NOT MATERIALIZED (
        SELECT f.*,
            lower(regexp_extract(f.verb_id, '([^/#]+)/*$', 1)) AS verb,
            TRY_CAST(f.scaled AS DOUBLE) AS scaled_d,
            TRY_CAST(f.raw AS DOUBLE) AS raw_d,
            coalesce(TRY_CAST(f.min AS DOUBLE), 0) AS min_d,
            TRY_CAST(f.max AS DOUBLE) AS max_d,
            TRY_CAST(coalesce(f.timestamp, f.stored) AS TIMESTAMPTZ) AS ts,
            CASE WHEN f.duration IS NOT NULL THEN {duration_parts_sql("f.duration")} END AS dparts,
            CASE
              WHEN f.mbox IS NOT NULL THEN CASE WHEN lower(trim(f.mbox)) LIKE 'mailto:%'
                   THEN lower(trim(f.mbox)) ELSE 'mailto:' || lower(trim(f.mbox)) END
              WHEN f.mbox_sha1sum IS NOT NULL THEN 'sha1:' || lower(trim(f.mbox_sha1sum))
              WHEN f.openid IS NOT NULL THEN trim(f.openid)
              WHEN f.account_name IS NOT NULL THEN coalesce(trim(f.home_page), '') || '|' || trim(f.account_name)
            END AS actor_str,
            CASE WHEN f.mbox IS NOT NULL THEN 'mbox' WHEN f.mbox_sha1sum IS NOT NULL THEN 'mbox_sha1sum'
                 WHEN f.openid IS NOT NULL THEN 'openid' WHEN f.account_name IS NOT NULL THEN 'account' END
              AS actor_kind
        FROM f
    ), h AS NOT MATERIALIZED (
        SELECT g.*, CASE WHEN duration IS NOT NULL THEN {dur} END AS duration_s FROM g
    )
    SELECT {file_idx}::INTEGER AS file_idx, blank, src_line, id AS statement_id, actor_str, actor_kind, trim(account_name) AS account_name,
        verb, verb_id, object_id AS activity_id, ts AS timestamp, coalesce(timestamp, stored) AS timestamp_text,
        CASE WHEN {_one_of("verb", REACTION_VERBS)} THEN NULL
             ELSE coalesce(scaled_d, CASE WHEN raw_d IS NOT NULL AND max_d > min_d THEN (raw_d - min_d) / (max_d - min_d) END)
        END AS score_scaled,
        coalesce(CASE lower(success) WHEN 'true' THEN true WHEN 'false' THEN false END,
                 CASE verb WHEN 'passed' THEN true WHEN 'failed' THEN false END) AS success,
        coalesce(CASE lower(completion) WHEN 'true' THEN true WHEN 'false' THEN false END,
                 CASE WHEN {_one_of("verb", COMPLETE_VERBS)} THEN true END) AS completion,
        duration_s,
        registration,
        CASE WHEN {_one_of("verb", REACTION_VERBS)} THEN
            CASE WHEN max_d = 5 AND raw_d IS NOT NULL THEN raw_d
                 ELSE coalesce(scaled_d, CASE WHEN raw_d IS NOT NULL AND max_d > min_d THEN (raw_d - min_d) / (max_d - min_d) END) * 4 + 1
            END
        END AS reaction,
        CASE
          WHEN NOT is_json THEN '{MALFORMED}'
          WHEN NOT is_obj THEN 'not a statement (a JSON value that is not an object)'
          WHEN actor IS NULL THEN 'statement has no actor'
          WHEN lower(actor_type) = 'group' THEN 'actor is a Group, not one learner'
          WHEN actor_str IS NULL THEN 'actor has no identifier (mbox, mbox_sha1sum, openid or account.name)'
          WHEN verb_id IS NULL THEN 'statement has no verb.id'
          WHEN NOT {_one_of("verb", (*XAPI_VERBS, VOIDED))} THEN 'unknown verb ''' || left(verb_id, 120) || '''; understood: {understood}'
          WHEN object_id IS NULL THEN 'statement has no object.id'
          WHEN coalesce(timestamp, stored) IS NULL THEN 'statement has no timestamp'
          WHEN ts IS NULL THEN 'timestamp ''' || left(coalesce(timestamp, stored), 60) || ''' is not an ISO 8601 date-time'
          WHEN scaled IS NOT NULL AND (scaled_d IS NULL OR scaled_d < -1 OR scaled_d > 1)
            THEN 'result.score.scaled ''' || left(scaled, 30) || ''' is not a number in -1..1'
          WHEN raw IS NOT NULL AND raw_d IS NULL THEN 'result.score.raw ''' || left(raw, 30) || ''' is not a number'
          WHEN (min IS NOT NULL AND TRY_CAST(min AS DOUBLE) IS NULL) OR (max IS NOT NULL AND max_d IS NULL)
            THEN 'result.score.min/max is not a number'
          WHEN max_d IS NOT NULL AND max_d <= min_d THEN 'result.score.max is not above result.score.min'
          WHEN raw_d IS NOT NULL AND max_d IS NOT NULL AND (raw_d < min_d OR raw_d > max_d)
            THEN 'result.score.raw ' || raw || ' is outside min..max'
          WHEN success IS NOT NULL AND lower(success) NOT IN ('true', 'false')
            THEN 'result.success ''' || left(success, 30) || ''' is not true/false'
          WHEN completion IS NOT NULL AND lower(completion) NOT IN ('true', 'false')
            THEN 'result.completion ''' || left(completion, 30) || ''' is not true/false'
          WHEN duration IS NOT NULL AND duration_s IS NULL
            THEN 'result.duration ''' || left(duration, 40) || ''' is not an ISO 8601 duration (e.g. PT1H30M)'
        END AS reason
    FROM h
    """


def reaction_check_sql() -> str:
    return ("WHEN reaction IS NOT NULL AND (reaction < 1 OR reaction > 5) "
            "THEN 'reaction score ' || round(reaction, 3) || ' is outside 1..5 (send raw with min 1 and max 5, or scaled 0..1)'")

"""xAPI 1.0.3 statements -> tidy learning-event rows, vectorised in DuckDB.

Files: ``raw/xapi/*.jsonl`` (one statement per line) and ``raw/xapi/*.json`` (a JSON array of
statements, one statement, or an LRS ``StatementResult`` ``{"statements": [...]}``).
A .jsonl file without blank lines is parsed by one parallel ``read_json`` scan, line numbers
being row positions (``_direct_jsonl``: a byte-level pass counts the lines, classifies the few
all-NULL rows from their raw text and spot-checks the row order). Otherwise it is read twice,
both in parallel DuckDB scans: as raw text lines (``read_csv`` with
one VARCHAR column, no delimiter or quote: which lines are blank, valid JSON, objects) and with
``read_json(ignore_errors=true)`` into typed fields (a malformed line becomes an all-NULL row).
The k-th non-blank line is the k-th read_json row (POSITIONAL JOIN), so a malformed line is
reported with its line number instead of stopping the read or being dropped. If the two passes
ever disagree in length, the exact path runs instead: each line parsed with
``json_extract_string(line, [paths...])`` (also used for .json files; ``LNDBAYES_XAPI_EXACT=1``
forces it; tests check both paths give identical rows).
For .json files, ``line`` is the statement's 1-based position in the array.

What is read from a statement (docs/data-contract.md has the full mapping):
``id``; ``actor`` by ``mbox`` (``mailto:``), ``mbox_sha1sum``, ``openid`` or ``account``
({homePage, name}); ``verb.id`` (the last path segment names the verb); ``object.id``;
``result.score`` (``scaled``, or ``raw`` scaled with ``min``/``max``); ``result.success``;
``result.completion``; ``result.duration`` (ISO 8601 duration -> seconds; a year counts 365 days,
a month 30); ``context.registration``; ``timestamp`` (else ``stored``; ISO 8601 with offset ->
UTC; no offset means UTC). Voiding statements (verb ``voided``) remove their target.
"""

from __future__ import annotations

import json
import os
import re
import warnings
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from lndbayes.data.contract import COMPLETE_VERBS, REACTION_VERBS, XAPI_VERBS
from lndbayes.data.profile import tick
from lndbayes.errors import ContractError

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
_JSON_COLUMNS = ("{'id': 'VARCHAR', 'actor': 'STRUCT(objectType VARCHAR, mbox VARCHAR, mbox_sha1sum VARCHAR, "
                 "openid VARCHAR, account STRUCT(homePage VARCHAR, name VARCHAR))', 'verb': 'STRUCT(id VARCHAR)', "
                 "'object': 'STRUCT(id VARCHAR)', 'result': 'STRUCT(score STRUCT(scaled VARCHAR, raw VARCHAR, "
                 "min VARCHAR, max VARCHAR), success VARCHAR, completion VARCHAR, duration VARCHAR)', "
                 "'context': 'STRUCT(registration VARCHAR)', 'timestamp': 'VARCHAR', 'stored': 'VARCHAR'}")
_STRUCT_FIELDS = {
    "id": "j.id", "actor": "CASE WHEN j.actor IS NOT NULL THEN '{}' END", "actor_type": "j.actor.objectType",
    "mbox": "j.actor.mbox", "mbox_sha1sum": "j.actor.mbox_sha1sum", "openid": "j.actor.openid",
    "home_page": "j.actor.account.homePage", "account_name": "j.actor.account.name", "verb_id": "j.verb.id",
    "object_id": "j.object.id", "scaled": "j.result.score.scaled", "raw": "j.result.score.raw",
    "min": "j.result.score.min", "max": "j.result.score.max", "success": "j.result.success",
    "completion": "j.result.completion", "duration": "j.result.duration",
    "registration": "j.context.registration", "timestamp": "j.timestamp", "stored": "j.stored",
}
assert set(_STRUCT_FIELDS) == set(PATHS)


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


def to_df(rel):
    """DuckDB result -> pandas, without the deprecation noise DuckDB's converter raises under pandas 3."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return rel.df()


def list_files(xapi_dir: Path) -> list[Path]:
    if not xapi_dir.is_dir():
        return []
    return sorted(p for p in xapi_dir.rglob("*") if p.is_file() and p.suffix.lower() in (".jsonl", ".json", ".ndjson"))


def create_raw_table(con) -> None:
    """Start a fresh set of xAPI files on ``con`` (table ``xapi_files`` lists them)."""
    con.execute("CREATE OR REPLACE TEMP TABLE xapi_files (file_idx INTEGER, source_file VARCHAR, n BIGINT, "
                "start BIGINT)")
    con.execute("DROP TABLE IF EXISTS xapi_parsed")


def _extract_select(text_expr: str) -> str:
    return (f"SELECT {text_expr} IS NULL OR trim({text_expr}) = '' AS blank, json_valid({text_expr}) AS is_json, "
            f"json_valid({text_expr}) AND starts_with(ltrim({text_expr}), '{{') AS is_obj, "
            f"CASE WHEN json_valid({text_expr}) AND starts_with(ltrim({text_expr}), '{{') "
            f"THEN json_extract_string({text_expr}, {_PATH_LIST}) END AS v")


def load_file(con, path: Path, file_idx: int, display: str) -> int:
    """Parse one xAPI file into temp table ``xapi_parsed`` (one row per line or array element, in
    file order, so ``rowid - start + 1`` is the line number / array position; see
    ``parsed_view_sql``). Returns the number of non-blank statements.

    Raises ContractError for an empty file or a .json file that is not JSON.
    """
    p = str(path).replace("'", "''")
    if path.stat().st_size == 0:
        raise ContractError("the file is empty (0 bytes)", file=display,
                            fix="export the statements again, or remove the file")
    start = _count(con)
    if path.suffix.lower() in (".jsonl", ".ndjson"):
        opts = "columns={'line': 'VARCHAR'}, header=false, delim=chr(1), quote='', escape='', auto_detect=false"
        exact = os.environ.get("LNDBAYES_XAPI_EXACT")
        if exact or not (_direct_jsonl(con, path, p, file_idx) or _fast_jsonl(con, p, opts, file_idx)):
            try:
                _insert(con, file_idx, f"{_extract_select('line')} FROM read_csv('{p}', {opts})")
            except Exception as err:  # noqa: BLE001 -- retry for very long lines / odd bytes, then report
                try:
                    _insert(con, file_idx, f"{_extract_select('line')} FROM read_csv('{p}', {opts}, "
                                           "strict_mode=false, max_line_size=1000000000, ignore_errors=false)")
                except Exception:  # noqa: BLE001
                    raise ContractError(f"cannot be read as text lines ({str(err).splitlines()[0][:200]})",
                                        file=display, fix="save the file as UTF-8 JSON lines") from None
    else:
        try:
            kind = con.execute(f"""
                SELECT CASE WHEN NOT json_valid(content) THEN 'invalid' ELSE json_type(content::JSON) END,
                       CASE WHEN json_valid(content) AND json_type(content::JSON) = 'OBJECT'
                            THEN json_type(content::JSON, '$.statements') END
                FROM read_text('{p}')""").fetchone()
        except Exception as err:  # noqa: BLE001 (DuckDB I/O or encoding error)
            raise ContractError(f"cannot be read as text ({str(err).splitlines()[0][:200]})", file=display,
                                fix="save it as UTF-8 JSON") from None
        if kind[0] == "invalid":
            raise ContractError("is not valid JSON", file=display,
                                fix="a .json file must hold one statement or an array of statements; "
                                    "use .jsonl for one statement per line")
        if kind[0] == "ARRAY" or kind[1] == "ARRAY":
            path_expr = "'$[*]'" if kind[0] == "ARRAY" else "'$.statements[*]'"
            src = f"(SELECT unnest(json_extract(content::JSON, {path_expr}))::VARCHAR AS t FROM read_text('{p}'))"
        else:
            src = f"(SELECT content AS t FROM read_text('{p}'))"
        _insert(con, file_idx, f"{_extract_select('t')} FROM {src}")
    n = con.execute(f"SELECT count(*) FILTER (NOT blank) FROM xapi_parsed WHERE file_idx = {file_idx}").fetchone()[0]
    if n == 0:
        raise ContractError("holds no statements (the file is blank)", file=display,
                            fix="export the statements again, or remove the file")
    con.execute("INSERT INTO xapi_files VALUES (?, ?, ?, ?)", [file_idx, display, n, start])
    return n


_MALFORMED = "malformed JSON (the line is not valid JSON: truncated, or a quote or brace is missing)"


#: the direct path checks every SAMPLE_EVERY-th line's statement id against the row at its position
SAMPLE_EVERY = 1024


def _direct_jsonl(con, path: Path, p: str, file_idx: int) -> bool:
    """The fastest path for JSON lines without blank lines: one parallel, streaming ``read_json``
    scan parsed straight into ``xapi_parsed``; the line number is the row's position (``rowid``:
    insertion order is preserved, and parse_select keeps it). ``read_json`` skips blank lines and gives one row per other
    line (an all-NULL row for a malformed line or a non-object), so when its row count equals
    the file's line count (trailing blank lines aside) the k-th row is line k. One pass over the
    raw bytes counts the lines and fetches (a) the lines whose rows came back all-NULL, which are
    then classified (blank? valid JSON? an object?) exactly as the raw-line pass of
    ``_fast_jsonl`` does (each must indeed hold no statement field), and (b) the last line and
    every SAMPLE_EVERY-th line, whose statement id must be the id of the row at that position
    (b and the check in a guard the row order: before parse_select avoided ``IN (...)``, rows
    did come back out of order, and these checks caught it). Returns False, leaving nothing behind,
    when the counts or any sample differ or anything is unusual; ``_fast_jsonl`` then runs."""
    exists = con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'xapi_parsed'").fetchone()[0]
    table = "_xstage" if exists else "xapi_parsed"
    try:
        # is_json here means "read_json found some field": rows without any are re-checked below
        fields = ", ".join(f"{expr} AS {k}" for k, expr in _STRUCT_FIELDS.items())
        found = " OR ".join(f"j.{c} IS NOT NULL" for c in ("id", "actor", "verb", "object", "result", "context",
                                                              "timestamp", "stored"))
        # line numbers come from the row position (rowid), not WITH ORDINALITY: that is a
        # row_number() over the scan and keeps the whole parse on one thread (about 1.5 s more
        # wall time for 1M statements, no fewer CPU-seconds; benchmarks/README.md)
        src = (f"SELECT false AS blank, ({found}) AS is_json, true AS is_obj, NULL::BIGINT AS src_line, {fields} "
               f"FROM read_json('{p}', format='newline_delimited', ignore_errors=true, columns={_JSON_COLUMNS}) j")
        con.execute(f"CREATE TEMP TABLE {table} AS {parse_select(file_idx, src, named=True)}")
        n_rows = con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
        odd = [r[0] + 1 for r in con.execute(f"SELECT rowid FROM {table} WHERE reason = '{_MALFORMED}' "
                                             "ORDER BY rowid").fetchall()]
        samples = sorted({*range(1, n_rows + 1, SAMPLE_EVERY), n_rows} - {0} - set(odd))
        tick("xapi: read_json parsed")
        n_lines, texts = _scan_lines(path, sorted([*odd, *samples]))
        tick("xapi: lines counted")
        if n_lines != n_rows or len(texts) != len(odd) + len(samples):
            raise ValueError("line count differs")
        got = dict(con.execute(f"SELECT rowid + 1, statement_id FROM {table} WHERE rowid IN "
                               f"({', '.join(str(k - 1) for k in samples) or 'NULL'})").fetchall())
        for k in [*samples, *odd]:
            try:
                obj = json.loads(texts[k])
            except ValueError:
                continue
            if not isinstance(obj, dict):
                continue
            if k in got:  # a sampled statement: its id must be the row's
                if isinstance(obj.get("id"), str) and got[k] != obj["id"]:
                    raise ValueError(f"row order differs at line {k}")
            elif any(obj.get(c) is not None for c in ("id", "actor", "verb", "object", "result", "context",
                                                      "timestamp", "stored")):
                raise ValueError(f"row order differs at line {k}")  # an all-NULL row for a statement
        if odd:
            fix = pd.DataFrame({"rid": pd.Series([k - 1 for k in odd], dtype="int64"),
                                "line": pd.Series([texts[k] for k in odd], dtype="object")})
            con.register("_xodd", fix)
            nulls = ", ".join(f"NULL::VARCHAR AS {k}" for k in PATHS)
            flags = (f"SELECT rid, line IS NULL OR trim(line) = '' AS blank, json_valid(line) AS is_json, "
                     f"json_valid(line) AND starts_with(ltrim(line), '{{') AS is_obj, NULL::BIGINT AS src_line, "
                     f"{nulls} FROM _xodd")
            sel = parse_select(file_idx, flags, named=True).replace(
                f"SELECT {file_idx}::INTEGER AS file_idx,", f"SELECT rid, {file_idx}::INTEGER AS file_idx,", 1)
            con.execute(f"CREATE OR REPLACE TEMP TABLE _xfix AS {sel}")
            con.unregister("_xodd")
            con.execute(f"UPDATE {table} SET blank = x.blank, reason = x.reason FROM _xfix x "
                        f"WHERE {table}.rowid = x.rid")
            con.execute("DROP TABLE _xfix")
        if exists:  # later files: line numbers stored explicitly
            con.execute(f"INSERT INTO xapi_parsed SELECT * REPLACE (rowid + 1 AS src_line) FROM {table}")
            con.execute(f"DROP TABLE {table}")
        return True
    except Exception:  # noqa: BLE001 -- the other paths handle (and report) anything unusual
        con.execute(f"DROP TABLE IF EXISTS {table}; DROP TABLE IF EXISTS _xfix")
        try:
            con.unregister("_xodd")
        except Exception:  # noqa: BLE001
            pass
        return False


def _scan_lines(path: Path, wanted: list[int]) -> tuple[int, dict[int, str]]:
    """One pass over the file's bytes: the number of lines (trailing blank lines not counted) and
    the text of the ``wanted`` 1-based lines (sorted; a final ``\r`` dropped). A wanted line that is
    not UTF-8 is left out (the caller then takes the careful path)."""
    size = path.stat().st_size
    out: dict[int, str] = {}
    with open(path, "rb") as fh:
        end = size  # end of the content: trailing whitespace is not a line
        while end > 0:
            lo = max(0, end - 65536)
            fh.seek(lo)
            tail = fh.read(end - lo).rstrip()
            if tail:
                end = lo + len(tail)
                break
            end = lo
        fh.seek(0)
        buf = bytearray(1 << 24)
        view = memoryview(buf)
        n_nl, pos, wi, partial = 0, 0, 0, b""

        def keep(no: int, raw: bytes) -> None:
            try:
                out[no] = raw.removesuffix(b"\r").decode("utf-8")
            except UnicodeDecodeError:
                pass

        while pos < end:
            k = fh.readinto(view[:min(len(buf), end - pos)])
            if not k:
                break
            is_nl = np.frombuffer(buf, np.uint8, count=k) == 10
            c = int(np.count_nonzero(is_nl))
            if c and wi < len(wanted) and wanted[wi] <= n_nl + c:
                nl = np.flatnonzero(is_nl)
                while wi < len(wanted) and wanted[wi] <= n_nl + c:
                    j = wanted[wi] - n_nl - 1
                    keep(wanted[wi], partial + bytes(view[:nl[0]]) if j == 0 else bytes(view[nl[j - 1] + 1:nl[j]]))
                    wi += 1
                last = int(nl[-1])
            elif c:
                last = buf.rfind(b"\n", 0, k)
            if c:
                partial = bytes(view[last + 1:k])
            else:
                partial += bytes(view[:k])
            n_nl += c
            pos += k
        n_lines = n_nl + 1 if end > 0 else 0
        while wi < len(wanted) and wanted[wi] == n_lines:
            keep(wanted[wi], partial)
            wi += 1
    return n_lines, out


def _fast_jsonl(con, p: str, opts: str, file_idx: int) -> bool:
    """The fast path for JSON lines: DuckDB's read_json parses each line once into typed fields
    (a malformed line becomes an all-NULL row), and a cheap pass over the raw lines tells which
    lines are blank, malformed or not objects. The k-th non-blank line is the k-th read_json row
    (POSITIONAL JOIN). Returns False (nothing inserted) when the two passes do not line up, so the
    exact line-by-line path runs instead."""
    try:
        con.execute(f"""CREATE OR REPLACE TEMP TABLE _xl AS
            SELECT line IS NULL OR trim(line) = '' AS blank, json_valid(line) AS is_json,
                   json_valid(line) AND starts_with(ltrim(line), '{{') AS is_obj
            FROM read_csv('{p}', {opts})""")
        con.execute("""CREATE OR REPLACE TEMP TABLE _xv AS SELECT rowid + 1 AS line_no, is_json, is_obj
            FROM _xl WHERE NOT blank""")
        con.execute(f"""CREATE OR REPLACE TEMP TABLE _xj AS SELECT * FROM read_json('{p}',
            format='newline_delimited', ignore_errors=true, columns={_JSON_COLUMNS})""")
        n_v, n_j = con.execute("SELECT (SELECT count(*) FROM _xv), (SELECT count(*) FROM _xj)").fetchone()
        if n_v != n_j:
            return False
        # read_json yields an all-NULL row for a malformed line or a non-object: no masking needed
        fields = ", ".join(f"{expr} AS {k}" for k, expr in _STRUCT_FIELDS.items())
        src = (f"SELECT false AS blank, v.is_json, v.is_obj, v.line_no AS src_line, {fields} "
               f"FROM _xv v POSITIONAL JOIN _xj j")
        _insert(con, file_idx, src, named=True)
        return True
    except Exception:  # noqa: BLE001 -- the exact path below reports what is wrong
        return False
    finally:
        con.execute("DROP TABLE IF EXISTS _xv; DROP TABLE IF EXISTS _xj; DROP TABLE IF EXISTS _xl")


def _count(con) -> int:
    try:
        return con.execute("SELECT count(*) FROM xapi_parsed").fetchone()[0]
    except Exception:  # noqa: BLE001 -- not created yet
        return 0


def _insert(con, file_idx: int, source_select: str, named: bool = False) -> None:
    """Parse the statements of one file and append them to ``xapi_parsed`` (file order kept)."""
    exists = con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'xapi_parsed'").fetchone()[0]
    body = parse_select(file_idx, source_select, named)
    if exists:
        con.execute(f"INSERT INTO xapi_parsed {body}")
    else:
        con.execute(f"CREATE TEMP TABLE xapi_parsed AS {body}")


def parsed_view_sql() -> str:
    """The parsed statements with their line numbers (blank lines left out)."""
    return ("SELECT p.* EXCLUDE (blank, src_line), coalesce(p.src_line, p.rowid - f.start + 1) AS line "
            "FROM xapi_parsed p JOIN xapi_files f USING (file_idx) WHERE NOT p.blank")


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
          WHEN NOT is_json THEN '{_MALFORMED}'
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


def parse_statements(paths) -> pd.DataFrame:
    """Parse xAPI files into a DataFrame of statements (no actor mapping, no pseudonymisation).

    For exploring an LRS export: columns ``source_file, line, statement_id, actor, verb,
    activity_id, timestamp, score_scaled, success, completion, duration_s, registration,
    reaction, reason``. ``reason`` is NULL for statements ingestion would accept (before the
    actor is matched to an employee).
    """
    paths = [Path(p) for p in ([paths] if isinstance(paths, (str, Path)) else paths)]
    files = [f for p in paths for f in (list_files(p) if p.is_dir() else [p])]
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    create_raw_table(con)
    for i, f in enumerate(files):
        load_file(con, f, i, str(f))
    df = to_df(con.execute(f"""
        SELECT n.source_file, p.line, p.statement_id, p.actor_str AS actor, p.verb, p.activity_id,
               p.timestamp, p.score_scaled, p.success, p.completion, p.duration_s, p.registration, p.reaction,
               coalesce(p.reason, CASE {reaction_check_sql()} END) AS reason
        FROM ({parsed_view_sql()}) p JOIN xapi_files n USING (file_idx)
        ORDER BY p.file_idx, p.line"""))
    con.close()
    return df

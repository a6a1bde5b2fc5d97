"""Reading xAPI 1.0.3 files into DuckDB: statements -> tidy learning-event rows, vectorised.

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

What a statement means (the fields read, the reasons for rejecting one) is in
lndbayes.data.xapi_sql.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from lndbayes.data.profile import tick
from lndbayes.data.sql import to_df
from lndbayes.data.xapi_sql import (
    JSON_COLUMNS,
    MALFORMED,
    PATHS,
    STRUCT_FIELDS,
    extract_select,
    parse_select,
    reaction_check_sql,
)
from lndbayes.errors import ContractError


def list_files(xapi_dir: Path) -> list[Path]:
    if not xapi_dir.is_dir():
        return []
    return sorted(p for p in xapi_dir.rglob("*") if p.is_file() and p.suffix.lower() in (".jsonl", ".json", ".ndjson"))


def create_raw_table(con) -> None:
    """Start a fresh set of xAPI files on ``con`` (table ``xapi_files`` lists them)."""
    con.execute("CREATE OR REPLACE TEMP TABLE xapi_files (file_idx INTEGER, source_file VARCHAR, n BIGINT, "
                "start BIGINT)")
    con.execute("DROP TABLE IF EXISTS xapi_parsed")


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
                _insert(con, file_idx, f"{extract_select('line')} FROM read_csv('{p}', {opts})")
            except Exception as err:  # noqa: BLE001 -- retry for very long lines / odd bytes, then report
                try:
                    _insert(con, file_idx, f"{extract_select('line')} FROM read_csv('{p}', {opts}, "
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
        _insert(con, file_idx, f"{extract_select('t')} FROM {src}")
    n = con.execute(f"SELECT count(*) FILTER (NOT blank) FROM xapi_parsed WHERE file_idx = {file_idx}").fetchone()[0]
    if n == 0:
        raise ContractError("holds no statements (the file is blank)", file=display,
                            fix="export the statements again, or remove the file")
    con.execute("INSERT INTO xapi_files VALUES (?, ?, ?, ?)", [file_idx, display, n, start])
    return n


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
        fields = ", ".join(f"{expr} AS {k}" for k, expr in STRUCT_FIELDS.items())
        found = " OR ".join(f"j.{c} IS NOT NULL" for c in ("id", "actor", "verb", "object", "result", "context",
                                                              "timestamp", "stored"))
        # line numbers come from the row position (rowid), not WITH ORDINALITY: that is a
        # row_number() over the scan and keeps the whole parse on one thread (about 1.5 s more
        # wall time for 1M statements, no fewer CPU-seconds; benchmarks/README.md)
        src = (f"SELECT false AS blank, ({found}) AS is_json, true AS is_obj, NULL::BIGINT AS src_line, {fields} "
               f"FROM read_json('{p}', format='newline_delimited', ignore_errors=true, columns={JSON_COLUMNS}) j")
        con.execute(f"CREATE TEMP TABLE {table} AS {parse_select(file_idx, src, named=True)}")
        n_rows = con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
        odd = [r[0] + 1 for r in con.execute(f"SELECT rowid FROM {table} WHERE reason = '{MALFORMED}' "
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
            format='newline_delimited', ignore_errors=true, columns={JSON_COLUMNS})""")
        n_v, n_j = con.execute("SELECT (SELECT count(*) FROM _xv), (SELECT count(*) FROM _xj)").fetchone()
        if n_v != n_j:
            return False
        # read_json yields an all-NULL row for a malformed line or a non-object: no masking needed
        fields = ", ".join(f"{expr} AS {k}" for k, expr in STRUCT_FIELDS.items())
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

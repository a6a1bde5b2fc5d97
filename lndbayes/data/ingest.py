"""Ingestion: raw files -> validated, pseudonymised processed tables, a ledger and rejected rows.

``ingest(raw_dir, root)`` reads every raw file of the data contract (lndbayes.data.contract,
docs/data-contract.md) with DuckDB, checks every row, and writes

- ``<root>/processed/<table>.parquet`` (accepted rows; ids replaced by keyed pseudonyms),
- ``<root>/processed/ledger.csv`` (per table and source file: rows_read = accepted + rejected),
- ``<root>/interim/rejected/<table>.csv`` (``source_file, line, reason`` + the row's columns,
  identifiers pseudonymised), one per table that had rejected rows.

Fatal problems (a missing required file or column, an empty file) raise ContractError; row
problems never stop ingestion: the row goes to the rejected file with its reason.
Every file is written to a temporary name and moved into place (os.replace).
"""

from __future__ import annotations

import csv
import difflib
import io
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from lndbayes import paths
from lndbayes.data import xapi
from lndbayes.data.contract import (
    CONTRACT_VERSION,
    ENROLL_VERBS,
    COMPLETE_VERBS,
    FALSE_WORDS,
    LEDGER_COLUMNS,
    PROCESSED,
    RAW_FILES,
    TRUE_WORDS,
    Column,
    RawFile,
    key_column,
)
from lndbayes.data.pseudonym import get_key, key_fingerprint, pseudonymise
from lndbayes.errors import ContractError


@dataclass
class IngestResult:
    """What ingest() produced: the processed tables, the ledger and where files went."""

    tables: dict[str, pd.DataFrame]
    ledger: pd.DataFrame
    paths: dict[str, Path]
    rejected: dict[str, pd.DataFrame] = field(default_factory=dict)  # table -> rejected rows
    warnings: list[str] = field(default_factory=list)

    @property
    def n_rejected(self) -> int:
        return int(self.ledger["rows_rejected"].sum()) if len(self.ledger) else 0


_T0 = [0.0, 0.0]


def _tick(label: str) -> None:
    """Stage timings on stderr when LNDBAYES_INGEST_PROFILE is set (benchmarks)."""
    if os.environ.get("LNDBAYES_INGEST_PROFILE"):
        import time
        now, cpu = time.perf_counter(), time.process_time()
        print(f"  [{now - _T0[0]:7.2f}s wall {cpu - _T0[1]:7.2f}s cpu] {label}", file=sys.stderr, flush=True)


def _q(text: str) -> str:
    """SQL string literal."""
    return "'" + str(text).replace("'", "''") + "'"


def _norm_header(name: str) -> str:
    return re.sub(r"[\s\-]+", "_", str(name).strip().lstrip("\ufeff").strip().lower())


# ---------------------------------------------------------------------------------------------
# reading tabular raw files


def _source_files(raw_dir: Path, spec: RawFile) -> list[Path]:
    out = []
    for ext in (".csv", ".parquet"):
        p = raw_dir / f"{spec.stem}{ext}"
        if p.is_file():
            out.append(p)
    return out


def _csv_python(path: Path, delim: str) -> tuple[list[str], list[list[str]], list[int], list[tuple[int, str, list]]]:
    """Exact reading with the csv module: header, rows, their 1-based start lines, bad rows."""
    text = path.read_text(encoding="utf-8-sig", errors="replace")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delim)
    header, rows, lines, bad = None, [], [], []
    prev_end = 0
    for rec in reader:
        start = prev_end + 1
        prev_end = reader.line_num
        if not rec or all(not c.strip() for c in rec) and len(rec) <= 1:
            continue  # blank line
        if header is None:
            header = rec
            continue
        if len(rec) != len(header):
            bad.append((start, f"row has {len(rec)} fields, the header has {len(header)}", rec))
            continue
        rows.append(rec)
        lines.append(start)
    return header or [], rows, lines, bad


def _read_csv(con, path: Path, display: str):
    """Read a CSV as text columns with DuckDB; return (DataFrame with ``line``, bad rows).

    Fast path: DuckDB reads the file; the line of each row is recovered from the file's
    non-blank lines when the file has no quoted fields (so no row spans lines). Otherwise, or
    if the counts disagree, the csv module reads it exactly.
    """
    data = path.read_bytes()
    if not data.strip():
        raise ContractError("the file is empty (0 bytes)" if not data else "the file is blank",
                            file=display, fix="export it again with a header row and data rows, or remove it")
    first = data.lstrip().split(b"\n", 1)[0].decode("utf-8", errors="replace")
    delim = max([",", ";", "\t", "|"], key=first.count)  # the header decides the delimiter
    if b'"' not in data and b"\r" not in data:
        try:
            con.execute("DROP TABLE IF EXISTS reject_errors; DROP TABLE IF EXISTS reject_scans")
            rel = con.execute(
                f"SELECT * FROM read_csv({_q(path)}, all_varchar=true, header=true, delim={_q(delim)}, "
                f"quote='', escape='', store_rejects=true)")
            df = xapi.to_df(rel)
            rej = con.execute("SELECT line, error_type, csv_line FROM reject_errors ORDER BY line").fetchall()
            text_lines = data.decode("utf-8", errors="replace").lstrip("\ufeff").split("\n")
            nonblank = [i + 1 for i, ln in enumerate(text_lines) if ln.strip()]
            rej_lines = {int(r[0]) for r in rej}
            data_lines = [ln for ln in nonblank[1:] if ln not in rej_lines]
            if len(data_lines) == len(df) and len(rej_lines) == len(rej):
                hdr_len = len(df.columns)
                bad = []
                for line, _etype, raw in rej:
                    rec = next(csv.reader([raw.strip("\n")], delimiter=delim)) if raw else []
                    bad.append((int(line), f"row has {len(rec)} fields, the header has {hdr_len}", rec))
                df.insert(0, "line", data_lines)
                return df, bad
        except ContractError:
            raise
        except Exception:  # noqa: BLE001 -- fall back to the exact reader below
            pass
    header, rows, lines, bad = _csv_python(path, delim)
    names = list(header)
    seen: dict[str, int] = {}
    for i, n in enumerate(names):  # keep duplicate header names distinct, as DuckDB does
        if n in seen:
            seen[n] += 1
            names[i] = f"{n}_{seen[n]}"
        else:
            seen[n] = 0
    df = pd.DataFrame(rows, columns=names, dtype="str") if rows else pd.DataFrame(columns=names, dtype="str")
    df.insert(0, "line", lines)
    return df, bad


def _read_parquet(con, path: Path, display: str):
    try:
        df = xapi.to_df(con.execute(f"SELECT * FROM read_parquet({_q(path)})"))
    except Exception as err:  # noqa: BLE001
        raise ContractError(f"cannot be read as Parquet ({str(err).splitlines()[0][:200]})", file=display,
                            fix="write it again as Parquet, or provide a CSV") from None
    for c in df.columns:
        s = df[c]
        if pd.api.types.is_datetime64_any_dtype(s):
            df[c] = s.dt.strftime("%Y-%m-%dT%H:%M:%S%z").where(s.notna(), None)
        else:
            df[c] = s.astype("object").where(s.notna(), None).map(lambda v: None if v is None else str(v))
    df.insert(0, "line", range(1, len(df) + 1))
    return df, []


def _check_header(spec: RawFile, columns: list[str], display: str) -> tuple[dict[str, str], list[str]]:
    """Map file columns to contract columns; ContractError for missing/misspelled ones.

    Returns (contract name -> file column, notes about ignored columns).
    """
    normed = {}
    for c in columns:
        normed.setdefault(_norm_header(c), c)
    expected = spec.names
    present = {n: normed[n] for n in expected if n in normed}
    extra = [n for n in normed if n not in expected]
    for col in expected:
        if col in present:
            continue
        close = difflib.get_close_matches(col, extra, n=1, cutoff=0.75)
        if close:
            raise ContractError(f"column '{normed[close[0]]}' is not in the contract; did you mean '{col}'?",
                                file=display, row=1, column=normed[close[0]],
                                fix=f"rename the column to '{col}'")
        c = spec.column(col)
        if c.required:
            raise ContractError(f"required column '{col}' is missing",
                                file=display, row=1, column=col,
                                fix=f"add the column; {spec.stem} needs: {', '.join(spec.required_columns)} "
                                    "(see docs/data-contract.md)")
    notes = [f"{display}: column '{normed[e]}' is not in the contract and was ignored" for e in extra]
    return present, notes


def _load_sources(con, raw_dir: Path, spec: RawFile, warnings: list[str], progress: bool) -> list[str] | None:
    """Create DuckDB table ``src_<stem>`` (source_file, file_order, line, contract columns as
    trimmed text, _bad reason for unparseable rows). Returns the source files, None if none."""
    files = _source_files(raw_dir, spec)
    if not files:
        return None
    frames = []
    for order, path in enumerate(files):
        display = str(path.relative_to(raw_dir))
        if path.suffix == ".csv":
            df, bad = _read_csv(con, path, display)
        else:
            df, bad = _read_parquet(con, path, display)
        if len(df) == 0 and not bad:
            raise ContractError("the file has a header but no data rows", file=display,
                                fix="export it again with its rows, or remove the file")
        present, notes = _check_header(spec, [c for c in df.columns if c != "line"], display)
        warnings.extend(notes)
        out = pd.DataFrame({"source_file": display, "file_order": order, "line": df["line"].astype("int64")})
        for col in spec.names:
            if col in present:
                s = df[present[col]].astype("object")
                s = s.where(s.notna(), None).map(lambda v: None if v is None else (str(v).strip() or None))
                out[col] = s.astype("object")
            else:
                out[col] = None
        out["_bad"] = None
        if bad:
            hdr = [c for c in df.columns if c != "line"]
            brows = []
            for line, reason, rec in bad:
                row = {"source_file": display, "file_order": order, "line": line, "_bad": reason}
                for col in spec.names:
                    if col in present and present[col] in hdr:
                        i = hdr.index(present[col])
                        row[col] = (rec[i].strip() or None) if i < len(rec) else None
                    else:
                        row[col] = None
                brows.append(row)
            out = pd.concat([out, pd.DataFrame(brows, columns=out.columns)], ignore_index=True)
        frames.append(out)
        if progress:
            print(f"ingest: read {display}: {len(out):,} rows", file=sys.stderr, flush=True)
    allrows = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    for col in ["source_file", *spec.names, "_bad"]:
        allrows[col] = allrows[col].astype("object")
    con.register("_tmp_src", allrows)
    cols = ", ".join(["source_file::VARCHAR AS source_file", "file_order::INTEGER AS file_order",
                      "line::BIGINT AS line"] + [f"{c}::VARCHAR AS {c}" for c in spec.names] + ["_bad::VARCHAR AS _bad"])
    con.execute(f"CREATE OR REPLACE TEMP TABLE src_{spec.stem} AS SELECT {cols} FROM _tmp_src")
    con.unregister("_tmp_src")
    return [str(p.relative_to(raw_dir)) for p in files]


# ---------------------------------------------------------------------------------------------
# SQL building blocks: typed values and the reason a value is invalid


def _typed(c: Column) -> str:
    x = c.name
    return {
        "id": x, "str": x,
        "date": f"coalesce(TRY_CAST({x} AS DATE), TRY_CAST(TRY_CAST({x} AS TIMESTAMP) AS DATE))",
        "timestamp": f"TRY_CAST({x} AS TIMESTAMPTZ)",
        "int": f"TRY_CAST(TRY_CAST({x} AS DOUBLE) AS BIGINT)",
        "float": f"TRY_CAST({x} AS DOUBLE)",
        "bool": (f"CASE WHEN lower({x}) IN ({', '.join(map(_q, TRUE_WORDS))}) THEN true "
                 f"WHEN lower({x}) IN ({', '.join(map(_q, FALSE_WORDS))}) THEN false END"),
        "period": x,
    }[c.type] if not c.allowed else f"lower({x})"


def _invalid(c: Column) -> str:
    """SQL: reason text when column c's value breaks its type/range, else NULL."""
    x = c.name
    shown = f"'column ''{x}'': ''' || left({x}, 60) || ''''"
    checks = []
    if c.required:
        checks.append((f"{x} IS NULL", f"'column ''{x}'' is empty (required)'"))
    if c.type == "int":
        d = f"TRY_CAST({x} AS DOUBLE)"
        checks.append((f"{x} IS NOT NULL AND NOT coalesce(isfinite({d}) AND {d} = round({d}), false)",
                       f"{shown} || ' is not a whole number'"))
    elif c.type == "float":
        checks.append((f"{x} IS NOT NULL AND NOT coalesce(isfinite(TRY_CAST({x} AS DOUBLE)), false)",
                       f"{shown} || ' is not a number'"))
    elif c.type == "date":
        checks.append((f"{x} IS NOT NULL AND {_typed(c)} IS NULL", f"{shown} || ' is not a date (YYYY-MM-DD)'"))
    elif c.type == "timestamp":
        checks.append((f"{x} IS NOT NULL AND {_typed(c)} IS NULL",
                       f"{shown} || ' is not an ISO 8601 date or date-time'"))
    elif c.type == "bool":
        checks.append((f"{x} IS NOT NULL AND {_typed(c)} IS NULL", f"{shown} || ' is not true/false'"))
    elif c.type == "period":
        checks.append((f"{x} IS NOT NULL AND NOT regexp_full_match({x}, '[0-9]{{4}}-(0[1-9]|1[0-2])')",
                       f"{shown} || ' is not a month (YYYY-MM)'"))
    if c.allowed:
        checks.append((f"{x} IS NOT NULL AND lower({x}) NOT IN ({', '.join(map(_q, c.allowed))})",
                       f"{shown} || ' is not one of {', '.join(c.allowed)}'"))
    if c.min is not None or c.max is not None:
        v = f"TRY_CAST({x} AS DOUBLE)"
        lo = f"{v} < {c.min}" if c.min is not None else "false"
        hi = f"{v} > {c.max}" if c.max is not None else "false"
        checks.append((f"isfinite({v}) AND ({lo} OR {hi})",
                       f"{shown} || ' is outside {'' if c.min is None else f'{c.min:g}'}..{'' if c.max is None else f'{c.max:g}'}'"))
    if c.type == "id":  # never print an identifier
        checks = [(cond, msg if "is empty" in msg else f"'column ''{x}'' is invalid'") for cond, msg in checks]
    if not checks:
        return "NULL"
    return "CASE " + " ".join(f"WHEN {cond} THEN {msg}" for cond, msg in checks) + " END"


class _Keys:
    """Raw identifier -> pseudonym, computed once per distinct id, mirrored in DuckDB ``pmap``."""

    def __init__(self, con, key: str):
        self.con, self.key, self.map = con, key, {}
        con.execute("CREATE OR REPLACE TEMP TABLE pmap (raw VARCHAR PRIMARY KEY, pkey VARCHAR)")

    def add(self, sql: str) -> None:
        vals = [r[0] for r in self.con.execute(f"SELECT DISTINCT v FROM ({sql}) t(v) WHERE v IS NOT NULL").fetchall()]
        new = [v for v in vals if v not in self.map]
        if not new:
            return
        keys = pseudonymise(new, self.key)
        self.map.update(zip(new, keys))
        df = pd.DataFrame({"raw": pd.Series(new, dtype="object"), "pkey": pd.Series(keys, dtype="object")})
        self.con.register("_tmp_keys", df)
        self.con.execute("INSERT INTO pmap SELECT raw::VARCHAR, pkey::VARCHAR FROM _tmp_keys")
        self.con.unregister("_tmp_keys")


def _pk(col: str) -> str:
    """SQL: the pseudonym of raw id column ``col`` (via pmap)."""
    return f"(SELECT pkey FROM pmap WHERE raw = {col})"


# ---------------------------------------------------------------------------------------------
# per-table validation. Each builds temp table ``chk_<stem>``: all src columns + ``reason``


def _validate_table(con, spec: RawFile, extra: list[tuple[str, str]], dup_keys: list[str] | None,
                    dup_label: str | None = None) -> None:
    """``extra``: (condition, reason SQL) checked on rows that passed the type checks, in order.
    ``dup_keys``: columns whose combination must be unique (later duplicates are rejected)."""
    stem = spec.stem
    type_reason = "nullif(concat_ws('; ', " + ", ".join(_invalid(c) for c in spec.columns) + "), '')"
    typed = ", ".join(f"{_typed(c)} AS t_{c.name}" for c in spec.columns)
    con.execute(f"CREATE OR REPLACE TEMP TABLE t_{stem} AS SELECT *, coalesce(_bad, {type_reason}) AS type_reason, "
                f"{typed} FROM src_{stem}")
    dup_sql = "NULL"
    if dup_keys:
        part = ", ".join(f"t_{k}" for k in dup_keys)
        con.execute(f"""CREATE OR REPLACE TEMP TABLE d_{stem} AS SELECT source_file, line,
            first_value(source_file) OVER w AS first_file, first_value(line) OVER w AS first_line,
            row_number() OVER w AS k
            FROM t_{stem} WHERE {' AND '.join(f't_{k} IS NOT NULL' for k in dup_keys)} AND _bad IS NULL
            WINDOW w AS (PARTITION BY {part} ORDER BY file_order, line)""")
        dup_sql = (f"(SELECT {dup_label} || ', first at ' || CASE WHEN d.first_file <> t.source_file "
                   f"THEN d.first_file || ' ' ELSE '' END || 'line ' || d.first_line "
                   f"FROM d_{stem} d WHERE d.source_file = t.source_file AND d.line = t.line AND d.k > 1)")
    cases = " ".join(f"WHEN {cond} THEN {msg}" for cond, msg in extra)
    sem = f"CASE {cases} END" if extra else "NULL"
    con.execute(f"CREATE OR REPLACE TEMP TABLE chk_{stem} AS SELECT t.*, "
                f"coalesce(t.type_reason, {dup_sql}, {sem}) AS reason FROM t_{stem} t")


def _write_atomic_copy(con, select_sql: str, path: Path, fmt: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    # zstd level 1: cheaper to write than DuckDB's default snappy, about 40 % smaller, and several
    # times cheaper for pyarrow to read back (benchmarks/README.md, "Ingestion (xAPI)")
    opts = "FORMAT parquet, COMPRESSION zstd, COMPRESSION_LEVEL 1" if fmt == "parquet" else "FORMAT csv, HEADER true"
    try:
        con.execute(f"COPY ({select_sql}) TO {_q(tmp)} ({opts})")
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def _write_csv_atomic(df: pd.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        df.to_csv(tmp, index=False)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


#: (stem) -> SQL of the processed output columns from chk_<stem> (alias t); raw ids -> keys
_OUTPUT = {
    "employees": ("employees", f"""{_pk('t.employee_id')} AS employee_key, t.team, t.department, t.role,
        {_pk('t.manager_id')} AS manager_key, t.t_hire_date AS hire_date, t.t_termination_date AS termination_date,
        t.termination_reason, t.t_level AS level"""),
    "hris_events": ("hris_events", f"""{_pk('t.employee_id')} AS employee_key, t.t_event_date AS event_date,
        t.t_event_type AS event_type, t.from_value, t.to_value"""),
    "assignments": ("assignments", f"""t.program_id, t.t_unit_type AS unit_type,
        CASE WHEN t.t_unit_type = 'employee' THEN {_pk('t.unit_id')} ELSE t.unit_id END AS unit_key,
        t.t_arm AS arm, t.t_start_date AS start_date"""),
    "kpis": ("kpis", f"""t.t_entity_type AS entity_type,
        CASE WHEN t.t_entity_type = 'employee' THEN {_pk('t.entity_id')} ELSE t.entity_id END AS entity_key,
        t.kpi, t.period, t.t_value AS value, coalesce(t.t_censored, false) AS censored"""),
    "skill_assessments": ("skill_assessments", f"""{_pk('t.employee_id')} AS employee_key, t.skill,
        t.t_assessed_at AS assessed_at, t.t_proficiency AS proficiency"""),
    "skill_requirements": ("skill_requirements", """t.t_scope_type AS scope_type, t.scope_id, t.skill,
        t.t_required_level AS required_level, t.t_effective_date AS effective_date"""),
}

#: columns holding an employee identifier in each raw file (pseudonymised in rejected files);
#: value: None = always an id; a column name = an id only when that column says 'employee'
_ID_COLUMNS = {
    "employees": {"employee_id": None, "manager_id": None},
    "hris_events": {"employee_id": None},
    "actor_map": {"actor": None, "employee_id": None},
    "enrollments": {"employee_id": None},
    "assignments": {"unit_id": "unit_type"},
    "kpis": {"entity_id": "entity_type"},
    "skill_assessments": {"employee_id": None},
}


def _rejected_select(spec: RawFile) -> str:
    cols = ["t.source_file", "t.line", "t.reason"]
    ids = _ID_COLUMNS.get(spec.stem, {})
    for c in spec.names:
        if c in ids and ids[c] is None:
            cols.append(f"{_pk('t.' + c)} AS {key_column(c)}")
        elif c in ids:  # id only for employee rows; anything but a known team name is hidden
            cols.append(f"CASE WHEN lower(t.{ids[c]}) = 'team' THEN t.{c} ELSE {_pk('t.' + c)} END AS {c}")
        else:
            cols.append(f"t.{c}")
    return ", ".join(cols)


# ---------------------------------------------------------------------------------------------


def _connect():
    import duckdb

    con = duckdb.connect()
    threads = os.environ.get("LNDBAYES_DUCKDB_THREADS") or str(max(1, os.cpu_count() or 1))
    con.execute(f"SET threads = {int(threads)}")
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET enable_progress_bar = false")
    con.execute("SET preserve_insertion_order = true")
    return con


def ingest(raw_dir, root, *, pseudonym_key=None, progress: bool = True) -> IngestResult:
    """Validate and pseudonymise the raw files in ``raw_dir``; write the processed tables of
    ``root`` (see the module docstring). Raises ContractError for fatal contract problems."""
    raw_dir, root = Path(raw_dir), Path(root)
    if not raw_dir.is_dir():
        raise ContractError("the raw data folder does not exist", file=raw_dir,
                            fix="create it and put employees.csv and your LMS export in it (docs/data-contract.md)")
    if not _source_files(raw_dir, RAW_FILES["employees"]):
        raise ContractError("required file employees.csv is missing", file=raw_dir / "employees.csv",
                            fix="export one row per person from your HRIS (columns in docs/data-contract.md)")
    xapi_files = xapi.list_files(raw_dir / "xapi")
    if not xapi_files and not _source_files(raw_dir, RAW_FILES["enrollments"]):
        raise ContractError("no LMS data: neither xapi/*.jsonl|*.json nor enrollments.csv is present",
                            file=raw_dir, fix="add your LRS export as raw/xapi/*.jsonl, or a flat enrollments.csv")
    import time
    _T0[0], _T0[1] = time.perf_counter(), time.process_time()
    key = get_key(root, pseudonym_key)
    con = _connect()
    warnings: list[str] = []
    keys = _Keys(con, key)
    ledger_rows: list[dict] = []
    rejected: dict[str, pd.DataFrame] = {}
    out_paths: dict[str, Path] = {}
    proc_dir, rej_dir = paths.processed_dir(root), paths.rejected_dir(root)
    staged: list[tuple[Path, str, str]] = []  # (final path, select sql, fmt) written at the end

    sources = {stem: _load_sources(con, raw_dir, spec, warnings, progress) for stem, spec in RAW_FILES.items()}
    for stem, files in sources.items():
        if files:
            keys.add(f"SELECT employee_id FROM src_{stem}" if "employee_id" in RAW_FILES[stem].names
                     else "SELECT NULL")
    keys.add("SELECT manager_id FROM src_employees")
    for stem, col in (("assignments", "unit_id"), ("kpis", "entity_id"), ("actor_map", "actor")):
        if sources[stem]:
            keys.add(f"SELECT {col} FROM src_{stem}")

    def known_emp(col: str) -> str:
        return f"t.{col} IN (SELECT employee_id FROM employees_ok)"

    def unknown_emp_reason(col: str, label: str = "employee_id") -> str:
        return f"'{label} (key ' || {_pk('t.' + col)} || ') is not in employees.csv'"

    # employees first: everything else refers to them
    emp = RAW_FILES["employees"]
    _validate_table(con, emp, [("t.t_termination_date < t.t_hire_date",
                                "'termination_date ' || t.t_termination_date || ' is before hire_date ' || t.t_hire_date")],
                    ["employee_id"], f"'duplicate employee_id (key ' || {_pk('t.employee_id')} || ')'")
    con.execute("CREATE OR REPLACE TEMP TABLE employees_ok AS SELECT * FROM chk_employees WHERE reason IS NULL")
    con.execute("CREATE OR REPLACE TEMP TABLE teams_ok AS SELECT DISTINCT team FROM employees_ok")

    checks = {
        "hris_events": ([(f"NOT {known_emp('employee_id')}", unknown_emp_reason("employee_id"))], None, None),
        "skill_assessments": ([(f"NOT {known_emp('employee_id')}", unknown_emp_reason("employee_id"))],
                              ["employee_id", "skill", "assessed_at"],
                              "'duplicate assessment (same employee, skill, assessed_at)'"),
        "assignments": ([
            (f"t.t_unit_type = 'employee' AND NOT {known_emp('unit_id')}", unknown_emp_reason("unit_id", "unit_id")),
            ("t.t_unit_type = 'team' AND t.unit_id NOT IN (SELECT team FROM teams_ok)",
             "'unit_id: unknown team ''' || t.unit_id || ''' (not a team in employees.csv)'"),
        ], ["program_id", "unit_type", "unit_id"], "'duplicate assignment of this unit to program ''' || t.program_id || ''''"),
        "kpis": ([
            (f"t.t_entity_type = 'employee' AND NOT {known_emp('entity_id')}", unknown_emp_reason("entity_id", "entity_id")),
            ("t.t_entity_type = 'team' AND t.entity_id NOT IN (SELECT team FROM teams_ok)",
             "'entity_id: unknown team ''' || t.entity_id || ''' (not a team in employees.csv)'"),
        ], ["entity_type", "entity_id", "kpi", "period"],
            "'duplicate KPI observation (same entity, kpi ''' || t.kpi || ''', period ' || t.period || ')'"),
        "skill_requirements": ([
            ("t.t_scope_type = 'team' AND t.scope_id NOT IN (SELECT team FROM teams_ok)",
             "'scope_id: unknown team ''' || t.scope_id || ''''"),
            ("t.t_scope_type = 'role' AND t.scope_id NOT IN (SELECT DISTINCT role FROM employees_ok)",
             "'scope_id: unknown role ''' || t.scope_id || ''' (no employee has it)'"),
        ], ["scope_type", "scope_id", "skill", "effective_date"], "'duplicate requirement'"),
        "enrollments": ([
            (f"NOT {known_emp('employee_id')}", unknown_emp_reason("employee_id")),
            ("t.t_completed_at < t.t_enrolled_at",
             "'completed_at ' || t.completed_at || ' is before enrolled_at ' || t.enrolled_at"),
        ], None, None),
        "actor_map": ([], ["actor"], "'duplicate actor (key ' || " + _pk("t.actor") + " || ')'"),
    }
    for stem, (extra, dup, label) in checks.items():
        if sources[stem]:
            _validate_table(con, RAW_FILES[stem], extra, dup, label)

    def account(stem: str, table: str) -> None:
        spec = RAW_FILES[stem]
        led = con.execute(f"""SELECT source_file, count(*), count(*) FILTER (reason IS NULL),
            count(*) FILTER (reason IS NOT NULL) FROM chk_{stem} GROUP BY source_file, file_order
            ORDER BY file_order""").fetchall()
        for sf, n, ok, bad in led:
            ledger_rows.append({"table": table, "source_file": sf, "rows_read": n, "rows_accepted": ok,
                                "rows_rejected": bad})
        if sum(r[3] for r in led):
            rejected[table] = xapi.to_df(con.execute(f"SELECT {_rejected_select(spec)} FROM chk_{stem} t "
                                                     f"WHERE reason IS NOT NULL ORDER BY file_order, line"))

    for stem, (table, select) in _OUTPUT.items():
        if stem == "employees" or sources[stem]:
            account(stem, table)
            staged.append((proc_dir / f"{table}.parquet",
                           f"SELECT {select} FROM chk_{stem} t WHERE t.reason IS NULL ORDER BY t.file_order, t.line",
                           "parquet"))
    if sources["actor_map"]:
        account("actor_map", "actor_map")
    _tick("tables validated")
    # ---------------- learning events: xAPI statements + enrollments.csv rows
    _learning_events(con, raw_dir, xapi_files, sources, keys, ledger_rows, rejected, progress)
    if sources["enrollments"]:
        account("enrollments", "enrollments")
    staged.append((proc_dir / "learning_events.parquet",
                   "SELECT * FROM learning_events ORDER BY source_order, source_line", "parquet"))
    staged.append((proc_dir / "enrollments.parquet", _ENROLLMENTS_SQL, "parquet"))

    # ---------------- write: processed tables, rejected rows, ledger (all atomic)
    for path, sql, fmt in staged:
        if "learning_events" in path.name:
            sql = sql.replace("SELECT *", "SELECT " + ", ".join(c for c, _, _ in PROCESSED["learning_events"]))
        _write_atomic_copy(con, sql, path, fmt)
        out_paths[path.stem] = path
        _tick(f"wrote {path.name}")
    rej_dir.mkdir(parents=True, exist_ok=True)
    for old in rej_dir.glob("*.csv"):
        if old.stem not in rejected:
            old.unlink()
    for table, df in rejected.items():
        p = rej_dir / f"{table}.csv"
        _write_csv_atomic(df, p)
        out_paths[f"rejected/{table}"] = p
    for table in PROCESSED:  # remove processed tables of files no longer present
        p = proc_dir / f"{table}.parquet"
        if table not in out_paths and p.exists():
            p.unlink()
    ledger = pd.DataFrame(ledger_rows, columns=list(LEDGER_COLUMNS))
    for c in ("rows_read", "rows_accepted", "rows_rejected"):
        ledger[c] = ledger[c].astype("int64")
    assert (ledger.rows_read == ledger.rows_accepted + ledger.rows_rejected).all()
    _write_csv_atomic(ledger, proc_dir / "ledger.csv")
    out_paths["ledger"] = proc_dir / "ledger.csv"
    _tick("wrote rejected rows and ledger")
    con.close()
    _tick("closed DuckDB")
    tables = read_processed(root)
    _tick("read processed tables back")
    if progress:
        print(format_ledger(ledger), file=sys.stderr, flush=True)
        for w in warnings:
            print(f"ingest: note: {w}", file=sys.stderr)
    return IngestResult(tables=tables, ledger=ledger, paths=out_paths, rejected=rejected, warnings=warnings)


_ENROLLMENTS_SQL = f"""
    SELECT employee_key, activity_id,
        coalesce(min(timestamp) FILTER (verb IN ({', '.join(map(_q, ENROLL_VERBS))})), min(timestamp)) AS enrolled_at,
        min(timestamp) FILTER (verb IN ({', '.join(map(_q, COMPLETE_VERBS))})) AS completed_at,
        max(score_scaled) AS score_scaled,
        CASE WHEN bool_or(success) THEN true WHEN bool_or(NOT success) THEN false END AS success,
        avg(reaction) AS reaction
    FROM learning_events GROUP BY employee_key, activity_id ORDER BY employee_key, activity_id"""


def _learning_events(con, raw_dir, xapi_files, sources, keys, ledger_rows, rejected, progress) -> None:
    """Build temp table ``learning_events`` (accepted events; pseudonymised) and account for the
    xAPI statements (ledger rows, rejected rows)."""
    xapi_view = None
    con.execute("CREATE OR REPLACE TEMP TABLE enr_events (statement_id VARCHAR, employee_key VARCHAR, "
                "verb VARCHAR, activity_id VARCHAR, timestamp TIMESTAMPTZ, score_scaled DOUBLE, success BOOLEAN, "
                "completion BOOLEAN, duration_s DOUBLE, registration VARCHAR, reaction DOUBLE, source VARCHAR, "
                "source_order INTEGER, source_line BIGINT)")
    if xapi_files:
        xapi.create_raw_table(con)
        for i, f in enumerate(xapi_files):
            display = str(f.relative_to(raw_dir))
            n = xapi.load_file(con, f, i, display)
            if progress:
                print(f"ingest: read {display}: {n:,} statements", file=sys.stderr, flush=True)
        _tick('xapi parsed')
        con.execute(f"CREATE OR REPLACE TEMP VIEW xapi_p AS {xapi.parsed_view_sql()}")
        # actor map: every accepted actor in its normalised forms (mbox lower-cased; sha1 of mbox)
        if sources["actor_map"]:
            con.execute("""CREATE OR REPLACE TEMP TABLE amap AS
                WITH a AS (SELECT actor, employee_id FROM chk_actor_map WHERE reason IS NULL),
                n AS (
                  SELECT CASE WHEN lower(actor) LIKE 'mailto:%' THEN lower(actor)
                              WHEN regexp_full_match(actor, '[0-9a-fA-F]{40}') THEN 'sha1:' || lower(actor)
                              ELSE actor END AS actor_str, employee_id FROM a
                  UNION ALL SELECT 'sha1:' || sha1(lower(actor)), employee_id FROM a WHERE lower(actor) LIKE 'mailto:%'
                  UNION ALL SELECT 'sha1:' || sha1(actor), employee_id FROM a WHERE lower(actor) LIKE 'mailto:%')
                SELECT actor_str, any_value(employee_id) AS employee_id FROM n GROUP BY actor_str""")
        else:
            con.execute("CREATE OR REPLACE TEMP TABLE amap (actor_str VARCHAR, employee_id VARCHAR)")
        resolve = ("coalesce(m.employee_id, CASE WHEN r.actor_kind = 'account' THEN r.account_name END)")
        # each distinct actor is resolved and pseudonymised once (a few thousand rows), then joined
        # to the statements in one join instead of four per statement
        con.execute(f"""CREATE OR REPLACE TEMP TABLE xact0 AS
            SELECT r.actor_str, r.actor_kind, r.account_name, {resolve} AS employee_id
            FROM (SELECT DISTINCT actor_str, actor_kind, account_name FROM xapi_parsed
                  WHERE NOT blank AND actor_str IS NOT NULL) r LEFT JOIN amap m USING (actor_str)""")
        keys.add("SELECT employee_id FROM xact0")
        keys.add("SELECT actor_str FROM xact0")
        con.execute("""CREATE OR REPLACE TEMP TABLE xact AS
            SELECT a.*, pm.pkey AS employee_key, pa.pkey AS actor_key, e.employee_id IS NOT NULL AS known
            FROM xact0 a LEFT JOIN pmap pm ON pm.raw = a.employee_id LEFT JOIN pmap pa ON pa.raw = a.actor_str
            LEFT JOIN (SELECT DISTINCT employee_id FROM employees_ok) e ON e.employee_id = a.employee_id""")
        _tick("keys")
        # duplicates and voiding (only when there are any: the common case skips the windows)
        has_dups, has_void = con.execute(
            "SELECT count(statement_id) - count(DISTINCT statement_id), count(*) FILTER (verb = 'voided') "
            "FROM xapi_p WHERE reason IS NULL").fetchone()
        has_dups, has_void = has_dups > 0, has_void > 0
        dup_join, dup_case, void_join, void_case = "", "", "", ""
        if has_dups:
            con.execute("""CREATE OR REPLACE TEMP TABLE xdup AS SELECT * FROM (
                SELECT file_idx, line, first_value(file_idx) OVER w AS ff, first_value(line) OVER w AS fl,
                       row_number() OVER w AS k
                FROM xapi_p WHERE reason IS NULL AND statement_id IS NOT NULL
                WINDOW w AS (PARTITION BY statement_id ORDER BY file_idx, line)) WHERE k > 1""")
            dup_join = "LEFT JOIN xdup d ON d.file_idx = r.file_idx AND d.line = r.line " \
                       "LEFT JOIN xapi_files df ON df.file_idx = d.ff"
            dup_case = ("WHEN d.k IS NOT NULL THEN 'duplicate statement id ' || r.statement_id || ', first at ' || "
                        "df.source_file || ' line ' || d.fl")
        if has_void:
            con.execute("""CREATE OR REPLACE TEMP TABLE xvoid AS SELECT any_value(v.file_idx) AS vf,
                any_value(v.line) AS vl, v.activity_id AS target FROM xapi_p v
                WHERE v.reason IS NULL AND v.verb = 'voided' GROUP BY v.activity_id""")
            void_join = "LEFT JOIN xvoid vd ON vd.target = r.statement_id AND r.verb <> 'voided' " \
                        "LEFT JOIN xapi_files vfile ON vfile.file_idx = vd.vf"
            void_case = ("WHEN r.verb = 'voided' THEN 'voiding statement (applied: the statement it voids is not used)' "
                         "WHEN vd.target IS NOT NULL THEN 'voided by the statement at ' || vfile.source_file || "
                         "' line ' || vd.vl")
        # the actor string almost always identifies the actor alone (one key to hash, not three)
        unique = con.execute("SELECT count(*) = count(DISTINCT actor_str) FROM xact").fetchone()[0]
        actor_join = "" if unique else ("AND x.actor_kind = r.actor_kind "
                                        "AND x.account_name IS NOT DISTINCT FROM r.account_name")
        _tick('dups/void checked')
        con.execute(f"""CREATE OR REPLACE TEMP TABLE xapi_c AS
            SELECT r.*, x.employee_id, x.employee_key, x.actor_key, CASE
                WHEN r.reason IS NOT NULL THEN r.reason
                {void_case}
                WHEN x.employee_id IS NULL THEN r.actor_kind || ' actor (key ' || x.actor_key || ') is not in actor_map.csv'
                WHEN NOT x.known THEN 'learner (key ' || x.employee_key || ') is not in employees.csv'
                {dup_case}
                {xapi.reaction_check_sql()}
              END AS final_reason
            FROM xapi_p r
            LEFT JOIN xact x ON x.actor_str = r.actor_str {actor_join}
            {dup_join} {void_join}""")
        _tick('xapi_c')
        con.execute("DROP TABLE IF EXISTS xapi_parsed CASCADE")
        xapi_view = """SELECT coalesce(statement_id, 'line-' || file_idx || '-' || line) AS statement_id,
                   employee_key, verb, activity_id, timestamp, score_scaled, success, completion, duration_s,
                   registration, reaction, 'xapi' AS source, file_idx AS source_order, line AS source_line
            FROM xapi_c WHERE final_reason IS NULL"""
        led = con.execute("""SELECT f.source_file, f.n, count(c.line) FILTER (c.final_reason IS NULL),
                count(c.line) FILTER (c.final_reason IS NOT NULL)
            FROM xapi_files f LEFT JOIN xapi_c c USING (file_idx) GROUP BY ALL ORDER BY any_value(f.file_idx)""").fetchall()
        for sf, n, ok, bad in led:
            ledger_rows.append({"table": "learning_events", "source_file": sf, "rows_read": n,
                                "rows_accepted": ok, "rows_rejected": bad})
        if sum(r[3] for r in led):
            rejected["learning_events"] = xapi.to_df(con.execute("""
                SELECT f.source_file, c.line, c.final_reason AS reason, c.statement_id, c.employee_key,
                       c.actor_key, c.verb_id, c.activity_id, c.timestamp_text AS timestamp
                FROM xapi_c c JOIN xapi_files f USING (file_idx)
                WHERE c.final_reason IS NOT NULL ORDER BY c.file_idx, c.line"""))
    if sources["enrollments"]:
        base = ("SELECT {sid}, " + _pk("t.employee_id") + ", {verb}, t.activity_id, {ts}, {score}, {success}, "
                "{completion}, NULL, NULL, {reaction}, 'enrollments', 100000 + t.file_order, 2 * t.line + {order} "
                "FROM chk_enrollments t WHERE t.reason IS NULL{cond}")
        con.execute("INSERT INTO enr_events " + base.format(
            sid="'enr-' || t.line || '-registered'", verb="'registered'", ts="t.t_enrolled_at", order=0,
            score=f"CASE WHEN t.t_completed_at IS NULL THEN t.t_score_scaled END",
            success="CASE WHEN t.t_completed_at IS NULL THEN t.t_success END", completion="NULL",
            reaction="CASE WHEN t.t_completed_at IS NULL THEN t.t_reaction END", cond=""))
        con.execute("INSERT INTO enr_events " + base.format(
            sid="'enr-' || t.line || '-completed'", verb="'completed'", ts="t.t_completed_at", order=1,
            score="t.t_score_scaled", success="t.t_success", completion="true", reaction="t.t_reaction",
            cond=" AND t.t_completed_at IS NOT NULL"))
    con.execute("CREATE OR REPLACE TEMP VIEW learning_events AS "
                + (f"{xapi_view} UNION ALL " if xapi_view else "") + "SELECT * FROM enr_events")


# ---------------------------------------------------------------------------------------------
# reading processed tables back (used by ingest and by load_org's cache)


def read_processed(root) -> dict[str, pd.DataFrame]:
    """The processed tables of ``root`` as DataFrames with the dtypes of the contract."""
    import pyarrow as pa

    proc = paths.processed_dir(root)
    # Arrow's default allocator (mimalloc) spends about 1 s of system time returning pages while
    # it reads a 1M-row table after DuckDB has freed its memory; the system allocator does not
    # (benchmarks/README.md, "Ingestion (xAPI)"). Buffers keep the pool they came from.
    prev_pool = pa.default_memory_pool()
    pa.set_memory_pool(pa.system_memory_pool())
    try:
        return _read_processed(proc)
    finally:
        pa.set_memory_pool(prev_pool)


def _read_processed(proc: Path) -> dict[str, pd.DataFrame]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    tables = {}
    for name, spec in PROCESSED.items():
        p = proc / f"{name}.parquet"
        if not p.exists():
            continue
        df = pq.read_table(p).to_pandas(types_mapper={pa.bool_(): pd.BooleanDtype()}.get)
        for col, dtype, _ in spec:
            if col not in df.columns:
                continue
            if dtype == "boolean":
                df[col] = df[col].astype("boolean")
            elif dtype == "Int64":
                df[col] = df[col].astype("Int64")
            elif dtype == "datetime64":
                df[col] = pd.to_datetime(df[col])
            elif dtype == "datetime64[UTC]":
                df[col] = pd.to_datetime(df[col], utc=True)
            elif dtype == "float64":
                df[col] = df[col].astype("float64")
            elif dtype == "bool":
                df[col] = df[col].astype("bool")
        tables[name] = df
    return tables


def read_ledger(root) -> pd.DataFrame:
    p = paths.processed_dir(root) / "ledger.csv"
    if not p.exists():
        return pd.DataFrame(columns=list(LEDGER_COLUMNS))
    return pd.read_csv(p, dtype={"table": "str", "source_file": "str"})


def format_ledger(ledger: pd.DataFrame) -> str:
    """The ledger as a plain-text table (what ``lndbayes ingest`` prints)."""
    if ledger.empty:
        return "(no rows)"
    df = ledger.copy()
    for c in ("rows_read", "rows_accepted", "rows_rejected"):
        df[c] = df[c].map(lambda v: f"{int(v):,}")
    cols = list(LEDGER_COLUMNS)
    widths = {c: max(len(c), *(len(str(v)) for v in df[c])) for c in cols}
    num = {"rows_read", "rows_accepted", "rows_rejected"}

    def fmt(vals):
        return "  ".join(str(v).rjust(widths[c]) if c in num else str(v).ljust(widths[c]) for c, v in zip(cols, vals))

    lines = [fmt(cols), "  ".join("-" * widths[c] for c in cols)]
    lines += [fmt(r) for r in df[cols].itertuples(index=False)]
    tot = ledger[["rows_read", "rows_accepted", "rows_rejected"]].sum()
    lines.append(f"total: {int(tot.rows_read):,} rows read, {int(tot.rows_accepted):,} accepted, "
                 f"{int(tot.rows_rejected):,} rejected")
    return "\n".join(lines)


def stamp_payload(key: str) -> dict:
    return {"contract_version": CONTRACT_VERSION, "key_fingerprint": key_fingerprint(key)}


# ---------------------------------------------------------------------------------------------
# CLI


def register_cli(subparsers) -> None:
    p = subparsers.add_parser("ingest", help="validate and pseudonymise raw data; print the ledger",
                              description="Read <root>/raw, validate it against the data contract, write "
                                          "<root>/processed and <root>/interim/rejected, print the ledger.")
    p.add_argument("--data", type=Path, default=None,
                   help="data root holding raw/ (default: data/ if data/raw/programs.yaml exists, "
                        "else the example organisation data/synthetic, simulated when missing)")
    p.add_argument("--seed", type=int, default=None, help="seed for simulating the example organisation")
    p.set_defaults(func=_cli_ingest)


def _cli_ingest(args) -> int:
    from lndbayes.data.org import load_org

    org = load_org(args.data, refresh=True, seed=args.seed, progress=False)
    print(f"data root: {org.root}")
    print(format_ledger(org.ledger))
    rej = paths.rejected_dir(org.root)
    if len(org.ledger) and org.ledger["rows_rejected"].sum():
        print(f"rejected rows (with reasons): {rej}/")
    for w in org.meta.get("warnings", []):
        print(f"note: {w}")
    return 0

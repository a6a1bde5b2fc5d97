"""Ingestion: raw files -> validated, pseudonymised processed tables, a ledger and rejected rows.

``ingest(raw_dir, root)`` reads every raw file of the data contract (lndbayes.data.contract,
docs/data-contract.md) with DuckDB, checks every row, and writes

- ``<root>/processed/<table>.parquet`` (accepted rows; ids replaced by keyed pseudonyms),
- ``<root>/processed/ledger.csv`` (per table and source file: rows_read = accepted + rejected),
- ``<root>/interim/rejected/<table>.csv`` (``source_file, line, reason`` + the row's columns,
  identifiers pseudonymised), one per table that had rejected rows.

Fatal problems (a missing required file or column, an empty file) raise ContractError; row
problems never stop ingestion: the row goes to the rejected file with its reason.
Every file is written atomically (lndbayes.atomic).

This module runs the stages in order; each stage has its own module: raw_tables (read the
files), validate (row checks, pseudonyms), learning_events (xAPI and enrollments), processed
(read the results back, the ledger as text, the stamp).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from lndbayes import atomic, paths
from lndbayes.data import profile, xapi
from lndbayes.data.contract import LEDGER_COLUMNS, PROCESSED, RAW_FILES
from lndbayes.data.learning_events import ENROLLMENTS_SQL, build_learning_events
from lndbayes.data.processed import format_ledger, read_processed
from lndbayes.data.pseudonym import get_key
from lndbayes.data.raw_tables import load_sources, source_files
from lndbayes.data.sql import connect, q, to_df
from lndbayes.data.validate import OUTPUT, Keys, add_source_ids, rejected_select, validate_tables
from lndbayes.errors import ContractError

__all__ = ["IngestResult", "ingest"]


@dataclass
class IngestResult:
    """What ingest() produced: the processed tables, the ledger and where files went."""

    tables: dict[str, pd.DataFrame]
    ledger: pd.DataFrame
    paths: dict[str, Path]
    rejected: dict[str, pd.DataFrame] = field(default_factory=dict)  # table -> rejected rows
    warnings: list[str] = field(default_factory=list)


def _check_inputs(raw_dir: Path) -> list[Path]:
    """The fatal problems of the raw folder as a whole; returns its xAPI files."""
    if not raw_dir.is_dir():
        raise ContractError("the raw data folder does not exist", file=raw_dir,
                            fix="create it and put employees.csv and your LMS export in it (docs/data-contract.md)")
    if not source_files(raw_dir, RAW_FILES["employees"]):
        raise ContractError("required file employees.csv is missing", file=raw_dir / "employees.csv",
                            fix="export one row per person from your HRIS (columns in docs/data-contract.md)")
    xapi_files = xapi.list_files(raw_dir / "xapi")
    if not xapi_files and not source_files(raw_dir, RAW_FILES["enrollments"]):
        raise ContractError("no LMS data: neither xapi/*.jsonl|*.json nor enrollments.csv is present",
                            file=raw_dir, fix="add your LRS export as raw/xapi/*.jsonl, or a flat enrollments.csv")
    return xapi_files


def _copy(con, select_sql: str, path: Path, fmt: str) -> None:
    """Write the result of ``select_sql`` to ``path`` (Parquet or CSV) atomically."""
    # zstd level 1: cheaper to write than DuckDB's default snappy, about 40 % smaller, and several
    # times cheaper for pyarrow to read back (benchmarks/README.md, "Ingestion (xAPI)")
    opts = "FORMAT parquet, COMPRESSION zstd, COMPRESSION_LEVEL 1" if fmt == "parquet" else "FORMAT csv, HEADER true"
    with atomic.atomic_path(path) as tmp:
        con.execute(f"COPY ({select_sql}) TO {q(tmp)} ({opts})")


def _write_csv(df: pd.DataFrame, path: Path) -> None:
    with atomic.atomic_path(path) as tmp:
        df.to_csv(tmp, index=False)


def ingest(raw_dir, root, *, pseudonym_key=None, progress: bool = True) -> IngestResult:
    """Validate and pseudonymise the raw files in ``raw_dir``; write the processed tables of
    ``root`` (see the module docstring). Raises ContractError for fatal contract problems."""
    raw_dir, root = Path(raw_dir), Path(root)
    xapi_files = _check_inputs(raw_dir)
    profile.start()
    key = get_key(root, pseudonym_key)
    con = connect()
    warnings: list[str] = []
    keys = Keys(con, key)
    ledger_rows: list[dict] = []
    rejected: dict[str, pd.DataFrame] = {}
    out_paths: dict[str, Path] = {}
    proc_dir, rej_dir = paths.processed_dir(root), paths.rejected_dir(root)
    staged: list[tuple[Path, str, str]] = []  # (final path, select sql, fmt) written at the end

    sources = {stem: load_sources(con, raw_dir, spec, warnings, progress) for stem, spec in RAW_FILES.items()}
    add_source_ids(keys, sources)
    validate_tables(con, sources)

    def account(stem: str, table: str) -> None:
        spec = RAW_FILES[stem]
        led = con.execute(f"""SELECT source_file, count(*), count(*) FILTER (reason IS NULL),
            count(*) FILTER (reason IS NOT NULL) FROM chk_{stem} GROUP BY source_file, file_order
            ORDER BY file_order""").fetchall()
        for sf, n, ok, bad in led:
            ledger_rows.append({"table": table, "source_file": sf, "rows_read": n, "rows_accepted": ok,
                                "rows_rejected": bad})
        if sum(r[3] for r in led):
            rejected[table] = to_df(con.execute(f"SELECT {rejected_select(spec)} FROM chk_{stem} t "
                                                f"WHERE reason IS NOT NULL ORDER BY file_order, line"))

    for stem, (table, select) in OUTPUT.items():
        if stem == "employees" or sources[stem]:
            account(stem, table)
            staged.append((proc_dir / f"{table}.parquet",
                           f"SELECT {select} FROM chk_{stem} t WHERE t.reason IS NULL ORDER BY t.file_order, t.line",
                           "parquet"))
    if sources["actor_map"]:
        account("actor_map", "actor_map")
    profile.tick("tables validated")
    # ---------------- learning events: xAPI statements + enrollments.csv rows
    build_learning_events(con, raw_dir, xapi_files, sources, keys, ledger_rows, rejected, progress)
    if sources["enrollments"]:
        account("enrollments", "enrollments")
    staged.append((proc_dir / "learning_events.parquet",
                   "SELECT * FROM learning_events ORDER BY source_order, source_line", "parquet"))
    staged.append((proc_dir / "enrollments.parquet", ENROLLMENTS_SQL, "parquet"))

    # ---------------- write: processed tables, rejected rows, ledger (all atomic)
    for path, sql, fmt in staged:
        if "learning_events" in path.name:
            sql = sql.replace("SELECT *", "SELECT " + ", ".join(c for c, _, _ in PROCESSED["learning_events"]))
        _copy(con, sql, path, fmt)
        out_paths[path.stem] = path
        profile.tick(f"wrote {path.name}")
    rej_dir.mkdir(parents=True, exist_ok=True)
    for old in rej_dir.glob("*.csv"):
        if old.stem not in rejected:
            old.unlink()
    for table, df in rejected.items():
        p = rej_dir / f"{table}.csv"
        _write_csv(df, p)
        out_paths[f"rejected/{table}"] = p
    for table in PROCESSED:  # remove processed tables of files no longer present
        p = proc_dir / f"{table}.parquet"
        if table not in out_paths and p.exists():
            p.unlink()
    ledger = pd.DataFrame(ledger_rows, columns=list(LEDGER_COLUMNS))
    for c in ("rows_read", "rows_accepted", "rows_rejected"):
        ledger[c] = ledger[c].astype("int64")
    assert (ledger.rows_read == ledger.rows_accepted + ledger.rows_rejected).all()
    _write_csv(ledger, proc_dir / "ledger.csv")
    out_paths["ledger"] = proc_dir / "ledger.csv"
    profile.tick("wrote rejected rows and ledger")
    con.close()
    profile.tick("closed DuckDB")
    tables = read_processed(root)
    profile.tick("read processed tables back")
    if progress:
        print(format_ledger(ledger), file=sys.stderr, flush=True)
        for w in warnings:
            print(f"ingest: note: {w}", file=sys.stderr)
    return IngestResult(tables=tables, ledger=ledger, paths=out_paths, rejected=rejected, warnings=warnings)

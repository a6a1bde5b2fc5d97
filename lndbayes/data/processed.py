"""Reading the processed tables and the ledger back, printing the ledger, and the stamp payload
that decides when ingestion must rerun."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from lndbayes import paths
from lndbayes.data.contract import CONTRACT_VERSION, LEDGER_COLUMNS, PROCESSED
from lndbayes.data.pseudonym import key_fingerprint


def read_processed(root) -> dict[str, pd.DataFrame]:
    """The processed tables of ``root`` as DataFrames with the dtypes of the contract."""
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

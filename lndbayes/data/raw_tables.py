"""Reading the tabular raw files (CSV or Parquet) into DuckDB as trimmed text, with each row's
source file and line, and checking their headers against the data contract."""

from __future__ import annotations

import csv
import difflib
import io
import re
import sys
from pathlib import Path

import pandas as pd

from lndbayes.data.contract import RawFile
from lndbayes.data.sql import q, to_df
from lndbayes.errors import ContractError


def _norm_header(name: str) -> str:
    return re.sub(r"[\s\-]+", "_", str(name).strip().lstrip("\ufeff").strip().lower())


def source_files(raw_dir: Path, spec: RawFile) -> list[Path]:
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
                f"SELECT * FROM read_csv({q(path)}, all_varchar=true, header=true, delim={q(delim)}, "
                f"quote='', escape='', store_rejects=true)")
            df = to_df(rel)
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
        df = to_df(con.execute(f"SELECT * FROM read_parquet({q(path)})"))
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


def load_sources(con, raw_dir: Path, spec: RawFile, warnings: list[str], progress: bool) -> list[str] | None:
    """Create DuckDB table ``src_<stem>`` (source_file, file_order, line, contract columns as
    trimmed text, _bad reason for unparseable rows). Returns the source files, None if none."""
    files = source_files(raw_dir, spec)
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

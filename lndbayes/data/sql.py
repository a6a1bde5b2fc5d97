"""DuckDB building blocks shared by the ingestion modules: the connection, literals, pseudonym
lookups, results as DataFrames."""

from __future__ import annotations

import os
import warnings

import duckdb


def connect():
    """A DuckDB connection set up for ingestion (UTC, rows kept in insertion order)."""
    con = duckdb.connect()
    threads = os.environ.get("LNDBAYES_DUCKDB_THREADS") or str(max(1, os.cpu_count() or 1))
    con.execute(f"SET threads = {int(threads)}")
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET enable_progress_bar = false")
    con.execute("SET preserve_insertion_order = true")
    return con


def q(text: str) -> str:
    """SQL string literal."""
    return "'" + str(text).replace("'", "''") + "'"


def pk(col: str) -> str:
    """SQL: the pseudonym of raw id column ``col`` (via the ``pmap`` table of validate.Keys)."""
    return f"(SELECT pkey FROM pmap WHERE raw = {col})"


def to_df(rel):
    """DuckDB result -> pandas, without the deprecation noise DuckDB's converter raises under pandas 3."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return rel.df()

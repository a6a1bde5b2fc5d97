"""Months as numbers and dates without time zones: the calendar arithmetic of panels."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc


def month_index(period) -> int:
    """'2025-03' (or a Timestamp) -> 2025*12 + 2."""
    if isinstance(period, str):
        y, m = period[:7].split("-")
        return int(y) * 12 + int(m) - 1
    ts = pd.Timestamp(period)
    return ts.year * 12 + ts.month - 1


def period_str(month_index: int) -> str:
    return f"{month_index // 12:04d}-{month_index % 12 + 1:02d}"


def to_naive(s: pd.Series) -> pd.Series:
    s = pd.to_datetime(s, errors="coerce")
    if getattr(s.dt, "tz", None) is not None:
        s = s.dt.tz_convert("UTC").dt.tz_localize(None)
    return s


def lookup(keys: pd.Series, mapping: pd.Series, dates: bool = False) -> pd.Series:
    """keys.map(mapping) as float (or datetime) whatever the mapping's size and dtype."""
    d = {k: (None if pd.isna(v) else v) for k, v in mapping.items()}
    out = keys.map(lambda k: d.get(k))
    return pd.to_datetime(out) if dates else pd.to_numeric(out, errors="coerce").astype(float)


def months_of(periods: pd.Series) -> pd.Series:
    """``periods.map(month_index)``, computed once per distinct period: a panel has a row per
    unit and month but only a few dozen months."""
    codes, uniques = pd.factorize(periods)
    if (codes < 0).any():          # a missing period: month_index's own error
        return periods.map(month_index)
    months = np.array([month_index(p) for p in uniques], dtype=np.int64)
    return pd.Series(months[codes], index=periods.index, name=periods.name)


def period_labels(months: pd.Series) -> pd.Series:
    """'YYYY-MM' of each month index (float, NaN for none), None where missing, as object;
    computed once per distinct month (cohorts: a few per panel, repeated on every row)."""
    codes, uniques = pd.factorize(months)
    labels = np.array([period_str(int(m)) for m in uniques] + [None], dtype=object)
    return pd.Series(labels[codes], index=months.index, name=months.name, dtype=object)


def isin_keys(values: pd.Series, keys: pd.Series) -> pd.Series:
    """``values.isin(set(keys))``. For text keys stored by Arrow (pandas' default strings), one
    pyarrow ``is_in`` on the distinct keys: pandas' ``isin`` turns every key into a pyarrow
    scalar in Python, and ``set()`` reads every one out (~0.2 s of a program's monitoring at
    20,000 employees). Missing keys match missing values, as pandas does."""
    if not (_arrow_text(values) and _arrow_text(keys)):
        return values.isin(set(keys))
    col = pa.chunked_array(pa.array(values.array))
    wanted = pc.unique(pa.chunked_array(pa.array(keys.array))).cast(col.type)
    hit = pc.is_in(col, value_set=wanted, skip_nulls=False).to_numpy(zero_copy_only=False)
    return pd.Series(np.asarray(hit, dtype=bool), index=values.index, name=values.name)


def _arrow_text(s: pd.Series) -> bool:
    return isinstance(s.dtype, pd.StringDtype) and s.dtype.storage == "pyarrow"

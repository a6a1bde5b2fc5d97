"""Months as numbers and dates without time zones: the calendar arithmetic of panels."""

from __future__ import annotations

import pandas as pd


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

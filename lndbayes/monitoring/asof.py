"""What is known at a checkpoint: the organisation's tables cut at a date.

``as_of(org, cut)`` returns a copy of the organisation holding only what had happened before
``cut`` (a date; a checkpoint "after month k" cuts at the first day of the next month):

* **employees**: people hired before ``cut``; a termination on or after ``cut`` is not known
  yet (``termination_date`` and ``termination_reason`` become missing: the person is still
  employed as far as anyone can tell);
* **hris_events**, **learning_events**, **skill_assessments**: rows dated before ``cut``;
* **enrollments**: enrolments before ``cut``; a completion (with its score, success and
  reaction) on or after ``cut`` is not known yet;
* **kpis**: periods before ``cut``'s month (a KPI of month ``m`` is known once ``m`` is over);
  a time-to-event KPI is read at its latest period before the cut;
* **skill_requirements**: those in force before ``cut``;
* **assignments** are kept whole: the randomisation list (and a staggered rollout's planned
  start dates) is the design, made before the program starts. Whether a planned team has
  *started* is read from the data (its post-start KPI months), never from the plan alone.

What this cannot undo: attributes the HRIS holds only as of today (an employee's ``team``,
``role``, ``manager_key``, ``level``) are taken as they are now; a transfer after ``cut``
therefore shows the person in the new team. The example organisation has no transfers that
cross arms.

Building a panel from ``as_of(org, cut)`` with :func:`lndbayes.design.panel.build_panel` gives
exactly the panel an analyst could have built on that day (tests/test_monitoring.py perturbs
everything after the cut and checks the panel does not change).
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Mapping

import numpy as np
import pandas as pd

from lndbayes.data.org import TablesIndex
from lndbayes.design.calendar import month_index, period_str

__all__ = ["CutTables", "KnownDigest", "as_of", "cut_date", "cut_table"]


def cut_date(start, months: int) -> pd.Timestamp:
    """The first day of the month ``months`` after ``start``'s month: a checkpoint after
    ``months`` whole months of the program (``start`` 2024-07-01, months 3 -> 2024-10-01)."""
    m = month_index(pd.Timestamp(start)) + int(months)
    return pd.Timestamp(period_str(m) + "-01")


def _naive(s: pd.Series) -> pd.Series:
    s = pd.to_datetime(s, errors="coerce")
    if getattr(s.dt, "tz", None) is not None:
        s = s.dt.tz_convert("UTC").dt.tz_localize(None)
    return s


def _before(df: pd.DataFrame, col: str, cut: pd.Timestamp) -> pd.DataFrame:
    if df is None or df.empty or col not in df:
        return df
    return df[(_naive(df[col]) < cut).fillna(False).to_numpy()].copy()


def as_of(org, cut, kpi_index=None):
    """A copy of ``org`` with only what was known before ``cut`` (see the module docstring).

    Each table is cut when it is first read (:class:`CutTables`): a panel reads three of the
    eight tables, and cutting all of them at every checkpoint was ~1 s of a core per program's
    monitoring at 20,000 employees (copying the kept rows of the learning events).
    ``kpi_index``: a :class:`lndbayes.data.org.TablesIndex` of ``org``'s tables: then a KPI's rows are
    picked from the whole table and cut (:meth:`CutTables.kpi_rows`), not the whole table cut
    and the KPI picked from it (the same rows; ~0.16 s a checkpoint at 20,000 employees)."""
    cut = pd.Timestamp(cut)
    if cut.tzinfo is not None:
        cut = cut.tz_convert("UTC").tz_localize(None)
    return dataclasses.replace(org, tables=CutTables(org.tables, cut, kpi_index),
                               meta={**org.meta, "as_of": cut.date().isoformat()})


class CutTables(Mapping):
    """``tables`` as known before ``cut`` (:func:`cut_table`), each computed on first read and kept."""

    def __init__(self, tables, cut: pd.Timestamp, kpi_index=None):
        self._source, self._cut, self._done, self._kpi_index = tables, cut, {}, kpi_index
        #: values derived from these tables, shared by the checkpoint's panels
        #: (:func:`lndbayes.data.org.cut_memo`)
        self.memo = {}

    def kpi_rows(self, name: str) -> pd.DataFrame:
        """``kpis[kpis["kpi"] == name]`` of the cut table: with an index of the uncut table, the
        KPI's rows are cut (a row is kept or not by its own period: the same rows, order and
        index labels); without, picked from the cut table."""
        if self._kpi_index is None or "kpis" in self._done:
            return TablesIndex.filter(self["kpis"], name)
        return cut_table("kpis", self._kpi_index.rows(name), self._cut)

    def prepared_kpi_rows(self, name: str, key, prepare):
        """``prepare`` of KPI ``name``'s rows as known before the cut, or None where this
        cannot answer (no KPI index). ``prepare`` must work row by row, keep the index and
        normalise ``period`` to its 'YYYY-MM' (``astype(str).str[:7]``): it then runs once on
        the whole KPI's rows (:meth:`lndbayes.data.org.TablesIndex.prepared`) and each cut keeps
        the prepared rows whose period is over before it, the rule of :func:`cut_table`, so
        the result equals ``prepare(self.kpi_rows(name))``. Why: the panels of every
        checkpoint repeated the same conversions on each cut of the same rows (~10 ms a
        panel at 20,000 employees)."""
        if self._kpi_index is None or "kpis" in self._done:
            return None
        rows = self._kpi_index.prepared(name, key, prepare)
        if rows is None or rows.empty:
            return rows
        last = period_str(month_index(self._cut) - 1)
        return rows[(rows["period"] <= last).to_numpy()]

    def whole_memo(self, key, compute):
        """``compute()``, a value read only from tables :func:`cut_table` keeps whole (the
        assignments) and from the programs' configuration (its inputs in ``key``): the same at
        every cut, so computed once for all of them (with a KPI index; else every time)."""
        if self._kpi_index is None:
            return compute()
        return self._kpi_index.once(("whole",) + tuple(key), compute)

    def known_kpi_names(self) -> list[str] | None:
        """The KPI names (as text, sorted) with a row known before the cut, as
        ``sorted(self["kpis"]["kpi"].astype(str).unique())`` but without cutting the whole
        table (an error message lists them: ~45 ms a checkpoint at 380,000 rows); None where
        this cannot answer."""
        if self._kpi_index is None or "kpis" in self._done:
            return None
        first = self._kpi_index.first_periods()
        if first is None:
            return None
        last = period_str(month_index(self._cut) - 1)
        return sorted(name for name, p in first.items() if p <= last)

    def prepared_employees(self, prepare):
        """``prepare`` of the employees known before the cut, or None where this cannot answer.
        ``prepare`` (a table -> a table) must work row by row, give ``hire_date`` and
        ``termination_date`` as naive UTC datetimes (:func:`_naive`) and a default index: it then
        runs once on the whole table, and each cut is :func:`cut_table`'s of the prepared table
        (the same rows kept, the same termination dates and reasons blanked), numbered again.
        Why: the population of every checkpoint converted the same dates and keys of the same
        people (~20 ms a checkpoint at 20,000 employees)."""
        src = self._source.get("employees")
        if (self._kpi_index is None or "employees" in self._done or src is None or src.empty
                or "hire_date" not in src or "termination_date" not in src):
            return None
        emp = self._kpi_index.once(("employees", prepare.__module__, prepare.__qualname__),
                                   lambda: prepare(src))
        return cut_table("employees", emp, self._cut).reset_index(drop=True)

    def __getitem__(self, name):
        if name not in self._done:
            self._done[name] = cut_table(name, self._source[name], self._cut)
        return self._done[name]

    def __contains__(self, name) -> bool:
        return name in self._source

    def __iter__(self):
        return iter(self._source)

    def __len__(self) -> int:
        return len(self._source)


def cut_table(name: str, df, cut: pd.Timestamp):
    """Table ``name`` as known before ``cut`` (naive UTC): see the module docstring."""
    if df is None:
        return df
    if name == "employees":
        if df.empty:
            return df
        emp = _before(df, "hire_date", cut)
        emp = emp.copy() if emp is df else emp          # blanked below: never the source's rows
        later = (_naive(emp["termination_date"]) >= cut).fillna(False).to_numpy()
        emp.loc[later, "termination_date"] = pd.NaT
        if "termination_reason" in emp:
            emp.loc[later, "termination_reason"] = pd.NA
        return emp
    if name in dict(_DATED) or name == "enrollments":
        df = _before(df, dict(_DATED, enrollments="enrolled_at")[name], cut)
    if name == "enrollments" and df is not None and not df.empty and "completed_at" in df:
        df = df.copy() if "enrolled_at" not in df else df    # uncut (no enrolled_at): blank a copy
        later = (_naive(df["completed_at"]) >= cut).fillna(False).to_numpy()
        df.loc[later, "completed_at"] = pd.NaT
        for col in ("score_scaled", "success", "reaction"):
            if col in df:
                df[col] = df[col].mask(later)
    if name == "kpis" and not df.empty:
        # month m is known once it is over: the last whole month before the cut
        last = period_str(month_index(cut) - 1)
        df = df[(df["period"].astype(str).str[:7] <= last).to_numpy()].copy()
    return df


#: the two keys of the row hashes (two independent 64-bit hashes per row: a 128-bit fingerprint)
_HASH_KEYS = ("lndbayes-asof-k1", "lndbayes-asof-k2")
#: tables cut by one date column, as :func:`as_of` does
_DATED = (("hris_events", "event_date"), ("learning_events", "timestamp"),
          ("skill_assessments", "assessed_at"), ("skill_requirements", "effective_date"))
_LATE_EMPLOYEE = ("termination_date", "termination_reason")
_LATE_ENROLMENT = ("completed_at", "score_scaled", "success", "reaction")
_NEVER = np.iinfo(np.int64).max


def _row_hashes(df: pd.DataFrame, cols) -> np.ndarray:
    """(rows, 2) uint64: two independent hashes of each row's ``cols`` (values, not position)."""
    sub = df[list(cols)]
    return np.column_stack([pd.util.hash_pandas_object(sub, index=False, hash_key=k).to_numpy(np.uint64)
                            for k in _HASH_KEYS])


def _times(s: pd.Series) -> np.ndarray:
    """Nanoseconds since the epoch (naive UTC, as :func:`as_of` compares); missing: never."""
    t = _naive(s)
    out = t.to_numpy("datetime64[ns]").view(np.int64).copy()
    out[t.isna().to_numpy()] = _NEVER
    return out


class KnownDigest:
    """A digest of what :func:`as_of` ``(org, cut)`` keeps, for any ``cut``, from one pass over
    the tables: equal digests mean equal tables as of the cut (up to row order, which the panels
    built from them do not depend on: tests/test_monitoring_cache.py).

    Why: interim monitoring builds the panels of every checkpoint of a program, and a month of
    new data changes only the checkpoints after it; the earlier ones can be read back if one
    can tell, cheaply, that what was known at them has not changed. Hashing the cut tables at
    each checkpoint costs about as much as building its panel (~85 against ~65 ms); here every
    row is hashed once (~0.1 s for the example's tables) and a cut is a binary search in the
    rows sorted by the date that decides whether :func:`as_of` keeps them, plus a prefix sum.

    Rows kept whole by a date (``hire_date``, ``enrolled_at``, ``event_date``, KPI months ...)
    count from that date; a termination or completion, which :func:`as_of` blanks until it
    happened, counts (with its whole row, so it stays tied to its person or enrolment) from the
    later of the two dates. Tables :func:`as_of` does not cut count whole, with every table's
    columns and dtypes.
    """

    def __init__(self, org):
        self._parts: list[tuple[str, np.ndarray, np.ndarray]] = []
        whole = hashlib.sha256()
        for name in sorted(org.tables):
            df = org.tables[name]
            if df is None:
                continue
            whole.update(f"{name}|{list(map(str, df.columns))}|{list(map(str, df.dtypes))}".encode())
            if df.empty:
                continue
            cols = list(df.columns)
            if name == "employees" and "hire_date" in df:
                self._add_blanked(name, df, "hire_date", "termination_date", _LATE_EMPLOYEE)
            elif name == "enrollments" and "enrolled_at" in df:
                self._add_blanked(name, df, "enrolled_at", "completed_at", _LATE_ENROLMENT)
            elif name == "kpis" and "period" in df:
                # a KPI month m is kept when m is over before the cut: keyed by its month index
                period = df["period"].astype(str).str[:7]
                months = {p: _month_number(p) for p in period.unique()}
                month = period.map(months).to_numpy(np.int64)
                self._add(name, month, _row_hashes(df, cols))
            elif name in dict(_DATED) and dict(_DATED)[name] in df:
                self._add(name, _times(df[dict(_DATED)[name]]), _row_hashes(df, cols))
            else:
                h = _row_hashes(df, cols)
                whole.update(f"{len(df)}|".encode() + h.sum(axis=0, dtype=np.uint64).tobytes())
        self._whole = whole.hexdigest()

    def _add_blanked(self, name: str, df: pd.DataFrame, since: str, happened: str, late) -> None:
        """A table whose rows are kept from ``since`` and whose ``late`` columns :func:`as_of`
        blanks until ``happened``: each row counts blanked from ``since``, and the difference
        to its whole row from the later of the two dates. So a row counts as what
        :func:`as_of` shows of it: the digest of a termination still to come equals that of no
        termination at all (a month of data that records new leavers leaves earlier cuts'
        digests as they were)."""
        late = [c for c in late if c in df]
        kept = _times(df[since])
        blank = np.zeros(len(df), dtype=bool)
        blanked = df.assign(**{c: df[c].where(blank) for c in late})
        h_blank, h_whole = _row_hashes(blanked, df.columns), _row_hashes(df, df.columns)
        self._add(name, kept, h_blank)
        if happened in df:
            done = _times(df[happened])
            when = np.where(done == _NEVER, kept, np.maximum(kept, done))
        else:
            when = kept
        diff = h_whole - h_blank                                  # uint64: wraps mod 2**64
        differs = (diff != 0).any(axis=1)                          # nothing blanked: adds nothing
        self._add(name + ":late", when[differs], diff[differs])

    def _add(self, name: str, when: np.ndarray, hashes: np.ndarray) -> None:
        order = np.argsort(when, kind="stable")
        sums = np.zeros((len(when) + 1, 2), dtype=np.uint64)
        np.cumsum(hashes[order], axis=0, dtype=np.uint64, out=sums[1:])   # wraps mod 2**64
        self._parts.append((name, when[order], sums))

    def digest(self, cut) -> str:
        """Hex digest of ``as_of(org, cut)``'s tables."""
        cut = pd.Timestamp(cut)
        if cut.tzinfo is not None:
            cut = cut.tz_convert("UTC").tz_localize(None)
        ns, month = cut.as_unit("ns").value, month_index(cut)
        h = hashlib.sha256(self._whole.encode())
        for name, when, sums in self._parts:
            bound = month if name == "kpis" else ns
            n = int(np.searchsorted(when, bound, side="left"))      # rows strictly before the cut
            h.update(f"{name}|{n}|".encode())
            h.update(sums[n].tobytes())
        return h.hexdigest()


def _month_number(period: str) -> int:
    """The month index of 'YYYY-MM'; one that does not parse counts in every cut (so that a
    change to it changes every digest: never a stale read)."""
    try:
        return month_index(period)
    except (ValueError, TypeError):
        return -int(_NEVER)

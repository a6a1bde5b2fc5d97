"""The table a mediation model reads: checked, counted, standardised.

Every problem names the column (and, for a CSV, the file line: the header is line 1, so the
first data row is line 2) and the fix. Rows with missing values are never dropped silently:
by default they are an error that counts them per column; with ``drop_missing=True`` they are
left out and counted in the result (``meta["dropped"]``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from lndbayes.errors import ModelInputError

#: fewest rows a mediation fit accepts (and per arm)
MIN_ROWS = 10
MIN_PER_ARM = 3


@dataclass
class MediationData:
    """Arrays for the graph (standardised) and what is needed to read results on the data scale."""

    T: np.ndarray                  # (n,) 0/1
    M: np.ndarray                  # (n, K) standardised mediators
    Y: np.ndarray                  # (n,) standardised outcome (0/1 for a binary outcome)
    X: np.ndarray                  # (n, P) standardised covariates
    g: np.ndarray                  # (n,) group index (zeros without a group)
    groups: list                   # group labels, in index order
    m_loc: np.ndarray
    m_scale: np.ndarray
    y_loc: float
    y_scale: float
    x_loc: np.ndarray
    x_scale: np.ndarray
    n_read: int
    dropped: dict = field(default_factory=dict)   # column -> rows with a missing value there

    @property
    def n(self) -> int:
        return int(len(self.T))

    @property
    def K(self) -> int:
        return int(self.M.shape[1])

    @property
    def P(self) -> int:
        return int(self.X.shape[1])

    @property
    def J(self) -> int:
        return len(self.groups)


def _where(source: str | None, column: str | None = None) -> str:
    parts = [p for p in (source, f"column '{column}'" if column else None) if p]
    return (", ".join(parts) + ": ") if parts else ""


def _lines(index_positions, source) -> str:
    """'line 5, 9, 12' (CSV file lines) or 'row 3, 7' (0-based DataFrame positions)."""
    pos = list(index_positions)[:5]
    if source:
        return "line " + ", ".join(str(p + 2) for p in pos)
    return "row position " + ", ".join(str(p) for p in pos)


def _numeric(df: pd.DataFrame, col: str, role: str, source) -> pd.Series:
    s = df[col]
    if pd.api.types.is_bool_dtype(s):
        return s.astype(float)
    if pd.api.types.is_numeric_dtype(s):
        return pd.to_numeric(s, errors="coerce").astype(float)
    num = pd.to_numeric(s, errors="coerce")
    text = s.astype("string").str.strip()
    bad = num.isna() & s.notna() & text.notna() & (text != "")
    if bad.any():
        pos = np.flatnonzero(bad.to_numpy())
        raise ModelInputError(
            f"{_where(source, col)}the {role} must be numeric, but {int(bad.sum())} value(s) are "
            f"not numbers (first: '{s.iloc[pos[0]]}' at {_lines(pos, source)}). Fix: correct or "
            "remove those values (an empty cell counts as missing)")
    return num.astype(float)


def prepare(df: pd.DataFrame, *, treatment: str, mediators: list[str], outcome: str,
            covariates: list[str], group: str | None, family: str, drop_missing: bool,
            source: str | None = None) -> MediationData:
    """Check the table and turn it into :class:`MediationData` (see the module docstring)."""
    if not isinstance(df, pd.DataFrame):
        raise ModelInputError(f"fit_mediation needs a pandas DataFrame, got {type(df).__name__}")
    roles = [(treatment, "treatment")] + [(m, "mediator") for m in mediators] + \
        [(outcome, "outcome")] + [(c, "covariate") for c in covariates]
    named = [c for c, _ in roles] + ([group] if group else [])
    missing = [c for c in named if c not in df.columns]
    if missing:
        have = ", ".join(map(str, df.columns))
        raise ModelInputError(
            f"{_where(source)}column(s) {', '.join(repr(c) for c in missing)} not in the table. "
            f"Fix: use the table's column names: {have}")
    dup = sorted({c for c in named if named.count(c) > 1})
    if dup:
        raise ModelInputError(f"{_where(source)}column(s) {', '.join(map(repr, dup))} named in two "
                              "roles (treatment, mediator, outcome, covariate, group). Fix: give "
                              "each role its own column")

    cols = {c: _numeric(df, c, role, source) for c, role in roles}
    miss = {c: s.isna().to_numpy() for c, s in cols.items()}
    if group:
        gs = df[group]
        miss[group] = (gs.isna() | (gs.astype("string").str.strip() == "")).fillna(True).to_numpy()
    any_miss = np.zeros(len(df), dtype=bool)
    for m in miss.values():
        any_miss |= m
    dropped = {c: int(m.sum()) for c, m in miss.items() if m.any()}
    if any_miss.any() and not drop_missing:
        counts = ", ".join(f"{c}: {k}" for c, k in dropped.items())
        raise ModelInputError(
            f"{_where(source)}{int(any_miss.sum())} of {len(df)} rows have missing values "
            f"({counts}; first at {_lines(np.flatnonzero(any_miss), source)}). Fix: fill or remove "
            "those rows, or leave them out on purpose with drop_missing=True (CLI: --drop-missing); "
            "the result then counts them")
    keep = ~any_miss
    n = int(keep.sum())
    if n < MIN_ROWS:
        raise ModelInputError(f"{_where(source)}only {n} complete rows (of {len(df)}); a mediation "
                              f"model needs at least {MIN_ROWS}. Fix: use a larger table")

    t = cols[treatment].to_numpy()[keep]
    vals = np.unique(t)
    if not set(vals.tolist()) <= {0.0, 1.0}:
        shown = ", ".join(f"{v:g}" for v in vals[:6]) + (", ..." if len(vals) > 6 else "")
        raise ModelInputError(
            f"{_where(source, treatment)}the treatment must be binary (0 = control, 1 = in the "
            f"program), but it takes the values {shown}. Fix: code the program arm 1 and the "
            "control arm 0")
    for arm, name in ((1.0, "program (1)"), (0.0, "control (0)")):
        if int((t == arm).sum()) < MIN_PER_ARM:
            raise ModelInputError(
                f"{_where(source, treatment)}only {int((t == arm).sum())} complete rows in the "
                f"{name} arm; both arms need at least {MIN_PER_ARM}. Fix: check the treatment coding")

    def standardise(c: str, role: str):
        v = cols[c].to_numpy()[keep]
        sd = float(np.std(v))
        if not sd > 0:
            raise ModelInputError(
                f"{_where(source, c)}the {role} is constant ({v[0]:g} in every complete row), so "
                "nothing can run through it or be explained by it. Fix: check the column, or "
                f"leave it out")
        return v, float(np.mean(v)), sd

    m_arr, m_loc, m_scale = [], [], []
    for m in mediators:
        v, loc, sd = standardise(m, "mediator")
        m_arr.append((v - loc) / sd)
        m_loc.append(loc)
        m_scale.append(sd)
    yv, y_loc, y_scale = standardise(outcome, "outcome")
    if family == "binary":
        if not set(np.unique(yv).tolist()) <= {0.0, 1.0}:
            raise ModelInputError(f"{_where(source, outcome)}a binary outcome must be 0/1. Fix: code "
                                  "it 0/1, or use family='normal'")
        y = yv.astype(float)
        y_loc, y_scale = 0.0, 1.0
    else:
        y = (yv - y_loc) / y_scale
    x_arr, x_loc, x_scale = [], [], []
    for c in covariates:
        v, loc, sd = standardise(c, "covariate")
        x_arr.append((v - loc) / sd)
        x_loc.append(loc)
        x_scale.append(sd)
    if group:
        labels = df[group].astype(str).str.strip().to_numpy()[keep]
        groups, g = np.unique(labels, return_inverse=True)
        groups = [str(x) for x in groups]
    else:
        groups, g = [], np.zeros(n, dtype=np.int64)
    return MediationData(
        T=t.astype(float), M=np.column_stack(m_arr).astype(float), Y=np.asarray(y, dtype=float),
        X=(np.column_stack(x_arr) if x_arr else np.zeros((n, 0))).astype(float),
        g=np.asarray(g, dtype=np.int64), groups=groups, m_loc=np.array(m_loc),
        m_scale=np.array(m_scale), y_loc=float(y_loc), y_scale=float(y_scale),
        x_loc=np.array(x_loc), x_scale=np.array(x_scale), n_read=int(len(df)), dropped=dropped)

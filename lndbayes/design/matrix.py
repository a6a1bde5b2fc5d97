"""From an analyst's table to the arrays a model reads: the design matrix.

``build_design_matrix(df, columns, family, design)`` checks the table (columns present, 0/1
arms, outcome values the family accepts), leaves out rows with missing values (warning how
many and why), and codes every row: its team, program, program x team combination, period and
event time as integer indices, its effect indicator D (from the design,
:mod:`lndbayes.design.designs`), and its covariates standardised. Steps, in order:

1. drop rows with a missing value in a column that is used;
2. outcome, arm, exposure and censoring as arrays (the family validates the outcome);
3. the effect indicator D (the design); both values must occur;
4. programs: each needs its own treated and control rows;
5. teams (designs that compare within teams: every team with both arms, or those teams left
   out with ``drop_incomplete_teams``), departments (each team's most common one; below
   ``MIN_DEPARTMENTS`` no department level) and program x team combinations;
6. periods and event times (the design);
7. covariates: the baseline (missing values imputed with an indicator), the covariates, and
   the design's own controls (``treated_group``).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from lndbayes.design.designs import Design, binary01, get_design
from lndbayes.errors import ModelInputError
from lndbayes.models.families import get_family

MIN_DEPARTMENTS = 3  # fewer: no department level in the hierarchy

# warnings point at the analyst's call: fit_effects -> build_design_matrix -> a step here
_STACK = 4


@dataclass(frozen=True)
class Columns:
    """Which column of the table holds what (None: not used)."""

    outcome: str
    treatment: str
    group: str | None = None
    baseline: str | None = None
    covariates: tuple = ()
    period: str | None = None
    post: str | None = None
    event_time: str | None = None
    exposure: str | None = None
    censored: str | None = None
    department: str | None = None
    program: str | None = None

    def named(self) -> list:
        return [self.outcome, self.treatment, self.group, self.baseline, self.period, self.post,
                self.event_time, self.exposure, self.censored, self.department, self.program,
                *self.covariates]

    def required(self) -> list:
        """Columns whose missing values leave the row out (the baseline is imputed instead,
        the event time is NaN for never-treated rows)."""
        return [c for c in [self.outcome, self.treatment, self.group, self.period, self.post,
                            self.exposure, self.censored, self.department, self.program,
                            *self.covariates] if c is not None]


@dataclass
class Labels:
    """What the integer indices of the rows stand for."""

    teams: list
    departments: list
    #: each team's department index
    dept_of_team: np.ndarray
    periods: list
    event_times: list
    #: names of the columns of X
    covariates: list
    #: standardised column -> (mean, sd) of the original values
    scaling: dict
    n_dropped: int
    programs: list
    #: per program x team combination (the effect's index): its team and its program
    combo_team: np.ndarray
    combo_program: np.ndarray

    def cache_key(self) -> dict:
        """The labels that enter the posterior cache key (one program: as before programs
        existed)."""
        out = {"teams": self.teams, "departments": self.departments, "periods": self.periods,
               "event_times": self.event_times, "covariates": self.covariates,
               "scaling": self.scaling, "n_dropped": self.n_dropped}
        if len(self.programs) > 1:
            out["programs"] = list(map(str, self.programs))
            out["combos"] = np.column_stack([self.combo_program, self.combo_team]).tolist()
        return out


@dataclass
class DesignMatrix:
    """``rows``: one entry per analysed row, keyed by name: team, D, period, event, X (n x K),
    y, exposure, censored, treated, program, combo (the arrays the graph, the sufficient
    statistics and the checks read); ``labels``: what their indices stand for."""

    family: str
    design: Design
    rows: dict
    labels: Labels
    columns: Columns = field(repr=False, default=None)

    @property
    def n_programs(self) -> int:
        return len(self.labels.programs)

    @property
    def multi_program(self) -> bool:
        return self.n_programs > 1


def require_columns(df, cols) -> None:
    """ModelInputError unless ``df`` is a DataFrame holding every named column."""
    if not isinstance(df, pd.DataFrame):
        raise ModelInputError(f"expected a pandas DataFrame, got {type(df).__name__}.")
    missing = [c for c in cols if c is not None and c not in df.columns]
    if missing:
        raise ModelInputError(
            f"column(s) {', '.join(map(repr, missing))} not in the data. "
            f"Fix: choose from {', '.join(map(str, df.columns))}.")


def standardise(x: np.ndarray):
    m, s = float(np.mean(x)), float(np.std(x))
    return (x - m) / (s if s > 0 else 1.0), m, s


def factor(col: pd.Series) -> tuple[list, np.ndarray]:
    """The column's distinct values as text, sorted, and each row's position among them.

    Why not ``astype(str).to_numpy()`` and a lookup: on a million rows of pandas' Arrow-backed
    strings, the round trip through Python string objects cost ~0.5 s; factorizing the column's
    own storage and sorting only the distinct values costs ~0.03 s.
    """
    codes, uniq = pd.factorize(col.astype(str))
    # rows with a missing label were left out (and counted) before; -1 would index the last level
    assert (codes >= 0).all(), "missing labels must be removed before factor"
    levels = np.asarray(uniq, dtype=object)
    order = np.argsort(levels, kind="stable")
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order))
    return list(levels[order]), rank[codes]


def _compact(levels: list, idx: np.ndarray) -> tuple[list, np.ndarray]:
    """Drop levels no row uses any more (after rows were left out), keeping the order."""
    used = np.unique(idx)
    return [levels[i] for i in used], np.searchsorted(used, idx).astype(np.int64)


# ============================================================================ the steps
def _drop_missing(df: pd.DataFrame, cols: Columns) -> tuple[pd.DataFrame, int]:
    n0 = len(df)
    na = df[cols.required()].isna()
    dropped = int(na.any(axis=1).sum())
    if dropped:
        why = ", ".join(f"{c}: {int(k)}" for c, k in na.sum().items() if k)
        warnings.warn(f"{dropped} of {n0} rows left out because of missing values ({why}).",
                      stacklevel=_STACK)
        df = df.loc[~na.any(axis=1)]
    if len(df) == 0:
        raise ModelInputError("no rows left to analyse: every row has a missing value in a column the "
                              "model uses. Fix: fill in or drop those columns (the warning above "
                              "counts the missing values per column).")
    return df.reset_index(drop=True), dropped


def _outcome_arrays(df: pd.DataFrame, cols: Columns, fam) -> dict:
    """y (validated by the family), treated, exposure (families that need one, e.g. count)
    and censored (families with censoring, e.g. time_to_event), each one value per row."""
    y = fam.validate(df[cols.outcome].to_numpy(), cols.outcome)
    treated = binary01(df[cols.treatment], cols.treatment, "treatment")
    n = len(df)
    expo = np.ones(n)
    if fam.needs_exposure and cols.exposure is not None:
        expo = pd.to_numeric(df[cols.exposure], errors="coerce").to_numpy(dtype=float)
        if not np.all(expo > 0):
            raise ModelInputError(f"exposure column '{cols.exposure}' must be positive; "
                                  f"{int(np.sum(~(expo > 0)))} row(s) are not. Fix: remove "
                                  "rows with no exposure.")
    cens = np.zeros(n)
    if fam.needs_censored and cols.censored is not None:
        cens = binary01(df[cols.censored], cols.censored, "censored")
    return {"y": y, "treated": treated, "exposure": expo, "censored": cens}


def _programs(df: pd.DataFrame, cols: Columns, D: np.ndarray, des: Design):
    if cols.program is None:
        return ["all"], np.zeros(len(df), dtype=np.int64)
    programs, prog_idx = factor(df[cols.program])
    n_rows = np.bincount(prog_idx, minlength=len(programs))
    n_eff = np.bincount(prog_idx, weights=(D > 0), minlength=len(programs))
    no_t = [programs[i] for i in np.flatnonzero(n_eff == 0)]
    no_c = [programs[i] for i in np.flatnonzero(n_eff == n_rows)]
    if no_t or no_c:
        parts = ([f"no treated units{des.after_start} in program(s) {', '.join(map(repr, no_t))}"]
                 if no_t else []) + \
                ([f"no control (comparison) units in program(s) {', '.join(map(repr, no_c))}"]
                 if no_c else [])
        raise ModelInputError(
            f"each program needs its own treated and control rows, but there are "
            f"{'; '.join(parts)}. Fix: give every program its comparison units (rows with "
            f"{cols.treatment} = 0 and {cols.program} = that program), or leave that program out "
            "of the data (fit it alone, or not at all).")
    return programs, prog_idx


def _incomplete_teams(teams, programs, team_idx, prog_idx, D):
    """Program x team units without both arms: (their unit ids, each row's unit id, the
    message parts naming them)."""
    P = len(programs)
    unit = team_idx * P + prog_idx
    n_rows = np.bincount(unit, minlength=len(teams) * P)
    n_t = np.bincount(unit, weights=D, minlength=len(teams) * P)
    bad = np.flatnonzero((n_rows > 0) & ((n_t == 0) | (n_t == n_rows)))

    def name(u):
        return f"{teams[u // P]} (program {programs[u % P]})" if P > 1 else teams[u // P]

    only_t = sorted(name(u) for u in bad if n_t[u] > 0)
    only_c = sorted(name(u) for u in bad if n_t[u] == 0)
    parts = []
    if only_t:
        parts.append(f"no control units in {', '.join(only_t[:10])}"
                     + (" ..." if len(only_t) > 10 else ""))
    if only_c:
        parts.append(f"no treated units in {', '.join(only_c[:10])}"
                     + (" ..." if len(only_c) > 10 else ""))
    return bad, unit, parts


def _teams(df, cols, arrays, D, programs, prog_idx, des, fam, drop_incomplete_teams):
    """Teams and each row's team; designs that compare within teams check (or drop) teams
    without both arms, which can leave rows, teams and programs out."""
    if cols.group is None:
        return df, arrays, D, ["all"], np.zeros(len(df), dtype=np.int64), programs, prog_idx
    teams, team_idx = factor(df[cols.group])
    if not des.teams_need_both_arms:
        return df, arrays, D, teams, team_idx, programs, prog_idx
    # several programs: every program x team combination needs both arms
    bad, unit, parts = _incomplete_teams(teams, programs, team_idx, prog_idx, D)
    if not len(bad):
        return df, arrays, D, teams, team_idx, programs, prog_idx
    if not drop_incomplete_teams:
        raise ModelInputError(
            f"team effects need treated and control units in every team, but there "
            f"are {'; '.join(parts)}. Fix: pass drop_incomplete_teams=True to leave "
            f"these {len(bad)} team(s) out, or group=None to estimate one "
            "population-wide effect (e.g. when whole teams were randomised).")
    keep = ~np.isin(unit, bad)
    warnings.warn(f"{int((~keep).sum())} rows of {len(bad)} team(s) without both arms "
                  f"left out ({'; '.join(parts)}).", stacklevel=_STACK)
    df = df.loc[keep].reset_index(drop=True)
    arrays = {k: v[keep] for k, v in arrays.items()}
    D, team_idx, prog_idx = D[keep], team_idx[keep], prog_idx[keep]
    if len(df) == 0:
        raise ModelInputError("no team has both treated and control units. Fix: pass group=None to "
                              "estimate one population-wide effect (e.g. when whole teams were "
                              "randomised), or include control units in the teams.")
    teams, team_idx = _compact(teams, team_idx)
    programs, prog_idx = _compact(programs, prog_idx)
    fam.validate(arrays["y"], cols.outcome)
    return df, arrays, D, teams, team_idx, programs, prog_idx


def _departments(df, cols, team_idx, J):
    """Each team's department: its most common one (ties: the first in sorted order)."""
    if cols.department is None or cols.group is None:
        return ["all"], np.zeros(J, dtype=np.int64)
    dept_levels, dept_idx = factor(df[cols.department])
    counts = np.bincount(team_idx * len(dept_levels) + dept_idx,
                         minlength=J * len(dept_levels)).reshape(J, len(dept_levels))
    depts, dept_of_team = _compact(dept_levels, counts.argmax(axis=1))
    if len(depts) < MIN_DEPARTMENTS:
        # a between-department sd from one or two departments is set by its prior alone
        # and puts the sampler in a funnel (57-97 divergences measured with two): teams
        # are then pooled directly, with no department level
        return ["all"], np.zeros(J, dtype=np.int64)
    return depts, dept_of_team


def _combinations(prog_idx, team_idx, n_programs, J):
    """Program x team combinations (the effect's index): each row's, and each one's program and
    team; with one program: the teams."""
    if n_programs > 1:
        pairs, combo_idx = np.unique(np.column_stack([prog_idx, team_idx]), axis=0,
                                     return_inverse=True)
        return (combo_idx.reshape(-1).astype(np.int64), pairs[:, 0].astype(np.int64),
                pairs[:, 1].astype(np.int64))
    return team_idx, np.zeros(J, dtype=np.int64), np.arange(J, dtype=np.int64)


def _covariates(df, cols):
    """Standardised baseline (with a missing indicator) and covariates: (columns, names,
    scaling)."""
    Xcols, names, scaling = [], [], {}
    baseline = cols.baseline
    if baseline is not None:
        b = pd.to_numeric(df[baseline], errors="coerce").to_numpy(dtype=float)
        miss = ~np.isfinite(b)
        if miss.all():
            warnings.warn(f"baseline '{baseline}' is missing for every row: not used.",
                          stacklevel=_STACK)
        else:
            if miss.any():
                warnings.warn(f"baseline '{baseline}' missing for {int(miss.sum())} rows: they "
                              "get the mean baseline and a missing-baseline indicator.",
                              stacklevel=_STACK)
                b = np.where(miss, np.nanmean(b), b)
            z, m, s = standardise(b)
            if s > 0:
                Xcols.append(z)
                names.append(baseline)
                scaling[baseline] = (m, s)
            if miss.any():
                Xcols.append(miss.astype(float))
                names.append(f"{baseline}_missing")
    for c in cols.covariates:
        x = pd.to_numeric(df[c], errors="coerce").to_numpy(dtype=float)
        if not np.all(np.isfinite(x)):
            raise ModelInputError(f"covariate '{c}' must be numeric. Fix: encode categories as "
                                  "0/1 columns.")
        z, m, s = standardise(x)
        if s > 0:
            Xcols.append(z)
            names.append(c)
            scaling[c] = (m, s)
    return Xcols, names, scaling


# ============================================================================ the builder
def build_design_matrix(df, columns: Columns, family: str, design: str, *,
                        drop_incomplete_teams: bool = False) -> DesignMatrix:
    """The design matrix of ``df`` (steps in the module docstring)."""
    fam = get_family(family)
    des = get_design(design)
    cols = columns
    des.check_columns(period=cols.period, post=cols.post, event_time=cols.event_time)
    if fam.needs_censored and cols.censored is None:
        warnings.warn(f"{fam.name} without a `censored` column: every time is taken as an "
                      "observed event.", stacklevel=_STACK - 1)
    require_columns(df, cols.named())

    df, dropped = _drop_missing(df, cols)
    arrays = _outcome_arrays(df, cols, fam)
    D = des.effect_indicator(df, arrays["treated"], post=cols.post, event_time=cols.event_time)
    if D.min() == D.max():
        raise ModelInputError(
            f"the treatment column '{cols.treatment}' has a single value"
            + des.effect_rows
            + ": there is nothing to compare. Fix: include both treated and control rows.")
    programs, prog_idx = _programs(df, cols, D, des)
    df, arrays, D, teams, team_idx, programs, prog_idx = _teams(
        df, cols, arrays, D, programs, prog_idx, des, fam, drop_incomplete_teams)
    J = len(teams)
    depts, dept_of_team = _departments(df, cols, team_idx, J)
    combo_idx, combo_program, combo_team = _combinations(prog_idx, team_idx, len(programs), J)

    per_col = des.periods(df, period=cols.period, post=cols.post)
    periods, per_idx = (factor(df[per_col]) if per_col is not None
                        else (["all"], np.zeros(len(df), dtype=np.int64)))
    events, ev_idx = des.event_times(df, D, event_time=cols.event_time)

    Xcols, names, scaling = _covariates(df, cols)
    control = des.treated_group_control(team_idx, arrays["treated"], D,
                                        has_group=cols.group is not None)
    if control is not None:
        names.append(control[0])
        Xcols.append(control[1])
    X = np.column_stack(Xcols) if Xcols else np.zeros((len(df), 0))

    rows = {"team": team_idx, "D": D.astype(float), "period": per_idx, "event": ev_idx, "X": X,
            "y": arrays["y"], "exposure": arrays["exposure"], "censored": arrays["censored"],
            "treated": arrays["treated"], "program": prog_idx, "combo": combo_idx}
    labels = Labels(teams=teams, departments=depts, dept_of_team=dept_of_team, periods=periods,
                    event_times=events, covariates=names, scaling=scaling, n_dropped=dropped,
                    programs=programs, combo_team=combo_team, combo_program=combo_program)
    return DesignMatrix(family=fam.name, design=des, rows=rows, labels=labels, columns=cols)


# ============================================================================ team estimates
@dataclass
class TeamEstimates:
    """The input of the meta-analysis (fit_effects_summary): one estimate and its standard
    error per team, and each team's department index."""

    estimate: np.ndarray
    se: np.ndarray
    teams: np.ndarray
    departments: list
    dept_idx: np.ndarray


def team_estimates(df, *, estimate, std_error, group, department=None) -> TeamEstimates:
    """Checked team estimates: rows with a missing value left out (warned), numbers, at least
    two teams, positive standard errors, each team once."""
    require_columns(df, [estimate, std_error, group, department])
    cols = [c for c in (estimate, std_error, group, department) if c]
    na = df[cols].isna().any(axis=1)
    if na.any():
        warnings.warn(f"{int(na.sum())} of {len(df)} rows left out because of missing values.",
                      stacklevel=_STACK - 1)
        df = df.loc[~na]
    try:
        est = pd.to_numeric(df[estimate], errors="raise").to_numpy(dtype=float)
        se = pd.to_numeric(df[std_error], errors="raise").to_numpy(dtype=float)
    except (TypeError, ValueError):
        raise ModelInputError(f"'{estimate}' and '{std_error}' must be numbers. Fix: remove text "
                              "such as 'n/a' from these columns (leave the cell empty).") from None
    if len(est) < 2:
        raise ModelInputError("a meta-analysis needs at least two team estimates. Fix: give one row "
                              "per team for two or more teams.")
    if not np.all(se > 0):
        raise ModelInputError(f"standard errors in '{std_error}' must be positive; "
                              f"{int(np.sum(~(se > 0)))} are not. Fix: check the column (a zero "
                              "standard error claims a perfectly known effect).")
    teams = df[group].astype(str).to_numpy()
    if len(set(teams)) != len(teams):
        raise ModelInputError(f"each team must appear once in '{group}' (one estimate per team). "
                              "Fix: combine a team's rows into one estimate, or fit the rows with "
                              "fit_effects.")
    if department is not None:
        dl = df[department].astype(str).to_numpy()
        depts = sorted(set(dl))
        dept_idx = np.searchsorted(np.array(depts, dtype=object), dl).astype(np.int64)
    else:
        depts, dept_idx = ["all"], np.zeros(len(est), dtype=np.int64)
    return TeamEstimates(estimate=est, se=se, teams=teams, departments=depts, dept_idx=dept_idx)

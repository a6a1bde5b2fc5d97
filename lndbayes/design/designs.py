"""Study designs as objects: what a design compares, and how its effect indicator and its
controls are formed from the data.

* **randomized**: the effect indicator is the arm, :math:`D_i = \\mathrm{treated}_i`; no period
  effects; every team (program x team) needs both arms for its own effect; the raw effect of a
  team is treated minus control.
* **pre_post** (difference in differences): :math:`D_i = \\mathrm{treated}_i \\times
  \\mathrm{post}_i`; period effects; a ``treated_group`` control for the arm difference before
  the start; the raw effect is a difference in differences against the never-treated rows.
* **staggered** rollout: as pre_post, with post taken from the event time when no ``post``
  column is given (:math:`\\mathrm{post}_i = [e_i \\ge 0]`, never-treated rows have
  :math:`e_i` = NaN) and one effect deviation per event time.

``get_design(name)`` gives the design object; adding a design means a subclass of
:class:`Design` and one line in ``DESIGNS``: the report's words for it (``description``, how
``D`` is formed ``indicator_latex``, the rows the average effect averages over
``analysed_rows_text``) live on the subclass too, and so do the panel builder's rules
(lndbayes.design.panel): one row per unit or per (unit, month) (``one_row_per_unit``), team
cohorts (``has_cohorts``), outcomes followed over time (``over_time``), how post / event time /
cohort are set (``period_timing``, ``person_timing``) and the arm checks (``check_arms``). The graph (lndbayes.models.graph) reads the
design's effect indicator, period and event-time indices from the design matrix
(lndbayes.design.matrix), so it needs no design names.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from lndbayes.design.calendar import period_labels, period_str
from lndbayes.errors import ModelInputError
from lndbayes.models.sufficient import indices_by


def binary01(s: pd.Series, name: str, what: str) -> np.ndarray:
    """A 0/1 (or bool) column as floats; ModelInputError naming the column otherwise."""
    if s.dtype == bool:
        return s.to_numpy().astype(float)
    vals = pd.unique(s)
    try:
        num = pd.to_numeric(s, errors="raise").to_numpy(dtype=float)
    except (TypeError, ValueError):
        raise ModelInputError(
            f"{what} column '{name}' must be 0/1 but holds {', '.join(map(repr, vals[:5]))}. "
            "Fix: code it 1 = treated, 0 = control.") from None
    bad = ~np.isin(num, (0.0, 1.0))
    if bad.any():
        raise ModelInputError(
            f"{what} column '{name}' must be 0/1 (binary) but holds "
            f"{', '.join(f'{v:g}' for v in np.unique(num[bad])[:5])}. Fix: code it 1 = treated, "
            "0 = control.")
    return num


class Design:
    """One study design. Subclasses set the flags and override the methods that differ."""

    name: str = ""
    #: the effect is compared within each team, so every team needs both arms
    teams_need_both_arms: bool = False
    #: said after "no treated units" when a program has none (panel designs: after its start)
    after_start: str = ""
    #: which rows D is formed on, said when D takes a single value
    effect_rows: str = ""
    #: the report's one-sentence description of the design (what is compared)
    description: str = ""
    #: how D is formed, Markdown with inline $math$ (the report's model appendix)
    indicator_latex: str = ""
    #: the rows the average effect averages over (``analysed_rows``), in words
    analysed_rows_text: str = "all analysed units, both arms"
    #: 0/1 control columns the design adds to the covariates (``treated_group_control``)
    indicator_controls: tuple = ()
    #: one row per unit (the arms compared once), whatever the family
    one_row_per_unit: bool = False
    #: units start on their own dates (cohorts): a team's members share its first enrolment
    has_cohorts: bool = False
    #: outcomes are followed over time, so a one-row-per-person panel keeps its hire periods
    over_time: bool = False

    def period_timing(self, rows: pd.DataFrame, pm: pd.Series, start_m: int) -> None:
        """post, event_time and cohort of one-row-per-(unit, month) rows (``pm``: each row's
        month index), in place."""
        rows["post"] = (pm >= start_m).astype(int)
        rows["event_time"] = np.nan
        rows["cohort"] = None

    def person_timing(self, rows: pd.DataFrame, hire: pd.Series, hire_m: pd.Series,
                      start: pd.Timestamp) -> None:
        """post and cohort (and, where the design says so, treated and event_time) of
        one-row-per-person rows from each person's hire date, in place."""
        rows["post"] = 1
        rows["cohort"] = None

    def check_arms(self, data: pd.DataFrame, what: str, warnings: list) -> None:
        """ModelInputError (or a warning) when a one-row-per-(unit, period) panel cannot tell
        the effect of this design apart."""

    def check_columns(self, *, period, post, event_time) -> None:
        """ModelInputError when a column the design needs was not named."""

    def panel_columns(self, data: pd.DataFrame, *, quarterly: bool) -> dict:
        """fit_effects' column arguments for a panel (lndbayes.design.panel) of this design;
        ``quarterly``: use the quarter columns of a one-row-per-person panel."""
        if "baseline" in data and data["baseline"].notna().any():
            return {"baseline": "baseline"}
        return {}

    def effect_indicator(self, df: pd.DataFrame, treated: np.ndarray, *, post,
                         event_time) -> np.ndarray:
        """D per row: 1 where the row's outcome carries the program's effect."""
        return treated

    def periods(self, df: pd.DataFrame, *, period, post):
        """The period column to index (None: no period effects)."""
        return None

    def event_times(self, df: pd.DataFrame, D: np.ndarray, *, event_time):
        """(sorted event times, each row's index among them); ``[0]`` and zeros without."""
        return [0], np.zeros(len(df), dtype=np.int64)

    def treated_group_control(self, team_idx, treated, D, *, has_group: bool):
        """The arm as a control column (name, values), or None."""
        return None

    def analysed_rows(self, D: np.ndarray) -> np.ndarray:
        """Rows the business-scale average effect averages over (bool mask)."""
        return np.ones(len(D), bool)

    def raw_unit_effects(self, fam, rows: dict, labels) -> list[tuple[int, float, float]]:
        """(n rows, raw effect, its se) per effect unit (team, or program x team)."""
        y, D, e, c = rows["y"], rows["D"] > 0, rows["exposure"], rows["censored"]
        out = []
        for idx in indices_by(rows["combo"], len(labels.combo_team)):
            t1, t0 = idx[D[idx]], idx[~D[idx]]
            m1, s1 = fam.raw_mean_se(y[t1], e[t1], c[t1])
            m0, s0 = fam.raw_mean_se(y[t0], e[t0], c[t0])
            out.append((len(idx), m1 - m0, float(np.hypot(s1, s0))))
        return out

    def __repr__(self) -> str:
        return f"<design {self.name}>"


class Randomized(Design):
    """Units randomly assigned to the program or to control, outcome measured once."""

    name = "randomized"
    teams_need_both_arms = True
    one_row_per_unit = True
    description = ("Units were randomly assigned to the program or to a control group; the arms "
                   "are compared directly.")
    indicator_latex = "$D_i$ = 1 for the program's participants (treated), 0 for controls"


class PrePost(Design):
    """Before/after the start, treated against never-treated units (difference in differences)."""

    name = "pre_post"
    after_start = " after its start"
    effect_rows = " among treated x post observations"
    description = ("Outcomes before and after the start are compared between the program and the "
                   "comparison group (difference in differences).")
    indicator_latex = ("$D_i$ = treated $\\times$ post: the effect is carried by treated rows "
                       "after the start; team intercepts absorb fixed team differences and "
                       "$\\gamma_t$ the common period shocks (difference in differences)")
    analysed_rows_text = "the treated rows after the start (treated $\\times$ post, $D_i = 1$)"
    indicator_controls = ("treated_group",)
    over_time = True

    def person_timing(self, rows, hire, hire_m, start):
        rows["post"] = (hire >= start).astype(int)
        rows["cohort"] = None

    def check_arms(self, data, what, warnings):
        arm_values = set(data["treated"].unique())
        if (data["post"] == 1).all() or (data["post"] == 0).all():
            side = "after" if (data["post"] == 1).all() else "before"
            raise ModelInputError(f"every observation of {what} is {side} the program start; "
                                  "a pre/post comparison needs both. Fix: check design.start in "
                                  "programs.yaml against the KPI periods")
        if arm_values == {1}:
            warnings.append("no control group: the effect is the before/after change of the "
                            "participants, confounded with anything else that changed over time")
        elif arm_values == {0}:
            raise ModelInputError(f"no unit of {what} is treated. Fix: check assignments.csv")

    def check_columns(self, *, period, post, event_time) -> None:
        if post is None:
            raise ModelInputError("design 'pre_post' needs a `post` column (1 = after the "
                                  "program start). Fix: pass post='post'.")
        self._check_period(period, post)

    def _check_period(self, period, post) -> None:
        if period is None and post is None:
            raise ModelInputError(f"design '{self.name}' needs a `period` column. Fix: pass "
                                  "period=...")

    def panel_columns(self, data, *, quarterly):
        # no baseline: the team intercepts and period effects take its place
        return {"period": "period_quarter" if quarterly else "period", "post": "post"}

    def effect_indicator(self, df, treated, *, post, event_time):
        return treated * binary01(df[post], post, "post")

    def periods(self, df, *, period, post):
        return period if period is not None else post

    def treated_group_control(self, team_idx, treated, D, *, has_group):
        if not has_group:
            return None
        varies = pd.DataFrame({"t": team_idx, "tr": treated}).groupby("t")["tr"].nunique().max() > 1
        # The arm difference is only separable from the effect when treated units are also
        # seen before their start (D = 0). In a staggered rollout with one row per new hire,
        # treated == D, and adding the column would make the effect unidentified.
        treated_seen_untreated = bool(np.any((treated > 0) & (D == 0)))
        if varies and treated_seen_untreated:
            return self.indicator_controls[0], treated.copy()
        return None

    def analysed_rows(self, D):
        return D > 0

    def raw_unit_effects(self, fam, rows, labels):
        """Difference in differences: a unit's after-minus-before against the same change in
        the never-treated rows of its program ("after" = periods in which some unit of the
        program is treated)."""
        y, D, e, c = rows["y"], rows["D"] > 0, rows["exposure"], rows["censored"]
        unit, prog = rows["combo"], rows["program"]
        ctrl = {}
        for q in np.unique(prog):
            inq = prog == q
            ctrl_rows = inq & ~np.isin(unit, np.unique(unit[D & inq]))
            post_like = np.isin(rows["period"], np.unique(rows["period"][D & inq]))
            a, b = ctrl_rows & post_like, ctrl_rows & ~post_like
            ctrl[q] = (*fam.raw_mean_se(y[a], e[a], c[a]), *fam.raw_mean_se(y[b], e[b], c[b]))
        out = []
        for j, idx in enumerate(indices_by(unit, len(labels.combo_team))):
            t1, t0 = idx[D[idx]], idx[~D[idx]]
            m1, s1 = fam.raw_mean_se(y[t1], e[t1], c[t1])
            m0, s0 = fam.raw_mean_se(y[t0], e[t0], c[t0])
            mc1, sc1, mc0, sc0 = ctrl[labels.combo_program[j]]
            out.append((len(idx), (m1 - m0) - (mc1 - mc0),
                        float(np.sqrt(s1**2 + s0**2 + sc1**2 + sc0**2))))
        return out


class Staggered(PrePost):
    """Units start at different times; not-yet-started and never-treated units compare."""

    name = "staggered"
    description = ("Teams started the program at different times; teams not yet started serve as "
                   "comparisons (staggered adoption).")
    indicator_latex = ("$D_i$ = treated $\\times$ post, with the effect varying by team and by "
                       "event time $e$ (time since the team's start), so already-treated rows "
                       "never act as controls (imputation estimator, Borusyak, Jaravel and "
                       "Spiess 2024)")
    has_cohorts = True

    def period_timing(self, rows, pm, start_m):
        rows["event_time"] = pm - rows["cohort_m"]
        rows["post"] = (rows["event_time"] >= 0).astype(int)
        rows["cohort"] = period_labels(rows["cohort_m"])

    def person_timing(self, rows, hire, hire_m, start):
        team_start = pd.to_datetime(rows["cohort"])
        rows["treated"] = (team_start.notna() & (hire >= team_start)).astype(int)
        rows["event_time"] = hire_m - rows["cohort_m"]
        rows["cohort"] = rows["cohort_m"].map(lambda m: None if pd.isna(m) else period_str(int(m)))
        rows["post"] = rows["treated"]

    def check_arms(self, data, what, warnings):
        cohorts = set(data["cohort"].dropna().unique())
        never = data["cohort"].isna().any()
        if not cohorts:
            raise ModelInputError(f"no team of {what} ever starts the program. Fix: give treated "
                                  "teams a start_date in assignments.csv")
        if len(cohorts) < 2 and not never:
            raise ModelInputError(
                f"all units of {what} start in the same month ({next(iter(cohorts))}) and none is "
                "never-treated, so the start cannot be told from time. Fix: give teams different "
                "start_date values or keep some teams as control")

    def check_columns(self, *, period, post, event_time) -> None:
        if event_time is None:
            raise ModelInputError("design 'staggered' needs an `event_time` column (periods "
                                  "since the team's start; NaN for never-treated). Fix: pass "
                                  "event_time=...")
        self._check_period(period, post)

    def effect_indicator(self, df, treated, *, post, event_time):
        et = pd.to_numeric(df[event_time], errors="coerce").to_numpy(dtype=float)
        pst = (binary01(df[post], post, "post") if post is not None
               else (np.nan_to_num(et, nan=-1) >= 0).astype(float))
        return treated * pst * np.isfinite(et)

    def panel_columns(self, data, *, quarterly):
        return {**super().panel_columns(data, quarterly=quarterly),
                "event_time": "event_time_quarter" if quarterly else "event_time"}

    def event_times(self, df, D, *, event_time):
        et = pd.to_numeric(df[event_time], errors="coerce").to_numpy(dtype=float)
        ev_vals = np.where(D > 0, np.nan_to_num(et, nan=0).round(), np.nan)
        events = sorted(int(v) for v in np.unique(ev_vals[np.isfinite(ev_vals)]))
        ev_idx = np.where(D > 0, np.searchsorted(events, np.nan_to_num(ev_vals, nan=events[0])),
                          0).astype(np.int64)
        return events, ev_idx


DESIGNS: dict[str, Design] = {d.name: d for d in (Randomized(), PrePost(), Staggered())}


def get_design(name: str) -> Design:
    if isinstance(name, Design):
        return name
    if name not in DESIGNS:
        raise ModelInputError(f"unknown design '{name}'. Fix: use one of {', '.join(DESIGNS)}.")
    return DESIGNS[name]

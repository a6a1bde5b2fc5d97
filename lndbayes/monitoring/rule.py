"""The interim monitoring rule: what to do with a running program at a checkpoint.

At each checkpoint, in this order:

1. **too little data** (no action): fewer than ``min_units`` units on either side of the
   comparison, fewer than ``min_events`` events on either side (binary and count outcomes), or
   fewer than ``min_teams`` teams with a comparison. No probability is shown as a decision:
   a normal approximation on a handful of events is not to be trusted.
2. **continue** before ``min_months`` months (too early to act on anything).
3. **scale** when P(works) >= ``scale_p_works`` and P(ROI > 0) >= ``scale_p_roi``.
4. **alter** (iterate) when P(works) >= ``alter_p_works`` but P(ROI > 0) < ``alter_p_roi``:
   the program probably works but probably will not pay back as it is (cheaper delivery,
   another population, a shorter program).
5. **stop** when P(works) < ``stop_p_works``: the program is unlikely to help.
6. **continue** otherwise.

When the program has no monetised outcome (no value_per_unit), the ROI conditions are left out
(scale on P(works) alone; never alter) and the rule's text says so. When it has one but
P(ROI > 0) cannot be computed at a checkpoint (``roi_required``: costs unreadable, the monetised
outcomes without enough data yet), the money condition is not met: no scale and no alter, only
stop or continue, and the reason says so. Scale and stop end the
monitoring (the decision is taken); alter is a signal, monitoring goes on.

The per-checkpoint thresholds are stricter than the final decision's (lndbayes.decisions: scale
at P(works) >= 0.9) because the rule looks many times: each look is a new chance for noise to
cross the line. The defaults were chosen from the operating characteristics measured by
simulation (benchmarks/results/monitoring.md, docs/monitoring.md); the report states the
rule's measured false-scale rate next to it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from lndbayes.errors import LndbayesError

__all__ = ["MonitoringRule", "DEFAULT_RULE", "ACTIONS", "TERMINAL", "MonitoringSettingsError"]


class MonitoringSettingsError(LndbayesError, ValueError):
    """A monitoring rule or checkpoint setting that cannot be used (says which and why)."""

ACTIONS = ("too little data", "continue", "scale", "alter", "stop")
#: actions that end the monitoring (the decision is taken)
TERMINAL = ("scale", "stop")


@dataclass(frozen=True)
class MonitoringRule:
    """Thresholds of the interim rule (probabilities; counts of units, events, teams, months)."""

    scale_p_works: float = 0.99
    scale_p_roi: float = 0.80
    alter_p_works: float = 0.90
    alter_p_roi: float = 0.20
    stop_p_works: float = 0.10
    min_months: int = 3
    min_units: int = 10
    min_events: int = 10
    min_teams: int = 2

    def __post_init__(self):
        for name in ("scale_p_works", "scale_p_roi", "alter_p_works", "alter_p_roi", "stop_p_works"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and 0.0 <= v <= 1.0):
                raise MonitoringSettingsError(
                    f"MonitoringRule.{name} must be a probability in [0, 1], got {v!r}. Fix: give "
                    "a number such as 0.95")
        for name in ("min_months", "min_units", "min_events", "min_teams"):
            v = getattr(self, name)
            if not (isinstance(v, (int, np.integer)) and v >= 0):
                raise MonitoringSettingsError(
                    f"MonitoringRule.{name} must be a whole number >= 0, got {v!r}")
        if self.stop_p_works >= self.scale_p_works:
            raise MonitoringSettingsError(
                f"MonitoringRule.stop_p_works ({self.stop_p_works}) must be below scale_p_works "
                f"({self.scale_p_works}): a checkpoint cannot both stop and scale")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict | None) -> "MonitoringRule":
        d = dict(d or {})
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(d) - known)
        if unknown:
            raise MonitoringSettingsError(
                f"unknown monitoring rule setting(s): {', '.join(unknown)}. Fix: use "
                f"{', '.join(sorted(known))}")
        return cls(**d)

    def text(self, monetised: bool = True) -> str:
        """The rule in words, as the report states it."""
        t = self
        parts = [f"From month {t.min_months} on, at each checkpoint: "]
        if monetised:
            parts.append(
                f"scale when P(works) is at least {t.scale_p_works:.0%} and P(ROI > 0) at least "
                f"{t.scale_p_roi:.0%}; alter (iterate) when P(works) is at least "
                f"{t.alter_p_works:.0%} but P(ROI > 0) below {t.alter_p_roi:.0%}; ")
        else:
            parts.append(f"scale when P(works) is at least {t.scale_p_works:.0%} (no outcome has a "
                         "money value, so the ROI conditions do not apply); ")
        parts.append(
            f"stop when P(works) is below {t.stop_p_works:.0%}; otherwise continue. No decision "
            f"while there are fewer than {t.min_units} units or {t.min_events} events on either "
            f"side of the comparison, or fewer than {t.min_teams} teams with a comparison.")
        return "".join(parts)

    def action(self, p_works, p_roi, *, month: int, enough: bool, roi_required: bool = False,
               roi_why: str = "") -> tuple[str, str]:
        """(action, reason) at one checkpoint (scalars; ``p_roi`` None when not monetised).

        ``roi_required``: the program is monetised, so a missing ``p_roi`` means "unknown", not
        "does not apply": no scale or alter on P(works) alone (``roi_why`` says why it is missing)."""
        t = self
        if not enough:
            return "too little data", "too little data for a decision yet"
        if month < t.min_months:
            return "continue", f"before month {t.min_months}: too early to act"
        pw = f"P(works) = {p_works:.0%}"
        pr = "" if p_roi is None else f", P(ROI > 0) = {p_roi:.0%}"
        if p_roi is None and roi_required:
            if p_works < t.stop_p_works:
                return "stop", f"{pw}, below {t.stop_p_works:.0%}: unlikely to help"
            return "continue", (f"{pw}, but P(ROI > 0) could not be computed"
                                + (f" ({roi_why})" if roi_why else "")
                                + ": no scale decision without it")
        if p_works >= t.scale_p_works and (p_roi is None or p_roi >= t.scale_p_roi):
            return "scale", f"{pw}{pr}: clears the scale thresholds"
        if p_roi is not None and p_works >= t.alter_p_works and p_roi < t.alter_p_roi:
            return "alter", f"{pw} but{pr}: probably works, probably does not pay back as it is"
        if p_works < t.stop_p_works:
            return "stop", f"{pw}, below {t.stop_p_works:.0%}: unlikely to help"
        return "continue", f"{pw}{pr}: not decided yet"

    def actions(self, p_works: np.ndarray, p_roi: np.ndarray | None, month: int,
                enough: bool = True, roi_required: bool = False) -> np.ndarray:
        """The action codes (index into :data:`ACTIONS`) for many simulated data sets at once;
        the same rule as :meth:`action`."""
        pw = np.asarray(p_works, float)
        out = np.full(pw.shape, ACTIONS.index("continue"), dtype=np.int8)
        if not enough:
            out[:] = ACTIONS.index("too little data")
            return out
        if month < self.min_months:
            return out
        if p_roi is None and roi_required:      # money unknown: only stop or continue
            out[pw < self.stop_p_works] = ACTIONS.index("stop")
            return out
        pr = np.ones_like(pw) if p_roi is None else np.asarray(p_roi, float)
        scale = (pw >= self.scale_p_works) & (pr >= self.scale_p_roi)
        alter = (~scale) & (p_roi is not None) & (pw >= self.alter_p_works) & (pr < self.alter_p_roi)
        stop = (~scale) & (~alter) & (pw < self.stop_p_works)
        out[scale] = ACTIONS.index("scale")
        out[alter] = ACTIONS.index("alter")
        out[stop] = ACTIONS.index("stop")
        return out


DEFAULT_RULE = MonitoringRule()

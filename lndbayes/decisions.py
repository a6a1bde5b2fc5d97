"""The decision layer: from posterior draws to the numbers a manager acts on.

Everything here works on plain 1-D arrays of posterior draws on the *business scale* (the
``average_effect_abs`` / ``average_effect_rel`` draws of an :class:`~lndbayes.results.EffectResult`),
so it is cheap, exact and testable without PyMC.

Estimands
---------
* ``P(works)`` = P(effect in the good direction): P(effect < 0) for ``direction="decrease"``,
  P(effect > 0) for ``direction="increase"``.
* ``P(beats target)`` = P(effect at least as good as the agreed target). The target is on the
  same scale as the draws (``relative_change: -0.15`` is compared with the relative-effect draws;
  ``absolute_change`` with the absolute-effect draws). "At least as good": ``effect <= target``
  for decrease, ``effect >= target`` for increase.
* Monetised benefit (per outcome) = (effect in the good direction) x units touched x value per
  unit, computed draw by draw, so its interval is the 90% equal-tailed interval of the benefit
  draws. It is the *gross* benefit over the observed units; the program's return on investment
  (horizon, participants, fully loaded costs) is :mod:`lndbayes.roi`.

Program recommendation from money and odds (:func:`recommend_program`; thresholds
:class:`Thresholds`, configurable per program with programs.yaml ``decision:``)
--------------------------------------------------------------------------------------------
1. Any fit failed its diagnostics (``converged=False``) or an outcome could not be estimated:
   **iterate** ("evidence unreliable"). A non-converged fit never yields *scale*.
2. ``P(ROI > 0) < stop_p_roi`` (0.2) or ``P(works) < stop_p_works`` (0.5): **stop**.
3. ``P(ROI > 0) >= scale_p_roi`` (0.8) and expected net benefit ``> scale_min_net_benefit`` (0)
   and ``P(works) >= scale_p_works`` (0.9) and, when a target is agreed,
   ``P(beats target) >= scale_p_target`` (0.5): **scale**.
4. Anything else: **iterate** (the report then shows what more data is worth,
   :mod:`lndbayes.value_of_information`).
Without any monetised outcome the rule falls back on the odds alone (:func:`recommend`):

Recommendation on odds alone (:func:`recommend`, per outcome and for unmonetised programs)
-----------------------------------------------------------------------------------------
1. The fit failed its diagnostics (``converged=False``): **iterate** ("evidence unreliable").
2. ``P(works) < 0.5``: **stop** (the program more likely hurts or does nothing than helps).
3. ``P(works) >= 0.9`` and ``P(beats target) >= 0.5`` (or no target agreed): **scale**.
4. Anything else: **iterate** (promising but not yet convincing, or works but probably short of
   the target).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from lndbayes import INTERVAL

DIRECTIONS = ("increase", "decrease")


@dataclass(frozen=True)
class Thresholds:
    """The documented decision thresholds (probabilities; the net benefit in currency)."""

    scale_p_works: float = 0.9   # scale needs P(works) at least this ...
    scale_p_target: float = 0.5  # ... and P(beats target) at least this
    stop_p_works: float = 0.5    # stop when P(works) is below this
    scale_p_roi: float = 0.8     # scale needs P(ROI > 0) at least this ...
    scale_min_net_benefit: float = 0.0   # ... and an expected net benefit above this
    stop_p_roi: float = 0.2      # stop when P(ROI > 0) is below this

    @classmethod
    def from_config(cls, rule) -> "Thresholds":
        """From a programs.yaml ``decision:`` block (a DecisionRule or a dict); None: the defaults."""
        if rule is None:
            return cls()
        values = rule if isinstance(rule, dict) else rule.model_dump()
        return cls(**values)

    def to_dict(self) -> dict:
        return asdict(self)


DEFAULT_THRESHOLDS = Thresholds()


@dataclass(frozen=True)
class Recommendation:
    action: str   # "scale" | "iterate" | "stop"
    reason: str

    def __str__(self) -> str:
        return f"{self.action}: {self.reason}"


@dataclass
class Interval:
    """A posterior mean with its equal-tailed interval (``prob`` = 0.90 by convention)."""

    mean: float
    lower: float
    upper: float
    prob: float = INTERVAL

    def to_dict(self) -> dict:
        return {k: (None if v is None or not np.isfinite(v) else float(v)) for k, v in asdict(self).items()}


@dataclass
class Benefit(Interval):
    """Monetised gross benefit (currency) with its interval and its draws."""

    n_units: float = 0.0
    value_per_unit: float = 0.0
    draws: np.ndarray = field(default=None, repr=False)

    def to_dict(self) -> dict:
        return {"mean": float(self.mean), "lower": float(self.lower), "upper": float(self.upper),
                "prob": self.prob, "n_units": float(self.n_units),
                "value_per_unit": float(self.value_per_unit)}


def _draws(draws) -> np.ndarray:
    arr = np.asarray(draws, dtype=float).ravel()
    arr = arr[np.isfinite(arr)]
    if arr.size == 0:
        raise ValueError("no finite posterior draws given")
    return arr


def _check_direction(direction: str) -> str:
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be 'increase' or 'decrease', not {direction!r}")
    return direction


def _sign(direction: str) -> float:
    """+1 when larger is better, -1 when smaller is better."""
    return 1.0 if _check_direction(direction) == "increase" else -1.0


def interval(draws, prob: float = INTERVAL) -> Interval:
    """Posterior mean and equal-tailed ``prob`` interval of ``draws``."""
    arr = _draws(draws)
    tail = (1.0 - prob) / 2.0
    lo, hi = np.quantile(arr, [tail, 1.0 - tail])
    return Interval(float(arr.mean()), float(lo), float(hi), prob)


def p_works(draws, direction: str) -> float:
    """P(effect is in the good direction): strictly below 0 (decrease) or above 0 (increase)."""
    arr = _draws(draws)
    good = arr > 0 if _check_direction(direction) == "increase" else arr < 0
    return float(good.mean())


def p_beats_target(draws, target: float | None, direction: str) -> float | None:
    """P(effect is at least as good as ``target``); None when no target is agreed."""
    if target is None:
        return None
    arr = _draws(draws)
    good = arr >= target if _check_direction(direction) == "increase" else arr <= target
    return float(good.mean())


def monetised_benefit(draws, n_units: float, value_per_unit: float, direction: str,
                      prob: float = INTERVAL) -> Benefit:
    """Gross monetised benefit, draw by draw: good-direction effect x ``n_units`` x ``value_per_unit``.

    ``draws`` are absolute effects per unit on the business scale (for a binary outcome: a
    probability difference per person, e.g. -0.04 = 4 percentage points fewer leavers);
    ``n_units`` is how many units the program touched (treated people, or treated
    person-periods for panel designs); ``value_per_unit`` is currency per unit of outcome
    (e.g. 45000 per leaver avoided). A harmful effect gives a negative benefit.
    """
    arr = _draws(draws)
    if n_units < 0:
        raise ValueError("n_units must be >= 0")
    benefit = _sign(direction) * arr * float(n_units) * float(value_per_unit)
    iv = interval(benefit, prob)
    return Benefit(iv.mean, iv.lower, iv.upper, prob, float(n_units), float(value_per_unit), benefit)


def _pct(p: float, against: float | None = None) -> str:
    """An estimated probability as every table shows it (``<1%``, ``>99%``: finite draws never
    prove certainty); thresholds keep their plain percent. ``against``: the threshold the reason
    compares it with; where the whole percent would read as the threshold itself, one decimal
    (0.797 against 0.8 is "79.7% (scaling needs 80%)", not "80% (scaling needs 80%)")."""
    from lndbayes.formatting import fmt_pct

    shown = fmt_pct(p)
    if against is not None and p != against and shown == f"{against:.0%}":
        return f"{p * 100:.1f}%"
    return shown


def recommend(p_works: float | None, p_target: float | None, converged: bool,
              thresholds: Thresholds = DEFAULT_THRESHOLDS) -> Recommendation:
    """scale / iterate / stop with its reason, from the thresholds in the module docstring."""
    t = thresholds
    if not converged or p_works is None or not np.isfinite(p_works):
        return Recommendation(
            "iterate",
            "evidence unreliable: the model fit did not pass its convergence diagnostics, so no "
            "decision should rest on it. Fix the data or model and re-run before deciding")
    pw = f"P(works) = {_pct(p_works)}"
    if p_works < t.stop_p_works:
        return Recommendation(
            "stop", f"P(works) = {_pct(p_works, t.stop_p_works)}, below {t.stop_p_works:.0%}: the "
                    "program is more likely not to help than to help")
    if p_works >= t.scale_p_works:
        if p_target is None:
            return Recommendation(
                "scale", f"{pw} (at least {t.scale_p_works:.0%}); no target was agreed, so the "
                "target condition does not apply")
        if p_target >= t.scale_p_target:
            return Recommendation(
                "scale", f"{pw} (at least {t.scale_p_works:.0%}) and P(meets target) = "
                f"{_pct(p_target)} (at least {t.scale_p_target:.0%})")
        return Recommendation(
            "iterate", f"the program very likely works ({pw}) but probably falls short of the "
            f"agreed target (P(meets target) = {_pct(p_target, t.scale_p_target)}, below "
            f"{t.scale_p_target:.0%})")
    return Recommendation(
        "iterate", f"P(works) = {_pct(p_works, t.scale_p_works)}: promising but not yet convincing "
        "(scaling needs at least "
        f"{t.scale_p_works:.0%}); gather more evidence or improve the program")


# ---------------------------------------------------------------------------------------------
# Helpers that read an EffectResult / a programs.yaml entry (duck-typed; no heavy imports).

def _get(obj, name, default=None):
    if obj is None:
        return default
    if isinstance(obj, dict):
        return obj.get(name, default)
    return getattr(obj, name, default)


def target_for(program, outcome_id: str) -> tuple[float | None, str | None]:
    """The agreed target for ``outcome_id`` as (value, scale) with scale ``"rel"`` or ``"abs"``."""
    target = _get(program, "target")
    if target is None or _get(target, "outcome") != outcome_id:
        return None, None
    rel = _get(target, "relative_change")
    if rel is not None:
        return float(rel), "rel"
    absolute = _get(target, "absolute_change")
    if absolute is not None:
        return float(absolute), "abs"
    return None, None


@dataclass
class OutcomeDecision:
    """Everything the report says about one outcome."""

    outcome_id: str
    direction: str
    converged: bool
    effect_abs: Interval
    effect_rel: Interval | None
    p_works: float
    target: float | None
    target_scale: str | None
    p_target: float | None
    benefit: Benefit | None
    recommendation: Recommendation

    def to_dict(self) -> dict:
        return {
            "outcome": self.outcome_id, "direction": self.direction, "converged": bool(self.converged),
            "effect_abs": self.effect_abs.to_dict(),
            "effect_rel": None if self.effect_rel is None else self.effect_rel.to_dict(),
            "p_works": self.p_works, "target": self.target, "target_scale": self.target_scale,
            "p_target": self.p_target,
            "benefit": None if self.benefit is None else self.benefit.to_dict(),
            "recommendation": self.recommendation.action, "reason": self.recommendation.reason,
        }

    @classmethod
    def from_dict(cls, d: dict) -> "OutcomeDecision":
        """The inverse of :meth:`to_dict` (a saved analysis is read back without the draws)."""
        def iv(x):
            return None if x is None else Interval(x["mean"], x["lower"], x["upper"], x.get("prob", INTERVAL))

        b = d.get("benefit")
        benefit = None if b is None else Benefit(b["mean"], b["lower"], b["upper"], b.get("prob", INTERVAL),
                                                 b.get("n_units", 0.0), b.get("value_per_unit", 0.0))
        return cls(d["outcome"], d["direction"], bool(d["converged"]), iv(d["effect_abs"]),
                   iv(d.get("effect_rel")), d["p_works"], d.get("target"), d.get("target_scale"),
                   d.get("p_target"), benefit, Recommendation(d["recommendation"], d["reason"]))


def decide_outcome(abs_draws, rel_draws, *, outcome_id: str, direction: str, converged: bool,
                   target: float | None = None, target_scale: str | None = None,
                   n_units: float | None = None, value_per_unit: float | None = None,
                   thresholds: Thresholds = DEFAULT_THRESHOLDS) -> OutcomeDecision:
    """All decision numbers for one outcome from its absolute and relative effect draws."""
    eff_abs = interval(abs_draws)
    eff_rel = None if rel_draws is None else interval(rel_draws)
    pw = p_works(abs_draws, direction)
    pt = None
    if target is not None:
        pt = p_beats_target(rel_draws if target_scale == "rel" else abs_draws, target, direction)
    benefit = None
    if value_per_unit is not None and n_units:
        benefit = monetised_benefit(abs_draws, n_units, value_per_unit, direction)
    return OutcomeDecision(outcome_id, direction, bool(converged), eff_abs, eff_rel, pw, target,
                           target_scale, pt, benefit, recommend(pw, pt, converged, thresholds))


def _money(x: float, currency: str) -> str:
    from lndbayes.formatting import fmt_money

    return fmt_money(x, currency)


def rule_checks(p_works: float | None, p_target: float | None, p_roi: float | None,
                expected_net_benefit: float | None, thresholds: Thresholds = DEFAULT_THRESHOLDS,
                currency: str = "EUR") -> list[dict]:
    """Each condition of the money-and-odds rule with its value, threshold and whether it holds
    (what the report's rule table shows). Absent numbers (no target, no money) are left out."""
    t = thresholds
    out = []

    def add(name, value, op, threshold, role, shown, shown_t):
        if value is None or not np.isfinite(value):
            return
        ok = {">=": value >= threshold, ">": value > threshold, "<": value < threshold}[op]
        out.append({"name": name, "role": role, "op": op, "value": float(value), "threshold": float(threshold),
                    "ok": bool(ok), "value_text": shown, "threshold_text": f"{op} {shown_t}",
                    "display": f"{name} = {shown} ({op} {shown_t} to {role}: {'yes' if ok else 'no'})"})

    from lndbayes.formatting import fmt_pct as pct  # ">99%" like every other probability shown
    add("P(ROI > 0)", p_roi, ">=", t.scale_p_roi, "scale", pct(p_roi or 0), pct(t.scale_p_roi))
    add("expected net benefit", expected_net_benefit, ">", t.scale_min_net_benefit, "scale",
        _money(expected_net_benefit or 0, currency), _money(t.scale_min_net_benefit, currency))
    add("P(works)", p_works, ">=", t.scale_p_works, "scale", pct(p_works or 0), pct(t.scale_p_works))
    add("P(meets target)", p_target, ">=", t.scale_p_target, "scale", pct(p_target or 0), pct(t.scale_p_target))
    add("P(ROI > 0)", p_roi, "<", t.stop_p_roi, "stop", pct(p_roi or 0), pct(t.stop_p_roi))
    add("P(works)", p_works, "<", t.stop_p_works, "stop", pct(p_works or 0), pct(t.stop_p_works))
    return out


def rule_text(thresholds: Thresholds = DEFAULT_THRESHOLDS, basis: str = "money", currency: str = "EUR") -> str:
    """The scale / iterate / stop rule in words, with its thresholds (stated in every report)."""
    t = thresholds
    if basis == "money":
        return (f"Scale when P(ROI > 0) is at least {t.scale_p_roi:.0%}, the expected net benefit is above "
                f"{_money(t.scale_min_net_benefit, currency)}, P(works) is at least {t.scale_p_works:.0%} and, "
                f"when a target is agreed, P(meets target) is at least {t.scale_p_target:.0%}. Stop when "
                f"P(ROI > 0) is below {t.stop_p_roi:.0%} or P(works) is below {t.stop_p_works:.0%}. "
                "Otherwise iterate. A fit that failed its diagnostics, or an outcome that could not be "
                "estimated, never yields scale.")
    return (f"No outcome has a money value, so the rule uses the odds alone: scale when P(works) is at "
            f"least {t.scale_p_works:.0%} and, when a target is agreed, P(meets target) is at least "
            f"{t.scale_p_target:.0%}; stop when P(works) is below {t.stop_p_works:.0%}; otherwise iterate. "
            "A fit that failed its diagnostics never yields scale.")


def recommend_program(p_works: float | None, p_target: float | None, p_roi: float, expected_net_benefit: float,
                      converged: bool, thresholds: Thresholds = DEFAULT_THRESHOLDS,
                      currency: str = "EUR") -> Recommendation:
    """scale / iterate / stop from money and odds (the rule of the module docstring)."""
    t = thresholds
    if not converged or p_works is None or not np.isfinite(p_works) or not np.isfinite(p_roi):
        return Recommendation(
            "iterate",
            "evidence unreliable: the model fit did not pass its convergence diagnostics, so no "
            "decision should rest on it. Fix the data or model and re-run before deciding")
    roi = f"P(ROI > 0) = {_pct(p_roi)}"
    enb = f"expected net benefit {_money(expected_net_benefit, currency)}"
    if p_roi < t.stop_p_roi:
        return Recommendation("stop", f"P(ROI > 0) = {_pct(p_roi, t.stop_p_roi)}, below "
                                      f"{t.stop_p_roi:.0%} ({enb}): the program most likely "
                                      "returns less than it costs")
    if p_works < t.stop_p_works:
        return Recommendation("stop", f"P(works) = {_pct(p_works, t.stop_p_works)}, below "
                                      f"{t.stop_p_works:.0%}: the program "
                                      "is more likely not to help than to help")
    short = []
    if p_roi < t.scale_p_roi:
        short.append(f"P(ROI > 0) = {_pct(p_roi, t.scale_p_roi)} (scaling needs {t.scale_p_roi:.0%})")
    if not expected_net_benefit > t.scale_min_net_benefit:
        short.append(f"{enb} (scaling needs more than {_money(t.scale_min_net_benefit, currency)})")
    if p_works < t.scale_p_works:
        short.append(f"P(works) = {_pct(p_works, t.scale_p_works)} (scaling needs "
                     f"{t.scale_p_works:.0%})")
    if p_target is not None and p_target < t.scale_p_target:
        short.append(f"P(meets target) = {_pct(p_target, t.scale_p_target)} (scaling needs "
                     f"{t.scale_p_target:.0%})")
    if not short:
        tgt = "no target was agreed" if p_target is None else f"P(meets target) = {_pct(p_target)}"
        return Recommendation("scale", f"{roi}, {enb}, P(works) = {_pct(p_works)}, {tgt}: every scaling "
                                       "condition holds")
    return Recommendation("iterate", "not yet: " + "; ".join(short))


def decide_program(decisions: dict[str, OutcomeDecision], primary: str | None,
                   failed: dict[str, str] | None = None,
                   thresholds: Thresholds = DEFAULT_THRESHOLDS, roi=None,
                   currency: str = "EUR") -> Recommendation:
    """The program's recommendation.

    With ``roi`` (a :class:`lndbayes.roi.ProgramRoi`, or anything with ``p_roi_positive`` and
    ``expected_net_benefit``): :func:`recommend_program` on the program's money and the primary
    outcome's odds (the target's outcome, else the first). Without it: the primary outcome's
    odds-only recommendation. Any outcome whose fit failed diagnostics (or could not be fitted
    at all) turns a *scale* into *iterate*: the evidence as a whole is not reliable yet.
    """
    failed = failed or {}
    if not decisions:
        return Recommendation("iterate", "evidence unreliable: no outcome could be estimated")
    key = primary if primary in decisions else next(iter(decisions))
    d = decisions[key]
    rec = d.recommendation
    if roi is not None:
        rec = recommend_program(d.p_works, d.p_target, roi.p_roi_positive, roi.expected_net_benefit,
                                all(x.converged for x in decisions.values()), thresholds, currency)
    unreliable = [o for o, x in decisions.items() if not x.converged] + list(failed)
    if rec.action == "scale" and unreliable:
        return Recommendation(
            "iterate", f"evidence unreliable: the primary outcome ({key}) supports scaling, but "
            f"{', '.join(unreliable)} did not pass its checks")
    if primary and primary not in decisions and primary in failed:
        return Recommendation(
            "iterate", f"evidence unreliable: the target outcome ({primary}) could not be estimated")
    if roi is not None:
        return rec
    return Recommendation(rec.action, f"{key}: {rec.reason}" if len(decisions) > 1 else rec.reason)

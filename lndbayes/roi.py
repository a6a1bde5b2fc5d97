"""Return on investment, the Phillips way, on posterior draws.

Everything is computed draw by draw from the business-scale effect draws
(``average_effect_abs`` of each outcome's :class:`~lndbayes.results.EffectResult`), so every
number has its 90% interval and its probabilities are exact shares of draws.

Definitions (docs/decisions.md has a worked example)
-----------------------------------------------------
For a monetised outcome :math:`k` (one with ``value_per_unit`` :math:`V_k`) with effect draws
:math:`e_k^{(s)}` (business scale, per analysed unit) and direction sign :math:`d_k` (+1 when
larger is better, -1 when smaller is better):

* **units** :math:`U_k` = outcome units the receiving population produces over the horizon
  :math:`H` (``roi.horizon_months``, default 12):
  :math:`U_k = u_k \\times H \\times P / P_{obs}`, where :math:`u_k` is the units per month
  observed in the treated arm (:func:`units_per_month`), :math:`P` the participants counted
  (``roi.participants``, default the observed :math:`P_{obs}`).
* **benefit** :math:`B^{(s)} = \\sum_k d_k\\, e_k^{(s)}\\, U_k\\, V_k` (draw by draw, not means).
* **costs** (fully loaded) :math:`C = c_p P + C_{fixed}` (``program.cost_per_participant``,
  ``program.fixed_cost``).
* **net benefit** :math:`NB = B - C`; **ROI** = :math:`NB / C` (shown in %);
  **benefit-cost ratio** :math:`BCR = B / C`; **P(ROI > 0)** = share of draws with
  :math:`NB > 0` (also when :math:`C = 0`, where ROI itself is undefined).
* **break-even effect** of outcome :math:`k`: the effect at which ROI = 0 were this outcome
  the program's only benefit, :math:`e_k^* = d_k\\, C / (U_k V_k)`, in the KPI's own units (the
  same scale as ``effect_abs``). (Counting the other outcomes at their mean would make one
  outcome's break-even depend on the others' values, and turn positive for a decrease-is-good
  KPI when the others already pay the costs; :func:`break_even_effect` takes ``other_benefit``
  for that reading.)
* **payback time** (months): costs are paid up front. A one-off benefit ("once" accrual: one
  value per person who receives the program) is counted at once, when people receive it; the
  benefit of "level" and "event" outcomes accrues evenly over the horizon, at
  :math:`B_{even}/H` a month. So per draw, with :math:`B_{once}` the one-off part:
  payback = 0 when :math:`B_{once} \\ge C`, else :math:`H\\,(C - B_{once}) / B_{even}` (never,
  when :math:`B \\le 0` or the even part does not grow). Reported as the median and 90%
  interval; a value above :math:`H` assumes the even benefit goes on at the same rate after the
  horizon (a one-off benefit does not recur).

Outcomes without ``value_per_unit`` are **intangibles**: listed, never put into money.
Outcomes are fitted separately, so their draws are independent samples; several outcomes are
added by draw index after aligning them to the same number of draws (:func:`align_draws`):
the sum is the benefit's distribution *as if the outcomes' effects were independent*. No joint
fit exists to pair them properly, so :func:`comonotonic_benefit` gives the other extreme,
perfect positive dependence (each outcome's draws sorted and added rank by rank), and the
report shows both intervals (``ProgramRoi.dependence``).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Mapping

import numpy as np

from lndbayes import INTERVAL
from lndbayes.decisions import Interval, interval

ACCRUALS = ("event", "level", "once")

#: How one unit of a family's outcome turns into money over time (family names of
#: lndbayes.models.families). A family entry may override it with a ``value_accrual``
#: attribute. "level": a KPI level worth value_per_unit per unit-month; "event": events over
#: the outcome window; "once": one value per person who receives the program.
_ACCRUAL = {"binary": "event", "count": "event", "time_to_event": "once"}

ACCRUAL_WORDS = {
    "level": "a level kept every month (value per unit of the KPI per unit-month)",
    "event": "events (value per event)",
    "once": "one value per person who receives the program",
}


def accrual_of(family: str) -> str:
    """"level", "event" or "once" for a family name (see :data:`_ACCRUAL`)."""
    from lndbayes.models.families import get_family

    fam = get_family(family)
    acc = getattr(fam, "value_accrual", None) or _ACCRUAL.get(fam.name, "level")
    if acc not in ACCRUALS:
        raise ValueError(f"value accrual of family {family!r} must be one of {ACCRUALS}, not {acc!r}")
    return acc


# ---------------------------------------------------------------------------------------------
# Inputs

@dataclass(frozen=True)
class OutcomeMoney:
    """How one outcome's effect becomes money: ``benefit = sign x effect x units x value_per_unit``.

    ``units`` is the number of outcome units the receiving population produces over the horizon
    (already scaled by horizon and participants); the other fields say how it was found.
    """

    outcome_id: str
    direction: str
    value_per_unit: float
    units: float
    units_per_month: float = float("nan")
    accrual: str = "level"
    horizon_months: float = 12.0
    participant_scale: float = 1.0
    measured_on: str | None = None
    kpi: str | None = None
    family: str | None = None
    basis: str = ""                  # how the units per month were counted, in words

    @property
    def sign(self) -> float:
        if self.direction not in ("increase", "decrease"):
            raise ValueError(f"direction must be 'increase' or 'decrease', not {self.direction!r}")
        return 1.0 if self.direction == "increase" else -1.0

    @property
    def per_effect_unit(self) -> float:
        """Currency per one unit of effect in the good direction (units x value)."""
        return float(self.units) * float(self.value_per_unit)

    def to_dict(self) -> dict:
        return {k: (None if isinstance(v, float) and not math.isfinite(v) else v)
                for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, d: dict) -> "OutcomeMoney":
        d = dict(d)
        if d.get("units_per_month") is None:
            d["units_per_month"] = float("nan")
        return cls(**d)


@dataclass(frozen=True)
class Costs:
    """Fully loaded costs: ``cost_per_participant x participants + fixed_cost``."""

    cost_per_participant: float
    participants: float
    fixed_cost: float

    def __post_init__(self):
        for name in ("cost_per_participant", "participants", "fixed_cost"):
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
                raise ValueError(f"{name} must be a number >= 0, not {v!r}")

    @property
    def total(self) -> float:
        return float(self.cost_per_participant) * float(self.participants) + float(self.fixed_cost)

    def to_dict(self) -> dict:
        return {"per_participant": float(self.cost_per_participant), "participants": float(self.participants),
                "fixed": float(self.fixed_cost), "total": self.total}

    @classmethod
    def from_dict(cls, d: dict) -> "Costs":
        return cls(d["per_participant"], d["participants"], d["fixed"])


# ---------------------------------------------------------------------------------------------
# Units: how many outcome units the treated arm produces per month (the arithmetic of the docs)

def _month(p) -> int:
    y, m = str(p)[:7].split("-")
    return int(y) * 12 + int(m) - 1


def units_per_month(panel) -> tuple[float, str, str]:
    """(units per month, accrual, how it was counted) from a fitted panel's treated arm.

    The effect draws are per analysed row (per unit over the window for one-row-per-unit
    layouts, per unit-month for panel layouts, per exposure unit for count outcomes), so the
    units are counted on the same rows: treated rows (and post-start rows where the design has a
    before and after), weighted by their ``exposure`` (1 for most families; tickets, headcount or
    months for count outcomes; the headcount behind a team's share of an HRIS event).

    * ``unit_period`` layout (pre/post, staggered): each row is one month, so the units per month
      are, per treated unit, its mean exposure over its post rows, summed over units.
    * ``unit`` layout, "event" accrual (binary, count): each row holds the events of one
      ``window_months`` window: units per month = sum of exposure / window_months.
    * ``unit`` layout, "level" accrual (normal, lognormal, ordinal): the effect is a monthly level
      kept by each unit: units per month = sum of exposure (the number of treated units).
    * "once" accrual (time to event): one value per treated person, at the rate they joined:
      treated rows / months spanned by their hire months (first to last, inclusive).
    """
    d = panel.data
    m = panel.meta
    acc = accrual_of(m.family)
    mask = d["treated"] == 1
    if "post" in d.columns and d["post"].notna().any():
        mask &= d["post"] == 1
    rows = d.loc[mask]
    if rows.empty:
        return 0.0, acc, "no treated rows"
    expo = rows["exposure"].fillna(1.0) if "exposure" in rows else np.ones(len(rows))
    if acc == "once":
        periods = rows["period"].dropna()
        months = (_month(periods.max()) - _month(periods.min()) + 1) if len(periods) else 1
        return (float(len(rows)) / months, acc,
                f"{len(rows)} treated people who joined over {months} months")
    if m.layout == "unit_period":
        per_unit = rows.assign(_e=np.asarray(expo, dtype=float)).groupby("unit")["_e"].mean()
        return (float(per_unit.sum()), acc,
                f"{len(per_unit)} treated units, their mean exposure per month after the start summed")
    total = float(np.sum(expo))
    if acc == "event":
        return (total / m.window_months, acc,
                f"{total:,.0f} treated units of exposure per {m.window_months}-month window")
    return total, acc, f"{total:,.0f} treated units, each keeping the level every month"


def participants_observed(org, program) -> int:
    """People who received the program in the study: population members in the treated arm
    (assignments, else enrolments) still employed at the program start or hired later."""
    import pandas as pd

    from lndbayes.design.arms import arms
    from lndbayes.design.panel import population

    emp, pop, member, _teams, source, _warnings = population(org, program)
    start = pd.Timestamp(program.design.start)
    term = pd.to_datetime(pop["termination_date"])
    still = (term.isna() | (term >= start)).to_numpy()
    if source == "assignments":
        # an assigned member's arm is their own or their team's assignment, whoever else is in
        # the population: the panels' arms, row for row
        return int((member["treated"].to_numpy()[still] == 1).sum())
    # from enrolments, a team's start is its members' first enrolment: those who left before
    # the start must not count, so the arms are drawn again without them
    member, _teams, _src = arms(org, program, emp, pop[still], [])
    return int((member["treated"] == 1).sum())


def outcome_money(panel, outcome, *, horizon_months: float, participant_scale: float = 1.0) -> OutcomeMoney:
    """The :class:`OutcomeMoney` of a monetised ``outcome`` (a programs.yaml Outcome) fitted on ``panel``."""
    if outcome.value_per_unit is None:
        raise ValueError(f"outcome {outcome.id} has no value_per_unit: it is an intangible")
    per_month, acc, how = units_per_month(panel)
    return OutcomeMoney(
        outcome_id=outcome.id, direction=outcome.direction, value_per_unit=float(outcome.value_per_unit),
        units=per_month * float(horizon_months) * float(participant_scale), units_per_month=per_month,
        accrual=acc, horizon_months=float(horizon_months), participant_scale=float(participant_scale),
        measured_on=outcome.measured_on, kpi=outcome.kpi, family=outcome.family, basis=how)


def overlap_warnings(program, monetised: list[str]) -> list[str]:
    """Pairs of monetised outcomes that may count the same gain twice.

    Rule: two monetised outcomes measured on the same people (same ``measured_on``) may count
    one gain twice (fewer leavers and more promotion-ready reports are partly the same people
    staying; a faster first deal is part of quota attainment), unless ``roi.separate`` confirms
    the pair as distinct gains; ``roi.overlaps`` adds pairs (with a note) the rule misses.
    """
    roi = getattr(program, "roi", None)
    separate = {frozenset(p) for p in (roi.separate if roi else [])}
    by_id = {o.id: o for o in program.outcomes}
    out, seen = [], set()
    for note in (roi.overlaps if roi else []):
        pair = frozenset(note.outcomes)
        if pair <= set(monetised) and pair not in seen:
            seen.add(pair)
            a, b = note.outcomes
            out.append(f"{a} and {b} may count the same gain twice"
                       + (f": {note.note}" if note.note else " (roi.overlaps)"))
    for i, a in enumerate(monetised):
        for b in monetised[i + 1:]:
            pair = frozenset((a, b))
            if pair in seen or pair in separate:
                continue
            oa, ob = by_id[a], by_id[b]
            if oa.measured_on == ob.measured_on:
                seen.add(pair)
                who = oa.measured_on.replace("_", " ")
                out.append(f"{a} and {b} are both measured on the same people ({who}), so their "
                           "benefits may count the same gain twice; if they are distinct gains say "
                           f"so with roi.separate: [[{a}, {b}]], else leave one out with roi.exclude")
    return out


def roi_inputs(org, program, panels: Mapping, *, observed: int | None = None
               ) -> tuple[dict[str, OutcomeMoney], Costs, list[str]]:
    """(money per monetised outcome, costs, intangible outcome ids) of ``program`` from its
    built panels ({outcome id: Panel}); outcomes without a panel are left out. ``observed``:
    the participants observed (default :func:`participants_observed`)."""
    settings = program.roi
    horizon = settings.horizon_months if settings else 12
    excluded = set(settings.exclude) if settings else set()
    observed = participants_observed(org, program) if observed is None else observed
    participants = settings.participants if settings and settings.participants else observed
    scale = participants / observed if observed else 1.0
    money, intangibles = {}, []
    for o in program.outcomes:
        if o.id not in panels:
            continue
        if o.value_per_unit is None or o.id in excluded:
            intangibles.append(o.id)
            continue
        money[o.id] = outcome_money(panels[o.id], o, horizon_months=horizon, participant_scale=scale)
    costs = Costs(float(program.program.cost_per_participant), float(participants),
                  float(program.program.fixed_cost))
    return money, costs, intangibles


# ---------------------------------------------------------------------------------------------
# Draws

def align_draws(effects: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The same number of draws for every outcome.

    Equal counts are kept as they are (paired by index). When counts differ, each longer set is
    thinned to the shortest count at evenly spaced positions (``round(linspace(0, n-1, m))``), so
    every chain stays represented in its share; nothing is resampled at random.
    """
    arrs = {k: np.asarray(v, dtype=float).ravel() for k, v in effects.items()}
    if not arrs:
        return {}
    n = min(a.size for a in arrs.values())
    if n == 0:
        raise ValueError("an outcome has no posterior draws")
    return {k: a if a.size == n else a[np.round(np.linspace(0, a.size - 1, n)).astype(int)]
            for k, a in arrs.items()}


@dataclass
class RoiDraws:
    """Draw-by-draw benefit, net benefit, ROI (fraction) and benefit-cost ratio."""

    by_outcome: dict[str, np.ndarray]
    benefit: np.ndarray
    cost: float
    net_benefit: np.ndarray
    roi: np.ndarray | None         # None when the total cost is 0 (ROI undefined)
    bcr: np.ndarray | None

    @property
    def n_draws(self) -> int:
        return int(self.benefit.size)

    @property
    def p_roi_positive(self) -> float:
        """P(ROI > 0) = P(net benefit > 0) (defined also when costs are 0)."""
        return float(np.mean(self.net_benefit > 0))


def roi_draws(effects: Mapping[str, np.ndarray], money: Mapping[str, OutcomeMoney], costs: Costs) -> RoiDraws:
    """Benefit, net benefit and ROI draw by draw from each monetised outcome's effect draws.

    ``effects``: {outcome id: business-scale effect draws}; only the outcomes in ``money`` count
    (others are intangibles). Draws are aligned with :func:`align_draws`.
    """
    keys = [k for k in money if k in effects]
    if not keys:
        raise ValueError("no monetised outcome has effect draws")
    aligned = align_draws({k: effects[k] for k in keys})
    by = {}
    for k in keys:
        a = aligned[k]
        if not np.all(np.isfinite(a)):
            raise ValueError(f"effect draws of {k} are not all finite")
        by[k] = money[k].sign * a * money[k].per_effect_unit
    benefit = np.sum(list(by.values()), axis=0)
    cost = costs.total
    net = benefit - cost
    roi = net / cost if cost > 0 else None
    bcr = benefit / cost if cost > 0 else None
    return RoiDraws(by, benefit, cost, net, roi, bcr)


def comonotonic_benefit(by_outcome: Mapping[str, np.ndarray]) -> np.ndarray:
    """Total benefit draws under perfect positive dependence between the outcomes: each
    outcome's benefit draws sorted and added rank by rank (the comonotonic sum: its quantiles
    are the sums of the outcomes' quantiles and its variance the largest any dependence gives;
    the mean is unchanged)."""
    return np.sum([np.sort(np.asarray(v, dtype=float)) for v in by_outcome.values()], axis=0)


def dependence_check(rd: "RoiDraws", prob: float = INTERVAL) -> dict | None:
    """How the net benefit, ROI and P(ROI > 0) would change were the monetised outcomes perfectly
    positively correlated instead of independent (None with fewer than two outcomes)."""
    if len(rd.by_outcome) < 2:
        return None
    nb = comonotonic_benefit(rd.by_outcome) - rd.cost
    return {"assumed": "independent", "extreme": "perfect positive correlation (sorted draws)",
            "net_benefit": interval(nb, prob).to_dict(),
            "roi": None if rd.cost <= 0 else interval(nb / rd.cost, prob).to_dict(),
            "p_roi_positive": float(np.mean(nb > 0))}


def p_roi_positive(effects: Mapping[str, np.ndarray], money: Mapping[str, OutcomeMoney], costs: Costs) -> float:
    """P(ROI > 0) from effect draws (the number interim monitoring shows at each checkpoint)."""
    return roi_draws(effects, money, costs).p_roi_positive


def break_even_effect(money: OutcomeMoney, cost: float, other_benefit: float = 0.0) -> float:
    """The effect (KPI business scale, same sign convention as the effect draws) at which ROI = 0,
    with the other monetised outcomes contributing ``other_benefit`` (their mean benefit)."""
    per = money.per_effect_unit
    if per <= 0:
        return float("nan")
    return money.sign * (cost - other_benefit) / per


def payback_months(benefit: np.ndarray, cost: float, horizon_months: float,
                   once: np.ndarray | None = None) -> np.ndarray:
    """Months until the cumulative benefit repays the cost (paid up front); inf when it never does.

    ``benefit``: the total benefit over the horizon per draw; ``once``: its one-off part (counted
    at month 0, when people receive the program; default none), the rest accrues evenly over
    ``horizon_months``. A one-off gain with a lasting loss (even part < 0) is paid back at once
    when the total still covers the cost over the horizon, else never.
    """
    b = np.asarray(benefit, dtype=float)
    o = np.zeros_like(b) if once is None else np.broadcast_to(np.asarray(once, dtype=float), b.shape)
    even = b - o
    with np.errstate(divide="ignore", invalid="ignore"):
        rest = np.where(even > 0, horizon_months * (cost - o) / np.where(even > 0, even, 1.0), np.inf)
    at_once = (o >= cost) & ((even >= 0) | (b >= cost))
    return np.where(b <= 0, np.inf, np.where(at_once, 0.0, rest))


def _quantiles_inf(x: np.ndarray, prob: float = INTERVAL) -> dict:
    """Median and equal-tailed interval of draws that may be inf (inverted CDF: no interpolation
    between a finite and an infinite draw); inf becomes None ("never")."""
    tail = (1 - prob) / 2
    q = np.quantile(x, [tail, 0.5, 1 - tail], method="inverted_cdf")
    f = [None if not np.isfinite(v) else float(v) for v in q]
    return {"median": f[1], "lower": f[0], "upper": f[2], "prob": prob,
            "p_within_horizon": None}


# ---------------------------------------------------------------------------------------------
# The program's ROI

@dataclass
class ProgramRoi:
    """All ROI numbers of one program (saved in analysis.json; draws are not saved)."""

    currency: str
    horizon_months: float
    participants: float
    participants_observed: int
    participants_source: str          # "observed" | "programs.yaml"
    costs: Costs
    money: dict[str, OutcomeMoney]
    benefit: Interval
    net_benefit: Interval
    roi: Interval | None              # fraction (x100 for %)
    bcr: Interval | None
    p_roi_positive: float
    payback: dict                     # median, lower, upper (None = never), prob, p_within_horizon
    outcome_benefit: dict[str, Interval]
    break_even: dict[str, float]      # outcome id -> effect at which ROI = 0 on it alone (KPI scale)
    intangibles: list[str]
    excluded: list[str]
    overlap_warnings: list[str]
    n_draws: int
    aligned: str                      # how draws were aligned, in words
    draws: RoiDraws | None = field(default=None, repr=False)
    #: net_benefit/roi/p_roi_positive were the outcomes perfectly positively correlated (two or
    #: more monetised outcomes; None otherwise): see :func:`dependence_check`
    dependence: dict | None = None

    @property
    def expected_net_benefit(self) -> float:
        return float(self.net_benefit.mean)

    def to_dict(self) -> dict:
        iv = lambda x: None if x is None else x.to_dict()  # noqa: E731
        return {"currency": self.currency, "horizon_months": self.horizon_months,
                "participants": self.participants, "participants_observed": self.participants_observed,
                "participants_source": self.participants_source, "costs": self.costs.to_dict(),
                "money": {k: m.to_dict() for k, m in self.money.items()},
                "benefit": iv(self.benefit), "net_benefit": iv(self.net_benefit), "roi": iv(self.roi),
                "bcr": iv(self.bcr), "p_roi_positive": self.p_roi_positive, "payback": self.payback,
                "outcome_benefit": {k: iv(v) for k, v in self.outcome_benefit.items()},
                "break_even": {k: (None if not math.isfinite(v) else v) for k, v in self.break_even.items()},
                "intangibles": list(self.intangibles), "excluded": list(self.excluded),
                "overlap_warnings": list(self.overlap_warnings), "n_draws": self.n_draws,
                "aligned": self.aligned, "dependence": self.dependence}

    @classmethod
    def from_dict(cls, d: dict) -> "ProgramRoi":
        def iv(x):
            return None if x is None else Interval(x["mean"], x["lower"], x["upper"], x.get("prob", INTERVAL))

        return cls(d["currency"], d["horizon_months"], d["participants"], d["participants_observed"],
                   d["participants_source"], Costs.from_dict(d["costs"]),
                   {k: OutcomeMoney.from_dict(m) for k, m in d["money"].items()}, iv(d["benefit"]),
                   iv(d["net_benefit"]), iv(d["roi"]), iv(d["bcr"]), d["p_roi_positive"], d["payback"],
                   {k: iv(v) for k, v in d["outcome_benefit"].items()},
                   {k: (float("nan") if v is None else v) for k, v in d["break_even"].items()},
                   d["intangibles"], d["excluded"], d["overlap_warnings"], d["n_draws"], d["aligned"],
                   dependence=d.get("dependence"))


def program_roi(effects: Mapping[str, np.ndarray], money: Mapping[str, OutcomeMoney], costs: Costs, *,
                currency: str = "EUR", horizon_months: float = 12, participants_observed: int | None = None,
                participants_source: str = "observed", intangibles=(), excluded=(),
                overlap_warnings=(), prob: float = INTERVAL) -> ProgramRoi:
    """ROI %, benefit-cost ratio, P(ROI > 0), net benefit, break-even effects and payback time
    of a program, from each monetised outcome's effect draws (module docstring)."""
    sizes = {k: np.asarray(effects[k]).size for k in money if k in effects}
    rd = roi_draws(effects, money, costs)
    aligned = ("all outcomes have the same number of draws, paired by index" if len(set(sizes.values())) <= 1
               else f"draw counts differ ({', '.join(f'{k}: {n}' for k, n in sizes.items())}); each was "
                    f"thinned to {rd.n_draws} evenly spaced draws")
    cost = rd.cost
    be = {k: break_even_effect(money[k], cost) for k in rd.by_outcome}
    once = [v for k, v in rd.by_outcome.items() if money[k].accrual == "once"]
    pb = payback_months(rd.benefit, cost, horizon_months, once=np.sum(once, axis=0) if once else None)
    payback = _quantiles_inf(pb, prob)
    payback["p_within_horizon"] = float(np.mean(pb <= horizon_months))
    return ProgramRoi(
        currency=currency, horizon_months=float(horizon_months), participants=float(costs.participants),
        participants_observed=int(costs.participants if participants_observed is None else participants_observed),
        participants_source=participants_source, costs=costs, money=dict(money),
        benefit=interval(rd.benefit, prob), net_benefit=interval(rd.net_benefit, prob),
        roi=None if rd.roi is None else interval(rd.roi, prob),
        bcr=None if rd.bcr is None else interval(rd.bcr, prob), p_roi_positive=rd.p_roi_positive,
        payback=payback, outcome_benefit={k: interval(v, prob) for k, v in rd.by_outcome.items()},
        break_even=be, intangibles=list(intangibles), excluded=list(excluded),
        overlap_warnings=list(overlap_warnings), n_draws=rd.n_draws, aligned=aligned, draws=rd,
        dependence=dependence_check(rd, prob))


def roi_for_program(org, program, panels: Mapping, effects: Mapping[str, np.ndarray], *,
                    currency: str = "EUR") -> ProgramRoi | None:
    """The :class:`ProgramRoi` of ``program`` from its built panels and each outcome's effect
    draws ({outcome id: average_effect_abs draws}); None when no fitted outcome has a money
    value (then the program has intangibles only)."""
    settings = program.roi
    horizon = settings.horizon_months if settings else 12
    observed = participants_observed(org, program)
    fitted = {k: v for k, v in panels.items() if k in effects}
    money, costs, intangibles = roi_inputs(org, program, fitted, observed=observed)
    if not money:
        return None
    excluded = [o for o in (settings.exclude if settings else []) if o in fitted]
    return program_roi(
        {k: effects[k] for k in money}, money, costs, currency=currency, horizon_months=horizon,
        participants_observed=observed,
        participants_source="programs.yaml" if settings and settings.participants else "observed",
        intangibles=intangibles, excluded=excluded, overlap_warnings=overlap_warnings(program, list(money)))

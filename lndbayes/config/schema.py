"""The schema of programs.yaml: one pydantic model per section, unknown fields forbidden.

Every field is documented in docs/programs-yaml.md; lndbayes.config.loader reads the YAML
into these models and turns pydantic's errors into ConfigErrors that name the line.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Annotated, Literal

import pandas as pd
import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    model_validator,
)
from pydantic_core import PydanticCustomError

from lndbayes.design.designs import DESIGNS
from lndbayes.errors import ConfigError, ModelInputError
from lndbayes.models.families import FAMILIES

__all__ = [
    "Organisation",
    "Alignment",
    "LevelRange",
    "Population",
    "ProgramDetails",
    "Design",
    "Outcome",
    "Target",
    "OverlapNote",
    "RoiSettings",
    "DecisionRule",
    "Kirkpatrick",
    "Program",
    "ProgramsConfig",
    "employed_at",
    "dotted_path",
    "HRIS_KPIS",
]

#: KPIs derived from the HRIS tables rather than kpis.csv.
HRIS_KPIS = ("attrition", "promotion")

ProgramType = Literal["coaching", "microlearning", "course", "workshop", "elearning", "other"]
# the designs and families programs.yaml may name are the registered ones (one list each)
DesignType = Literal[tuple(DESIGNS)]
UnitType = Literal["employee", "team"]
Family = Literal[FAMILIES]
Direction = Literal["increase", "decrease"]
MeasuredOn = Literal["participants", "direct_reports", "team"]

_ID_PATTERN = r"^[a-z0-9_]+$"


def _scalar_to_list(v):
    """``department: Sales`` means ``department: [Sales]``."""
    if isinstance(v, (str, int, float)) and not isinstance(v, bool):
        return [str(v)]
    return v


StrList = Annotated[list[str], BeforeValidator(_scalar_to_list)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=False)


class Organisation(_Model):
    name: str = "Organisation"
    currency: str = "EUR"
    privacy_min_group: int = Field(5, ge=1)
    #: the organisation's goals (programs name theirs in alignment.organisational_goal); the
    #: alignment map (lndbayes.alignment) shows a goal listed here that no program serves as
    #: one without evidence
    goals: list[str] = Field(default_factory=list)


class Alignment(_Model):
    organisational_goal: str | None = None
    department_kpi: str | None = None
    campaign: str | None = None
    products: list[str] = Field(default_factory=list)


class LevelRange(_Model):
    min: int | None = None
    max: int | None = None

    @model_validator(mode="after")
    def _ordered(self):
        if self.min is not None and self.max is not None and self.min > self.max:
            raise PydanticCustomError(
                "level_order", "level min ({lo}) is above max ({hi})", {"lo": self.min, "hi": self.max}
            )
        return self


class Population(_Model):
    """A filter on HRIS attributes; every key is optional and all given keys are ANDed.

    ``hired_after`` is inclusive (hired on or after), ``hired_before`` exclusive (hired
    strictly before). An empty population selects everybody.
    """

    department: StrList | None = None
    role: StrList | None = None
    team: StrList | None = None
    level: LevelRange | None = None
    hired_after: date | None = None
    hired_before: date | None = None

    def masks(self, employees: pd.DataFrame) -> dict[str, pd.Series]:
        """One boolean mask per given filter key (used to explain an empty selection)."""
        out: dict[str, pd.Series] = {}
        for key in ("department", "role", "team"):
            values = getattr(self, key)
            if values is not None:
                col = employees[key] if key in employees else pd.Series(pd.NA, index=employees.index)
                out[key] = col.astype("str").isin(values) & col.notna()
        if self.level is not None:
            lvl = pd.to_numeric(employees.get("level", pd.Series(pd.NA, index=employees.index)),
                                errors="coerce")
            m = lvl.notna()
            if self.level.min is not None:
                m &= lvl >= self.level.min
            if self.level.max is not None:
                m &= lvl <= self.level.max
            out["level"] = m.fillna(False).astype(bool)
        hired = pd.to_datetime(employees.get("hire_date", pd.Series(pd.NaT, index=employees.index)))
        if self.hired_after is not None:
            out["hired_after"] = (hired >= pd.Timestamp(self.hired_after)).fillna(False)
        if self.hired_before is not None:
            out["hired_before"] = (hired < pd.Timestamp(self.hired_before)).fillna(False)
        return out

    def select(self, employees: pd.DataFrame, at: date | None = None) -> pd.Series:
        """Boolean Series (aligned on ``employees``): who matches the filter.

        With ``at``, also only those employed on that day (hired on/before ``at`` and not
        terminated before it).
        """
        mask = pd.Series(True, index=employees.index)
        for m in self.masks(employees).values():
            mask &= m.astype(bool)
        if at is not None:
            mask &= employed_at(employees, at)
        return mask.astype(bool)


def employed_at(employees: pd.DataFrame, at) -> pd.Series:
    """Hired on/before ``at`` and not terminated before ``at``."""
    at = pd.Timestamp(at)
    hired = pd.to_datetime(employees["hire_date"])
    term = pd.to_datetime(employees["termination_date"]) if "termination_date" in employees \
        else pd.Series(pd.NaT, index=employees.index)
    return ((hired <= at) & (term.isna() | (term >= at))).fillna(False).astype(bool)


class ProgramDetails(_Model):
    type: ProgramType
    sessions: int | None = Field(None, ge=0)
    duration_weeks: float | None = Field(None, ge=0)
    cost_per_participant: float = Field(0.0, ge=0)
    fixed_cost: float = Field(0.0, ge=0)
    lms_activity_prefix: str | None = None
    skills: list[str] = Field(default_factory=list)


class Design(_Model):
    type: DesignType
    unit: UnitType = "employee"
    start: date


class Outcome(_Model):
    id: str = Field(pattern=_ID_PATTERN)
    kpi: str
    family: Family
    level: int = Field(4, ge=1, le=4)
    direction: Direction
    measured_on: MeasuredOn = "participants"
    window_months: int = Field(12, ge=1)
    exposure: str | None = None
    value_per_unit: float | None = Field(None, gt=0)
    unit_label: str | None = None


class Target(_Model):
    outcome: str
    relative_change: float | None = None
    absolute_change: float | None = None
    description: str | None = None

    @model_validator(mode="after")
    def _exactly_one(self):
        if (self.relative_change is None) == (self.absolute_change is None):
            raise PydanticCustomError(
                "target_change", "give exactly one of relative_change or absolute_change"
            )
        return self


class OverlapNote(_Model):
    """Two monetised outcomes whose benefits may count the same gain (warned on the report)."""

    outcomes: list[str] = Field(min_length=2, max_length=2)
    note: str | None = None


class RoiSettings(_Model):
    """How the program's return on investment is counted (docs/decisions.md).

    ``horizon_months``: months over which benefits are counted; ``participants``: people who
    receive the program (default: the population members in the treated arm); ``overlaps``:
    pairs that may count the same gain (warned); ``separate``: pairs confirmed to be distinct
    gains (no warning); ``exclude``: outcomes whose money is left out (listed as intangibles).
    """

    horizon_months: int = Field(12, ge=1)
    participants: int | None = Field(None, ge=1)
    overlaps: list[OverlapNote] = Field(default_factory=list)
    separate: list[Annotated[list[str], Field(min_length=2, max_length=2)]] = Field(default_factory=list)
    exclude: list[str] = Field(default_factory=list)


class DecisionRule(_Model):
    """Thresholds of the scale / iterate / stop rule (lndbayes.decisions, docs/decisions.md)."""

    scale_p_roi: float = Field(0.8, ge=0, le=1)
    scale_min_net_benefit: float = 0.0
    scale_p_works: float = Field(0.9, ge=0, le=1)
    scale_p_target: float = Field(0.5, ge=0, le=1)
    stop_p_roi: float = Field(0.2, ge=0, le=1)
    stop_p_works: float = Field(0.5, ge=0, le=1)

    @model_validator(mode="after")
    def _ordered(self):
        for stop, scale in (("stop_p_roi", "scale_p_roi"), ("stop_p_works", "scale_p_works")):
            if getattr(self, stop) > getattr(self, scale):
                raise PydanticCustomError(
                    "decision_order", "{stop} ({lo}) is above {scale} ({hi})",
                    {"stop": stop, "scale": scale, "lo": getattr(self, stop), "hi": getattr(self, scale)})
        return self


class Kirkpatrick(_Model):
    """The Kirkpatrick chain program -> learning (L2) -> behaviour (L3) -> results (L4), for
    lndbayes.mediation.kirkpatrick_chain: kpis.csv KPIs measured on the program's units, each
    averaged over ``window_months`` from the design start (baseline: the months before)."""

    learning: str | None = None
    behaviour: str | None = None
    results: str
    window_months: int = Field(12, ge=1)

    @model_validator(mode="after")
    def _a_mediator(self):
        if self.learning is None and self.behaviour is None:
            raise PydanticCustomError(
                "kirkpatrick_mediator", "name at least one of learning (L2) or behaviour (L3)")
        return self


class Program(_Model):
    id: str = Field(pattern=_ID_PATTERN)
    name: str
    alignment: Alignment = Field(default_factory=Alignment)
    population: Population = Field(default_factory=Population)
    program: ProgramDetails
    design: Design
    outcomes: list[Outcome] = Field(min_length=1)
    target: Target | None = None
    roi: RoiSettings | None = None
    decision: DecisionRule | None = None
    kirkpatrick: Kirkpatrick | None = None

    # where this program came from: file name and {field path tuple: YAML line}
    _file: str | None = PrivateAttr(default=None)
    _lines: dict = PrivateAttr(default_factory=dict)
    _index: int | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _cross_checks(self):
        seen: dict[str, int] = {}
        for i, o in enumerate(self.outcomes):
            if o.id in seen:
                raise PydanticCustomError(
                    "duplicate_outcome_id", "outcome id '{id}' is used twice (outcomes[{first}] and "
                    "outcomes[{index}])", {"id": o.id, "first": seen[o.id], "index": i},
                )
            seen[o.id] = i
        if self.target is not None and self.target.outcome not in seen:
            raise PydanticCustomError(
                "target_unknown_outcome", "target names outcome '{name}', which this program "
                "does not define", {"name": self.target.outcome, "valid": ", ".join(seen)},
            )
        if self.target is not None:
            self._check_target_units(self.outcomes[seen[self.target.outcome]])
        if self.roi is not None:
            self._check_roi(seen)
        return self

    def _check_target_units(self, outcome: "Outcome") -> None:
        """A target must be a change the KPI can make (a relative fall below -100%, or a binary
        outcome's absolute change of a whole unit or more, is a target in the wrong unit)."""
        t = self.target
        if t.relative_change is not None and t.relative_change <= -1:
            raise PydanticCustomError(
                "target_unit", "relative_change {v} is a fall of 100% or more, which '{kpi}' cannot make",
                {"v": t.relative_change, "kpi": outcome.kpi, "field": "relative_change",
                 "fix": "write a relative change as a fraction: -0.15 for a 15% fall"})
        bounded = {"binary": 1.0, "ordinal": 4.0}.get(outcome.family)
        if t.absolute_change is not None and bounded is not None and abs(t.absolute_change) >= bounded:
            unit = ("a probability difference (-0.04 = 4 percentage points fewer)" if outcome.family == "binary"
                    else "score points on the 1-5 scale (at most 4)")
            raise PydanticCustomError(
                "target_unit", "absolute_change {v} is not in the unit of '{kpi}' ({family} outcome)",
                {"v": t.absolute_change, "kpi": outcome.kpi, "family": outcome.family,
                 "field": "absolute_change", "fix": f"a {outcome.family} outcome's absolute change is {unit}"})

    def _check_roi(self, seen: dict) -> None:
        roi = self.roi
        named = [("exclude", i, o) for i, o in enumerate(roi.exclude)]
        named += [("separate", i, o) for i, pair in enumerate(roi.separate) for o in pair]
        named += [("overlaps", i, o) for i, n in enumerate(roi.overlaps) for o in n.outcomes]
        for where, i, o in named:
            if o not in seen:
                raise PydanticCustomError(
                    "roi_unknown_outcome", "roi.{where} names outcome '{name}', which this program does "
                    "not define", {"where": where, "index": i, "name": o, "valid": ", ".join(seen)})
        if not any(o.value_per_unit is not None for o in self.outcomes):
            raise PydanticCustomError(
                "roi_without_value", "roi: is given but no outcome has a value_per_unit, so there is "
                "no benefit to count", {})

    def outcome(self, outcome_id: str) -> Outcome:
        for o in self.outcomes:
            if o.id == outcome_id:
                return o
        raise KeyError(outcome_id)

    @property
    def outcome_ids(self) -> list[str]:
        return [o.id for o in self.outcomes]

    @property
    def source_file(self) -> str | None:
        return self._file

    def field_path(self, *path) -> str:
        """Dotted path of a field as error messages show it: ``programs[2].outcomes[0].kpi``."""
        head = ("programs", self._index) if self._index is not None else (self.id,)
        return dotted_path(head + tuple(path))

    def line_of(self, *path) -> int | None:
        """YAML line of a field of this program (``line_of("population")``), else the nearest
        enclosing field's line, else None (programs not read from a file)."""
        path = tuple(path)
        while path:
            if path in self._lines:
                return self._lines[path]
            path = path[:-1]
        return self._lines.get((), None)


@dataclass
class ProgramsConfig:
    """The loaded programs.yaml: valid programs by id, invalid ones as errors."""

    organisation: Organisation = field(default_factory=Organisation)
    programs: dict[str, Program] = field(default_factory=dict)
    errors: dict[str, ConfigError] = field(default_factory=dict)
    path: str | None = None

    def __getitem__(self, program_id: str) -> Program:
        return self.programs[program_id]

    def get_program(self, program_id: str) -> Program:
        """The valid program ``program_id``; a program that programs.yaml set aside re-raises its
        ConfigError (with its line), an unknown id a ModelInputError listing the valid ids."""
        if program_id in self.programs:
            return self.programs[program_id]
        if program_id in self.errors:
            raise self.errors[program_id]
        valid = ", ".join(sorted(self.programs)) or "none"
        raise ModelInputError(f"unknown program '{program_id}'; the valid programs are: {valid}. "
                              "Fix: use one of these ids (programs.yaml, `id:`)")

    def __iter__(self):
        return iter(self.programs.values())

    def __len__(self) -> int:
        return len(self.programs)

    def to_dict(self) -> dict:
        """Plain data (the YAML structure) of the organisation and the valid programs."""
        return {
            "organisation": self.organisation.model_dump(),
            "programs": [p.model_dump(mode="json") for p in self.programs.values()],
        }

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False, allow_unicode=True)



def dotted_path(loc) -> str:
    """A field path as error messages show it: ``("programs", 2, "kpi")`` -> ``programs[2].kpi``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out

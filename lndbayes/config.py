"""programs.yaml: the schema of the training programs and its loader.

Every field is documented in docs/programs-yaml.md. The loader reads the YAML with line
numbers so that every problem is reported as ``<file>, row <line>, column '<field path>'``
(see lndbayes.errors.ConfigError), and one bad program never stops the others::

    cfg = load_programs("data/raw/programs.yaml")
    cfg.programs["manager_coaching"].outcomes[0].family   # valid programs, by id
    cfg.errors                                            # {"bad_program": ConfigError(...)}
"""

from __future__ import annotations

import difflib
import typing
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Annotated, Literal

import pandas as pd
import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    model_validator,
)
from pydantic_core import PydanticCustomError

from lndbayes.errors import ConfigError

__all__ = [
    "Organisation",
    "Alignment",
    "LevelRange",
    "Population",
    "ProgramDetails",
    "Design",
    "Outcome",
    "Target",
    "Program",
    "ProgramsConfig",
    "load_programs",
    "programs_from_text",
    "check_population",
    "HRIS_KPIS",
]

#: KPIs derived from the HRIS tables rather than kpis.csv.
HRIS_KPIS = ("attrition", "promotion")

ProgramType = Literal["coaching", "microlearning", "course", "workshop", "elearning", "other"]
DesignType = Literal["randomized", "pre_post", "staggered"]
UnitType = Literal["employee", "team"]
Family = Literal["normal", "lognormal", "binary", "count", "time_to_event", "ordinal"]
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
    value_per_unit: float | None = None
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


class Program(_Model):
    id: str = Field(pattern=_ID_PATTERN)
    name: str
    alignment: Alignment = Field(default_factory=Alignment)
    population: Population = Field(default_factory=Population)
    program: ProgramDetails
    design: Design
    outcomes: list[Outcome] = Field(min_length=1)
    target: Target | None = None

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
        return self

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
        return _dotted(head + tuple(path))

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


# ---------------------------------------------------------------------------------------------
# line-aware loading

_TOP_LEVEL = ("organisation", "programs")


def _line_map(node, path=(), lines=None, dups=None):
    """{path tuple: 1-based line} for every mapping key and sequence item; duplicate keys."""
    if lines is None:
        lines, dups = {}, []
    if isinstance(node, yaml.MappingNode):
        seen = set()
        for k, v in node.value:
            key = k.value if isinstance(k, yaml.ScalarNode) else str(k.value)
            p = path + (key,)
            if key in seen:
                dups.append((p, k.start_mark.line + 1))
            seen.add(key)
            lines[p] = k.start_mark.line + 1
            _line_map(v, p, lines, dups)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            p = path + (i,)
            lines[p] = item.start_mark.line + 1
            _line_map(item, p, lines, dups)
    return lines, dups


def _dotted(loc) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def _line_for(lines: dict, loc: tuple) -> int | None:
    loc = tuple(loc)
    while loc:
        if loc in lines:
            return lines[loc]
        loc = loc[:-1]
    return lines.get((), None)


# which model describes the mapping at a (non-index) field path inside a program
_PROGRAM_MODELS: dict[tuple, type[BaseModel]] = {
    (): Program,
    ("alignment",): Alignment,
    ("population",): Population,
    ("population", "level"): LevelRange,
    ("program",): ProgramDetails,
    ("design",): Design,
    ("outcomes",): Outcome,
    ("target",): Target,
}


def _model_at(loc: tuple, models: dict) -> type[BaseModel] | None:
    shape = tuple(p for p in loc if not isinstance(p, int))
    return models.get(shape)


def _allowed_values(model: type[BaseModel] | None, name: str) -> list[str]:
    if model is None or name not in model.model_fields:
        return []
    ann = model.model_fields[name].annotation
    for arg in (ann, *typing.get_args(ann)):
        if typing.get_origin(arg) is Literal:
            return [str(a) for a in typing.get_args(arg)]
    return []


def _translate(err: dict, models: dict, prefix: tuple) -> tuple[tuple, str, str]:
    """A pydantic error -> (location inside the file, problem, fix)."""
    loc = tuple(err["loc"])
    typ = err["type"]
    ctx = err.get("ctx") or {}
    got = err.get("input")
    name = next((p for p in reversed(loc) if isinstance(p, str)), "")
    parent = loc[:-1]
    if typ == "extra_forbidden":
        model = _model_at(parent, models)
        allowed = list(model.model_fields) if model else []
        close = difflib.get_close_matches(str(name), allowed, n=1, cutoff=0.6)
        fix = "remove it or correct its spelling"
        fix += f" (did you mean '{close[0]}'?)" if close else f" (allowed here: {', '.join(allowed)})"
        return loc, f"unknown field '{name}'", fix
    if typ == "missing":
        model = _model_at(parent, models)
        choices = _allowed_values(model, name)
        hint = f" (one of: {', '.join(choices)})" if choices else ""
        where = _dotted(prefix + parent) or "the top level"
        return loc, f"required field '{name}' is missing", f"add '{name}:' under {where}{hint}"
    if typ in ("literal_error", "enum"):
        allowed = _allowed_values(_model_at(parent, models), name)
        close = difflib.get_close_matches(str(got), allowed, n=1, cutoff=0.6)
        fix = f"use one of: {', '.join(allowed)}"
        if close:
            fix += f" (did you mean '{close[0]}'?)"
        return loc, f"'{got}' is not an allowed value of '{name}'", fix
    if typ == "string_pattern_mismatch":
        return (loc, f"id '{got}' is not valid",
                "use lower-case letters, digits and underscores only (for example 'manager_coaching')")
    if typ == "target_change":
        return (loc, "target must give exactly one of relative_change or absolute_change",
                "keep either relative_change (e.g. -0.15 for -15%) or absolute_change (outcome units)")
    if typ == "target_unknown_outcome":
        return (loc + ("target", "outcome"), f"target names outcome '{ctx.get('name')}', "
                "which this program does not define",
                f"use one of this program's outcome ids: {ctx.get('valid')}")
    if typ == "duplicate_outcome_id":
        return (loc + ("outcomes", ctx.get("index"), "id"), f"outcome id '{ctx.get('id')}' is "
                "used twice in this program", "give every outcome of a program its own id")
    if typ == "level_order":
        return loc, err["msg"], "make min less than or equal to max"
    if typ in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
        return loc, f"{err['msg'].lower()} (got {got!r})", f"correct the value of '{name}'"
    if typ in ("too_short",) and name == "outcomes":
        return loc, "a program needs at least one outcome", "add an entry under outcomes:"
    if typ in ("model_type", "model_attributes_type", "dict_type"):
        return loc, f"'{name}' must be a mapping of fields (got {got!r})", \
            f"write '{name}:' followed by indented 'field: value' lines"
    if typ in ("list_type",):
        return loc, f"'{name}' must be a list (got {got!r})", f"write '{name}: [a, b]'"
    if typ.startswith("date"):
        return loc, f"'{name}' must be a date (got {got!r})", "write it as YYYY-MM-DD, e.g. 2025-03-01"
    if typ.startswith("int"):
        return loc, f"'{name}' must be a whole number (got {got!r})", "write a number like 5"
    if typ.startswith("float"):
        return loc, f"'{name}' must be a number (got {got!r})", "write a number like 1800 or 0.15"
    if typ.startswith("string"):
        return loc, f"'{name}' must be text (got {got!r})", "write it as text, quoted if needed"
    return loc, f"{err['msg']} (got {got!r})", f"correct the value of '{name}'"


def _errors_from(exc: ValidationError, *, models, prefix, lines, file) -> list[ConfigError]:
    out = []
    seen = set()
    errors = exc.errors()
    # 'famly: binary' gives both "unknown field famly" and "family missing": keep the first
    misspelt = set()
    for err in errors:
        if err["type"] == "extra_forbidden":
            parent = tuple(err["loc"][:-1])
            model = _model_at(parent, models)
            allowed = list(model.model_fields) if model else []
            for close in difflib.get_close_matches(str(err["loc"][-1]), allowed, n=1, cutoff=0.6):
                misspelt.add(parent + (close,))
    for err in errors:
        if err["type"] == "missing" and tuple(err["loc"]) in misspelt:
            continue
        loc, problem, fix = _translate(err, models, prefix)
        full = prefix + tuple(loc)
        key = (full, problem)
        if key in seen:
            continue
        seen.add(key)
        out.append(ConfigError(problem, file=file, row=_line_for(lines, full),
                               column=_dotted(full) or None, fix=fix))
    out.sort(key=lambda e: (e.row or 0))
    return out


def _combine(errors: list[ConfigError]) -> ConfigError:
    """The first problem carries file/row/column; the others are listed after it."""
    first = errors[0]
    first.details = list(errors)
    if len(errors) > 1:
        more = "\n".join("  also: " + str(e) for e in errors[1:])
        first.args = (str(first) + "\n" + more,)
    return first


def programs_from_text(text: str, file: str | Path = "programs.yaml") -> ProgramsConfig:
    """Parse programs.yaml text (see :func:`load_programs`)."""
    file = str(file)
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        ctx = getattr(exc, "context_mark", None)
        if ctx is not None and mark is not None and ctx.line != mark.line:
            problem += f"; {getattr(exc, 'context', None) or 'the block'} started at row {ctx.line + 1}"
        raise ConfigError(f"this is not valid YAML ({problem})", file=file,
                          row=None if mark is None else mark.line + 1,
                          fix="check the indentation and quoting around this line "
                              "(a colon inside a value needs quotes)") from None
    if node is None or data is None:
        raise ConfigError("the file is empty", file=file,
                          fix="describe at least one program (see docs/programs-yaml.md)")
    if not isinstance(data, dict):
        raise ConfigError("the top level must be a mapping with 'organisation' and 'programs'",
                          file=file, row=1, fix="start the file with 'organisation:' and 'programs:'")
    lines, dups = _line_map(node)
    for key in data:
        if key not in _TOP_LEVEL:
            close = difflib.get_close_matches(str(key), _TOP_LEVEL, n=1, cutoff=0.6)
            fix = "remove it or correct its spelling"
            fix += f" (did you mean '{close[0]}'?)" if close else " (allowed: organisation, programs)"
            raise ConfigError(f"unknown top-level field '{key}'", file=file,
                              row=lines.get((key,)), column=str(key), fix=fix)
    for path, line in dups:
        if len(path) < 2 or path[0] != "programs":
            raise ConfigError(f"field '{path[-1]}' is given twice", file=file, row=line,
                              column=_dotted(path), fix="keep one of them")

    try:
        organisation = Organisation.model_validate(data.get("organisation") or {})
    except ValidationError as exc:
        raise _combine(_errors_from(exc, models={(): Organisation}, prefix=("organisation",),
                                    lines=lines, file=file)) from None

    raw_programs = data.get("programs")
    if raw_programs is None:
        raw_programs = []
    if not isinstance(raw_programs, list):
        raise ConfigError("'programs' must be a list of programs", file=file,
                          row=lines.get(("programs",)), column="programs",
                          fix="write each program as an item starting with '- id: ...'")

    cfg = ProgramsConfig(organisation=organisation, path=file)
    first_line: dict[str, int | None] = {}
    for i, item in enumerate(raw_programs):
        prefix = ("programs", i)
        pid = item.get("id") if isinstance(item, dict) else None
        key = pid if isinstance(pid, str) and pid else f"programs[{i}]"
        if key in cfg.programs or key in cfg.errors:
            key = f"programs[{i}]"
        errs: list[ConfigError] = []
        for path, line in dups:
            if path[:2] == prefix:
                errs.append(ConfigError(f"field '{path[-1]}' is given twice", file=file, row=line,
                                        column=_dotted(path), fix="keep one of them"))
        if not isinstance(item, dict):
            errs.append(ConfigError("a program must be a mapping of fields", file=file,
                                    row=lines.get(prefix), column=_dotted(prefix),
                                    fix="start the program with '- id: ...' and indent its fields"))
        else:
            try:
                prog = Program.model_validate(item)
            except ValidationError as exc:
                errs.extend(_errors_from(exc, models=_PROGRAM_MODELS, prefix=prefix,
                                         lines=lines, file=file))
            else:
                if prog.id in cfg.programs:
                    errs.append(ConfigError(
                        f"program id '{prog.id}' is used twice (first at row {first_line[prog.id]})",
                        file=file, row=lines.get(prefix + ("id",)), column=_dotted(prefix + ("id",)),
                        fix="give every program its own id"))
                if not errs:
                    prog._file = file
                    prog._index = i
                    prog._lines = {p[2:]: ln for p, ln in lines.items() if p[:2] == prefix}
                    cfg.programs[prog.id] = prog
                    first_line[prog.id] = lines.get(prefix + ("id",))
        if errs:
            errs.sort(key=lambda e: e.row or 0)
            cfg.errors[key] = _combine(errs)
    return cfg


def load_programs(path: str | Path) -> ProgramsConfig:
    """Read and validate programs.yaml.

    Returns a :class:`ProgramsConfig` whose ``programs`` are the valid programs (by id) and whose
    ``errors`` hold a :class:`ConfigError` per invalid program (keyed by its id, or
    ``"programs[<index>]"`` when it has none). A missing or empty file, invalid YAML, an unknown
    top-level field or a bad ``organisation`` section raise :class:`ConfigError`.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError("the file does not exist", file=path,
                          fix="create programs.yaml (see docs/programs-yaml.md) or point to it")
    text = path.read_text(encoding="utf-8")
    if not text.strip():
        raise ConfigError("the file is empty", file=path,
                          fix="describe at least one program (see docs/programs-yaml.md)")
    return programs_from_text(text, file=str(path))


def check_population(program: Program, employees: pd.DataFrame, at: date | None = None) -> pd.Series:
    """The population mask of ``program``; raise ConfigError when it selects nobody.

    The error points at the ``population`` line of programs.yaml and lists the values that
    exist in employees.csv, and which filter keys match nobody on their own.
    """
    mask = program.population.select(employees, at=at)
    if mask.any():
        return mask
    masks = program.population.masks(employees)
    empty = [k for k, m in masks.items() if not m.any()]
    problem = "population selects nobody"
    if empty:
        problem += f" ('{', '.join(empty)}' matches no employee on its own)"
    elif at is not None and program.population.select(employees).any():
        problem += f" employed on {pd.Timestamp(at).date()}"
    elif masks:
        problem += " (each filter matches someone, but no one matches all of them)"

    def values(col):
        if col not in employees:
            return "none"
        vals = sorted(map(str, employees[col].dropna().unique()))
        shown = ", ".join(vals[:20]) + (", ..." if len(vals) > 20 else "")
        return shown or "none"

    fix = (f"check the filter values against employees.csv: departments are {values('department')}; "
           f"roles are {values('role')}; teams are {values('team')}")
    if "level" in employees and employees["level"].notna().any():
        lv = pd.to_numeric(employees["level"], errors="coerce")
        fix += f"; levels run {int(lv.min())}..{int(lv.max())}"
    row = program.line_of("population") if ("population",) in program._lines else program.line_of()
    raise ConfigError(problem, file=program.source_file, row=row,
                      column=program.field_path("population"), fix=fix)

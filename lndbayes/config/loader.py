"""Reading programs.yaml: YAML with line numbers, pydantic errors as ConfigErrors that name the line.

Every problem is reported as ``<file>, row <line>, column '<field path>'`` (see
lndbayes.errors.ConfigError), and one bad program never stops the others.
"""

from __future__ import annotations

import difflib
import typing
from datetime import date
from pathlib import Path
from typing import Literal

import pandas as pd
import yaml
from pydantic import BaseModel, ValidationError

from lndbayes.config.schema import (
    Alignment,
    DecisionRule,
    Design,
    Kirkpatrick,
    LevelRange,
    Organisation,
    OverlapNote,
    Outcome,
    Population,
    Program,
    ProgramDetails,
    ProgramsConfig,
    RoiSettings,
    Target,
    dotted_path,
)
from lndbayes.errors import ConfigError

__all__ = ["load_programs", "programs_from_text", "check_population"]

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
    ("roi",): RoiSettings,
    ("roi", "overlaps"): OverlapNote,
    ("decision",): DecisionRule,
    ("kirkpatrick",): Kirkpatrick,
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
        where = dotted_path(prefix + parent) or "the top level"
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
    if typ == "target_unit":
        return loc + ("target", ctx.get("field")), err["msg"], ctx.get("fix")
    if typ == "roi_unknown_outcome":
        return (loc + ("roi", ctx.get("where"), ctx.get("index")), err["msg"],
                f"use one of this program's outcome ids: {ctx.get('valid')}")
    if typ == "roi_without_value":
        return (loc + ("roi",), err["msg"],
                "add value_per_unit (currency per unit of the outcome) to the outcomes that have a "
                "money value, or remove roi:")
    if typ == "decision_order":
        return loc, err["msg"], "a stop threshold must not be above the matching scale threshold"
    if typ == "level_order":
        return loc, err["msg"], "make min less than or equal to max"
    if typ in ("too_short", "too_long") and "roi" in loc and name in ("separate", "outcomes"):
        return loc, f"a pair of outcomes must name exactly two outcome ids (got {got!r})", \
            "write the pair as [outcome_a, outcome_b]"
    if typ == "greater_than" and name == "value_per_unit":
        return loc, f"value_per_unit must be above 0 (got {got!r})", \
            "give the currency value of one unit of the outcome as a positive number; `direction` " \
            "already says which way is good"
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
                               column=dotted_path(full) or None, fix=fix))
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
                              column=dotted_path(path), fix="keep one of them")

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
                                        column=dotted_path(path), fix="keep one of them"))
        if not isinstance(item, dict):
            errs.append(ConfigError("a program must be a mapping of fields", file=file,
                                    row=lines.get(prefix), column=dotted_path(prefix),
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
                        file=file, row=lines.get(prefix + ("id",)), column=dotted_path(prefix + ("id",)),
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

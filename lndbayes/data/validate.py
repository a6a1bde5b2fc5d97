"""Row checks in DuckDB: each value's type and range, references to known employees and teams,
duplicates; the pseudonym of every identifier; the SQL of the processed and rejected tables.

Each raw table ``src_<stem>`` becomes ``chk_<stem>``: its columns, typed copies ``t_<column>``
and ``reason`` (NULL for an accepted row, else why the row is rejected).
"""

from __future__ import annotations

import pandas as pd

from lndbayes.data.contract import FALSE_WORDS, RAW_FILES, TRUE_WORDS, Column, RawFile, key_column
from lndbayes.data.pseudonym import pseudonymise
from lndbayes.data.sql import pk, q


def _typed(c: Column) -> str:
    x = c.name
    return {
        "id": x, "str": x,
        "date": f"coalesce(TRY_CAST({x} AS DATE), TRY_CAST(TRY_CAST({x} AS TIMESTAMP) AS DATE))",
        "timestamp": f"TRY_CAST({x} AS TIMESTAMPTZ)",
        "int": f"TRY_CAST(TRY_CAST({x} AS DOUBLE) AS BIGINT)",
        "float": f"TRY_CAST({x} AS DOUBLE)",
        "bool": (f"CASE WHEN lower({x}) IN ({', '.join(map(q, TRUE_WORDS))}) THEN true "
                 f"WHEN lower({x}) IN ({', '.join(map(q, FALSE_WORDS))}) THEN false END"),
        "period": x,
    }[c.type] if not c.allowed else f"lower({x})"


def _invalid(c: Column) -> str:
    """SQL: reason text when column c's value breaks its type/range, else NULL."""
    x = c.name
    shown = f"'column ''{x}'': ''' || left({x}, 60) || ''''"
    checks = []
    if c.required:
        checks.append((f"{x} IS NULL", f"'column ''{x}'' is empty (required)'"))
    if c.type == "int":
        d = f"TRY_CAST({x} AS DOUBLE)"
        checks.append((f"{x} IS NOT NULL AND NOT coalesce(isfinite({d}) AND {d} = round({d}), false)",
                       f"{shown} || ' is not a whole number'"))
    elif c.type == "float":
        checks.append((f"{x} IS NOT NULL AND NOT coalesce(isfinite(TRY_CAST({x} AS DOUBLE)), false)",
                       f"{shown} || ' is not a number'"))
    elif c.type == "date":
        checks.append((f"{x} IS NOT NULL AND {_typed(c)} IS NULL", f"{shown} || ' is not a date (YYYY-MM-DD)'"))
    elif c.type == "timestamp":
        checks.append((f"{x} IS NOT NULL AND {_typed(c)} IS NULL",
                       f"{shown} || ' is not an ISO 8601 date or date-time'"))
    elif c.type == "bool":
        checks.append((f"{x} IS NOT NULL AND {_typed(c)} IS NULL", f"{shown} || ' is not true/false'"))
    elif c.type == "period":
        checks.append((f"{x} IS NOT NULL AND NOT regexp_full_match({x}, '[0-9]{{4}}-(0[1-9]|1[0-2])')",
                       f"{shown} || ' is not a month (YYYY-MM)'"))
    if c.allowed:
        checks.append((f"{x} IS NOT NULL AND lower({x}) NOT IN ({', '.join(map(q, c.allowed))})",
                       f"{shown} || ' is not one of {', '.join(c.allowed)}'"))
    if c.min is not None or c.max is not None:
        v = f"TRY_CAST({x} AS DOUBLE)"
        lo = f"{v} < {c.min}" if c.min is not None else "false"
        hi = f"{v} > {c.max}" if c.max is not None else "false"
        checks.append((f"isfinite({v}) AND ({lo} OR {hi})",
                       f"{shown} || ' is outside {'' if c.min is None else f'{c.min:g}'}..{'' if c.max is None else f'{c.max:g}'}'"))
    if c.type == "id":  # never print an identifier
        checks = [(cond, msg if "is empty" in msg else f"'column ''{x}'' is invalid'") for cond, msg in checks]
    if not checks:
        return "NULL"
    return "CASE " + " ".join(f"WHEN {cond} THEN {msg}" for cond, msg in checks) + " END"


class Keys:
    """Raw identifier -> pseudonym, computed once per distinct id, mirrored in DuckDB ``pmap``."""

    def __init__(self, con, key: str):
        self.con, self.key, self.map = con, key, {}
        con.execute("CREATE OR REPLACE TEMP TABLE pmap (raw VARCHAR PRIMARY KEY, pkey VARCHAR)")

    def add(self, sql: str) -> None:
        vals = [r[0] for r in self.con.execute(f"SELECT DISTINCT v FROM ({sql}) t(v) WHERE v IS NOT NULL").fetchall()]
        new = [v for v in vals if v not in self.map]
        if not new:
            return
        keys = pseudonymise(new, self.key)
        self.map.update(zip(new, keys))
        df = pd.DataFrame({"raw": pd.Series(new, dtype="object"), "pkey": pd.Series(keys, dtype="object")})
        self.con.register("_tmp_keys", df)
        self.con.execute("INSERT INTO pmap SELECT raw::VARCHAR, pkey::VARCHAR FROM _tmp_keys")
        self.con.unregister("_tmp_keys")


def validate_table(con, spec: RawFile, extra: list[tuple[str, str]], dup_keys: list[str] | None,
                   dup_label: str | None = None) -> None:
    """``extra``: (condition, reason SQL) checked on rows that passed the type checks, in order.
    ``dup_keys``: columns whose combination must be unique (later duplicates are rejected)."""
    stem = spec.stem
    type_reason = "nullif(concat_ws('; ', " + ", ".join(_invalid(c) for c in spec.columns) + "), '')"
    typed = ", ".join(f"{_typed(c)} AS t_{c.name}" for c in spec.columns)
    con.execute(f"CREATE OR REPLACE TEMP TABLE t_{stem} AS SELECT *, coalesce(_bad, {type_reason}) AS type_reason, "
                f"{typed} FROM src_{stem}")
    dup_sql = "NULL"
    if dup_keys:
        part = ", ".join(f"t_{k}" for k in dup_keys)
        con.execute(f"""CREATE OR REPLACE TEMP TABLE d_{stem} AS SELECT source_file, line,
            first_value(source_file) OVER w AS first_file, first_value(line) OVER w AS first_line,
            row_number() OVER w AS k
            FROM t_{stem} WHERE {' AND '.join(f't_{k} IS NOT NULL' for k in dup_keys)} AND _bad IS NULL
            WINDOW w AS (PARTITION BY {part} ORDER BY file_order, line)""")
        dup_sql = (f"(SELECT {dup_label} || ', first at ' || CASE WHEN d.first_file <> t.source_file "
                   f"THEN d.first_file || ' ' ELSE '' END || 'line ' || d.first_line "
                   f"FROM d_{stem} d WHERE d.source_file = t.source_file AND d.line = t.line AND d.k > 1)")
    cases = " ".join(f"WHEN {cond} THEN {msg}" for cond, msg in extra)
    sem = f"CASE {cases} END" if extra else "NULL"
    con.execute(f"CREATE OR REPLACE TEMP TABLE chk_{stem} AS SELECT t.*, "
                f"coalesce(t.type_reason, {dup_sql}, {sem}) AS reason FROM t_{stem} t")


#: (stem) -> SQL of the processed output columns from chk_<stem> (alias t); raw ids -> keys
OUTPUT = {
    "employees": ("employees", f"""{pk('t.employee_id')} AS employee_key, t.team, t.department, t.role,
        {pk('t.manager_id')} AS manager_key, t.t_hire_date AS hire_date, t.t_termination_date AS termination_date,
        t.termination_reason, t.t_level AS level"""),
    "hris_events": ("hris_events", f"""{pk('t.employee_id')} AS employee_key, t.t_event_date AS event_date,
        t.t_event_type AS event_type, t.from_value, t.to_value"""),
    "assignments": ("assignments", f"""t.program_id, t.t_unit_type AS unit_type,
        CASE WHEN t.t_unit_type = 'employee' THEN {pk('t.unit_id')} ELSE t.unit_id END AS unit_key,
        t.t_arm AS arm, t.t_start_date AS start_date"""),
    "kpis": ("kpis", f"""t.t_entity_type AS entity_type,
        CASE WHEN t.t_entity_type = 'employee' THEN {pk('t.entity_id')} ELSE t.entity_id END AS entity_key,
        t.kpi, t.period, t.t_value AS value, coalesce(t.t_censored, false) AS censored"""),
    "skill_assessments": ("skill_assessments", f"""{pk('t.employee_id')} AS employee_key, t.skill,
        t.t_assessed_at AS assessed_at, t.t_proficiency AS proficiency"""),
    "skill_requirements": ("skill_requirements", """t.t_scope_type AS scope_type, t.scope_id, t.skill,
        t.t_required_level AS required_level, t.t_effective_date AS effective_date"""),
}

#: columns holding an employee identifier in each raw file (pseudonymised in rejected files);
#: value: None = always an id; a column name = an id only when that column says 'employee'
_ID_COLUMNS = {
    "employees": {"employee_id": None, "manager_id": None},
    "hris_events": {"employee_id": None},
    "actor_map": {"actor": None, "employee_id": None},
    "enrollments": {"employee_id": None},
    "assignments": {"unit_id": "unit_type"},
    "kpis": {"entity_id": "entity_type"},
    "skill_assessments": {"employee_id": None},
}


def rejected_select(spec: RawFile) -> str:
    cols = ["t.source_file", "t.line", "t.reason"]
    ids = _ID_COLUMNS.get(spec.stem, {})
    for c in spec.names:
        if c in ids and ids[c] is None:
            cols.append(f"{pk('t.' + c)} AS {key_column(c)}")
        elif c in ids:  # id only for employee rows; anything but a known team name is hidden
            cols.append(f"CASE WHEN lower(t.{ids[c]}) = 'team' THEN t.{c} ELSE {pk('t.' + c)} END AS {c}")
        else:
            cols.append(f"t.{c}")
    return ", ".join(cols)


def add_source_ids(keys: Keys, sources: dict) -> None:
    """Pseudonymise every identifier of the raw tables read (``sources``: stem -> files or None)."""
    for stem, files in sources.items():
        if files:
            keys.add(f"SELECT employee_id FROM src_{stem}" if "employee_id" in RAW_FILES[stem].names
                     else "SELECT NULL")
    keys.add("SELECT manager_id FROM src_employees")
    for stem, col in (("assignments", "unit_id"), ("kpis", "entity_id"), ("actor_map", "actor")):
        if sources[stem]:
            keys.add(f"SELECT {col} FROM src_{stem}")


def validate_tables(con, sources: dict) -> None:
    """Build ``chk_<stem>`` of every raw table read; employees first, as the others refer to them."""
    def known_emp(col: str) -> str:
        return f"t.{col} IN (SELECT employee_id FROM employees_ok)"

    def unknown_emp_reason(col: str, label: str = "employee_id") -> str:
        return f"'{label} (key ' || {pk('t.' + col)} || ') is not in employees.csv'"

    # employees first: everything else refers to them
    emp = RAW_FILES["employees"]
    validate_table(con, emp, [("t.t_termination_date < t.t_hire_date",
                               "'termination_date ' || t.t_termination_date || ' is before hire_date ' || t.t_hire_date")],
                   ["employee_id"], f"'duplicate employee_id (key ' || {pk('t.employee_id')} || ')'")
    con.execute("CREATE OR REPLACE TEMP TABLE employees_ok AS SELECT * FROM chk_employees WHERE reason IS NULL")
    con.execute("CREATE OR REPLACE TEMP TABLE teams_ok AS SELECT DISTINCT team FROM employees_ok")

    checks = {
        "hris_events": ([(f"NOT {known_emp('employee_id')}", unknown_emp_reason("employee_id"))], None, None),
        "skill_assessments": ([(f"NOT {known_emp('employee_id')}", unknown_emp_reason("employee_id"))],
                              ["employee_id", "skill", "assessed_at"],
                              "'duplicate assessment (same employee, skill, assessed_at)'"),
        "assignments": ([
            (f"t.t_unit_type = 'employee' AND NOT {known_emp('unit_id')}", unknown_emp_reason("unit_id", "unit_id")),
            ("t.t_unit_type = 'team' AND t.unit_id NOT IN (SELECT team FROM teams_ok)",
             "'unit_id: unknown team ''' || t.unit_id || ''' (not a team in employees.csv)'"),
        ], ["program_id", "unit_type", "unit_id"], "'duplicate assignment of this unit to program ''' || t.program_id || ''''"),
        "kpis": ([
            (f"t.t_entity_type = 'employee' AND NOT {known_emp('entity_id')}", unknown_emp_reason("entity_id", "entity_id")),
            ("t.t_entity_type = 'team' AND t.entity_id NOT IN (SELECT team FROM teams_ok)",
             "'entity_id: unknown team ''' || t.entity_id || ''' (not a team in employees.csv)'"),
        ], ["entity_type", "entity_id", "kpi", "period"],
            "'duplicate KPI observation (same entity, kpi ''' || t.kpi || ''', period ' || t.period || ')'"),
        "skill_requirements": ([
            ("t.t_scope_type = 'team' AND t.scope_id NOT IN (SELECT team FROM teams_ok)",
             "'scope_id: unknown team ''' || t.scope_id || ''''"),
            ("t.t_scope_type = 'role' AND t.scope_id NOT IN (SELECT DISTINCT role FROM employees_ok)",
             "'scope_id: unknown role ''' || t.scope_id || ''' (no employee has it)'"),
        ], ["scope_type", "scope_id", "skill", "effective_date"], "'duplicate requirement'"),
        "enrollments": ([
            (f"NOT {known_emp('employee_id')}", unknown_emp_reason("employee_id")),
            ("t.t_completed_at < t.t_enrolled_at",
             "'completed_at ' || t.completed_at || ' is before enrolled_at ' || t.enrolled_at"),
        ], None, None),
        "actor_map": ([], ["actor"], "'duplicate actor (key ' || " + pk("t.actor") + " || ')'"),
    }
    for stem, (extra, dup, label) in checks.items():
        if sources[stem]:
            validate_table(con, RAW_FILES[stem], extra, dup, label)

"""The data contract as data: raw files, their columns, types and allowed values, and the
processed tables ingestion writes. One place, used to validate (lndbayes.data.ingest) and to
generate the tables of docs/data-contract.md (``markdown_raw_table()``).

Column types of raw files (every raw value is read as text and checked against its type):

- ``id``: an employee identifier. Pseudonymised (``employee_id`` -> ``employee_key``) before
  anything is written.
- ``str``: free text (trimmed; empty means missing).
- ``date``: ISO 8601 date ``YYYY-MM-DD`` (a time part is accepted and dropped).
- ``timestamp``: ISO 8601 date or date-time, with an optional offset (converted to UTC).
- ``int``: a whole number (``3`` or ``3.0``; ``3.5`` is rejected).
- ``float``: a finite number.
- ``bool``: ``true/false``, ``1/0``, ``yes/no``, ``t/f`` (any case).
- ``period``: a month, ``YYYY-MM``.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Bump when the processed tables change shape (forces re-ingestion of cached data roots).
CONTRACT_VERSION = 1

TYPES = ("id", "str", "date", "timestamp", "int", "float", "bool", "period")

TRUE_WORDS = ("true", "1", "yes", "t", "y")
FALSE_WORDS = ("false", "0", "no", "f", "n")


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    required: bool = False
    allowed: tuple[str, ...] | None = None  # lower-cased allowed values (checked case-insensitively)
    min: float | None = None
    max: float | None = None
    description: str = ""

    def __post_init__(self):
        assert self.type in TYPES, self.type


@dataclass(frozen=True)
class RawFile:
    """One raw tabular file (``<stem>.csv`` or ``<stem>.parquet`` in raw/)."""

    stem: str
    table: str  # the ledger / processed table its rows go to
    columns: tuple[Column, ...]
    required: bool = False
    description: str = ""
    example: tuple[str, ...] = ()  # CSV lines, header first

    @property
    def required_columns(self) -> list[str]:
        return [c.name for c in self.columns if c.required]

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)


def C(name, type_, required=False, **kw) -> Column:
    return Column(name, type_, required, **kw)


RAW_FILES: dict[str, RawFile] = {
    f.stem: f
    for f in (
        RawFile(
            "employees", "employees",
            (
                C("employee_id", "id", True, description="unique per person"),
                C("team", "str", True),
                C("department", "str", True),
                C("role", "str", True),
                C("manager_id", "id", description="the manager's employee_id (may be outside the file)"),
                C("hire_date", "date", True),
                C("termination_date", "date", description="empty while employed; not before hire_date"),
                C("termination_reason", "str"),
                C("level", "int", min=0, max=100, description="job level"),
            ),
            required=True,
            description="One row per person (the HRIS export).",
            example=(
                "employee_id,team,department,role,manager_id,hire_date,termination_date,termination_reason,level",
                "E0001,sales_north,Sales,manager,E0100,2021-04-01,,,3",
                "E0002,sales_north,Sales,account_executive,E0001,2023-09-15,2025-02-28,voluntary,1",
            ),
        ),
        RawFile(
            "hris_events", "hris_events",
            (
                C("employee_id", "id", True),
                C("event_date", "date", True),
                C("event_type", "str", True, allowed=("promotion", "transfer")),
                C("from_value", "str"),
                C("to_value", "str"),
            ),
            description="Promotions and transfers.",
            example=("employee_id,event_date,event_type,from_value,to_value",
                     "E0002,2025-01-01,promotion,1,2"),
        ),
        RawFile(
            "actor_map", "actor_map",
            (
                C("actor", "str", True, description="`mailto:x@y`, `<homePage>|<name>`, an openid URI or a "
                                                   "40-hex mbox_sha1sum"),
                C("employee_id", "id", True),
            ),
            description="Maps xAPI actors to employee ids. Never written out (it holds e-mail addresses).",
            example=("actor,employee_id", "mailto:ana@example.org,E0001",
                     "https://lms.example.org|ana.s,E0001"),
        ),
        RawFile(
            "enrollments", "enrollments",
            (
                C("employee_id", "id", True),
                C("activity_id", "str", True),
                C("enrolled_at", "timestamp", True),
                C("completed_at", "timestamp"),
                C("score_scaled", "float", min=0, max=1),
                C("success", "bool"),
                C("reaction", "float", min=1, max=5),
            ),
            description="A flat LMS export, one row per enrolment (instead of, or besides, xAPI).",
            example=("employee_id,activity_id,enrolled_at,completed_at,score_scaled,success,reaction",
                     "E0001,https://lms.example.org/activities/manager-coaching/s1,2025-03-03,2025-04-20,0.85,true,4"),
        ),
        RawFile(
            "assignments", "assignments",
            (
                C("program_id", "str", True),
                C("unit_type", "str", True, allowed=("employee", "team")),
                C("unit_id", "str", True, description="an employee_id or a team name (see unit_type)"),
                C("arm", "str", True, allowed=("treatment", "control")),
                C("start_date", "date"),
            ),
            description="Who was assigned to the program (randomisation or rollout plan).",
            example=("program_id,unit_type,unit_id,arm,start_date",
                     "manager_coaching,employee,E0001,treatment,2025-03-01",
                     "sales_onboarding,team,sales_north,treatment,2025-01-01"),
        ),
        RawFile(
            "kpis", "kpis",
            (
                C("entity_type", "str", True, allowed=("employee", "team")),
                C("entity_id", "str", True, description="an employee_id or a team name (see entity_type)"),
                C("kpi", "str", True),
                C("period", "period", True),
                C("value", "float", True),
                C("censored", "bool", description="default false; time-to-event values still running"),
            ),
            description="Business KPIs per employee or team and month. (entity, kpi, period) is unique.",
            example=("entity_type,entity_id,kpi,period,value,censored",
                     "team,sales_north,csat,2025-01,4.3,", "employee,E0002,days_to_first_deal,2023-09,41,false"),
        ),
        RawFile(
            "skill_assessments", "skill_assessments",
            (
                C("employee_id", "id", True),
                C("skill", "str", True),
                C("assessed_at", "date", True),
                C("proficiency", "float", True, min=0, max=5),
            ),
            description="Skill assessments, proficiency 0..5.",
            example=("employee_id,skill,assessed_at,proficiency", "E0001,coaching,2025-02-10,2.5"),
        ),
        RawFile(
            "skill_requirements", "skill_requirements",
            (
                C("scope_type", "str", True, allowed=("team", "role")),
                C("scope_id", "str", True, description="a team or role that exists in employees"),
                C("skill", "str", True),
                C("required_level", "float", True, min=0, max=5),
                C("effective_date", "date", True),
            ),
            description="Required skill levels per team or role.",
            example=("scope_type,scope_id,skill,required_level,effective_date",
                     "role,manager,coaching,3.5,2025-01-01"),
        ),
    )
}

#: xAPI verbs understood (ADL vocabulary names; matched on the verb id's last path segment)
XAPI_VERBS = ("registered", "launched", "attempted", "progressed", "completed", "passed", "failed",
              "scored", "responded", "rated", "attended", "experienced")
ENROLL_VERBS = ("registered", "launched")
COMPLETE_VERBS = ("completed", "passed")
REACTION_VERBS = ("rated", "responded")

#: processed tables: name -> (column, pandas dtype as read back from parquet, meaning)
PROCESSED: dict[str, tuple[tuple[str, str, str], ...]] = {
    "employees": (
        ("employee_key", "str", "pseudonymous key of employee_id"),
        ("team", "str", ""), ("department", "str", ""), ("role", "str", ""),
        ("manager_key", "str", "pseudonymous key of manager_id (missing when none)"),
        ("hire_date", "datetime64", "date"), ("termination_date", "datetime64", "date, NaT while employed"),
        ("termination_reason", "str", ""), ("level", "Int64", ""),
    ),
    "hris_events": (
        ("employee_key", "str", ""), ("event_date", "datetime64", ""), ("event_type", "str", "promotion/transfer"),
        ("from_value", "str", ""), ("to_value", "str", ""),
    ),
    "learning_events": (
        ("statement_id", "str", "xAPI statement id (enrollments.csv rows: `enr-<line>-<verb>`)"),
        ("employee_key", "str", ""), ("verb", "str", "one of the understood verbs"),
        ("activity_id", "str", "xAPI object.id"), ("timestamp", "datetime64[UTC]", "UTC"),
        ("score_scaled", "float64", "level 2 score, 0..1 (NaN for rated/responded)"),
        ("success", "boolean", ""), ("completion", "boolean", ""),
        ("duration_s", "float64", "result.duration in seconds"), ("registration", "str", "context.registration"),
        ("reaction", "float64", "level 1 reaction, 1..5"), ("source", "str", "`xapi` or `enrollments`"),
    ),
    "enrollments": (
        ("employee_key", "str", ""), ("activity_id", "str", ""),
        ("enrolled_at", "datetime64[UTC]", "first registered/launched (else first event)"),
        ("completed_at", "datetime64[UTC]", "first completed/passed"),
        ("score_scaled", "float64", "best score"), ("success", "boolean", "any success"),
        ("reaction", "float64", "mean reaction"),
    ),
    "assignments": (
        ("program_id", "str", ""), ("unit_type", "str", ""),
        ("unit_key", "str", "employee key (unit_type employee) or team name"), ("arm", "str", ""),
        ("start_date", "datetime64", ""),
    ),
    "kpis": (
        ("entity_type", "str", ""), ("entity_key", "str", "employee key or team name"), ("kpi", "str", ""),
        ("period", "str", "YYYY-MM"), ("value", "float64", ""), ("censored", "bool", ""),
    ),
    "skill_assessments": (
        ("employee_key", "str", ""), ("skill", "str", ""), ("assessed_at", "datetime64", ""),
        ("proficiency", "float64", ""),
    ),
    "skill_requirements": (
        ("scope_type", "str", ""), ("scope_id", "str", ""), ("skill", "str", ""),
        ("required_level", "float64", ""), ("effective_date", "datetime64", ""),
    ),
}

LEDGER_COLUMNS = ("table", "source_file", "rows_read", "rows_accepted", "rows_rejected")
REJECTED_LEAD_COLUMNS = ("source_file", "line", "reason")

#: LMS sources: at least one must exist
LMS_SOURCES = ("xapi/", "enrollments.csv")


def key_column(name: str) -> str:
    """``employee_id`` -> ``employee_key`` (how an id column is named once pseudonymised)."""
    return name[:-3] + "_key" if name.endswith("_id") else name + "_key"


def _num(x) -> str:
    return "" if x is None else f"{x:g}"


def markdown_raw_table(stem: str) -> str:
    """The column table of one raw file, as docs/data-contract.md shows it."""
    f = RAW_FILES[stem]
    lines = ["| column | type | required | allowed / range | notes |", "|---|---|---|---|---|"]
    for c in f.columns:
        rng = ""
        if c.allowed:
            rng = " / ".join(f"`{a}`" for a in c.allowed)
        elif c.min is not None or c.max is not None:
            rng = f"{_num(c.min)}..{_num(c.max)}"
        desc = c.description.replace("|", "\\|")
        lines.append(f"| `{c.name}` | {c.type} | {'**yes**' if c.required else 'no'} | {rng} | {desc} |")
    return "\n".join(lines)


def markdown_processed_table(name: str) -> str:
    lines = ["| column | dtype | notes |", "|---|---|---|"]
    for col, dtype, note in PROCESSED[name]:
        lines.append(f"| `{col}` | {dtype} | {note} |")
    return "\n".join(lines)

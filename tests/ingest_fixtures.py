"""Tiny raw data roots for the ingestion tests (written into tmp_path)."""

from __future__ import annotations

import hashlib
import json
import uuid
from pathlib import Path

KEY = "test-key"

EMPLOYEES = """employee_id,team,department,role,manager_id,hire_date,termination_date,termination_reason,level
E0001,north,Sales,manager,,2020-01-01,,,3
E0002,north,Sales,rep,E0001,2021-05-01,2024-03-31,voluntary,1
E0003,south,Sales,rep,E0001,2022-02-01,,,abc
E0002,south,Sales,rep,E0001,2022-02-01,,,1
E0004,south,Sales,rep,E0001,2023-07-01,2023-01-01,voluntary,1
E0005,south,Sales,rep,E0001,2023-13-01,,,1
E0006,south,Support,rep,E0001,2023-08-01,,,2
"""
# accepted: E0001 (line 2), E0002 (3), E0006 (8). Rejected: 4 level abc, 5 dup, 6 term<hire, 7 bad date

ACTOR_MAP = """actor,employee_id
mailto:ana@example.org,E0001
https://lms.example.org|bob,E0002
"""


def stmt(actor, verb, obj="https://lms.example.org/activities/coach/s1", **extra):
    digest = hashlib.md5(repr((actor, verb, obj, extra)).encode()).hexdigest()
    s = {"id": extra.pop("id", None) or str(uuid.UUID(digest)),
         "actor": actor, "verb": {"id": f"http://adlnet.gov/expapi/verbs/{verb}", "display": {"en-US": verb}},
         "object": {"id": obj, "objectType": "Activity"},
         "timestamp": extra.pop("timestamp", "2025-03-01T09:00:00+02:00")}
    s.update(extra)
    return s


ANA = {"objectType": "Agent", "name": "Ana", "mbox": "mailto:Ana@Example.org"}
BOB = {"objectType": "Agent", "account": {"homePage": "https://lms.example.org", "name": "bob"}}
E6 = {"objectType": "Agent", "account": {"homePage": "https://lms.example.org", "name": "E0006"}}


def xapi_lines() -> list[str]:
    """Line -> expected outcome (see tests)."""
    return [
        json.dumps(stmt(ANA, "registered", id="6690e6c9-3ef0-4ed3-8b37-7f3964730bee")),            # 1 ok
        json.dumps(stmt(ANA, "completed", id="6690e6c9-3ef0-4ed3-8b37-7f3964730bef",
                        timestamp="2025-03-10T17:30:00.000Z",
                        result={"score": {"scaled": 0.95}, "success": True, "completion": True,
                                "duration": "PT1H30M"})),                                          # 2 ok
        json.dumps(stmt(BOB, "passed", id="7f0e6c9a-0000-4000-8000-000000000003",
                        result={"score": {"raw": 42, "min": 0, "max": 60}, "duration": "PT45.5S"})),  # 3 ok
        '{"actor": {"mbox": "mailto:ana@example.org"}, "verb": ',                                  # 4 malformed
        json.dumps({k: v for k, v in stmt(ANA, "launched").items() if k != "actor"}),              # 5 no actor
        json.dumps(stmt(ANA, "bookmarked")),                                                       # 6 unknown verb
        json.dumps(stmt({"mbox": "mailto:stranger@example.org"}, "launched")),                     # 7 not in map
        json.dumps(stmt({"account": {"homePage": "https://lms.example.org", "name": "E9999"}}, "launched")),  # 8 unknown
        "",                                                                                        # 9 blank: skipped
        json.dumps(stmt(E6, "rated", id="7f0e6c9a-0000-4000-8000-000000000010",
                        result={"score": {"raw": 4, "min": 1, "max": 5}})),                        # 10 ok reaction 4
        json.dumps(stmt(E6, "launched", id="6690e6c9-3ef0-4ed3-8b37-7f3964730bee")),               # 11 dup id of line 1
        json.dumps(stmt(E6, "progressed", result={"duration": "P1DT2H"})),                         # 12 ok 93600 s
        json.dumps(stmt(E6, "progressed", result={"duration": "1 hour"})),                         # 13 bad duration
    ]


def write_root(tmp: Path, *, with_xapi=True, extra: dict | None = None) -> Path:
    root = tmp / "org"
    raw = root / "raw"
    raw.mkdir(parents=True)
    (raw / "employees.csv").write_text(EMPLOYEES)
    (raw / "actor_map.csv").write_text(ACTOR_MAP)
    if with_xapi:
        (raw / "xapi").mkdir()
        (raw / "xapi" / "lrs.jsonl").write_text("\n".join(xapi_lines()) + "\n")
    for name, text in (extra or {}).items():
        p = raw / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    return root

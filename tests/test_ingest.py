"""Ingestion: ledger, quarantine with reasons, fatal contract errors, pseudonymisation, load_org."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from lndbayes.cli import main
from lndbayes.data import org as org_mod
from lndbayes.data.contract import PROCESSED, RAW_FILES, markdown_processed_table, markdown_raw_table
from lndbayes.data.ingest import ingest
from lndbayes.data.pseudonym import pseudonymise
from lndbayes.errors import ContractError

from ingest_fixtures import KEY, write_root

RAW_IDS = ["E0001", "E0002", "E0003", "E0004", "E0005", "E0006", "E9999", "ana@example.org", "Ana@Example.org",
           "stranger@example.org", "lms.example.org|bob"]


def _run(root, **kw):
    return ingest(root / "raw", root, pseudonym_key=KEY, progress=False, **kw)


def _reasons(res, table):
    df = res.rejected[table]
    return dict(zip(df.line, df.reason))


FULL = {
        "kpis.csv": "entity_type,entity_id,kpi,period,value,censored\n"
                    "team,north,csat,2025-01,4.2,\n"          # 2 ok
                    "team,west,csat,2025-01,4.0,\n"           # 3 unknown team
                    "employee,E0002,deals,2025-01,3,false\n"  # 4 ok
                    "employee,E0099,deals,2025-01,3,false\n"  # 5 unknown employee
                    "team,north,csat,2025-01,4.9,\n"          # 6 duplicate of line 2
                    "team,north,csat,2025-02,n/a,\n"          # 7 value n/a
                    "team,north,csat,2025-13,4.1,\n",         # 8 bad period
        "assignments.csv": "program_id,unit_type,unit_id,arm,start_date\n"
                           "coach,employee,E0001,treatment,2025-03-01\n"   # 2 ok
                           "coach,employee,E0042,control,2025-03-01\n"     # 3 unknown employee
                           "onb,team,north,treatment,2025-01-01\n"         # 4 ok
                           "onb,team,east,control,\n"                      # 5 unknown team
                           "onb,team,south,placebo,\n",                    # 6 arm not allowed
        "hris_events.csv": "employee_id,event_date,event_type,from_value,to_value\n"
                           "E0002,2024-01-01,promotion,1,2\nE0003,2024-01-01,promotion,1,2\n",
        "skill_assessments.csv": "employee_id,skill,assessed_at,proficiency\n"
                                 "E0001,coaching,2025-01-10,3.5\nE0001,coaching,2025-02-10,7\n",
        "enrollments.csv": "employee_id,activity_id,enrolled_at,completed_at,score_scaled,success,reaction\n"
                           "E0006,https://lms.example.org/activities/onb/m1,2025-01-05,2025-01-20,0.8,yes,5\n"
                           "E0001,https://lms.example.org/activities/onb/m1,2025-01-05,,,,\n"
                           "E0001,https://lms.example.org/activities/onb/m2,2025-02-05,2025-01-01,,,\n",
}


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    """Read-only: one ingest shared by the tests that only look at it."""
    root = write_root(tmp_path_factory.mktemp("shared"), extra=FULL)
    return root, _run(root)


@pytest.fixture
def fresh(tmp_path):
    """A root of its own, for tests that change files."""
    root = write_root(tmp_path, extra=FULL)
    return root, _run(root)


def test_ledger_balances_and_names_every_source(result):
    _, res = result
    led = res.ledger.set_index("table")
    assert (res.ledger.rows_read == res.ledger.rows_accepted + res.ledger.rows_rejected).all()
    assert led.loc["employees", ["rows_read", "rows_accepted", "rows_rejected"]].tolist() == [7, 3, 4]
    assert led.loc["learning_events", ["source_file", "rows_read", "rows_accepted", "rows_rejected"]].tolist() == [
        "xapi/lrs.jsonl", 12, 5, 7]  # 13 lines, one blank
    assert led.loc["kpis", ["rows_read", "rows_accepted", "rows_rejected"]].tolist() == [7, 2, 5]
    assert led.loc["enrollments", ["rows_read", "rows_accepted", "rows_rejected"]].tolist() == [3, 2, 1]
    on_disk = pd.read_csv(res.paths["ledger"])
    assert on_disk.equals(res.ledger)
    # rejected file row counts equal the ledger
    for table, n in led.groupby(level=0).rows_rejected.sum().items():
        if n:
            assert len(pd.read_csv(res.paths[f"rejected/{table}"])) == n


def test_employee_rejections(result):
    _, res = result
    k = pseudonymise("E0002", KEY)
    assert _reasons(res, "employees") == {
        4: "column 'level': 'abc' is not a whole number",
        5: f"duplicate employee_id (key {k}), first at line 3",
        6: "termination_date 2023-01-01 is before hire_date 2023-07-01",
        7: "column 'hire_date': '2023-13-01' is not a date (YYYY-MM-DD)",
    }
    emp = res.tables["employees"]
    assert emp.employee_key.tolist() == pseudonymise(["E0001", "E0002", "E0006"], KEY)
    assert emp.manager_key.tolist()[1] == pseudonymise("E0001", KEY) and pd.isna(emp.manager_key[0])
    assert emp.level.dtype == "Int64" and emp.level.tolist() == [3, 1, 2]
    assert emp.termination_date.isna().tolist() == [True, False, True]
    assert str(emp.hire_date.dtype).startswith("datetime64")


def test_xapi_rejections_and_events(result):
    _, res = result
    r = _reasons(res, "learning_events")
    assert sorted(r) == [4, 5, 6, 7, 8, 11, 13]
    assert r[4].startswith("malformed JSON")
    assert r[5] == "statement has no actor"
    assert r[6].startswith("unknown verb 'http://adlnet.gov/expapi/verbs/bookmarked'")
    assert r[7] == f"mbox actor (key {pseudonymise('mailto:stranger@example.org', KEY)}) is not in actor_map.csv"
    assert r[8] == f"learner (key {pseudonymise('E9999', KEY)}) is not in employees.csv"
    assert r[11] == "duplicate statement id 6690e6c9-3ef0-4ed3-8b37-7f3964730bee, first at xapi/lrs.jsonl line 1"
    ev = res.tables["learning_events"]
    x = ev[ev.source == "xapi"].set_index("statement_id")
    done = x.loc["6690e6c9-3ef0-4ed3-8b37-7f3964730bef"]  # mbox actor in mixed case, mapped to E0001
    assert done.employee_key == pseudonymise("E0001", KEY)
    assert done.score_scaled == 0.95 and done.duration_s == 5400.0
    assert done.timestamp == pd.Timestamp("2025-03-10 17:30", tz="UTC")
    passed = x.loc["7f0e6c9a-0000-4000-8000-000000000003"]  # account actor bob -> E0002 via actor_map
    assert passed.employee_key == pseudonymise("E0002", KEY)
    assert passed.score_scaled == pytest.approx(0.7) and passed.duration_s == 45.5 and bool(passed.success)
    assert x.loc["7f0e6c9a-0000-4000-8000-000000000010"].reaction == 4.0
    assert str(ev.timestamp.dtype) == "datetime64[us, UTC]" or str(ev.timestamp.dtype).endswith("UTC]")


def test_enrollments_derived_from_events_and_csv(result):
    _, res = result
    enr = res.tables["enrollments"].set_index(["employee_key", "activity_id"])
    ana = enr.loc[(pseudonymise("E0001", KEY), "https://lms.example.org/activities/coach/s1")]
    assert ana.enrolled_at == pd.Timestamp("2025-03-01 07:00", tz="UTC")   # registered at 09:00+02:00
    assert ana.completed_at == pd.Timestamp("2025-03-10 17:30", tz="UTC")
    assert ana.score_scaled == 0.95 and bool(ana.success)
    e6 = enr.loc[(pseudonymise("E0006", KEY), "https://lms.example.org/activities/onb/m1")]  # from enrollments.csv
    assert e6.completed_at == pd.Timestamp("2025-01-20", tz="UTC") and e6.score_scaled == 0.8
    assert bool(e6.success) and e6.reaction == 5.0
    open_ = enr.loc[(pseudonymise("E0001", KEY), "https://lms.example.org/activities/onb/m1")]
    assert pd.isna(open_.completed_at)
    assert _reasons(res, "enrollments") == {4: "completed_at 2025-01-01 is before enrolled_at 2025-02-05"}


def test_other_table_rejections(result):
    _, res = result
    assert _reasons(res, "kpis") == {
        3: "entity_id: unknown team 'west' (not a team in employees.csv)",
        5: f"entity_id (key {pseudonymise('E0099', KEY)}) is not in employees.csv",
        6: "duplicate KPI observation (same entity, kpi 'csat', period 2025-01), first at line 2",
        7: "column 'value': 'n/a' is not a number",
        8: "column 'period': '2025-13' is not a month (YYYY-MM)",
    }
    kp = res.tables["kpis"]
    assert kp.entity_key.tolist() == ["north", pseudonymise("E0002", KEY)]
    assert kp.censored.tolist() == [False, False] and kp.value.tolist() == [4.2, 3.0]
    assert _reasons(res, "assignments") == {
        3: f"unit_id (key {pseudonymise('E0042', KEY)}) is not in employees.csv",
        5: "unit_id: unknown team 'east' (not a team in employees.csv)",
        6: "column 'arm': 'placebo' is not one of treatment, control",
    }
    assert res.tables["assignments"].unit_key.tolist() == [pseudonymise("E0001", KEY), "north"]
    assert _reasons(res, "hris_events") == {3: f"employee_id (key {pseudonymise('E0003', KEY)}) is not in employees.csv"}
    assert _reasons(res, "skill_assessments") == {3: "column 'proficiency': '7' is outside 0..5"}


def test_no_raw_identifier_is_written(result):
    root, res = result
    files = [p for d in ("processed", "interim") for p in (root / d).rglob("*") if p.is_file()]
    assert len(files) >= 12
    for p in files:
        data = p.read_bytes()
        for raw in RAW_IDS:
            assert raw.encode() not in data, (p, raw)
    rej = pd.read_csv(root / "interim" / "rejected" / "employees.csv")
    assert list(rej.columns[:4]) == ["source_file", "line", "reason", "employee_key"]
    assert "employee_id" not in rej.columns and "manager_key" in rej.columns


def test_keys_stable_across_runs_and_change_with_key(fresh):
    root, res = fresh
    again = _run(root)
    assert again.tables["employees"].employee_key.tolist() == res.tables["employees"].employee_key.tolist()
    other = ingest(root / "raw", root, pseudonym_key="another-key", progress=False)
    assert not set(other.tables["employees"].employee_key) & set(res.tables["employees"].employee_key)


def test_parquet_source_with_same_stem(tmp_path):
    root = write_root(tmp_path)
    pd.DataFrame({"employee_id": ["E0001"], "skill": ["coaching"], "assessed_at": [pd.Timestamp("2025-01-10")],
                  "proficiency": [2.5]}).to_parquet(root / "raw" / "skill_assessments.parquet")
    res = _run(root)
    led = res.ledger[res.ledger.table == "skill_assessments"]
    assert led[["source_file", "rows_read", "rows_accepted"]].values.tolist() == [["skill_assessments.parquet", 1, 1]]
    sa = res.tables["skill_assessments"]
    assert sa.assessed_at.tolist() == [pd.Timestamp("2025-01-10")] and sa.proficiency.tolist() == [2.5]


def test_ragged_and_quoted_csv_rows_keep_line_numbers(tmp_path):
    root = write_root(tmp_path, extra={
        "hris_events.csv": "employee_id,event_date,event_type,from_value,to_value\n"
                           "E0002,2024-01-01,promotion,1,2\n"
                           "\n"
                           "E0002,2024-02-01,transfer,north,south,extra\n"        # 4: too many fields
                           "E0001,2024-03-01,transfer,\"north,\nold\",south\n"    # 5-6: quoted newline, ok
                           "E0001,2024-04-01,demotion,1,0\n"})                    # 7: not allowed
    res = _run(root)
    assert _reasons(res, "hris_events") == {4: "row has 6 fields, the header has 5",
                                            7: "column 'event_type': 'demotion' is not one of promotion, transfer"}
    assert res.tables["hris_events"].from_value.tolist() == ["1", "north,\nold"]


@pytest.mark.parametrize("files,message", [
    ({"employees.csv": ""}, "employees.csv: the file is empty (0 bytes). Fix:"),
    ({"employees.csv": "employee_id,team,department,role,hire_date\n"},
     "employees.csv: the file has a header but no data rows. Fix:"),
    ({"employees.csv": "employee_id,team,department,role,hire_dat\nE1,a,b,c,2020-01-01\n"},
     "employees.csv, row 1, column 'hire_dat': column 'hire_dat' is not in the contract; did you mean "
     "'hire_date'?. Fix: rename the column to 'hire_date'."),
    ({"employees.csv": "employee_id,team,department,hire_date\nE1,a,b,2020-01-01\n"},
     "employees.csv, row 1, column 'role': required column 'role' is missing. Fix: add the column"),
    ({"kpis.csv": "entity_type,entity_id,kpi,periode,value\nteam,north,csat,2025-01,1\n"},
     "did you mean 'period'?"),
    ({"xapi/more.jsonl": ""}, "xapi/more.jsonl: the file is empty (0 bytes)"),
    ({"xapi/bad.json": "[{\"id\": 1}"}, "xapi/bad.json: is not valid JSON"),
])
def test_fatal_contract_errors(tmp_path, files, message):
    root = write_root(tmp_path, extra=files)
    with pytest.raises(ContractError) as err:
        _run(root)
    assert message in str(err.value)


def test_missing_required_files(tmp_path):
    root = write_root(tmp_path, with_xapi=False)
    with pytest.raises(ContractError, match="no LMS data"):
        _run(root)
    (root / "raw" / "employees.csv").unlink()
    with pytest.raises(ContractError, match=r"employees.csv: required file employees.csv is missing\. Fix: export"):
        _run(root)


def test_atomic_writes_leave_no_temp_files_and_stale_rejects_are_removed(fresh):
    root, res = fresh
    assert (root / "interim" / "rejected" / "kpis.csv").exists()
    (root / "raw" / "kpis.csv").unlink()
    res2 = _run(root)
    assert not (root / "interim" / "rejected" / "kpis.csv").exists()
    assert not (root / "processed" / "kpis.parquet").exists() and "kpis" not in res2.tables
    assert not [p for p in root.rglob("*.tmp")]


def test_load_org_caches_until_raw_changes(tmp_path, monkeypatch):

    root = write_root(tmp_path)
    (root / "raw" / "programs.yaml").write_text("organisation: {name: T, currency: EUR}\nprograms: []\n")
    monkeypatch.setenv("LNDBAYES_PSEUDONYM_KEY", KEY)
    calls = []
    monkeypatch.setattr(org_mod, "load_programs", lambda p: calls.append(p) or "CFG")
    o1 = org_mod.load_org(root)
    assert o1.meta["ingested"] and o1.programs == "CFG" and o1.truth is None
    o2 = org_mod.load_org(root)
    assert not o2.meta["ingested"]
    assert o2.tables["employees"].equals(o1.tables["employees"])
    assert o2.ledger.equals(o1.ledger)
    with open(root / "raw" / "employees.csv", "a") as f:
        f.write("E0007,north,Sales,rep,E0001,2024-01-01,,,1\n")
    (root / "truth.json").write_text(json.dumps({"seed": 0}))
    o3 = org_mod.load_org(root)
    assert o3.meta["ingested"] and len(o3.employees) == 4 and o3.truth == {"seed": 0}
    assert org_mod.load_org(root, refresh=True).meta["ingested"]
    assert len(calls) == 4


def test_docs_tables_are_generated_from_the_contract():
    doc = (Path(__file__).resolve().parents[1] / "docs" / "data-contract.md").read_text()
    for stem in RAW_FILES:
        assert markdown_raw_table(stem) in doc, stem
    for name in PROCESSED:
        assert markdown_processed_table(name) in doc, name


def test_ingest_cli_prints_ledger(tmp_path, monkeypatch, capsys):

    root = write_root(tmp_path)
    (root / "raw" / "programs.yaml").write_text("organisation: {name: T, currency: EUR}\nprograms: []\n")
    monkeypatch.setenv("LNDBAYES_PSEUDONYM_KEY", KEY)
    assert main(["ingest", "--data", str(root)]) == 0
    out = capsys.readouterr().out
    assert "learning_events  xapi/lrs.jsonl         12              5              7" in out
    assert "total: 21 rows read, 10 accepted, 11 rejected" in out
    (root / "raw" / "employees.csv").write_text("employee_id,team\nE1,a\n")
    assert main(["ingest", "--data", str(root)]) == 2
    assert "required column 'department' is missing" in capsys.readouterr().err

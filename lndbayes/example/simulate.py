"""simulate_org: draw the example organisation and write its raw files and truth.json."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from lndbayes import atomic
from lndbayes.example.kirkpatrick import kirkpatrick_rows
from lndbayes.example.kpis import (
    LEAN_STREAM,
    coaching_outcomes,
    compliance_outcomes,
    lean_outcomes,
    sales_outcomes,
    support_outcomes,
)
from lndbayes.example.learning import lean_statements, learning_statements, write_xapi
from lndbayes.example.people import simulate_hris
from lndbayes.example.skills import simulate_skills
from lndbayes.example.truth import truth_record
from lndbayes.example.world import (
    COACH_START,
    COMPLIANCE_START_M,
    LEAN_START_M,
    MONTH_START,
    SUPPORT_START_M,
    dates,
)


def programs_yaml() -> str:
    """The example's programs.yaml (the package data file lndbayes/example/programs.yaml)."""
    return resources.files("lndbayes.example").joinpath("programs.yaml").read_text(encoding="utf-8")


def _check_design_starts(text: str, starts: dict[str, str]) -> None:
    """programs.yaml is written by hand: fail loudly if its design starts and the simulated ones part."""
    for prog in yaml.safe_load(text)["programs"]:
        written = str(prog["design"]["start"])
        if written != starts[prog["id"]]:
            raise RuntimeError(f"lndbayes/example/programs.yaml: design.start of {prog['id']} is {written}, "
                               f"but the simulator starts it on {starts[prog['id']]}; change one to match")


def _csv(df: pd.DataFrame, path: Path):
    atomic.write_text(path, df.to_csv(index=False, lineterminator="\n"))


def sorted_skills(rng, H: dict, ids: np.ndarray):
    """skill_assessments.csv and skill_requirements.csv in their file order, and the true gaps
    (every preset; sorting makes the files independent of the order people were drawn in)."""
    assess, reqs, gaps = simulate_skills(rng, H, ids)
    assess = assess.sort_values(["employee_id", "skill", "assessed_at"], kind="mergesort")
    reqs = reqs.sort_values(["scope_type", "scope_id", "skill", "effective_date"], kind="mergesort")
    return assess, reqs, gaps


def write_raw_files(out_dir: Path, programs: str, **tables: pd.DataFrame) -> None:
    """Every raw table as ``<name>.csv`` (employees, hris_events, actor_map, assignments, kpis,
    skill_assessments, skill_requirements) and programs.yaml, into ``out_dir``."""
    for name, df in tables.items():
        _csv(df, out_dir / f"{name}.csv")
    atomic.write_text(out_dir / "programs.yaml", programs)


def people_frames(H: dict, ids: np.ndarray) -> tuple[pd.DataFrame, pd.DataFrame]:
    """employees.csv and hris_events.csv of the people ``simulate_hris`` drew (every preset)."""
    team_names = H["team_names"]
    mgr = H["manager"]
    emp = pd.DataFrame({
        "employee_id": ids, "team": team_names[H["team"]],
        "department": np.array(H["depts"])[H["team_dept"][H["team"]]], "role": H["role"],
        "manager_id": np.where(mgr >= 0, ids[np.maximum(mgr, 0)], ""),
        "hire_date": dates(H["hire"]),
        "termination_date": np.where(np.isfinite(H["term"]), dates(np.where(np.isfinite(H["term"]), H["term"], 0)), ""),
        "termination_reason": H["reason"], "level": H["level"].astype(int)})
    ev = H["events"]
    hris = pd.DataFrame({"employee_id": ids[ev["i"].to_numpy()], "event_date": dates(ev["day"].to_numpy()),
                         "event_type": ev["event_type"], "from_value": ev["from_value"],
                         "to_value": ev["to_value"]}).sort_values(["event_date", "employee_id", "event_type"])
    return emp, hris


def employee_ids(n: int) -> np.ndarray:
    return np.array([f"E{10001 + i:05d}" for i in range(n)], dtype=object)


#: the presets of ``simulate_org`` and their default head count
PRESETS = {"default": 2000, "large": 20000}


def simulate_org(out_dir: Path, *, seed: int = 0, n_employees: int | None = None, preset: str = "default",
                 n_programs: int | None = None) -> Path:
    """Write the example organisation's raw files into ``out_dir`` and truth.json beside it.

    ``preset``: ``"default"`` (2,000 employees, the five hand-written programs of
    lndbayes/example/programs.yaml) or ``"large"`` (20,000 employees and ``n_programs``, default
    100, generated programs with three outcomes each: lndbayes.example.large).
    ``n_employees`` (head count on 2024-01-01) defaults to the preset's.
    Returns ``out_dir``. Same arguments give byte-identical files.
    """
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}: choose one of {', '.join(PRESETS)}")
    n_employees = PRESETS[preset] if n_employees is None else int(n_employees)
    if preset == "large":
        from lndbayes.example.large import simulate_large  # it uses this module's helpers

        return simulate_large(out_dir, seed=seed, n_employees=n_employees,
                              n_programs=100 if n_programs is None else int(n_programs))
    if n_programs is not None:
        raise ValueError("n_programs is for the large preset: the default preset has its five programs")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    H = simulate_hris(rng, int(n_employees))
    n = len(H["team"])
    ids = employee_ids(n)
    emp, hris = people_frames(H, ids)

    truth_outcomes: dict[str, dict] = {}
    kpi_rows, t_coach = coaching_outcomes(rng, H, ids)
    truth_outcomes["manager_coaching"] = t_coach
    rows, t_sales, a_sales, sales_start_day, sales_start = sales_outcomes(rng, H, ids)
    kpi_rows += rows
    truth_outcomes["sales_onboarding"] = t_sales
    rows, t_sup, a_sup, sup_treated = support_outcomes(rng, H)
    kpi_rows += rows
    truth_outcomes["support_upskilling"] = t_sup
    rows, t_comp, a_comp, comp_treated = compliance_outcomes(rng, H)
    kpi_rows += rows
    truth_outcomes["compliance_training"] = t_comp
    lean_rng = np.random.default_rng([int(seed), LEAN_STREAM])  # its own stream: nothing else moves
    rows, t_lean, a_lean, lean_treated = lean_outcomes(lean_rng, H)
    kpi_rows += rows
    truth_outcomes["lean_workshop"] = t_lean
    rows, t_chain = kirkpatrick_rows(seed, H, ids)  # its own random stream: nothing above moves
    kpi_rows += rows

    coach_start = str(dates([COACH_START])[0])
    programs = programs_yaml()  # checked before any file is written
    _check_design_starts(programs, {
        "manager_coaching": coach_start, "sales_onboarding": sales_start,
        "support_upskilling": str(dates([MONTH_START[SUPPORT_START_M]])[0]),
        "compliance_training": str(dates([MONTH_START[COMPLIANCE_START_M]])[0]),
        "lean_workshop": str(dates([MONTH_START[LEAN_START_M]])[0])})

    kpis = pd.concat(kpi_rows, ignore_index=True)
    kpis["censored"] = kpis["censored"].fillna("false")
    kpis = kpis.sort_values(["kpi", "entity_type", "entity_id", "period"], kind="mergesort")

    mg = H["managers"]
    a_coach = pd.DataFrame({"program_id": "manager_coaching", "unit_type": "employee", "unit_id": ids[mg],
                            "arm": np.where(H["mgr_arm"] == 1, "treatment", "control"),
                            "start_date": np.where(H["mgr_arm"] == 1, coach_start, "")})
    assign = pd.concat([a_coach, a_sales, a_sup, a_comp, a_lean], ignore_index=True).sort_values(
        ["program_id", "unit_type", "unit_id"], kind="mergesort")

    assess, reqs, gaps = sorted_skills(rng, H, ids)

    stmts = learning_statements(rng, H, sales_start_day, sup_treated, comp_treated)
    stmts = lean_statements(lean_rng, H, lean_treated, stmts)
    amap, n_stmts = write_xapi(rng, stmts, H, ids, out_dir / "xapi" / "statements.jsonl")

    write_raw_files(out_dir, programs, employees=emp, hris_events=hris, actor_map=amap, assignments=assign,
                    kpis=kpis, skill_assessments=assess, skill_requirements=reqs)

    targets = {p["id"]: p.get("target") for p in yaml.safe_load(programs)["programs"]}
    truth = truth_record(truth_outcomes, H, seed=seed, n_employees=n_employees, n_stmts=n_stmts, gaps=gaps,
                         kirkpatrick=t_chain, targets=targets)
    atomic.write_text(out_dir.parent / "truth.json", json.dumps(truth, indent=2) + "\n")
    return out_dir

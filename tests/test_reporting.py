"""End to end: the report notebook under Papermill on a small simulated organisation.

One session-scoped run builds the reports of a small example organisation (400 employees,
2 chains x 500 draws, no retries) with one real program (compliance_training, one count outcome), one
broken program (its KPI does not exist) and one invalid programs.yaml entry. The tests then read
what it wrote. The whole file takes about a minute on 2 cores.
"""

from __future__ import annotations

import html
import json
import re
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from lndbayes import reporting as rp
from lndbayes.privacy import assert_no_identifiers, find_identifiers

GOOD = "compliance_training"
BROKEN = "broken_kpi"
INVALID = "invalid_entry"
SETTINGS = rp.Settings(seed=1, draws=500, tune=500, chains=2, retry=False)


def _programs_yaml(raw: Path, min_group: int) -> None:
    """Keep one cheap program, add a broken and an invalid one, raise privacy_min_group."""
    cfg = yaml.safe_load((raw / "programs.yaml").read_text())
    good = next(p for p in cfg["programs"] if p["id"] == GOOD)
    broken = json.loads(json.dumps(good, default=str))
    broken["id"] = BROKEN
    broken["name"] = "Broken: KPI that does not exist"
    broken["outcomes"][0]["kpi"] = "no_such_kpi"
    invalid = {"id": INVALID, "name": "Invalid entry", "colour": "blue"}   # unknown field, no design
    cfg["programs"] = [good, broken, invalid]
    cfg["organisation"]["privacy_min_group"] = min_group
    (raw / "programs.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False, default_flow_style=None))


def build_example_reports(base: Path) -> dict:
    """Simulate, configure and run the reports once per session (cached under ``base``)."""
    done = base / "run.json"
    if done.exists():
        return json.loads(done.read_text())
    from lndbayes.example import simulate_org

    root = base / "org"
    simulate_org(root / "raw", seed=3, n_employees=400)
    heads = pd.read_csv(root / "raw" / "employees.csv")["team"].value_counts()
    # a threshold between the smallest and largest team: some teams must be suppressed
    min_group = int(heads.median()) + 1
    _programs_yaml(root / "raw", min_group)
    out = base / "reports"
    t0 = time.perf_counter()
    summary = rp.run_reports(data_root=root, out_dir=out, jobs=2, settings=SETTINGS)
    info = {"root": str(root), "out": str(out), "min_group": min_group,
            "seconds": time.perf_counter() - t0,
            "runs": {r.program: {"status": r.status, "reason": r.reason} for r in summary.runs},
            "exit_code": summary.exit_code}
    done.write_text(json.dumps(info))
    return info


@pytest.fixture(scope="session")
def built(tmp_path_factory):
    return build_example_reports(tmp_path_factory.getbasetemp() / "example-reports")


def test_good_program_succeeds_broken_and_invalid_fail_without_stopping_it(built):
    runs = built["runs"]
    assert runs[GOOD]["status"] == "ok", runs[GOOD]
    assert runs[BROKEN]["status"] == "failed"
    assert "no_such_kpi" in runs[BROKEN]["reason"]
    assert runs[INVALID]["status"] == "invalid"
    assert built["exit_code"] == 1
    folder = Path(built["out"]) / GOOD
    for name in ("report.ipynb", "report.html", "summary.json", ".stamp", "status.json"):
        assert (folder / name).is_file(), name
    assert (folder / "posterior" / "violations" / "posterior.nc").is_file()
    # no temporary folder is left behind
    assert not [p for p in Path(built["out"]).iterdir() if ".tmp-" in p.name or ".old-" in p.name]


def test_html_shows_the_headline_numbers_of_summary_json(built):
    folder = Path(built["out"]) / GOOD
    summ = json.loads((folder / "summary.json").read_text())
    page = html.unescape((folder / "report.html").read_text())
    out = summ["outcomes"]["violations"]
    for key in ("effect_abs", "effect_rel", "p_works", "p_target", "benefit"):
        assert out["display"][key], key
        assert out["display"][key] in page, (key, out["display"][key])
    assert summ["recommendation"]["action"] in ("scale", "iterate", "stop")
    assert summ["recommendation"]["action"].upper() in page
    assert "All intervals are 90% equal-tailed posterior intervals" in page
    assert page.count("equal-tailed posterior intervals") == 1      # stated once
    if not summ["converged"]:
        assert "failed its diagnostics" in page
    # numbers are consistent: the interval brackets the mean, benefit follows the effect's sign
    e = out["effect_abs"]
    assert e["lower"] <= e["mean"] <= e["upper"]
    assert (out["benefit"]["mean"] > 0) == (e["mean"] < 0)
    # code is hidden, figures are embedded
    assert "import lndbayes" not in page
    assert re.search(r'<img[^>]+src="data:image/png;base64,', page)
    assert "Traceback" not in page


def test_small_teams_are_suppressed(built):
    folder = Path(built["out"]) / GOOD
    min_group = built["min_group"]
    teams = json.loads((folder / "posterior" / "violations" / "summary.json").read_text())["team_effects"]
    heads = pd.read_csv(Path(built["root"]) / "raw" / "employees.csv")["team"].value_counts()
    small = [t["team"] for t in teams if heads.get(t["team"], 0) < min_group]
    large = [t["team"] for t in teams if heads.get(t["team"], 0) >= min_group]
    assert small and large, "the fixture must produce both small and large teams"
    page = html.unescape((folder / "report.html").read_text())
    label = f"suppressed (fewer than {min_group} people)"
    for team in small:
        # the only mention of a small team is its suppression note
        assert re.search(rf"{re.escape(team)}</td>\s*<td[^>]*>{re.escape(label)}", page), team
    summ = json.loads((folder / "summary.json").read_text())
    assert sorted(summ["outcomes"]["violations"]["teams_suppressed"]) == sorted(small)
    assert summ["outcomes"]["violations"]["teams_shown"] == len(large)
    # and the table behind the forest plot has no numbers for them
    import lndbayes as lb
    from lndbayes.privacy import reportable

    org = lb.load_org(built["root"])
    res = lb.load_result(folder / "posterior" / "violations")
    rep = rp.ProgramReport(org, org.programs[GOOD], {"violations": res}, min_group=min_group)
    tt = rep.team_table("violations").set_index("team")
    assert tt.loc[small, "mean"].isna().all() and tt.loc[small, "raw_effect"].isna().all()
    assert sorted(reportable(tt.reset_index())["team"]) == sorted(large)


def test_index_lists_every_program_with_failures_and_reasons(built):
    page = html.unescape((Path(built["out"]) / "index.html").read_text())
    assert f"{GOOD}/report.html" in page
    assert "REPORT FAILED" in page and "no_such_kpi" in page
    assert "INVALID IN PROGRAMS.YAML" in page and "colour" in page
    assert f"{BROKEN}/report.html" not in page


def test_no_employee_identifier_in_any_report(built):
    import lndbayes as lb
    from lndbayes.privacy import org_identifiers

    org = lb.load_org(built["root"])
    raw, keys = org_identifiers(org)
    assert len(raw) > 100 and len(keys) > 100
    out = Path(built["out"])
    files = [p for p in out.rglob("*") if p.suffix in (".html", ".ipynb", ".json") and p.is_file()]
    assert len(files) >= 5
    assert_no_identifiers(files, raw_ids=raw, keys=keys)
    # the scan does find identifiers when they are there
    assert find_identifiers(f"x {raw[0]} y {keys[0]}", raw, keys)["raw_ids"] == 1


def test_second_run_with_nothing_changed_does_no_work(built):
    out = Path(built["out"])
    # settle: a no-op unless the package source changed since the session's run (live editing)
    rp.run_reports(data_root=built["root"], out_dir=out, jobs=2, settings=SETTINGS)
    mtimes = {p: p.stat().st_mtime_ns for p in out.rglob("*.html")}
    t0 = time.perf_counter()
    summary = rp.run_reports(data_root=built["root"], out_dir=out, jobs=2, settings=SETTINGS)
    took = time.perf_counter() - t0
    assert summary.executed == []
    assert not summary.index_rebuilt
    assert {r.program: r.status for r in summary.runs} == {GOOD: "skipped", BROKEN: "failed", INVALID: "invalid"}
    assert summary.exit_code == 1          # a broken program stays reported as failed
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*.html")} == mtimes
    print(f"no-op run: {took:.2f} s")


def test_changed_settings_rerun_only_what_is_asked_and_cli(built, capsys):
    """The CLI: --program restricts the run; --force re-runs; the stamp sees setting changes."""
    from lndbayes.cli import main

    out = built["out"]
    code = main(["report", "--data", built["root"], "--out", out, "--program", GOOD,
                 "--draws", str(SETTINGS.draws), "--tune", str(SETTINGS.tune),
                 "--chains", str(SETTINGS.chains), "--seed", str(SETTINGS.seed)])
    text = capsys.readouterr().out
    assert code == 0
    assert "up to date" in text and GOOD in text
    with pytest.raises(Exception) as err:
        rp.run_reports(data_root=built["root"], out_dir=out, programs=["nope"], settings=SETTINGS)
    assert "nope" in str(err.value) and GOOD in str(err.value)


def test_stamp_changes_with_settings_and_program_entry():
    prog = {"id": "a", "outcomes": []}
    base = rp.program_stamp(prog, {}, "d", "s", rp.Settings())
    assert base == rp.program_stamp(prog, {}, "d", "s", rp.Settings())
    assert base != rp.program_stamp(prog, {}, "d", "s", rp.Settings(draws=10))
    assert base != rp.program_stamp({"id": "a", "outcomes": [1]}, {}, "d", "s", rp.Settings())
    assert base != rp.program_stamp(prog, {}, "d2", "s", rp.Settings())


def test_formatting():
    assert rp.fmt_interval(-4.123, -6.01, -2.2, "pp") == "\u22124.1 pp (\u22126.0 to \u22122.2)"
    assert rp.fmt_pct(0.996) == ">99%" and rp.fmt_pct(0.5) == "50%"
    assert rp.fmt_money(1234567, "EUR") == "EUR 1.23 million"
    assert rp.fmt_money(-45000, "EUR") == "\u2212EUR 45k"
    assert rp.business_scale("binary") == (100.0, "percentage points")


def test_interrupt_leaves_no_half_written_report(built):
    """Ctrl-C while a report is being rebuilt: the previous complete report stays, no temp files."""
    import os
    import signal
    import subprocess
    import sys

    out = Path(built["out"])
    folder = out / GOOD
    before = {n: (folder / n).read_bytes() for n in ("report.html", "summary.json", ".stamp")}
    cmd = [sys.executable, "-m", "lndbayes.cli", "report", "--data", built["root"], "--out", str(out),
           "--program", GOOD, "--force", "--draws", str(SETTINGS.draws), "--tune", str(SETTINGS.tune),
           "--chains", str(SETTINGS.chains), "--seed", str(SETTINGS.seed)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    try:
        deadline = time.time() + 120
        # wait until the new report is being written (its temporary folder exists)
        while time.time() < deadline and proc.poll() is None:
            if any(p.name.startswith(f".{GOOD}.tmp-") for p in out.iterdir()):
                break
            time.sleep(0.2)
        assert proc.poll() is None, "the run ended before it could be interrupted:\n" + proc.stdout.read()
        time.sleep(1.0)                      # inside the notebook run
        os.killpg(proc.pid, signal.SIGINT)
        text, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode != 0, text
    leftovers = [p.name for p in out.iterdir() if ".tmp-" in p.name or ".old-" in p.name]
    assert leftovers == [], leftovers
    after = {n: (folder / n).read_bytes() for n in before}
    assert after == before                   # the complete earlier report is untouched
    json.loads(after["summary.json"])

"""End to end: the report notebook under Papermill on a small simulated organisation.

One session-scoped run builds the reports of a small example organisation (400 employees,
2 chains x 500 draws, no retries) with one real program (compliance_training, one count outcome), one
broken program (its KPI does not exist) and one invalid programs.yaml entry. The tests then read
what it wrote. The whole file takes about a minute on 2 cores.
"""

from __future__ import annotations

import contextlib
import html
import io
import json
import re
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from lndbayes.analysis import load_analysis
from lndbayes.privacy import assert_no_identifiers, find_identifiers
from lndbayes import formatting as fm
from lndbayes.report.build import EXECUTING_MARKER
from lndbayes.report.runner import run_reports
from lndbayes.report.stamps import Settings, program_stamp

GOOD = "compliance_training"
BROKEN = "broken_kpi"
INVALID = "invalid_entry"
SETTINGS = Settings(seed=1, draws=500, tune=500, chains=2, retry=False)


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
    shown = io.StringIO()
    with contextlib.redirect_stdout(shown):       # the run's progress lines, as `make reports` shows them
        summary = run_reports(data_root=root, out_dir=out, jobs=2, settings=SETTINGS)
    info = {"root": str(root), "out": str(out), "min_group": min_group,
            "seconds": time.perf_counter() - t0, "progress": shown.getvalue(),
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
    assert runs["skill-gaps"]["status"] == "ok", runs["skill-gaps"]     # the skill-gap report (issue #14)
    assert built["exit_code"] == 1
    folder = Path(built["out"]) / GOOD
    for name in ("report.ipynb", "report.html", "summary.json", ".stamp", "status.json"):
        assert (folder / name).is_file(), name
    assert (folder / "posterior" / "violations" / "posterior.nc").is_file()
    # no temporary folder is left behind
    assert not [p for p in Path(built["out"]).iterdir() if ".tmp-" in p.name or ".old-" in p.name]


def test_the_run_shows_each_outcome_of_a_program_while_it_fits(built):
    """Progress reaches the run's output from the report workers, outcome by outcome."""
    lines = built["progress"].splitlines()
    assert any(f"{GOOD}: started" in ln for ln in lines), built["progress"][-2000:]
    assert any(f"{GOOD} / violations: fitting" in ln for ln in lines), built["progress"][-2000:]
    assert any(f"{GOOD} / violations: fitted in" in ln or f"{GOOD} / violations: read back" in ln
               for ln in lines)


NUM = r"[\u2212+-]?\d[\d,]*(?:\.\d+)?"


def _num(text: str) -> tuple[float, float]:
    """A number as the page shows it, and half a unit of its last decimal (its rounding)."""
    t = text.replace("\u2212", "-").replace(",", "")
    decimals = len(t.split(".")[1]) if "." in t else 0
    return float(t), 0.5 * 10 ** -decimals + 1e-12


def _money(text: str) -> tuple[float, float]:
    """``EUR 139k`` / ``EUR 1.23 million`` / ``EUR 950`` -> (value, rounding)."""
    m = re.fullmatch(rf"({NUM}|\u2212)?\s*[A-Z]{{3}} ({NUM})(k| million)?", text.strip())
    assert m, text
    sign = -1.0 if (m.group(1) or "").startswith(("\u2212", "-")) else 1.0
    v, r = _num(m.group(2))
    mult = {"k": 1e3, " million": 1e6}.get(m.group(3) or "", 1.0)
    return sign * v * mult, r * mult


def _close(shown: tuple[float, float], value: float, what) -> None:
    assert abs(shown[0] - value) <= shown[1], (what, shown, value)


def test_html_shows_the_headline_numbers_of_summary_json(built):
    """The page's numbers, read back as floats, equal summary.json's numbers (not its strings)."""
    folder = Path(built["out"]) / GOOD
    summ = json.loads((folder / "summary.json").read_text())
    page = html.unescape((folder / "report.html").read_text())
    text = re.sub(r"\s+", " ", re.sub(r"(?s)<[^>]+>", "", page))
    out = summ["outcomes"]["violations"]
    e, r, b, scale = out["effect_abs"], out["effect_rel"], out["benefit"], out["display_scale"]
    # "Average effect: <m> <unit> (<lo> to <hi>), relative <m>% (<lo>% to <hi>%). P(works) = <p>"
    m = re.search(rf"Average effect: ({NUM}) {re.escape(out['unit'])} \(({NUM}) to ({NUM})\), relative "
                  rf"({NUM})% \(({NUM})% to ({NUM})%\)\. P\(works\) = (>99|<1|\d+)%", text)
    assert m, "the level-4 sentence with the average effect is missing"
    for g, key in zip((1, 2, 3), ("mean", "lower", "upper")):
        _close(_num(m.group(g)), e[key] * scale, ("effect_abs", key))
    for g, key in zip((4, 5, 6), ("mean", "lower", "upper")):
        _close(_num(m.group(g)), r[key] * 100, ("effect_rel", key))
    p = m.group(7)
    if p == ">99":
        assert out["p_works"] > 0.99
    elif p == "<1":
        assert out["p_works"] < 0.01
    else:
        assert abs(int(p) - out["p_works"] * 100) <= 0.5
    # the monetised benefit: "<title>: EUR <m> (EUR <lo> to EUR <hi>) (<n> units touched"
    money = r"(\u2212?[A-Z]{3} [\d,.]+(?:k| million)?)"
    m = re.search(rf"{money} \({money} to {money}\) \(({NUM}) units touched", text)
    assert m, "the monetised benefit is missing"
    for g, key in zip((1, 2, 3), ("mean", "lower", "upper")):
        _close(_money(m.group(g)), b[key], ("benefit", key))
    _close(_num(m.group(4)), b["n_units"], "units touched")
    assert summ["recommendation"]["action"] in ("scale", "iterate", "stop")
    assert re.search(rf"Recommendation: {summ['recommendation']['action'].upper()}\b", text)
    assert "All intervals are 90% equal-tailed posterior intervals" in page
    assert page.count("equal-tailed posterior intervals") == 1      # stated once
    if not summ["converged"]:
        assert "failed its diagnostics" in page
    # numbers are consistent: the interval brackets the mean, benefit follows the effect's sign
    assert e["lower"] <= e["mean"] <= e["upper"]
    assert (b["mean"] > 0) == (e["mean"] < 0)
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
    from lndbayes.privacy import reportable

    tt = load_analysis(folder).outcomes["violations"].team_table.set_index("team")
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
    run_reports(data_root=built["root"], out_dir=out, jobs=2, settings=SETTINGS)
    mtimes = {p: p.stat().st_mtime_ns for p in out.rglob("*.html")}
    t0 = time.perf_counter()
    summary = run_reports(data_root=built["root"], out_dir=out, jobs=2, settings=SETTINGS)
    took = time.perf_counter() - t0
    assert summary.executed == []
    assert not summary.index_rebuilt
    assert {r.program: r.status for r in summary.runs} == {GOOD: "skipped", BROKEN: "failed", INVALID: "invalid",
                                                           "skill-gaps": "skipped"}
    assert summary.exit_code == 1          # a broken program stays reported as failed
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*.html")} == mtimes
    print(f"no-op run: {took:.2f} s")


def _cli_row(text: str, program: str) -> str:
    """The status column of ``program`` in the CLI's result table."""
    m = re.search(rf"^{re.escape(program)}\s+(up to date|ok|failed|invalid)\s", text, re.M)
    assert m, text
    return m.group(1)


def test_changed_settings_rerun_only_what_is_asked_and_cli(built, capsys):
    """The CLI: --program restricts the run; changed settings re-run; --force re-runs."""
    from lndbayes.cli import main

    out, folder = built["out"], Path(built["out"]) / GOOD

    def cli(*extra, seed=SETTINGS.seed):
        code = main(["report", "--data", built["root"], "--out", out, "--program", GOOD,
                     "--draws", str(SETTINGS.draws), "--tune", str(SETTINGS.tune),
                     "--chains", str(SETTINGS.chains), "--seed", str(seed), *extra])
        return code, capsys.readouterr().out

    def state():
        return ((folder / ".stamp").read_text(), (folder / "status.json").stat().st_mtime_ns,
                json.loads((folder / "summary.json").read_text())["settings"])

    cli()            # settle: a no-op unless the package source changed since the session's run
    code, text = cli()                               # nothing changed: nothing runs
    assert code == 0 and _cli_row(text, GOOD) == "up to date"
    assert BROKEN not in text                        # --program restricts the run
    stamp0, mtime0, settings0 = state()
    assert settings0["seed"] == SETTINGS.seed

    # --force re-runs although nothing changed (same stamp, new files)
    code, text = cli("--force")
    assert code == 0 and _cli_row(text, GOOD) == "ok", text
    stamp1, mtime1, settings1 = state()
    assert stamp1 == stamp0 and mtime1 != mtime0 and settings1 == settings0

    # a changed setting (the seed) changes the stamp: re-run with it, without --force
    code, text = cli(seed=SETTINGS.seed + 1)
    assert code == 0 and _cli_row(text, GOOD) == "ok", text
    stamp2, mtime2, settings2 = state()
    assert stamp2 != stamp0 and mtime2 != mtime1 and settings2["seed"] == SETTINGS.seed + 1
    code, text = cli(seed=SETTINGS.seed + 1)         # and then it is up to date
    assert _cli_row(text, GOOD) == "up to date"

    with pytest.raises(Exception) as err:
        run_reports(data_root=built["root"], out_dir=out, programs=["nope"], settings=SETTINGS)
    assert "nope" in str(err.value) and GOOD in str(err.value)


def test_stamp_changes_with_settings_and_program_entry():
    prog = {"id": "a", "outcomes": []}
    base = program_stamp(prog, {}, "d", "s", Settings())
    assert base == program_stamp(prog, {}, "d", "s", Settings())
    assert base != program_stamp(prog, {}, "d", "s", Settings(draws=10))
    assert base != program_stamp({"id": "a", "outcomes": [1]}, {}, "d", "s", Settings())
    assert base != program_stamp(prog, {}, "d2", "s", Settings())


def test_formatting():
    assert fm.fmt_interval(-4.123, -6.01, -2.2, "pp") == "\u22124.1 pp (\u22126.0 to \u22122.2)"
    assert fm.fmt_pct(0.996) == ">99%" and fm.fmt_pct(0.5) == "50%"
    assert fm.fmt_money(1234567, "EUR") == "EUR 1.23 million"
    assert fm.fmt_money(-45000, "EUR") == "\u2212EUR 45k"


def test_interrupt_leaves_no_half_written_report(built):
    """Ctrl-C while a report is being rebuilt: the previous complete report stays, no temp files."""
    import os
    import signal
    import subprocess
    import sys

    out = Path(built["out"])
    folder = out / GOOD
    before = {n: (folder / n).read_bytes() for n in ("report.html", "summary.json", ".stamp")}
    cmd = [sys.executable, "-c", "import sys; from lndbayes.cli import main; sys.exit(main())",
           "report", "--data", built["root"], "--out", str(out),
           "--program", GOOD, "--force", "--draws", str(SETTINGS.draws), "--tune", str(SETTINGS.tune),
           "--chains", str(SETTINGS.chains), "--seed", str(SETTINGS.seed)]
    def ctrl_c_reaches_it():
        # a terminal's Ctrl-C reaches a runner with SIGINT's default disposition and unblocked;
        # a child inherits both from this pytest process, which earlier tests may have changed
        # (one CI run saw the runner finish as if no Ctrl-C had come)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
        signal.signal(signal.SIGINT, signal.SIG_DFL)

    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True, preexec_fn=ctrl_c_reaches_it)
    try:
        # wait (no guessing by time) until the worker is inside the notebook: it keeps the
        # marker in its temporary folder while the notebook runs
        deadline = time.time() + 300
        while time.time() < deadline and proc.poll() is None:
            if list(out.glob(f".{GOOD}.tmp-*/{EXECUTING_MARKER}")):
                break
            time.sleep(0.05)
        assert proc.poll() is None, "the run ended before it could be interrupted:\n" + proc.stdout.read()
        os.killpg(proc.pid, signal.SIGINT)   # Ctrl-C in a terminal signals the whole group
        text, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130, text      # interrupted, not "ok"
    assert "interrupted" in text
    leftovers = [p.name for p in out.iterdir() if ".tmp-" in p.name or ".old-" in p.name]
    assert leftovers == [], leftovers
    after = {n: (folder / n).read_bytes() for n in before}
    assert after == before                   # the complete earlier report is untouched
    json.loads(after["summary.json"])


def test_saved_analysis_reads_back_whole_without_refitting(built, tmp_path, monkeypatch):
    # what an explorer or a model review would do: read the saved analysis, show every view
    from lndbayes import __version__
    from lndbayes.errors import LndbayesError
    from lndbayes.report import views

    folder = Path(built["out"]) / GOOD
    text = (folder / "analysis.json").read_text()
    json.loads(text, parse_constant=lambda c: pytest.fail(f"analysis.json holds {c}: not JSON"))

    def no_fit(*a, **k):
        raise AssertionError("a saved analysis must not be refitted")

    monkeypatch.setattr("lndbayes.fitting.fit_panel", no_fit)
    an = load_analysis(folder)
    assert an.summary() == json.loads((folder / "summary.json").read_text())
    for section in (views.executive_summary, views.diagnostics, views.ppc, views.ledger,
                    views.population, views.balance):
        assert section(an).strip()
    for oid, o in an.outcomes.items():
        assert o.result.draws("average_effect_abs").size > 0
        assert o.title in views.team(an, oid) and f"Priors ({oid})" in views.model(an, oid)

    stale = json.loads(text)
    stale["lndbayes"] = "0.0.0"
    (tmp_path / "analysis.json").write_text(json.dumps(stale))
    with pytest.raises(LndbayesError, match=f"written by lndbayes 0.0.0, this is {__version__}"):
        load_analysis(tmp_path)

"""A report worker does not outlive its runner: killed runner, stopped workers (Linux)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lndbayes.report import build

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="prctl is Linux's")

RUNNER = r"""
import multiprocessing as mp, sys
sys.path.insert(0, {tests!r})
from test_worker_lifetime import busy_worker
if __name__ == "__main__":
    ctx = mp.get_context("spawn")
    ready = ctx.Event()
    p = ctx.Process(target=busy_worker, args=(ready,))
    p.start()
    ready.wait(120)
    print(p.pid, flush=True)
    p.join()
"""


def busy_worker(ready) -> None:
    """A worker in the middle of a long task (as one sampling a big model is)."""
    build.worker_init()
    ready.set()
    time.sleep(120)


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:   # an orphan nobody has reaped yet is dead too
        return Path(f"/proc/{pid}/status").read_text().split("State:")[1].split()[0] == "Z"
    except (OSError, IndexError):
        return True


def test_a_busy_worker_stops_when_its_runner_is_killed():
    runner = subprocess.Popen([sys.executable, "-c", RUNNER.format(tests=str(Path(__file__).parent))],
                              stdout=subprocess.PIPE, text=True)
    try:
        pid = int(runner.stdout.readline())
        assert not _gone(pid)
        runner.kill()                      # SIGKILL: the runner cannot stop its workers itself
        runner.wait(30)
        deadline = time.monotonic() + 60   # a liveness bound, not a speed claim
        while not _gone(pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _gone(pid)
    finally:
        if runner.poll() is None:
            runner.kill()


def pid_worker(conn) -> None:
    """A stand-in report worker: answers each task with its process id."""
    while True:
        task = conn.recv()
        if task is None:
            break
        conn.send({"program": task["program"], "status": "ok", "stamp": task["stamp"], "pid": os.getpid()})
    conn.close()


@pytest.mark.parametrize("source_changes", [False, True])
def test_a_worker_started_before_the_source_changed_gets_no_new_task(tmp_path, monkeypatch, source_changes):
    """Workers import lndbayes lazily: one that started on the old source must not build a
    report with a mix of old and new code; a fresh worker takes the next task instead."""
    from lndbayes.report import runner

    calls = []

    def source_hash():
        calls.append(1)
        return "new" if source_changes and len(calls) > 2 else "old"

    monkeypatch.setattr(runner, "source_hash", source_hash)
    todo = [("p1", "stamp-1"), ("p2", "stamp-2")]
    done = runner.execute_all(todo, tmp_path, tmp_path / "out", runner.Settings(), jobs=1, target=pid_worker)
    pids = {st["program"]: st["pid"] for st in done}
    assert set(pids) == {"p1", "p2"} and all(st["status"] == "ok" for st in done)
    assert (pids["p1"] != pids["p2"]) is source_changes
    assert (tmp_path / "out" / "p2").is_dir()


def deferring_worker(conn) -> None:
    """A stand-in report worker whose program p1 defers while it may (the skill-gap forecast
    is not ready); every other task, and p1 when it may not defer, is built."""
    while True:
        task = conn.recv()
        if task is None:
            break
        defer = bool(task.get("defer"))
        state = "deferred" if defer and task["program"] == "p1" else "ok"
        status = {"program": task["program"], "status": state, "stamp": task["stamp"], "defer": defer,
                  "seconds": 7.5 if state == "deferred" else 2.0}
        if state == "ok":                       # as build_program leaves it
            (Path(task["tmp"]) / "status.json").write_text(json.dumps(status))
        conn.send(status)
    conn.close()


def test_a_deferred_report_is_queued_again_and_then_waits(tmp_path):
    from lndbayes.report import runner, skill_build

    # the runner names the skill tasks without importing the worker's module (no-op path)
    assert (runner.SKILL_GAPS, runner.SKILL_BACKTEST) == (skill_build.NAME, skill_build.BACKTEST)

    todo = [(runner.SKILL_GAPS, "s0"), (runner.SKILL_BACKTEST, "s0"), ("p1", "s1"), ("p2", "s2")]
    done = runner.execute_all(todo, tmp_path, tmp_path / "out", runner.Settings(), jobs=2,
                              target=deferring_worker)
    by = {st["program"]: st for st in done}
    assert sorted(by) == sorted([runner.SKILL_GAPS, runner.SKILL_BACKTEST, "p1", "p2"])
    assert all(st["status"] == "ok" for st in done)
    assert by["p1"]["defer"] is False and by["p2"]["defer"] is True
    assert by[runner.SKILL_GAPS]["defer"] is False and by[runner.SKILL_BACKTEST]["defer"] is False
    # p1's time is both its passes (the deferred one fitted it), in the run's table and in the
    # status.json the next run orders the programs by
    assert by["p1"]["seconds"] == 9.5 and by["p2"]["seconds"] == 2.0
    assert json.loads((tmp_path / "out" / "p1" / "status.json").read_text())["seconds"] == 9.5
    # the backtest's task fits into the cache: it leaves no folder among the reports
    assert sorted(p.name for p in (tmp_path / "out").iterdir() if not p.name.startswith(".")) == \
        sorted([runner.SKILL_GAPS, "p1", "p2"])


def test_the_forecast_task_of_a_program_subset_lets_the_reports_defer(tmp_path):
    """A run of some programs (``--program``) fits the skill-gap forecast as a task of its own,
    and the program reports may defer their skills section meanwhile; the task leaves no folder."""
    from lndbayes.report import runner, skill_build

    assert runner.SKILL_FORECAST == skill_build.FORECAST
    todo = [(runner.SKILL_FORECAST, "s0"), ("p1", "s1"), ("p2", "s2")]
    done = runner.execute_all(todo, tmp_path, tmp_path / "out", runner.Settings(), jobs=2,
                              target=deferring_worker)
    by = {st["program"]: st for st in done}
    assert sorted(by) == sorted([runner.SKILL_FORECAST, "p1", "p2"])
    assert all(st["status"] == "ok" for st in done)
    assert by[runner.SKILL_FORECAST]["defer"] is False and by["p1"]["defer"] is False  # after deferring
    assert by["p2"]["defer"] is True
    assert sorted(p.name for p in (tmp_path / "out").iterdir() if not p.name.startswith(".")) == ["p1", "p2"]


def test_a_program_subset_adds_the_forecast_task_only_when_a_chosen_program_needs_it(tmp_path, monkeypatch):
    import yaml

    import lndbayes as lb
    from lndbayes.example import simulate_org
    from lndbayes.report import runner

    simulate_org(tmp_path / "raw", seed=3, n_employees=400)
    spec = yaml.safe_load((tmp_path / "raw" / "programs.yaml").read_text())
    spec["programs"][-1]["program"].pop("skills")              # one program targets no skill
    (tmp_path / "raw" / "programs.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    cfg = lb.load_org(tmp_path).programs                       # ingests
    with_skills = [pid for pid, p in cfg.programs.items() if p.program.skills]
    without = [pid for pid, p in cfg.programs.items() if not p.program.skills]
    assert with_skills and without
    seen = []
    monkeypatch.setattr(runner, "_execute", lambda todo, *a, **k: seen.append([p for p, _ in todo]) or [])
    for programs, jobs in [([with_skills[0], without[0]], 2), ([with_skills[0]], 1), ([without[0]], 2)]:
        runner.run_reports(tmp_path, tmp_path / "out", programs=programs, jobs=jobs, index=False)
    assert seen[0][0] == runner.SKILL_FORECAST and sorted(seen[0][1:]) == sorted([with_skills[0], without[0]])
    assert seen[1] == [with_skills[0]]          # one worker: the report computes it itself
    assert seen[2] == [without[0]]              # nobody shows the forecast
    # the whole run builds the skill-gap report (and its backtest) instead
    runner.run_reports(tmp_path, tmp_path / "out", jobs=2, index=False)
    # the backtest shares the forecast's compiled model: it comes behind the first program
    assert seen[3][0] == runner.SKILL_GAPS and seen[3][2] == runner.SKILL_BACKTEST
    assert runner.SKILL_FORECAST not in seen[3]


def test_programs_whose_last_build_took_longest_go_first(tmp_path):
    """Longest first (last run's status.json seconds); never built or unknown time: first, in
    their order; a missing or unreadable status is not an error."""
    from lndbayes.atomic import write_json
    from lndbayes.report.runner import longest_first

    seconds = {"short": 5.0, "long": 40.0, "middle": 12.5, "odd": "n/a"}
    for pid, sec in seconds.items():
        write_json(tmp_path / pid / "status.json", {"program": pid, "seconds": sec})
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "status.json").write_text("{not json")
    todo = [(p, f"stamp-{p}") for p in ("short", "new_a", "long", "broken", "middle", "odd", "new_b")]
    assert longest_first(todo, tmp_path) == [
        ("new_a", "stamp-new_a"), ("broken", "stamp-broken"), ("odd", "stamp-odd"),
        ("new_b", "stamp-new_b"), ("long", "stamp-long"), ("middle", "stamp-middle"),
        ("short", "stamp-short")]


def test_a_failing_cache_fit_task_reports_why_and_does_not_raise(tmp_path):
    from lndbayes.report import skill_build

    for fit, name in [(skill_build.fit_forecast, skill_build.FORECAST),
                      (skill_build.fit_backtest, skill_build.BACKTEST)]:
        st = fit(str(tmp_path / "nowhere"), {"seed": 0})
        assert st["program"] == name and st["status"] == "failed"
        assert "raw" in st["reason"] and st["seconds"] >= 0


FORKSERVER_RUNNER = r"""
import json, os, sys
from pathlib import Path
sys.path.insert(0, {tests!r})
from lndbayes.report import runner
from test_worker_lifetime import probe_worker
if __name__ == "__main__":
    tmp = Path({tmp!r})
    runner._start_worker_server()           # as run_reports does before it ingests
    os.environ["LNDBAYES_PROGRESS"] = str(tmp / "events")    # set after the server started
    seen = {{}}
    seen["same"] = runner.execute_all([("p1", "s1")], tmp, tmp / "out", runner.Settings(), jobs=1,
                                      target=probe_worker)[0]
    os.environ["LNDBAYES_CACHE"] = str(tmp / "elsewhere")    # read when modules are imported
    seen["changed"] = runner.execute_all([("p2", "s2")], tmp, tmp / "out", runner.Settings(), jobs=1,
                                         target=probe_worker)[0]
    seen["runner"] = os.getpid()
    print(json.dumps(seen), flush=True)
"""


def probe_worker(conn) -> None:
    """A stand-in report worker that tells how it was started: forked from the fork server
    (whose preload module only the server imports) or spawned by the runner itself."""
    from lndbayes.report.worker_server import apply_task_env

    while True:
        task = conn.recv()
        if task is None:
            break
        apply_task_env(task.pop("env", None))             # as build.worker_loop does
        conn.send({"program": task["program"], "status": "ok", "stamp": task["stamp"],
                   "parent": os.getppid(), "preloaded": "lndbayes.report.worker_preload" in sys.modules,
                   "progress": os.environ.get("LNDBAYES_PROGRESS"),
                   "cache": os.environ.get("LNDBAYES_CACHE")})
    conn.close()


def test_workers_fork_from_the_preloaded_server_only_while_it_matches_the_runner(tmp_path):
    """The fork server saves each worker its imports; a worker forked from it has the server's
    environment, so once an import-time variable changed, the runner spawns workers again. The
    progress file, set after the server started, reaches a forked worker with its task."""
    script = FORKSERVER_RUNNER.format(tests=str(Path(__file__).parent), tmp=str(tmp_path))
    env = {k: v for k, v in os.environ.items() if k not in ("LNDBAYES_FORKSERVER", "LNDBAYES_PROGRESS")}
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300,
                         env=env, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    same, changed = seen["same"], seen["changed"]
    assert same["preloaded"] is True and same["parent"] != seen["runner"]
    assert same["progress"] == str(tmp_path / "events")
    assert changed["preloaded"] is False and changed["parent"] == seen["runner"]
    assert changed["cache"] == str(tmp_path / "elsewhere")
    assert changed["progress"] == str(tmp_path / "events")


def test_spawning_every_worker_can_be_chosen(tmp_path):
    script = FORKSERVER_RUNNER.format(tests=str(Path(__file__).parent), tmp=str(tmp_path))
    env = {**os.environ, "LNDBAYES_FORKSERVER": "0"}
    env.pop("LNDBAYES_PROGRESS", None)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300,
                         env=env, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    for run in ("same", "changed"):
        assert seen[run]["preloaded"] is False and seen[run]["parent"] == seen["runner"]


SERVER_RUNNER = r"""
import multiprocessing as mp, os, sys, time
sys.path.insert(0, {tests!r})
from lndbayes.report import runner, worker_server
from test_worker_lifetime import busy_worker
if __name__ == "__main__":
    runner._start_worker_server()
    with runner._worker_env():
        ctx = worker_server.context()
        ready = ctx.Event()
        p = ctx.Process(target=busy_worker, args=(ready,))
        p.start()
    ready.wait(120)
    server = worker_server._server_pid()
    assert ctx.get_start_method() == "forkserver" and server is not None
    print(p.pid, server, flush=True)
    p.join()
"""


def test_a_worker_forked_from_the_server_stops_when_its_runner_is_killed():
    """Runner killed -> its fork server gets SIGTERM (it asked when it started) -> the worker
    gets SIGTERM (it asked in worker_init): nothing keeps sampling for nobody."""
    env = {k: v for k, v in os.environ.items() if k != "LNDBAYES_FORKSERVER"}
    runner = subprocess.Popen([sys.executable, "-c", SERVER_RUNNER.format(tests=str(Path(__file__).parent))],
                              stdout=subprocess.PIPE, text=True, env=env)
    try:
        worker, server = map(int, runner.stdout.readline().split())
        assert not _gone(worker) and not _gone(server)
        runner.kill()
        runner.wait(30)
        deadline = time.monotonic() + 60   # a liveness bound, not a speed claim
        while not (_gone(worker) and _gone(server)) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _gone(server) and _gone(worker)
    finally:
        if runner.poll() is None:
            runner.kill()

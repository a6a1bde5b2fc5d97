"""Progress of long work (lndbayes.progress): events across processes, what is printed on a
terminal and in a log, and the hooks of a real fit (fitting, compile, draws, retry and why)."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from types import SimpleNamespace

import pytest

from lndbayes import progress
from lndbayes.progress import Board, emit, scope, session, show


def _events(path) -> list[dict]:
    return [json.loads(line) for line in open(path)]


def test_emit_is_silent_without_a_listening_run(tmp_path, monkeypatch):
    monkeypatch.delenv(progress.ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    emit("fitting", program="p", outcome="o")
    assert not progress.enabled() and progress.draws_callback() is None
    assert list(tmp_path.iterdir()) == []


def test_emit_writes_one_line_per_event_with_the_scope(tmp_path, monkeypatch):
    path = tmp_path / "events.jsonl"
    monkeypatch.setenv(progress.ENV, str(path))
    monkeypatch.delenv(progress.ENV_PROGRAM, raising=False)
    with scope(program="p"):
        with scope(outcome="o"):
            emit("fitting")
            emit("retry", attempt=1, why="x" * 1000)
        emit("rendering")
        assert os.environ[progress.ENV_PROGRAM] == "p"   # a kernel started here inherits it
    emit("started", program="q")
    assert progress.ENV_PROGRAM not in os.environ
    ev = _events(path)
    assert [(e["stage"], e["program"], e["outcome"]) for e in ev] == [
        ("fitting", "p", "o"), ("retry", "p", "o"), ("rendering", "p", None), ("started", "q", None)]
    assert ev[1]["attempt"] == 1 and len(ev[1]["why"]) == progress.MAX_TEXT


def test_draws_callback_sums_chains_and_throttles(tmp_path, monkeypatch):
    path = tmp_path / "events.jsonl"
    monkeypatch.setenv(progress.ENV, str(path))
    chain = lambda done, total, tuning=False: SimpleNamespace(  # noqa: E731
        finished_draws=done, total_draws=total, tuning=tuning)
    with scope(program="p", outcome="o"):
        cb = progress.draws_callback(every=3600.0)
    cb([chain(10, 100, True), chain(20, 100, True)])    # first call: shown
    cb([chain(50, 100), chain(60, 100)])                # within `every`: not shown
    cb([chain(100, 100), chain(100, 100)])              # the end: always shown
    ev = _events(path)
    assert [(e["done"], e["total"], e["chains"], e["tuning"]) for e in ev] == [
        (30, 200, 2, True), (200, 200, 2, False)]
    assert {(e["program"], e["outcome"]) for e in ev} == {("p", "o")}   # scope captured at creation


def _run(board: Board, events: list[tuple]) -> list[str]:
    out = []
    for t, stage, program, outcome, fields in events:
        out += board.handle({"t": 1000.0 + t, "stage": stage, "program": program, "outcome": outcome,
                             **fields})
    return out


def test_board_lines_per_step_and_live_lines():
    b = Board(total=2, t0=1000.0)
    steps = _run(b, [
        (0.0, "started", "coach", None, {}),
        (1.0, "fitting", "coach", "attrition", {}),
        (2.0, "compiled", "coach", "attrition", {"seconds": 9.04, "how": "nutpie"}),
        (3.0, "sampling", "coach", "attrition", {"done": 1234, "total": 8000}),
        (4.0, "sampling", "coach", "attrition", {"done": 8000, "total": 8000}),
        (5.0, "retry", "coach", "attrition", {"attempt": 1, "target_accept": 0.95, "tune": 2000,
                                              "draws": 1000, "why": "3 divergences"}),
        (6.5, "sampling", "coach", "attrition", {"done": 2500, "total": 12000}),
    ])
    assert steps == [
        "[   0.0 s] coach: started",
        "[   1.0 s] coach / attrition: fitting",
        "[   2.0 s] coach / attrition: model compiled in 9.0 s (nutpie's compile, not cached on disk)",
        "[   5.0 s] coach / attrition: retry 1 (target_accept 0.95, tuning 2000, 1000 draws) "
        "because 3 divergences",
    ]
    assert b.live(now=1075.0) == [
        "-- 1:15 elapsed, 0/2 programs finished",
        "  coach  1:15  attrition (1:14)  sampling 2.5k/12.0k draws  [retry 1: 3 divergences]"]
    steps = _run(b, [
        (8.0, "fitted", "coach", "attrition", {"seconds": 7.0, "converged": False, "retries": 1}),
        (9.0, "fitting", "coach", "engagement", {}),
        (9.5, "fitted", "coach", "engagement", {"seconds": 0.5, "converged": True, "retries": 0}),
        (10.0, "failed", "coach", "csat", {"reason": "no KPI rows", "pid": 7}),
        (10.5, "section", "coach", None, {"section": "Interim monitoring", "pid": 7}),
        # a fit inside the section says no program: its process (pid 7) worked for coach
        (10.7, "sampling", None, None, {"done": 300, "total": 4000, "pid": 7}),
        (10.8, "retry", None, None, {"attempt": 1, "target_accept": 0.95, "tune": 2000, "draws": 1000,
                                     "why": "R-hat max 1.02 > 1.01", "pid": 7}),
    ])
    assert steps == [
        "[   8.0 s] coach / attrition: fitted in 7.0 s after 1 retry; diagnostics still failing "
        "(the report says so)",
        "[   9.0 s] coach / engagement: fitting",
        "[   9.5 s] coach / engagement: read back in 0.5 s (posterior cached)",
        "[  10.0 s] coach / csat: cannot be estimated: no KPI rows",
        "[  10.5 s] coach: computing Interim monitoring",
        "[  10.8 s] coach / Interim monitoring: retry 1 (target_accept 0.95, tuning 2000, 1000 draws) "
        "because R-hat max 1.02 > 1.01",
    ]
    assert b.live(now=1011.0) == ["-- 0:11 elapsed, 0/2 programs finished",
                                  "  coach  0:11  Interim monitoring  fitting  "
                                  "[retry 1: R-hat max 1.02 > 1.01]"]
    steps = _run(b, [
        (11.0, "analysed", "coach", None, {}),
        (11.2, "rendering", "coach", None, {}),        # said twice (analysis, worker): one line
        (12.0, "started", "sales", None, {}),
    ])
    assert b.live(now=1012.0)[1:] == ["  coach  0:12  rendering",      # names padded to one width
                                       "  sales  0:00  starting: loading the data, building panels"]
    _run(b, [(12.5, "sampling", "sales", "deals", {"done": 900, "total": 900})])
    assert b.live(now=1013.0)[2] == "  sales  0:01  deals (0:00)  sampled 900 draws, checking the diagnostics"
    assert steps == [
        "[  11.0 s] coach: analysis done; rendering the report",
        "[  12.0 s] sales: started",
    ]
    steps = _run(b, [
        (41.0, "done", "coach", None, {"seconds": 41.0}),
        (42.0, "sampling", "coach", "engagement", {"done": 8000, "total": 8000}),   # late: ignored
        (50.0, "failed", "sales", None, {"seconds": 38.0, "reason": "KeyError: 'x'"}),
    ])
    assert steps == [
        "[  41.0 s] coach: done in 41 s (1/2 programs finished); outcome fits 8 s (2), 2 retries, "
        "compiling 9 s (1 model)",
        "[  50.0 s] sales: FAILED in 38 s: KeyError: 'x' (2/2 programs finished, 1 failed)",
    ]
    assert b.live(now=1060.0) == [] and b.programs == {}


def test_a_worker_waiting_for_another_workers_compile_says_so():
    b = Board(total=1, t0=1000.0)
    steps = _run(b, [
        (0.0, "started", "coach", None, {}),
        (1.0, "fitting", "coach", "attrition", {}),
        (1.5, "compile-wait", "coach", "attrition", {}),
        (19.0, "compiled", "coach", "attrition", {"seconds": 17.9, "how": "loaded from the disk cache"}),
    ])
    assert steps[2:] == [
        "[   1.5 s] coach / attrition: waiting for another worker compiling the same model",
        "[  19.0 s] coach / attrition: model compiled in 17.9 s (loaded from the disk cache)"]


def test_session_log_prints_steps_only_and_reads_other_processes(monkeypatch):
    """Not a terminal: one line per step, no draw counts, no escape codes; events of a child
    process (a worker, a kernel) reach the runner through the inherited environment."""
    monkeypatch.delenv(progress.ENV, raising=False)
    buf = io.StringIO()
    with session(total=1, stream=buf) as p:          # StringIO is not a terminal
        assert not p.tty
        p.program("coach", "started")
        with scope(program="coach"):
            subprocess.run([sys.executable, "-c",
                            "from lndbayes import progress\n"
                            "progress.emit('fitting', outcome='attrition')\n"
                            "progress.emit('sampling', outcome='attrition', done=5, total=10)\n"
                            "progress.emit('fitted', outcome='attrition', seconds=2, converged=True)\n"],
                           check=True)
        p.line("a message from the runner")
        p.program("coach", "done", seconds=3.0)
    assert progress.ENV not in os.environ and not p.dir.exists()
    lines = [line.split("] ", 1)[-1] for line in buf.getvalue().splitlines()]
    assert lines == ["coach: started", "coach / attrition: fitting",
                     "coach / attrition: fitted in 2.0 s", "a message from the runner",
                     "coach: done in 3 s (1/1 programs finished); outcome fits 2 s (1)"]
    assert "\x1b" not in buf.getvalue()


def test_session_terminal_redraws_live_lines_under_the_steps(monkeypatch):
    monkeypatch.delenv(progress.ENV, raising=False)
    buf = io.StringIO()
    with session(total=1, stream=buf, tty=True, interval=3600.0) as p:   # redraws only when told
        p.program("coach", "started")
        emit("sampling", program="coach", outcome="attrition", done=1500, total=8000)
        p.poll()
        shown = buf.getvalue()
        p.program("coach", "done", seconds=3.0)
    out = buf.getvalue()
    # the live block: header and the program's line with its draws
    assert shown.endswith("  coach  0:00  attrition (0:00)  sampling 1.5k/8.0k draws\n")
    assert "-- 0:00 elapsed, 0/1 programs finished\n" in shown
    # each redraw first moves up over the 2 live lines and erases them; at the end none is left
    assert out.count("\x1b[2F\x1b[J") >= 2
    assert out.endswith("coach: done in 3 s (1/1 programs finished)\n")


@pytest.mark.filterwarnings("ignore:lndbayes fit did NOT converge")
def test_a_real_fit_reports_fitting_compile_draws_retry_and_why(monkeypatch):
    """The hooks in fitting.fit_panel and inference.sampling, on a small fit whose first attempt
    is made to fail its diagnostics (so a retry with its reason must show)."""
    import lndbayes.fitting as fitting
    from lndbayes.inference import sampling
    from lndbayes.models.testing import simulate

    real = sampling.diagnose
    calls = []

    def failing_once(idata, *a, **k):
        d = real(idata, *a, **k)
        calls.append(1)
        # the first attempt fails, the retry passes (few draws: the real checks would fail both)
        if len(calls) == 1:
            return {**d, "converged": False, "rhat_max": 1.2, "divergences": 3,
                    "messages": ["R-hat 1.2 > 1.01: made to fail", "3 divergent transitions: advice"]}
        return {**d, "converged": True, "messages": []}

    monkeypatch.setattr(sampling, "diagnose", failing_once)
    df, _ = simulate("normal", seed=1, n_teams=4, n_per_team=20)
    meta = SimpleNamespace(program_id="coach", outcome_id="engagement", design="randomized",
                           layout="unit", family="normal", direction="increase", target=None,
                           value_per_unit=None, to_dict=lambda: {})
    panel = SimpleNamespace(data=df.rename(columns={"y": "outcome"}), meta=meta)
    monkeypatch.delenv(progress.ENV, raising=False)
    buf = io.StringIO()
    with session(total=1, stream=buf) as p:
        res = fitting.fit_panel(panel, draws=100, tune=100, chains=2, seed=3, cache=False)
        ev = _events(p.path)
    assert len(calls) == 2 and res.diagnostics()["retries"] == 1
    stages = [e["stage"] for e in ev]
    assert stages[0] == "fitting" and stages[-1] == "fitted"
    assert {e["program"] for e in ev} == {"coach"} and {e["outcome"] for e in ev} == {"engagement"}
    retry = [e for e in ev if e["stage"] == "retry"]
    assert len(retry) == 1 and retry[0]["why"] == "R-hat 1.2 > 1.01; 3 divergent transitions"  # checks, not advice
    assert retry[0]["attempt"] == 1 and retry[0]["target_accept"] > 0.8
    # draws: the last sampling event of each attempt has all of them (tuning included)
    ends = [(e["done"], e["total"]) for e in ev if e["stage"] == "sampling" and e["done"] == e["total"]]
    assert ends[0] == (2 * 200, 2 * 200) and ends[-1][0] == 2 * (retry[0]["draws"] + retry[0]["tune"])
    assert ev[-1]["retries"] == 1 and ev[-1]["converged"] == bool(res.converged)
    text = buf.getvalue()
    assert "coach / engagement: retry 1 (" in text and "because R-hat 1.2 > 1.01" in text
    assert "coach / engagement: fitted in " in text and "after 1 retry" in text


@pytest.mark.filterwarnings("ignore:lndbayes fit did NOT converge")
def test_listening_does_not_change_the_draws(monkeypatch):
    """The draws callback only reads nutpie's counters: the same fit with and without a run
    listening gives the same draws."""
    import lndbayes as lb
    from lndbayes.models.testing import simulate

    df, _ = simulate("normal", seed=1, n_teams=4, n_per_team=20)
    kw = dict(outcome="y", treatment="treated", group="team", draws=100, tune=100, chains=2, seed=5,
              cache=False, retry=False)
    monkeypatch.delenv(progress.ENV, raising=False)
    quiet = lb.fit_effects(df, **kw).draws("effect_mean")
    with session(stream=io.StringIO()) as p:
        heard = lb.fit_effects(df, **kw).draws("effect_mean")
        n_sampling = sum(e["stage"] == "sampling" for e in _events(p.path))
    assert n_sampling >= 1
    assert quiet.shape == heard.shape and (quiet == heard).all()


@pytest.mark.parametrize("value,text", [(0, "0"), (999, "999"), (1000, "1.0k"), (12345, "12.3k")])
def test_draw_counts_read_short(value, text):
    assert show._count(value) == text


def test_events_of_a_dask_task_reach_the_runner_through_the_scheduler(monkeypatch):
    """A worker on another machine cannot write the runner's file: with the DASK target its
    events go through the scheduler (Worker.log_event -> Client.subscribe_topic)."""
    distributed = pytest.importorskip("distributed")
    import threading
    import time

    def task(where):
        with progress.target(where), scope(program="coach", outcome="attrition"):
            emit("fitting")
            # nutpie's draws callback runs in a thread of its own, where get_worker() fails
            cb = progress.draws_callback()
            helper = threading.Thread(target=cb, args=([SimpleNamespace(finished_draws=10, total_draws=10)],))
            helper.start()
            helper.join()
            emit("fitted", seconds=1.5, converged=True)
        return True

    monkeypatch.delenv(progress.ENV, raising=False)
    buf = io.StringIO()
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                  dashboard_address=":0") as cluster, distributed.Client(cluster) as client:
        with session(total=1, stream=buf) as p:
            where = p.attach_dask(client)
            assert where == progress.DASK
            assert client.submit(task, where, pure=False).result()
            for _ in range(100):          # the events arrive asynchronously
                if "fitted" in buf.getvalue():
                    break
                time.sleep(0.1)
            p.program("coach", "done", seconds=2.0)
    lines = [line.split("] ", 1)[-1] for line in buf.getvalue().splitlines()]
    assert lines == ["coach / attrition: fitting",
                     "coach / attrition: fitted in 1.5 s",         # the thread's draws came
                     "coach: done in 2 s (1/1 programs finished); outcome fits 2 s (1)"]

"""benchmarks/results.md is written from bench_peers' JSON: the verdicts against issue #15's
targets and the ratios must follow the figures, and hand-written notes must survive a rerun."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import bench_peers_report as report  # noqa: E402


def _row(contender, n, seconds, cpu, ess=None, **kw):
    r = {"contender": contender, "n": n, "seconds": seconds, "cpu_seconds": cpu,
         "peak_rss_mb": 500.0, "import_seconds": 2.0, "load_avg_before": 1.0, "utc": "x 12:00",
         "rows_read_per_s": 1e6, "effect_mean": 2.0, **kw}
    if ess is not None:
        r.update(ess=ess, ess_per_s=ess / seconds)
    return r


def _meta(refit_seconds):
    n = 1_000_000
    refits = [_row("lndbayes_warm", n, s, s, ess=4000.0) for s in refit_seconds]
    return {"command": "python benchmarks/bench_peers.py", "started_utc": "now", "machine": "m",
            "python": "3.12", "cpus": 2, "chains": 4, "draws": 1000, "tune": 1000,
            "full_max": 10_000, "peer_draws": 200, "total_seconds": 60.0, "rows": [
                _row("lndbayes_cold", n, 20.0, 18.0, ess=4000.0),
                _row("lndbayes_warm", n, 6.0, 5.0, ess=4000.0, refits=refits,
                     collapse={"rows_per_s": 5e6, "cells": 400}),
                _row("mixedlm", n, 8.0, 8.0, effect_se=0.1),
                _row("plain_pymc", n, 200.0, 300.0, ess=400.0, draws=200, tune=200),
                _row("bambi", n, 400.0, 500.0, ess=400.0, draws=200, tune=200)]}


def test_verdicts_follow_the_figures(tmp_path):
    out = tmp_path / "results.md"
    text = report.write(_meta([3.0, 5.0, 4.5]), out)
    # cold 20 s > MixedLM 8 s; warm 6 s <= 8 s; refit median 4.5 s > half of 8 s
    assert "new machine <= MixedLM: 20.0 s against MixedLM 8.0 s (2.50x" in text
    assert "(2.50x; CPU 18.0 s against 8.0 s (2.25x)): **NOT met**" in text
    assert "compiled model <= MixedLM: 6.0 s against MixedLM 8.0 s (0.75x" in text
    assert "(0.75x; CPU 5.0 s against 8.0 s (0.62x)): **met**" in text
    assert "refit <= half of MixedLM: 4.5 s against MixedLM 8.0 s (0.56x" in text
    assert text.count("**NOT met**") == 2  # cold and refit; ESS/s below
    # ESS/s: cold 4000/20 = 200 against plain 400/200 = 2 -> 100x (the lowest), Bambi 1 -> 200x;
    # per CPU-s: 4000/18 against 400/300 -> 167x
    assert "lowest 100x (lndbayes_cold at 1,000,000): **met**" in text
    assert "ESS/s / plain PyMC **100x** (ESS per CPU-s 167x), ESS/s / Bambi **200x**" in text
    assert "| 1,000,000 | 1,000,000 | 5,000,000 | 400 |" in text

    text = report.write(_meta([3.0, 4.0, 3.5]), out)
    assert "refit <= half of MixedLM: 3.5 s against MixedLM 8.0 s (0.44x" in text
    assert text.count("**NOT met**") == 1


def test_hand_written_notes_survive_a_rerun(tmp_path):
    out = tmp_path / "results.md"
    report.write(_meta([3.0, 3.0, 3.0]), out)
    out.write_text(out.read_text().replace("(none yet)", "Measured by hand: 42."))
    report.write(_meta([3.0, 3.0, 3.0]), out)
    assert out.read_text().count("Measured by hand: 42.") == 1
    assert out.read_text().count(report.MARK) == 1

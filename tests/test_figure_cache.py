"""Report figures read back from the disk cache (lndbayes.report.figure_cache): the same figure
built again is recognised and gives the very bytes drawing it gives; another figure is not."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from IPython.core import pylabtools

from lndbayes.report import figure_cache, figures


@pytest.fixture
def cache_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("LNDBAYES_CACHE", str(tmp_path))
    figure_cache.install()
    return tmp_path


def _forest(seed: int, n: int = 12):
    rng = np.random.default_rng(seed)
    te = pd.DataFrame({"team": [f"Team {i:03d}" for i in range(n)], "raw_effect": rng.normal(size=n),
                       "raw_se": 0.3 + rng.random(n), "mean": rng.normal(size=n)})
    te["lower"], te["upper"] = te["mean"] - 1, te["mean"] + 1
    return figures.forest_plot(te, xlabel="Effect in the team (points)", average=0.2)


def _ppc(seed: int):
    rng = np.random.default_rng(seed)
    rep = {"control": rng.normal(0.3, 0.05, 300), "program": rng.normal(0.4, 0.05, 300)}
    return figures.ppc_plot({"control": 0.3, "program": 0.4}, rep, xlabel="share")


KW = {"fmt": "png", "base64": True, "bbox_inches": "tight"}


@pytest.mark.parametrize("make", [_forest, _ppc], ids=["forest", "ppc"])
def test_the_same_figure_built_again_is_read_back_as_the_bytes_drawing_gives(cache_folder, make,
                                                                             monkeypatch):
    assert pylabtools.print_figure is figure_cache.cached_print_figure
    drawn = figure_cache._ORIGINAL(make(1), **KW)
    first = pylabtools.print_figure(make(1), **KW)       # drawn and kept
    assert first == drawn
    assert len(list((cache_folder / "figures").rglob("*.bin"))) == 1

    calls = []
    original = figure_cache._ORIGINAL
    monkeypatch.setattr(figure_cache, "_ORIGINAL", lambda *a, **k: calls.append(1) or original(*a, **k))
    again = pylabtools.print_figure(make(1), **KW)       # a new figure object, same content
    assert again == drawn and calls == []
    other = pylabtools.print_figure(make(2), **KW)       # other data: drawn
    assert calls == [1] and other != drawn
    raw = pylabtools.print_figure(make(1), fmt="png", base64=False, bbox_inches="tight")
    assert calls == [1, 1] and raw.startswith(b"\x89PNG")  # other arguments: another entry
    figures.close("all")


def test_a_figure_that_cannot_be_pickled_is_drawn(cache_folder):
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter

    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1])
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x:.1f}!"))
    assert figure_cache.figure_key(fig, **KW) is None
    assert pylabtools.print_figure(fig, **KW) == figure_cache._ORIGINAL(fig, **KW)
    assert not list((cache_folder / "figures").rglob("*.bin"))
    plt.close(fig)


_SHELL_SCRIPT = """
from lndbayes.report import notebook
from tests.test_figure_cache import _forest
shell = notebook._shell()
shell.run_cell('%config InlineBackend.figure_formats = ["png"]\\n'
               '%config InlineBackend.rc = {"figure.dpi": 100}')
png = shell.display_formatter.formatters["image/png"]
print(png(_forest(1)) == png(_forest(1)))
"""


def test_the_report_shell_formats_figures_through_the_cache(tmp_path):
    """What a report cell's figure goes through, in a fresh process as in a report worker: the
    PNG formatter of the workers' shell, bound by the inline backend, after the notebooks'
    `%config` lines (which set the default format and so do not bind it again)."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    out = subprocess.run([sys.executable, "-c", _SHELL_SCRIPT], cwd=root, capture_output=True,
                         text=True, env={**os.environ, "LNDBAYES_CACHE": str(tmp_path)},
                         timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split()[-1] == "True"
    assert len(list((tmp_path / "figures").rglob("*.bin"))) == 1    # drawn once, then read back

"""The report's figures: pinning the titles at y=1.0 (which spares matplotlib a measurement of
every tick label per draw) draws exactly the pixels of matplotlib's automatic placement."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from lndbayes.report import figures


def _png(fig, auto_title: bool) -> np.ndarray:
    if auto_title:
        for ax in fig.axes:
            ax._autotitlepos = None          # matplotlib's default: place the title itself
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight")
    figures.close(fig)
    return np.asarray(Image.open(buf))


def _forest(n):
    rng = np.random.default_rng(n)
    te = pd.DataFrame({"team": [f"Team {i:03d} of a long name" for i in range(n)],
                       "raw_effect": rng.normal(size=n), "raw_se": 0.3 + rng.random(n),
                       "mean": rng.normal(size=n)})
    te["lower"], te["upper"] = te["mean"] - 1, te["mean"] + 1
    return lambda: figures.forest_plot(te, xlabel="Effect in the team (points)", average=0.2)


def _monitoring():
    t = pd.DataFrame({"checkpoint": np.arange(1, 9), "enough": [False] * 2 + [True] * 6,
                      "p_works": np.linspace(0.3, 0.97, 8), "p_roi_positive": np.linspace(0.2, 0.9, 8),
                      "action": ["continue"] * 6 + ["scale"] * 2})
    thr = {"scale_p_roi": 0.8, "scale_p_works": 0.9, "stop_p_works": 0.2, "min_months": 3}
    return lambda: figures.monitoring_plot(t, thr)


def _ppc():
    rng = np.random.default_rng(0)
    rep = {"control": rng.normal(0.3, 0.05, 300), "program": rng.normal(0.4, 0.05, 300)}
    return lambda: figures.ppc_plot({"control": 0.3, "program": 0.4}, rep, xlabel="share")


@pytest.mark.parametrize("make", [_forest(40), _forest(3), _monitoring(), _ppc()],
                         ids=["forest-40", "forest-3", "monitoring", "ppc"])
def test_pinned_titles_draw_the_same_pixels_as_automatic_placement(make):
    pinned, auto = _png(make(), auto_title=False), _png(make(), auto_title=True)
    assert pinned.shape == auto.shape
    assert np.array_equal(pinned, auto)

"""Figures for the reports. Each function takes tables the analysis computed and returns a Figure.

Nothing here estimates anything: the numbers come from :mod:`lndbayes.results` /
:mod:`lndbayes.decisions`; a function may only rescale them for display (``scale=100`` turns a
probability difference into percentage points) and draw them. Every axis says what it shows
and in which unit; every interval drawn is the product's 90% equal-tailed interval.
"""

from __future__ import annotations

import hashlib
import io
from functools import lru_cache
from pathlib import Path
from statistics import NormalDist

import matplotlib

matplotlib.rcParams.update({
    "figure.dpi": 100, "savefig.dpi": 100, "axes.spines.top": False, "axes.spines.right": False,
    "axes.titlesize": 12, "axes.titleweight": "bold", "axes.labelsize": 10.5,
    "xtick.labelsize": 9.5, "ytick.labelsize": 9.5, "legend.fontsize": 9, "legend.frameon": False,
})

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib import mathtext  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from lndbayes import INTERVAL  # noqa: E402
from lndbayes.atomic import atomic_path  # noqa: E402
from lndbayes.paths import cache_dir  # noqa: E402

RAW = "#9aa5b1"
POOLED = "#1f5fa8"
TARGET = "#c2410c"
GOOD = "#15803d"
_Z = {0.90: 1.6448536269514722}
WIDTH = 8.0


def _z(prob: float = INTERVAL) -> float:
    if prob in _Z:
        return _Z[prob]
    return NormalDist().inv_cdf(0.5 + prob / 2)


def _pct(prob: float = INTERVAL) -> str:
    return f"{prob:.0%}"


# Histograms are drawn as one filled step polygon (``histtype="stepfilled"``) instead of one
# rectangle per bin: the same pixels (checked on the predictive-check and effect figures), in
# about two thirds of the drawing time (a predictive-check figure 0.165 -> 0.113 s, an effect
# distribution 0.143 -> 0.088 s), and a report draws several per outcome.

# Titles are set with ``y=1.0``: where matplotlib would put them anyway (no axis is drawn above
# an axes here), but pinned, so that each draw skips the title placement that measured every
# y tick label again (~30% of a forest plot's drawing; tests/test_report_figures.py checks that
# the pixels do not change).


def _new_fig(height: float, width: float = WIDTH) -> tuple[Figure, plt.Axes]:
    fig, ax = plt.subplots(figsize=(width, height), layout="constrained")
    return fig, ax


def forest_plot(team_effects: pd.DataFrame, *, xlabel: str, scale: float = 1.0,
                average: float | None = None, title: str | None = None,
                label_col: str = "team") -> Figure:
    """Raw vs pooled team effects (shrinkage): one row per team.

    ``team_effects``: columns ``team, raw_effect, raw_se, mean, lower, upper`` (already
    privacy-filtered: pass only the reportable rows). Raw differences are drawn grey with
    +-1.645 standard errors (a 90% interval), pooled estimates blue with their 90% posterior
    interval; ``average`` (the pooled average effect) is drawn as a dashed line.
    """
    te = team_effects.sort_values("mean").reset_index(drop=True)
    n = len(te)
    fig, ax = _new_fig(max(2.6, 0.24 * n + 1.4))
    y = np.arange(n)
    if n == 0:
        ax.text(0.5, 0.5, "No team large enough to show", ha="center", va="center",
                transform=ax.transAxes)
        ax.set_axis_off()
        return fig
    if "raw_effect" in te and te["raw_effect"].notna().any():
        raw = te["raw_effect"].to_numpy(float) * scale
        se = te["raw_se"].to_numpy(float) * scale if "raw_se" in te else np.zeros(n)
        ok = np.isfinite(raw)
        ax.errorbar(raw[ok], y[ok] + 0.18, xerr=_z() * np.nan_to_num(se[ok]), fmt="o", mfc="white",
                    color=RAW, ms=4.5, lw=1.2, capsize=0,
                    label=f"raw difference in the team ({_pct()} interval)")
    mean = te["mean"].to_numpy(float) * scale
    lo = te["lower"].to_numpy(float) * scale
    hi = te["upper"].to_numpy(float) * scale
    ax.errorbar(mean, y - 0.18, xerr=[mean - lo, hi - mean], fmt="o", color=POOLED, ms=5, lw=1.6,
                capsize=0, label=f"pooled estimate ({_pct()} posterior interval)")
    ax.axvline(0, color="black", lw=0.8)
    if average is not None and np.isfinite(average):
        ax.axvline(average * scale, color=POOLED, lw=1, ls="--", label="average effect (pooled)")
    ax.set_yticks(y, te[label_col].astype(str))
    ax.set_ylim(-0.8, n - 0.2)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(label_col.capitalize())
    ax.set_title(title or "Team effects: raw differences vs pooled estimates", y=1.0)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12 - 1.0 / max(n, 4)), ncol=3)
    ax.grid(axis="x", color="#e5e7eb", lw=0.6)
    return fig


def effect_distribution(draws, *, xlabel: str, scale: float = 1.0, target: float | None = None,
                        target_label: str = "agreed target", new_team_draws=None,
                        title: str | None = None, interval: tuple[float, float]) -> Figure:
    """Posterior distribution of the average effect, with its 90% interval, zero and the target.

    ``new_team_draws`` (optional) overlays the expected effect in a new team (the predictive
    distribution, wider because teams differ). ``interval``: the (lower, upper) the analysis
    computed, shaded as given (unscaled, like ``draws``).
    """
    d = np.asarray(draws, float).ravel() * scale
    d = d[np.isfinite(d)]
    fig, ax = _new_fig(3.4)
    lo, hi = interval[0] * scale, interval[1] * scale
    series = [d]
    if new_team_draws is not None:
        nt = np.asarray(new_team_draws, float).ravel() * scale
        nt = nt[np.isfinite(nt)]
        series.append(nt)
    allv = np.concatenate(series)
    edges = np.linspace(*np.quantile(allv, [0.002, 0.998]), 60)
    if new_team_draws is not None:
        ax.hist(nt, bins=edges, density=True, histtype="stepfilled", color=RAW, alpha=0.45,
                label="effect in a new team")
    ax.hist(d, bins=edges, density=True, histtype="stepfilled", color=POOLED, alpha=0.75,
            label="average effect")
    ax.axvspan(lo, hi, color=POOLED, alpha=0.08, label=f"{_pct()} interval of the average effect")
    ax.axvline(0, color="black", lw=0.9, label="no effect")
    if target is not None and np.isfinite(target):
        ax.axvline(target * scale, color=TARGET, lw=1.8, ls="--", label=target_label)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("Posterior density")
    ax.set_yticks([])
    ax.set_title(title or "How large is the effect? Posterior distribution", y=1.0)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return fig


def event_time_plot(effects: pd.DataFrame, *, ylabel: str, scale: float = 1.0,
                    title: str | None = None) -> Figure:
    """Effect by months since the team started the program (staggered designs).

    ``effects``: columns ``event_time`` (int months), ``mean``, ``lower``, ``upper``.
    """
    e = effects.sort_values("event_time")
    fig, ax = _new_fig(3.4)
    x = e["event_time"].to_numpy(float)
    ax.fill_between(x, e["lower"] * scale, e["upper"] * scale, color=POOLED, alpha=0.18,
                    label=f"{_pct()} interval")
    ax.plot(x, e["mean"] * scale, "o-", color=POOLED, ms=4, label="posterior mean")
    ax.axhline(0, color="black", lw=0.8)
    ax.axvline(-0.5, color=RAW, lw=0.8, ls=":")
    ax.set_xlabel("Months since the team started the program")
    ax.set_ylabel(ylabel)
    ax.set_title(title or "Effect by time since start", y=1.0)
    ax.legend(loc="upper left")
    return fig


def ppc_plot(observed: dict, replicated: dict, *, xlabel: str, scale: float = 1.0,
             title: str | None = None) -> Figure:
    """Posterior (or prior) predictive check: the observed mean outcome per arm against the
    distribution of the same mean in data replicated from the model.

    ``observed``: {arm label: observed mean}; ``replicated``: {arm label: array of replicated means}.
    """
    arms = list(observed)
    fig, axes = plt.subplots(1, len(arms), figsize=(WIDTH, 2.8), layout="constrained", squeeze=False)
    for ax, arm in zip(axes[0], arms):
        rep = np.asarray(replicated[arm], float) * scale
        rep = rep[np.isfinite(rep)]
        ax.hist(rep, bins=40, histtype="stepfilled", color=RAW, alpha=0.8, label="replicated by the model")
        ax.axvline(observed[arm] * scale, color=POOLED, lw=2, label="observed")
        ax.set_title(str(arm), fontsize=10.5, y=1.0)
        ax.set_xlabel(xlabel)
        ax.set_yticks([])
    axes[0][0].set_ylabel("Replications")
    axes[0][-1].legend(loc="upper right")
    fig.suptitle(title or "Posterior predictive check: mean outcome by arm", fontweight="bold")
    return fig


def score_distribution(scores: pd.DataFrame, *, value: str = "score_scaled", by: str | None = None,
                       xlabel: str = "Assessment score (% of maximum)", scale: float = 100.0,
                       title: str | None = None, bins=None) -> Figure:
    """Histogram of learning scores (Kirkpatrick level 2), optionally one colour per group."""
    fig, ax = _new_fig(3.0)
    bins = np.linspace(0, scale, 21) if bins is None else bins
    groups = [(None, scores)] if by is None else list(scores.groupby(by, observed=True))
    colors = [POOLED, TARGET, GOOD, RAW]
    for i, (name, g) in enumerate(groups):
        v = pd.to_numeric(g[value], errors="coerce").dropna().to_numpy(float) * scale
        ax.hist(v, bins=bins, histtype="stepfilled", alpha=0.6 if by else 0.85, color=colors[i % len(colors)],
                label=None if name is None else f"{name} (n = {len(v)})")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("People")
    ax.set_title(title or "Learning: assessment scores", y=1.0)
    if by:
        ax.legend()
    return fig


def monitoring_plot(table: pd.DataFrame, thresholds: dict, *, title: str | None = None) -> Figure:
    """Interim monitoring: P(works) and P(ROI > 0) at each checkpoint with the rule's lines.

    ``table``: :attr:`lndbayes.monitoring.Monitoring.table` (checkpoint, enough, p_works,
    p_roi_positive, action); ``thresholds``: ``Monitoring.rule["thresholds"]``. Checkpoints
    with too little data are shaded; the month of each scale/alter/stop is marked.
    """
    fig, ax = _new_fig(3.4)
    t = table.sort_values("checkpoint")
    x = t["checkpoint"].to_numpy(float)
    for i, k in enumerate(x[~t["enough"].to_numpy(bool)]):
        ax.axvspan(k - 0.5, k + 0.5, color=RAW, alpha=0.18, lw=0,
                   label="too little data" if i == 0 else None)
    ax.plot(x, t["p_works"].to_numpy(float), "o-", color=POOLED, label="P(works)")
    roi = pd.to_numeric(t["p_roi_positive"], errors="coerce").to_numpy(float)
    if np.isfinite(roi).any():
        ax.plot(x, roi, "s-", color=GOOD, label="P(ROI > 0)")
        ax.axhline(thresholds["scale_p_roi"], color=GOOD, ls=":", lw=1.1,
                   label=f"scale needs P(ROI > 0) ≥ {thresholds['scale_p_roi']:.0%}")
    ax.axhline(thresholds["scale_p_works"], color=POOLED, ls="--", lw=1.1,
               label=f"scale needs P(works) ≥ {thresholds['scale_p_works']:.0%}")
    ax.axhline(thresholds["stop_p_works"], color=TARGET, ls="--", lw=1.1,
               label=f"stop below P(works) = {thresholds['stop_p_works']:.0%}")
    ax.axvline(thresholds["min_months"] - 0.5, color="black", lw=0.8, alpha=0.5,
               label=f"no action before month {thresholds['min_months']}")
    for action, marker in (("scale", "^"), ("alter", "D"), ("stop", "v")):
        hit = t["action"] == action
        if hit.any():
            ax.scatter(x[hit.to_numpy()], np.full(int(hit.sum()), 1.04), marker=marker, s=36,
                       color="black", clip_on=False, label=f"rule says {action}")
    ax.set_ylim(0, 1.08)
    ax.set_xticks(x)
    ax.set_xlabel("Checkpoint: months since the program started")
    ax.set_ylabel("Posterior probability")
    ax.set_title(title or "Interim monitoring: the odds so far", y=1.0)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return fig


def close(fig: Figure) -> None:
    plt.close(fig)


@lru_cache(maxsize=1024)
def math_png(latex: str, fontsize: int = 13) -> bytes | None:
    """One display-math block drawn with matplotlib mathtext (no TeX, no MathJax needed);
    None when mathtext cannot parse it (the caller then shows the LaTeX source).

    Cached in the process and on disk (:func:`_math_file`): a report draws the model math and
    prior symbols of each outcome, each ~10-70 ms of mathtext parsing, and the same blocks come
    back in every report and every run (~1.2-1.6 CPU-s of the example's run, py-spy)."""
    text = " ".join(latex.replace("\\\\", " ").split())
    path = _math_file(text, fontsize)
    try:
        return path.read_bytes()
    except OSError:
        pass
    buf = io.BytesIO()
    try:
        mathtext.math_to_image(f"${text}$", buf, prop=matplotlib.font_manager.FontProperties(size=fontsize),
                               dpi=MATH_DPI, format="png")
    except (ValueError, RuntimeError):
        return None
    png = buf.getvalue()
    try:
        with atomic_path(path) as tmp:
            tmp.write_bytes(png)
    except OSError:                   # a cache that cannot be written costs only time
        pass
    return png


MATH_DPI = 110


def _math_file(text: str, fontsize: int) -> Path:
    """Where the PNG of a math block is kept: the posterior cache's ``math/`` folder, under a
    hash of everything that shapes the image (text, size, resolution, matplotlib's version and
    mathtext fonts)."""
    rc = matplotlib.rcParams
    key = hashlib.sha256("|".join(map(str, (
        text, fontsize, MATH_DPI, matplotlib.__version__, rc["mathtext.fontset"], rc["mathtext.default"],
        rc["font.family"], rc["font.sans-serif"][:3]))).encode()).hexdigest()
    return cache_dir() / "math" / f"{key[:40]}.png"

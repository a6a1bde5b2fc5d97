"""Building the skill-gap report folder (reports/skill-gaps/) in a worker process of the runner.

The same contract as :mod:`lndbayes.report.build` (one program's report): the worker fills a
temporary folder the runner chose (report.ipynb, report.html, summary.json, the tidy tables,
status.json, .stamp), scans it for identifiers, and reports its status; only the runner moves
the folder into place.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from lndbayes import progress
from lndbayes.atomic import write_json, write_text
from lndbayes.paths import NOTEBOOKS_DIR
from lndbayes.privacy import assert_no_identifiers
from lndbayes.report.build import EXECUTING_MARKER, _Ids, _keep_only_failed_notebook, failure_reason
from lndbayes.report.notebook import execute_in_process, export_html
from lndbayes.report.stamps import STAMP_FILE, STATUS_FILE, SUMMARY_FILE, read_json

NAME = "skill-gaps"
#: a task of its own that fits the skill-gap backtest into the cache while the skill-gap report
#: fits the forecast: the two largest fits of a run side by side, not one after the other
BACKTEST = "skill-gaps-backtest"
#: a task of its own that fits the organisation-wide forecast into the cache when the run builds
#: program reports but not the skill-gap report (their skills sections read it back)
FORECAST = "skill-gaps-forecast"
TEMPLATE = NOTEBOOKS_DIR / "skill_gaps.ipynb"
#: notebook parameters taken from the report settings
PARAMS = ("seed", "draws", "tune", "chains", "retry", "min_group")


def build_skill_gaps(data_root: str, tmp: str, settings: dict, stamp: str) -> dict:
    """Fill ``tmp`` with the skill-gap report. Returns its status (never raises but for Ctrl-C)."""
    from lndbayes.skills.model import fit_settings

    tmp = Path(tmp)
    t0 = time.perf_counter()
    status: dict = {"program": NAME, "status": "failed", "stamp": stamp}
    nb_out = tmp / "report.ipynb"
    # the skill fits' tuning is the run's skill_tune (fit_settings), not its impact fits' tune
    params = {"data_root": str(data_root), "out_dir": str(tmp),
              **{k: settings[k] for k in PARAMS if k in settings}, **fit_settings(settings)}
    try:
        write_text(tmp / EXECUTING_MARKER, str(os.getpid()))
        try:
            execute_in_process(TEMPLATE, nb_out, params, cwd=tmp)
        finally:
            (tmp / EXECUTING_MARKER).unlink(missing_ok=True)
        progress.emit("rendering", program=NAME)
        export_html(nb_out, tmp / "report.html", title="Skill-gap forecast")
        ids = _Ids.of(data_root)
        assert_no_identifiers([tmp / "report.html", nb_out, tmp / SUMMARY_FILE]
                              + sorted(tmp.glob("*.csv")), raw_ids=ids.raw, keys=ids.keys)
        summ = read_json(tmp / SUMMARY_FILE) or {}
        n = summ.get("likely_gaps_last_quarter")
        status.update(status="ok", converged=summ.get("converged"), reason=None,
                      recommendation=f"{n} likely gaps" if n is not None else None)
    except Exception as exc:  # noqa: BLE001 - a failing report never stops the others
        status.update(status="failed", reason=failure_reason(exc))
        _keep_only_failed_notebook(tmp, nb_out, data_root)
    status["seconds"] = round(time.perf_counter() - t0, 1)
    write_json(tmp / STATUS_FILE, status, indent=2)
    write_text(tmp / STAMP_FILE, stamp + "\n")
    return status


def _fit_into_cache(name: str, fit) -> dict:
    """Run ``fit()`` (a fit that stores its result in the posterior cache) as the task ``name``.
    Returns its status; never raises: when it fails, whoever reads the fit tries again and shows
    why."""
    t0 = time.perf_counter()
    status: dict = {"program": name, "status": "ok", "reason": None}
    try:
        fit()
    except Exception as exc:  # noqa: BLE001 - the reader of the fit reports the failure
        status.update(status="failed", reason=failure_reason(exc))
    status["seconds"] = round(time.perf_counter() - t0, 1)
    return status


def fit_backtest(data_root: str, settings: dict) -> dict:
    """Fit the skill-gap report's backtest into the cache (same settings as the notebook, so its
    ``backtest`` call reads it back, or waits on the fit's lock while it runs).

    Why a task: at 597 teams the forecast and the backtest each take minutes, and the skill-gap
    report ran them one after the other on one worker (964 s of a 969 s run of 10 programs)."""
    def fit():
        import lndbayes as lb
        from lndbayes.skills.backtest import backtest

        from lndbayes.skills.model import fit_settings

        keep = fit_settings(settings)
        keep.setdefault("retry", True)
        backtest(lb.load_org(data_root), **keep)

    return _fit_into_cache(BACKTEST, fit)


def fit_forecast(data_root: str, settings: dict) -> dict:
    """Fit the organisation-wide skill-gap forecast into the cache with the settings a program
    report's skills section uses (``shared_forecast``), so those sections read it back."""
    def fit():
        import lndbayes as lb
        from lndbayes.analysis_sections import shared_forecast

        shared_forecast(lb.load_org(data_root), settings, settings.get("min_group"))

    return _fit_into_cache(FORECAST, fit)

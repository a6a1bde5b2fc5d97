"""The skill-gap fits' sampler settings in a report run.

The skill model tunes 500 steps, not the impact fits' 1,000 (lndbayes.skills.model.DEFAULT_SETTINGS,
benchmarks/results/skill_gaps.md, session 25). Three readers of a run's forecast each ask the
posterior cache for it: the skill-gap report's notebook, the runner's backtest task (same
settings, other data) and every program report's skills section (``shared_forecast``, also the
runner's forecast task). If one of them asked with other settings it would miss the cached fit
and fit the forecast again (minutes at 20,000 employees), so all must map the run's settings the
same way: the run's ``skill_tune`` (default: the model's) as the tuning, never the run's ``tune``.
"""

from __future__ import annotations

import pytest

import lndbayes as lb
import lndbayes.skills as skills_pkg
import lndbayes.skills.backtest as backtest_mod
from lndbayes.analysis_sections import shared_forecast
from lndbayes.report import skill_build
from lndbayes.report.stamps import Settings
from lndbayes.skills.model import DEFAULT_SETTINGS, fit_settings

FIT_KEYS = ("seed", "draws", "tune", "chains", "retry")


@pytest.mark.parametrize("settings, tune", [
    (Settings(seed=3, draws=300, tune=200, chains=2), DEFAULT_SETTINGS["tune"]),
    (Settings(seed=3, draws=300, tune=200, chains=2, skill_tune=150), 150),
])
def test_every_reader_of_the_forecast_asks_for_the_same_fit(settings, tune, monkeypatch, tmp_path):
    seen = {}
    monkeypatch.setattr(lb, "load_org", lambda root: "org")
    monkeypatch.setattr(skills_pkg, "run_forecast", lambda org, **kw: seen.setdefault("sections", kw))
    monkeypatch.setattr(backtest_mod, "backtest", lambda org, **kw: seen.setdefault("backtest", kw))

    def notebook(template, out, params, cwd):
        seen["notebook"] = params
        raise RuntimeError("stop after the parameters")      # the report is not the point here

    monkeypatch.setattr(skill_build, "execute_in_process", notebook)
    params = settings.as_params()

    shared_forecast("org", params)                 # program reports and the forecast task
    assert skill_build.fit_backtest(str(tmp_path), params)["status"] == "ok"
    skill_build.build_skill_gaps(str(tmp_path), str(tmp_path / "out"), params, "stamp")

    want = {"seed": 3, "draws": 300, "tune": tune, "chains": 2, "retry": True}
    for reader in ("sections", "backtest", "notebook"):
        assert {k: seen[reader].get(k) for k in FIT_KEYS} == want, reader


def test_fit_settings_keeps_the_runs_draws_and_replaces_only_the_tuning():
    run = {"seed": 1, "draws": 2000, "tune": 1000, "chains": 6, "retry": False, "min_group": 5,
           "skill_tune": None}
    assert fit_settings(run) == {"seed": 1, "draws": 2000, "tune": DEFAULT_SETTINGS["tune"], "chains": 6,
                                 "retry": False}
    assert fit_settings({**run, "skill_tune": 800})["tune"] == 800
    assert DEFAULT_SETTINGS["tune"] < Settings().tune       # the point of the separate setting

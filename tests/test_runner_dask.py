"""`lndbayes report --workers N` / `--scheduler ADDRESS`: the builds as Dask tasks.

A local cluster of 2 one-thread workers builds two programs of a small simulated organisation;
their summary.json files must be byte-for-byte those of a serial run (one local worker) with
the same seeds. Each side has its own posterior cache, and the Dask workers their own folders
for the compiled callbacks, so both sides really fit (and the Dask side compiles afresh).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

pytest.importorskip("distributed")

from lndbayes.report.runner import run_reports  # noqa: E402
from lndbayes.report.stamps import Settings  # noqa: E402

SETTINGS = Settings(seed=1, draws=200, tune=200, chains=2, retry=False, skill_tune=200)
PROGRAMS = ["compliance_training", "compliance_copy"]


def _org(root: Path) -> None:
    from lndbayes.example import simulate_org

    simulate_org(root / "raw", seed=3, n_employees=400)
    path = root / "raw" / "programs.yaml"
    cfg = yaml.safe_load(path.read_text())
    good = next(p for p in cfg["programs"] if p["id"] == PROGRAMS[0])
    copy = json.loads(json.dumps(good, default=str))
    copy.update(id=PROGRAMS[1], name="Compliance training (a copy)")
    cfg["programs"] = [good, copy]
    path.write_text(yaml.safe_dump(cfg, sort_keys=False, default_flow_style=None))


@pytest.mark.slow   # two report runs and a cluster: 11 min under load 22 (2 cores), over the 40 s budget
def test_two_dask_workers_write_the_serial_runs_summaries_byte_for_byte(tmp_path, monkeypatch):
    root = tmp_path / "org"
    _org(root)
    monkeypatch.setenv("LNDBAYES_CACHE", str(tmp_path / "cache-serial"))
    serial = run_reports(data_root=root, out_dir=tmp_path / "serial", programs=PROGRAMS, jobs=1,
                         settings=SETTINGS, index=False)
    monkeypatch.setenv("LNDBAYES_CACHE", str(tmp_path / "cache-dask"))
    monkeypatch.setenv("LNDBAYES_WORKER_DIR", str(tmp_path / "workers"))
    # PyTensor's own cache stays the machine's (a cold one costs minutes per worker, and its
    # compiled ops do not decide the draws); the callbacks are compiled afresh per worker
    import pytensor

    monkeypatch.setenv("PYTENSOR_FLAGS", f"base_compiledir={pytensor.config.base_compiledir}")
    dask = run_reports(data_root=root, out_dir=tmp_path / "dask", programs=PROGRAMS, workers=2,
                       settings=SETTINGS, index=False)
    for summary in (serial, dask):
        assert {r.program: r.status for r in summary.runs} == dict.fromkeys(PROGRAMS, "ok"), summary.table()
        assert sorted(summary.executed) == sorted(PROGRAMS)
    for pid in PROGRAMS:
        a = (tmp_path / "serial" / pid / "summary.json").read_bytes()
        b = (tmp_path / "dask" / pid / "summary.json").read_bytes()
        assert a == b, pid
        assert (tmp_path / "dask" / pid / "report.html").is_file()
    # the Dask workers fitted with their own compile folders, not the machine's
    compiled = list((tmp_path / "workers").glob("*/compiled/*"))
    assert compiled, "no per-worker compile folder was used"
    # no temporary folder is left behind
    assert not [p for p in (tmp_path / "dask").iterdir() if ".tmp-" in p.name or ".old-" in p.name]

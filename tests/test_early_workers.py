"""`lndbayes report` starts its workers' fork server before importing the runner only when the
raw data changed since their last ingest (lndbayes.data.raw_state, lndbayes.cli.report)."""

from __future__ import annotations

import argparse
import os

import pytest

import lndbayes as lb
from lndbayes.cli import report as cli_report
from lndbayes.data.raw_state import raw_changed_since_ingest
from lndbayes.report import worker_server


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    root = tmp_path_factory.mktemp("raw_state")
    lb.simulate_org(root / "raw", seed=5, n_employees=300)
    return root


def test_raw_changes_are_seen_by_size_mtime_and_the_file_list(root):
    assert raw_changed_since_ingest(root)                    # never ingested: no stamp
    lb.load_org(root)
    assert not raw_changed_since_ingest(root)                # just ingested
    kpis = root / "raw" / "kpis.csv"
    text = kpis.read_text()
    kpis.write_text(text + text.splitlines()[-1] + "\n")     # a row more (a new month)
    assert raw_changed_since_ingest(root)
    lb.load_org(root)
    assert not raw_changed_since_ingest(root)
    extra = root / "raw" / "notes.txt"
    extra.write_text("x")                                    # a file more
    assert raw_changed_since_ingest(root)
    extra.unlink()
    assert not raw_changed_since_ingest(root)
    (root / "raw" / ".hidden").write_text("ignored, as load_org ignores it")
    assert not raw_changed_since_ingest(root)
    st = kpis.stat()
    os.utime(kpis, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))   # touched only
    assert raw_changed_since_ingest(root)                    # said changed; load_org hashes
    lb.load_org(root)                                        # and ingests nothing new, but
    assert not raw_changed_since_ingest(root)                # the stamp keeps the new mtime


def _args(root, **kw):
    return argparse.Namespace(data=str(root), scheduler=kw.get("scheduler"), workers=kw.get("workers"))


def test_the_server_starts_early_only_when_the_data_will_be_ingested(root, monkeypatch):
    launched = []
    monkeypatch.setattr(worker_server, "launch", lambda *a, **k: launched.append(os.environ.get("OMP_NUM_THREADS")))
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    lb.load_org(root)
    assert cli_report._start_workers_early(_args(root)) is False and launched == []
    kpis = root / "raw" / "kpis.csv"
    kpis.write_text(kpis.read_text() + kpis.read_text().splitlines()[-1] + "\n")
    assert cli_report._start_workers_early(_args(root, workers=2)) is False       # Dask: no server
    assert cli_report._start_workers_early(_args(root, scheduler="tcp://x:8786")) is False
    assert launched == []
    assert cli_report._start_workers_early(_args(root)) is True
    assert launched == ["1"]                        # with the workers' environment (one thread)
    assert "OMP_NUM_THREADS" not in os.environ      # which this process does not keep


EARLY_THEN_RUNNER = r"""
import argparse, sys
from lndbayes.cli import report as cli_report
args = argparse.Namespace(data=sys.argv[1], scheduler=None, workers=None)
started = cli_report._start_workers_early(args)
import lndbayes.report.runner                     # what the CLI imports next (pandas, the data layer)
from lndbayes.report import worker_server
from lndbayes.report.process_env import worker_env
from lndbayes.report.stamps import source_hash
with worker_env():
    print(started, worker_server.context(source_hash()).get_start_method())
"""


def test_the_early_server_is_the_one_the_runner_then_uses(root, tmp_path):
    """Started before the runner's imports, the server must still match this process when the
    runner asks for a worker context (worker_server._state: environment, source, streams,
    sys.path); otherwise workers would be spawned and its imports wasted."""
    import subprocess
    import sys

    kpis = root / "raw" / "kpis.csv"
    kpis.write_text(kpis.read_text() + kpis.read_text().splitlines()[-1] + "\n")
    assert raw_changed_since_ingest(root)
    out = subprocess.run([sys.executable, "-c", EARLY_THEN_RUNNER, str(root)], capture_output=True,
                         text=True, timeout=300, env={**os.environ, "LNDBAYES_FORKSERVER": "1"})
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["True", "forkserver"], out.stdout

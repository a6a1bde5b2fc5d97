"""Shared test settings. Set before lndbayes is imported anywhere."""

from __future__ import annotations

import os
import tempfile

import matplotlib
import pytest

matplotlib.use("Agg")
# A fresh posterior cache per test session: a test must never pass on a posterior cached by
# an earlier run of different code.
os.environ.setdefault("LNDBAYES_CACHE", tempfile.mkdtemp(prefix="lndbayes-test-cache-"))
os.environ.setdefault("LNDBAYES_PSEUDONYM_KEY", "test-key-not-secret")


def pytest_collection_modifyitems(config, items):
    """Keep each test module on one xdist worker (``make test`` runs two).

    Compiled models are reused within a process, and most modules fit the same model structure
    many times: spreading one module's tests over both workers would compile each structure
    twice. The report tests and the browser test share one session-scoped example build, so
    they form one group.
    """
    shared = {"test_browser": "test_reporting"}
    for item in items:
        module = item.module.__name__.rsplit(".", 1)[-1]
        item.add_marker(pytest.mark.xdist_group(shared.get(module, module)))

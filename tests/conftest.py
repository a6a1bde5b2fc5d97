"""Shared test settings. Set before lndbayes is imported anywhere."""

from __future__ import annotations

import os
import tempfile

import matplotlib

matplotlib.use("Agg")
# A fresh posterior cache per test session: a test must never pass on a posterior cached by
# an earlier run of different code.
os.environ.setdefault("LNDBAYES_CACHE", tempfile.mkdtemp(prefix="lndbayes-test-cache-"))
os.environ.setdefault("LNDBAYES_PSEUDONYM_KEY", "test-key-not-secret")

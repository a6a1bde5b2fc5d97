"""Where things live. One place, so that notebooks, make and the CLI agree."""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
PROJECT_ROOT = PACKAGE_DIR.parent
DATA_DIR = PROJECT_ROOT / "data"
EXAMPLE_ROOT = DATA_DIR / "synthetic"
REPORTS_DIR = PROJECT_ROOT / "reports"
NOTEBOOKS_DIR = PROJECT_ROOT / "notebooks"
CACHE_DIR = Path(os.environ.get("LNDBAYES_CACHE", PROJECT_ROOT / ".cache" / "lndbayes"))


def cache_dir() -> Path:
    """The posterior cache folder, read at every call (a worker or a test may point
    ``LNDBAYES_CACHE`` elsewhere after import)."""
    return Path(os.environ.get("LNDBAYES_CACHE", CACHE_DIR))


def raw_dir(root: Path) -> Path:
    return Path(root) / "raw"


def processed_dir(root: Path) -> Path:
    return Path(root) / "processed"


def rejected_dir(root: Path) -> Path:
    return Path(root) / "interim" / "rejected"


def default_data_root() -> Path:
    """The user's data root if they gave one, else the built-in example organisation.

    ``LNDBAYES_DATA`` wins; then ``data/`` when ``data/raw/programs.yaml`` exists; else
    ``data/synthetic/``, which is simulated on first use.
    """
    env = os.environ.get("LNDBAYES_DATA")
    if env:
        return Path(env).resolve()
    if (raw_dir(DATA_DIR) / "programs.yaml").exists():
        return DATA_DIR
    return EXAMPLE_ROOT


def is_example_root(root: Path) -> bool:
    return Path(root).resolve() == EXAMPLE_ROOT.resolve()

"""What a report depends on, as hashes: a program is rebuilt only when its stamp changes.

Cheap on purpose (hashlib and json only): the no-op ``lndbayes report`` reads stamps and
starts nothing else.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path

from lndbayes import __version__
from lndbayes.paths import NOTEBOOKS_DIR, PACKAGE_DIR

REPORT_TEMPLATE = NOTEBOOKS_DIR / "program_report.ipynb"
STAMP_FILE = ".stamp"
STATUS_FILE = "status.json"
SUMMARY_FILE = "summary.json"
#: package files a report is made from: code, templates, styles, shipped data
SOURCE_SUFFIXES = (".py", ".j2", ".css", ".yaml")


@dataclass(frozen=True)
class Settings:
    """Sampler and display settings of a report run (part of the stamp)."""

    seed: int = 0
    draws: int = 1000
    tune: int = 1000
    chains: int = 4
    retry: bool = True             # re-sample with smaller steps when diagnostics fail
    skill_tune: int | None = None  # the skill-gap fits' tuning; None: that model's default (500)
    min_group: int | None = None   # None: organisation.privacy_min_group

    def as_params(self) -> dict:
        return asdict(self)


def sha(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()


def read_json(path: Path) -> dict | None:
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None


def source_hash() -> str:
    """Hash of the package's source files and the report notebook template."""
    h = hashlib.sha256()
    files = sorted(f for f in PACKAGE_DIR.rglob("*") if f.suffix in SOURCE_SUFFIXES) + [REPORT_TEMPLATE]
    for f in files:
        if f.is_file() and "__pycache__" not in f.parts:
            h.update(str(f.relative_to(PACKAGE_DIR.parent)).encode())
            h.update(f.read_bytes())
    return h.hexdigest()


def data_stamp(root: Path) -> str:
    """Hash of the processed data of a data root.

    The ingestion stamp (``processed/_stamp.json``: content hashes of the raw files, contract
    version, pseudonym key fingerprint) when there is one, else the content of every processed file.
    """
    proc = Path(root) / "processed"
    st = read_json(proc / "_stamp.json")
    if st and isinstance(st.get("files"), dict):
        files = {k: v.get("sha256") if isinstance(v, dict) else v for k, v in st["files"].items()}
        return sha({"files": files, **{k: v for k, v in st.items() if k not in ("files", "warnings")}})
    h = hashlib.sha256()
    for f in sorted(proc.rglob("*")) if proc.is_dir() else []:
        if f.is_file() and not f.name.startswith("."):
            h.update(str(f.relative_to(proc)).encode())
            with f.open("rb") as fh:
                for chunk in iter(lambda: fh.read(1 << 20), b""):
                    h.update(chunk)
    return h.hexdigest()


def program_stamp(program, organisation, data: str, source: str, settings: Settings) -> str:
    entry = program.model_dump(mode="json") if hasattr(program, "model_dump") else program
    org = organisation.model_dump(mode="json") if hasattr(organisation, "model_dump") else organisation
    return sha({"program": entry, "organisation": org, "data": data, "source": source,
                "settings": settings.as_params(), "version": __version__})


def is_current(folder: Path, stamp: str) -> dict | None:
    """The status of ``folder`` when it was built from ``stamp`` (and is complete), else None.

    A failure is cached too: the same inputs fail the same way (``--force`` re-runs it). An
    interrupted run leaves no folder, so it is re-run.
    """
    folder = Path(folder)
    st = read_json(folder / STATUS_FILE)
    if not st or st.get("stamp") != stamp:
        return None
    if st.get("status") == "ok":
        try:
            old = (folder / STAMP_FILE).read_text().strip()
        except OSError:
            return None
        if old != stamp or not (folder / "report.html").is_file() or not (folder / SUMMARY_FILE).is_file():
            return None
    return st

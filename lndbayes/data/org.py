"""The validated organisation: processed tables, the ledger and the programs configuration."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from lndbayes import atomic, paths
from lndbayes.config import ProgramsConfig, load_programs
from lndbayes.data.ingest import ingest
from lndbayes.data.processed import read_ledger, read_processed, stamp_payload
from lndbayes.data.pseudonym import ensure_example_key, get_key
from lndbayes.errors import ContractError
from lndbayes.example import simulate_org


@dataclass
class Org:
    """Everything the models and reports read about one organisation.

    ``tables`` holds the processed tables of docs/architecture.md (pseudonymised); ``ledger``
    says, per table and source file, rows read = accepted + rejected.
    """

    root: Path
    tables: dict[str, pd.DataFrame]
    ledger: pd.DataFrame
    programs: ProgramsConfig
    truth: dict | None = None
    meta: dict = field(default_factory=dict)

    def table(self, name: str) -> pd.DataFrame:
        if name not in self.tables:
            return pd.DataFrame()
        return self.tables[name]

    @property
    def employees(self) -> pd.DataFrame:
        return self.table("employees")

    @property
    def kpis(self) -> pd.DataFrame:
        return self.table("kpis")

    @property
    def learning_events(self) -> pd.DataFrame:
        return self.table("learning_events")

    @property
    def enrollments(self) -> pd.DataFrame:
        return self.table("enrollments")

    @property
    def assignments(self) -> pd.DataFrame:
        return self.table("assignments")

    @property
    def hris_events(self) -> pd.DataFrame:
        return self.table("hris_events")


def _file_hash(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def raw_fingerprint(raw_dir: Path, previous: dict | None = None) -> dict:
    """Content hashes of every file under ``raw_dir`` (relative path -> {size, mtime_ns, sha256}).

    A file whose size and mtime match ``previous`` keeps its stored hash (no re-read)."""
    prev = (previous or {}).get("files", {})
    out = {}
    for p in sorted(raw_dir.rglob("*")):
        if not p.is_file() or p.name.startswith("."):
            continue
        rel = p.relative_to(raw_dir).as_posix()
        st = p.stat()
        old = prev.get(rel)
        if old and old.get("size") == st.st_size and old.get("mtime_ns") == st.st_mtime_ns:
            digest = old["sha256"]
        else:
            digest = _file_hash(p)
        out[rel] = {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": digest}
    return out


def _same_inputs(a: dict | None, b: dict) -> bool:
    if not a:
        return False
    files_a = {k: v["sha256"] for k, v in a.get("files", {}).items()}
    files_b = {k: v["sha256"] for k, v in b["files"].items()}
    return (files_a == files_b and a.get("contract_version") == b["contract_version"]
            and a.get("key_fingerprint") == b["key_fingerprint"])


def load_org(path=None, *, refresh: bool = False, seed: int | None = None, progress: bool = False,
             before_ingest=None) -> Org:
    """Return the validated organisation at ``path`` (a data root holding ``raw/``).

    With no path, the default data root (lndbayes.paths.default_data_root): the user's data/
    or the built-in example organisation, simulated on first use (``seed``, default 0).
    Ingestion reruns only when a raw file changed (content hashes in processed/_stamp.json),
    the pseudonym key or the contract changed, or ``refresh=True``; otherwise the processed
    parquet files are read. ``before_ingest`` (no arguments) is called once before the example
    is simulated or the raw files are ingested: the report runner starts its workers' fork
    server there, so that their imports overlap the ingestion.
    """
    root = Path(path).resolve() if path is not None else paths.default_data_root()
    raw = paths.raw_dir(root)
    if paths.is_example_root(root) and not (raw / "employees.csv").exists():
        if before_ingest:
            before_ingest()
            before_ingest = None
        simulate_org(raw, seed=0 if seed is None else seed)
        ensure_example_key(root, 0 if seed is None else seed)    # every fresh clone: the same draws
        refresh = True
    if not raw.is_dir():
        raise ContractError("the data root has no raw/ folder", file=raw,
                            fix="put your raw files in <root>/raw/ (docs/data-contract.md), or call load_org() "
                                "with no path for the example organisation")
    key = get_key(root)
    stamp_path = paths.processed_dir(root) / "_stamp.json"
    old = json.loads(stamp_path.read_text()) if stamp_path.exists() else None
    new = {"files": raw_fingerprint(raw, old), **stamp_payload(key)}
    warnings: list[str] = []
    if refresh or not _same_inputs(old, new):
        if before_ingest:
            before_ingest()
        result = ingest(raw, root, pseudonym_key=key, progress=progress)
        tables, ledger, warnings = result.tables, result.ledger, result.warnings
        new["warnings"] = warnings
        atomic.write_json(stamp_path, new, sort_keys=True)
        ingested = True
    else:
        tables, ledger = read_processed(root), read_ledger(root)
        warnings = old.get("warnings", [])
        ingested = False
    programs_path = raw / "programs.yaml"
    if not programs_path.exists():
        raise ContractError("required file programs.yaml is missing", file=programs_path,
                            fix="describe your programs in raw/programs.yaml (see docs/programs-yaml.md)")
    programs = load_programs(programs_path)
    truth_path = root / "truth.json"
    truth = json.loads(truth_path.read_text()) if truth_path.exists() else None
    return Org(root=root, tables=tables, ledger=ledger, programs=programs, truth=truth,
               meta={"ingested": ingested, "warnings": warnings, "stamp": new})

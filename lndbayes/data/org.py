"""The validated organisation: processed tables, the ledger and the programs configuration."""

from __future__ import annotations

import copy
import hashlib
import json
import pickle
from dataclasses import dataclass, field, replace
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

    def kpi_rows(self, name: str) -> pd.DataFrame:
        """The rows of ``kpis`` whose ``kpi`` is ``name``, in their order and with their index:
        ``kpis[kpis["kpi"] == name]``. Tables that know a faster way (interim monitoring's cut
        tables, :class:`lndbayes.monitoring.asof.CutTables`) answer it themselves."""
        rows_of = getattr(self.tables, "kpi_rows", None)
        if rows_of is not None:
            return rows_of(name)
        return TablesIndex.filter(self.kpis, name)

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


class TablesIndex:
    """Row positions of each KPI in a ``kpis`` table, found with one pass over it, and what
    interim monitoring's cuts of the organisation's tables prepare once
    (:class:`lndbayes.monitoring.asof.CutTables`).

    Why: interim monitoring builds two or three panels at every checkpoint, each picking one or
    two KPIs out of a table of all of them (380,000 rows at 20,000 employees, ~15 ms a pick).
    Build it where the tables cannot change while it is used (:func:`tables_index`)."""

    def __init__(self, kpis: pd.DataFrame):
        self._kpis = kpis
        self._rows = ({} if kpis is None or kpis.empty or "kpi" not in kpis
                      else kpis.groupby("kpi", sort=False, observed=True).indices)
        self._prepared: dict = {}
        self._first: dict | bool | None = None

    def once(self, key, compute):
        """``compute()``, computed once per ``key`` and kept (read only): what every cut of the
        tables would compute again with the same result."""
        if key not in self._prepared:
            self._prepared[key] = compute()
        return self._prepared[key]

    def prepared(self, name: str, key, prepare):
        """``prepare`` of KPI ``name``'s rows, computed once per ``(name, key)`` (:meth:`once`)."""
        return self.once(("kpi", name, key), lambda: prepare(self.rows(name)))

    def first_periods(self) -> dict | None:
        """{KPI name as text: its earliest period as 'YYYY-MM'}, or None when a row has no KPI
        name (the names known at a cut then come from the cut table itself)."""
        if self._first is None:
            k = self._kpis
            if k is None or k.empty or "kpi" not in k:
                self._first = {}
            elif k["kpi"].isna().any():
                self._first = False           # known once: no answer from the index
            else:
                p7 = k["period"].astype(str).str[:7]
                first = p7.groupby(k["kpi"].astype(str), sort=False).min()
                self._first = dict(zip(first.index, first.to_numpy()))
        return self._first if self._first is not False else None

    def rows(self, name: str) -> pd.DataFrame:
        """``kpis[kpis["kpi"] == name]`` (the table itself when it is empty, as before)."""
        k = self._kpis
        if k is None or k.empty:
            return k
        pos = self._rows.get(name)
        return k.iloc[pos] if pos is not None else k.iloc[:0]

    @staticmethod
    def filter(kpis: pd.DataFrame, name: str) -> pd.DataFrame:
        """The same rows without an index (one comparison over the table)."""
        return kpis[kpis["kpi"] == name] if kpis is not None and not kpis.empty else kpis


#: whether this process keeps the last organisation it loaded (:func:`remember_loaded`)
_REMEMBER = False
#: (what decided it, a copy of the organisation, the values derived from its tables, a pickle of
#: its programs, truth and meta) of this process's last load_org, when remembered
_LAST: tuple | None = None


def remember_loaded(on: bool = True) -> None:
    """Let :func:`load_org` hand this process a copy of the organisation it loaded last when
    nothing that decides it changed (the raw files' content hashes, the pseudonym key, the
    contract version, ``truth.json``).

    Why: a report worker builds many programs of one organisation, and each report's notebook
    loads it again: reading the processed tables and parsing programs.yaml took ~0.45 s of a
    core per report on the example (py-spy of its new month), more with larger tables. Only
    report workers turn this on (:func:`lndbayes.report.build.build_task`): the copy's tables
    are new DataFrames over the same columns (pandas' copy-on-write keeps a report's changes to
    its own copy), its programs and truth deep copies, so no report sees another's changes."""
    global _REMEMBER, _LAST
    _REMEMBER = bool(on)
    if not on:
        _LAST = None


def _copy_org(org: "Org", shared: dict, frozen: bytes | None = None) -> "Org":
    """A copy of ``org`` whose tables share the columns (copy-on-write) and whose programs,
    truth and meta are new objects: unpickled from ``frozen`` (:func:`_freeze`) when given.
    Why the pickle: it makes the same independent objects as a deep copy in a third of the time
    (a load at the large preset's 100 programs: 25 against 75 ms, ~3 loads a report)."""
    programs, truth, meta = (pickle.loads(frozen) if frozen is not None
                             else copy.deepcopy((org.programs, org.truth, org.meta)))
    out = replace(org, tables={k: (None if v is None else v.copy(deep=False)) for k, v in org.tables.items()},
                  ledger=org.ledger.copy(deep=False), programs=programs, truth=truth, meta=meta)
    out._derived = shared
    return out


def _freeze(org: "Org") -> bytes | None:
    """``org``'s programs, truth and meta as one pickle for :func:`_copy_org`; None when they do
    not pickle (a deep copy then)."""
    try:
        return pickle.dumps((org.programs, org.truth, org.meta), protocol=pickle.HIGHEST_PROTOCOL)
    except Exception:  # noqa: BLE001 - whatever cannot be pickled is deep-copied instead
        return None


def tables_index(org: "Org") -> TablesIndex:
    """The :class:`TablesIndex` of ``org``'s tables: one per remembered load (:func:`derived`:
    a report worker's programs share its KPI picks and prepared tables), a new one otherwise."""
    return derived(org, "tables_index", lambda: TablesIndex(org.kpis))


def derived(org: "Org", name: str, compute):
    """``compute()``, a value that depends only on ``org``'s tables, computed once for all the
    copies :func:`load_org` handed out of one remembered load (:func:`remember_loaded`), and
    every time for any other organisation (one built or changed in memory, or cut with
    ``dataclasses.replace``, which drops the shared values). E.g. the interim-monitoring
    cache's digest of the tables (:class:`lndbayes.monitoring.asof.KnownDigest`, ~0.3 s a
    report on the example)."""
    shared = getattr(org, "_derived", None)
    if shared is None:
        return compute()
    if name not in shared:
        shared[name] = compute()
    return shared[name]


def cut_memo(org: "Org", key, compute):
    """``compute()``, kept with ``org``'s tables when they are a fixed cut that keeps such values
    (interim monitoring's :class:`lndbayes.monitoring.asof.CutTables`, one per checkpoint), and
    computed every time for any other organisation. Callers must not change what it returns.

    Why: at a checkpoint the panels of the monitored and the monetised outcomes and the ROI's
    participant count each read the same employees and arms of the program (~25 ms a time at
    20,000 employees, ~2.4 times a checkpoint); a cut's tables cannot change, so one reading
    serves them all. Not for loaded organisations: their tables can be replaced in memory, and
    a report worker's would keep each program's population alive for all its reports."""
    memo = getattr(org.tables, "memo", None)
    if memo is None:
        return compute()
    if key not in memo:
        memo[key] = compute()
    return memo[key]


def _truth_state(root: Path):
    try:
        st = (root / "truth.json").stat()
        return (st.st_size, st.st_mtime_ns)
    except OSError:
        return None


def _same_inputs(a: dict | None, b: dict) -> bool:
    if not a:
        return False
    files_a = {k: v["sha256"] for k, v in a.get("files", {}).items()}
    files_b = {k: v["sha256"] for k, v in b["files"].items()}
    return (files_a == files_b and a.get("contract_version") == b["contract_version"]
            and a.get("key_fingerprint") == b["key_fingerprint"])


def _record_file_stats(stamp_path: Path, old: dict, files: dict) -> None:
    """Keep the raw files' new sizes and times in the ingestion stamp when their contents did not
    change (a file touched or copied again), so that the next run does not hash them again and
    :mod:`lndbayes.data.raw_state` sees nothing changed. The reports' data stamp reads only the
    content hashes, so it stays as it was. Best effort: a read-only data root keeps the old
    stamp, and a stamp another process rewrote meanwhile (an ingest) is left alone."""
    try:
        now = json.loads(stamp_path.read_text())
        if now != old:
            return
        atomic.write_json(stamp_path, {**old, "files": files}, sort_keys=True)
    except (OSError, ValueError):
        pass


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
    global _LAST
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
    decided_by = (str(root), json.dumps(new, sort_keys=True, default=str), _truth_state(root))
    if (_REMEMBER and not refresh and _LAST is not None and _LAST[0] == decided_by
            and _same_inputs(old, new)):
        return _copy_org(_LAST[1], _LAST[2], _LAST[3])
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
        if new["files"] != old.get("files"):
            _record_file_stats(stamp_path, old, new["files"])
    programs_path = raw / "programs.yaml"
    if not programs_path.exists():
        raise ContractError("required file programs.yaml is missing", file=programs_path,
                            fix="describe your programs in raw/programs.yaml (see docs/programs-yaml.md)")
    programs = load_programs(programs_path)
    truth_path = root / "truth.json"
    truth = json.loads(truth_path.read_text()) if truth_path.exists() else None
    org = Org(root=root, tables=tables, ledger=ledger, programs=programs, truth=truth,
              meta={"ingested": ingested, "warnings": warnings, "stamp": new})
    if _REMEMBER:
        shared: dict = {}
        kept = _copy_org(org, shared)
        _LAST = (decided_by, kept, shared, _freeze(kept))
        org._derived = shared
    return org

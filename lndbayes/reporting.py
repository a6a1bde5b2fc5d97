"""Per-program impact reports: the Papermill runner, the HTML export and the reports index.

::

    from lndbayes.reporting import run_reports
    summary = run_reports()                 # every program of the default data root
    summary = run_reports(programs=["manager_coaching"], jobs=1, force=True)

What it writes, per program, into ``reports/<program>/`` (see docs/reports.md):
``report.ipynb`` (executed), ``report.html`` (self-contained, code hidden), ``summary.json``
(headline numbers), ``posterior/<outcome>/`` (the cached posteriors) and ``.stamp`` (the hash of
everything the report depends on). ``reports/index.html`` lists every program.

Incremental: a program is re-run only when its stamp changes (its programs.yaml entry, the
processed data, the package source, the notebook template, the sampler settings). The no-op path
reads stamps only: it imports neither PyMC nor Papermill and starts no kernel.
Atomic: each report is built in a temporary folder and moved into place with ``os.replace``.

This module also holds :class:`ProgramReport`, the helpers that the report notebook calls to
display results (formatting, tables, sections), so that the notebook stays thin.
"""

from __future__ import annotations

import hashlib
import html
import json
import math
import os
import shutil
import sys
import time
import uuid
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

from lndbayes import INTERVAL, __version__
from lndbayes.errors import LndbayesError
from lndbayes.paths import NOTEBOOKS_DIR, PACKAGE_DIR, REPORTS_DIR

REPORT_TEMPLATE = NOTEBOOKS_DIR / "program_report.ipynb"
PORTFOLIO_TEMPLATE = NOTEBOOKS_DIR / "portfolio.ipynb"
KERNEL = "python3"
DEFAULT_JOBS = 2
STAMP_FILE = ".stamp"
STATUS_FILE = "status.json"
SUMMARY_FILE = "summary.json"
INTERVAL_SENTENCE = (f"All intervals are {INTERVAL:.0%} equal-tailed posterior intervals: "
                     f"the effect lies inside with {INTERVAL:.0%} probability, given the model "
                     "and the data.")


@dataclass(frozen=True)
class Settings:
    """Sampler and display settings of a report run (part of the stamp)."""

    seed: int = 0
    draws: int = 1000
    tune: int = 1000
    chains: int = 4
    retry: bool = True             # re-sample with smaller steps when diagnostics fail
    min_group: int | None = None   # None: organisation.privacy_min_group

    def as_params(self) -> dict:
        return asdict(self)


class ReportFailed(LndbayesError):
    """A program's report could not be produced."""


# =============================================================================================
# Stamps (cheap: no heavy imports)

def _sha(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()


def source_hash() -> str:
    """Hash of the package source files and both notebook templates."""
    h = hashlib.sha256()
    files = sorted(PACKAGE_DIR.rglob("*.py")) + [REPORT_TEMPLATE, PORTFOLIO_TEMPLATE]
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
    st = _read_json(proc / "_stamp.json")
    if st and isinstance(st.get("files"), dict):
        files = {k: v.get("sha256") if isinstance(v, dict) else v for k, v in st["files"].items()}
        return _sha({"files": files, **{k: v for k, v in st.items() if k not in ("files", "warnings")}})
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
    return _sha({"program": entry, "organisation": org, "data": data, "source": source,
                 "settings": settings.as_params(), "version": __version__})


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None


def is_current(folder: Path, stamp: str) -> dict | None:
    """The status of ``folder`` when it was built from ``stamp`` (and is complete), else None.

    A failure is cached too: the same inputs fail the same way (``--force`` re-runs it). An
    interrupted run leaves no folder, so it is re-run.
    """
    folder = Path(folder)
    st = _read_json(folder / STATUS_FILE)
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


# =============================================================================================
# Atomic folder replacement and locks

def _atomic_replace_dir(tmp: Path, final: Path) -> None:
    """Move the complete folder ``tmp`` to ``final``; an old ``final`` is removed afterwards."""
    old = final.parent / f".{final.name}.old-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    if final.exists():
        os.replace(final, old)
    os.replace(tmp, final)
    shutil.rmtree(old, ignore_errors=True)


def _atomic_write_text(path: Path, text: str) -> None:
    tmp = path.parent / f".{path.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


@contextmanager
def _lock(path: Path):
    """An exclusive advisory lock (two `make -j` runs never build the same report at once)."""
    import fcntl

    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


# =============================================================================================
# Running one notebook (in a worker process)

def _kernel_env(threads: int = 1) -> None:
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
        os.environ.setdefault(var, str(threads))
    os.environ.setdefault("PYTHONWARNINGS", "ignore")
    os.environ.setdefault("MPLBACKEND", "module://matplotlib_inline.backend_inline")


def _failure_reason(exc: BaseException) -> str:
    ename = getattr(exc, "ename", None)
    evalue = getattr(exc, "evalue", None)
    if ename:
        text = f"{ename}: {evalue}" if evalue else str(ename)
    else:
        text = f"{type(exc).__name__}: {exc}"
    text = " ".join(str(text).split())
    return text[:500]


def export_html(nb_path: Path, html_path: Path, title: str | None = None) -> None:
    """Self-contained HTML with the code hidden (figures are embedded as base64 PNG)."""
    import nbformat
    from nbconvert import HTMLExporter

    nb = nbformat.read(nb_path, as_version=4)
    if title:
        nb.metadata["title"] = title
    exporter = HTMLExporter(exclude_input=True, exclude_input_prompt=True,
                            exclude_output_prompt=True, embed_images=True)
    body, _ = exporter.from_notebook_node(nb)
    html_path.write_text(body, encoding="utf-8")


def execute_notebook(template: Path, output: Path, parameters: dict, cwd: Path | None = None) -> None:
    import papermill as pm

    _kernel_env()
    pm.execute_notebook(str(template), str(output), parameters=parameters, kernel_name=KERNEL,
                        progress_bar=False, log_output=False, request_save_on_cell_execute=False,
                        cwd=str(cwd) if cwd else None,
                        # the kernel's own log is noise in `make reports`: start-up warnings,
                        # and at shutdown an ERROR-level "KeyboardInterrupt caught in kernel"
                        # that follows a finished notebook (a failing cell reaches us as
                        # papermill's PapermillExecutionError, not through this log)
                        extra_arguments=["--IPKernelApp.log_level=CRITICAL"])


class _Ids:
    """The identifiers a report must never show (raw ids and pseudonymous keys)."""

    def __init__(self, root: Path):
        import pandas as pd

        from lndbayes.privacy import org_identifiers

        self.root = Path(root)
        emp = Path(root) / "processed" / "employees.parquet"
        self.employees = pd.read_parquet(emp) if emp.is_file() else pd.DataFrame()
        self.raw, self.keys = org_identifiers(self)


def _run_one(program_id: str, data_root: str, out_dir: str, settings: dict, stamp: str) -> dict:
    """Build one program's report folder atomically. Returns a status dict (never raises)."""
    out = Path(out_dir)
    final = out / program_id
    t0 = time.perf_counter()
    print(f"  {program_id}: started", flush=True)
    tmp = out / f".{program_id}.tmp-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    status: dict = {"program": program_id, "status": "failed", "stamp": stamp}
    try:
        with _lock(out / f".{program_id}.lock"):
            tmp.mkdir(parents=True)
            nb_out = tmp / "report.ipynb"
            params = dict(program_id=program_id, data_root=str(data_root), out_dir=str(tmp), **settings)
            try:
                execute_notebook(REPORT_TEMPLATE, nb_out, params, cwd=tmp)
                export_html(nb_out, tmp / "report.html", title=f"Impact report: {program_id}")
                from lndbayes.privacy import assert_no_identifiers

                ids = _Ids(data_root)
                assert_no_identifiers([tmp / "report.html", nb_out, tmp / SUMMARY_FILE],
                                      raw_ids=ids.raw, keys=ids.keys)
                summ = _read_json(tmp / SUMMARY_FILE) or {}
                status.update(status="ok", converged=summ.get("converged"),
                              recommendation=(summ.get("recommendation") or {}).get("action"),
                              reason=None)
            except Exception as exc:  # noqa: BLE001 - a failing program never stops the others
                status.update(status="failed", reason=_failure_reason(exc))
                keep = tmp / "failed.ipynb"
                if nb_out.exists():
                    os.replace(nb_out, keep)
                    try:
                        from lndbayes.privacy import assert_no_identifiers

                        ids = _Ids(data_root)
                        assert_no_identifiers([keep], raw_ids=ids.raw, keys=ids.keys)
                    except Exception:  # noqa: BLE001
                        keep.unlink(missing_ok=True)
                for name in list(tmp.iterdir()):
                    if name.name not in ("failed.ipynb",):
                        shutil.rmtree(name, ignore_errors=True) if name.is_dir() else name.unlink()
            status["seconds"] = round(time.perf_counter() - t0, 1)
            (tmp / STATUS_FILE).write_text(json.dumps(status, indent=2))
            (tmp / STAMP_FILE).write_text(stamp + "\n")
            _atomic_replace_dir(tmp, final)
    except BaseException as exc:  # interrupted or could not write: leave no half-written folder
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(exc, KeyboardInterrupt):
            raise
        status.update(status="failed", reason=_failure_reason(exc))
    status["seconds"] = round(time.perf_counter() - t0, 1)
    if status["status"] == "ok":
        print(f"  {program_id}: done in {status['seconds']:.0f} s", flush=True)
    else:
        print(f"  {program_id}: FAILED: {status['reason']}", flush=True)
    return status


# =============================================================================================
# The runner

@dataclass
class ProgramRun:
    program: str
    status: str                  # ok | skipped (up to date) | failed | invalid (programs.yaml)
    seconds: float = 0.0
    reason: str | None = None
    converged: bool | None = None
    recommendation: str | None = None
    ran: bool = False            # its notebook was executed in this run


@dataclass
class RunSummary:
    runs: list[ProgramRun] = field(default_factory=list)
    index: Path | None = None
    index_rebuilt: bool = False
    seconds: float = 0.0

    @property
    def executed(self) -> list[str]:
        """Programs whose notebook was executed in this run."""
        return [r.program for r in self.runs if r.ran]

    @property
    def failed(self) -> list[ProgramRun]:
        return [r for r in self.runs if r.status in ("failed", "invalid")]

    @property
    def exit_code(self) -> int:
        return 1 if self.failed else 0

    def table(self) -> str:
        rows = [("program", "status", "time", "recommendation / reason")]
        for r in self.runs:
            what = r.reason if r.status in ("failed", "invalid") else (r.recommendation or "")
            if r.status in ("ok", "skipped") and r.converged is False:
                what = f"{what} (fit failed diagnostics)"
            rows.append((r.program, {"skipped": "up to date"}.get(r.status, r.status),
                         f"{r.seconds:.0f} s" if r.seconds else "-", (what or "")[:100]))
        widths = [max(len(str(row[i])) for row in rows) for i in range(3)]
        lines = ["  ".join(str(c).ljust(w) for c, w in zip(row[:3], widths)) + "  " + row[3]
                 for row in rows]
        lines.insert(1, "  ".join("-" * w for w in widths) + "  " + "-" * 24)
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.table()


def _progress(msg: str) -> None:
    print(msg, flush=True)


def _load_config_and_data(data_root: Path):
    """Ingest when the raw files changed (load_org does that), return the ProgramsConfig."""
    from lndbayes.data.org import load_org

    org = load_org(data_root)
    return org.programs, Path(getattr(org, "root", data_root))


def run_reports(data_root=None, out_dir=REPORTS_DIR, programs=None, jobs=None, force: bool = False,
                settings: Settings | None = None, index: bool = True) -> RunSummary:
    """Build the reports of ``programs`` (default: all) and ``out_dir/index.html``.

    A program is executed only when its stamp changed (or ``force``). ``jobs`` notebooks run in
    parallel processes (default 2). A failing program never stops the others; its folder then
    holds ``status.json`` with the reason (and ``failed.ipynb`` to debug it).
    """
    from lndbayes.paths import default_data_root

    t_start = time.perf_counter()
    settings = settings or Settings()
    root = Path(data_root).resolve() if data_root else default_data_root()
    out = Path(out_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    jobs = DEFAULT_JOBS if not jobs else max(1, int(jobs))

    cfg, root = _load_config_and_data(root)
    wanted = list(programs) if programs else None
    known = set(cfg.programs) | set(cfg.errors)
    if wanted:
        unknown = [p for p in wanted if p not in known]
        if unknown:
            raise LndbayesError(
                f"no program called {', '.join(map(repr, unknown))} in {cfg.path or 'programs.yaml'}. "
                f"Fix: use one of: {', '.join(sorted(known))}")

    summary = RunSummary()
    src = source_hash()
    dstamp = data_stamp(root)
    todo: list[tuple[str, str]] = []
    runs: dict[str, ProgramRun] = {}
    for pid, prog in cfg.programs.items():
        if wanted and pid not in wanted:
            continue
        stamp = program_stamp(prog, cfg.organisation, dstamp, src, settings)
        cur = None if force else is_current(out / pid, stamp)
        if cur and cur.get("status") == "ok":
            st = _read_json(out / pid / SUMMARY_FILE) or {}
            runs[pid] = ProgramRun(pid, "skipped", converged=st.get("converged"),
                                   recommendation=(st.get("recommendation") or {}).get("action"))
        elif cur:
            runs[pid] = ProgramRun(pid, "failed", reason=cur.get("reason"))
        else:
            todo.append((pid, stamp))
    for key, err in cfg.errors.items():
        if wanted and key not in wanted:
            continue
        runs[str(key)] = ProgramRun(str(key), "invalid", reason=" ".join(str(err).split())[:500])

    if todo:
        _progress(f"lndbayes report: {len(todo)} program(s) to run "
                  f"({sum(r.status != 'invalid' for r in runs.values())} up to date), "
                  f"{min(jobs, len(todo))} at a time, data: {root}")
        results = _execute_all(todo, root, out, settings, jobs)
        for st in results:
            runs[st["program"]] = ProgramRun(st["program"], st["status"], st.get("seconds", 0.0),
                                             st.get("reason"), st.get("converged"),
                                             st.get("recommendation"), ran=True)
    order = list(cfg.programs) + [str(k) for k in cfg.errors]
    summary.runs = [runs[p] for p in order if p in runs]

    if index:
        summary.index = out / "index.html"
        summary.index_rebuilt = build_index(out, cfg, root, src)
    summary.seconds = round(time.perf_counter() - t_start, 1)
    return summary


def _execute_all(todo, root: Path, out: Path, settings: Settings, jobs: int) -> list[dict]:
    params = settings.as_params()
    if jobs == 1 or len(todo) == 1:
        return [_run_one(pid, str(root), str(out), params, stamp) for pid, stamp in todo]
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor, as_completed

    results = []
    ctx = mp.get_context("spawn")
    with ProcessPoolExecutor(max_workers=min(jobs, len(todo)), mp_context=ctx) as pool:
        futures = {pool.submit(_run_one, pid, str(root), str(out), params, stamp): pid
                   for pid, stamp in todo}
        for fut in as_completed(futures):
            pid = futures[fut]
            try:
                results.append(fut.result())
            except Exception as exc:  # noqa: BLE001 - a crashed worker is one failed program
                _progress(f"  {pid}: FAILED: {_failure_reason(exc)}")
                results.append({"program": pid, "status": "failed", "reason": _failure_reason(exc)})
    return results


# =============================================================================================
# The portfolio index

def portfolio_rows(out_dir: Path, cfg) -> list[dict]:
    """One row per program (valid and invalid) from the report folders; plain data."""
    out = Path(out_dir)
    rows = []
    for pid, prog in cfg.programs.items():
        folder = out / pid
        st = _read_json(folder / STATUS_FILE) or {}
        summ = _read_json(folder / SUMMARY_FILE) if st.get("status") == "ok" else None
        row = {"program": pid, "name": prog.name, "link": None, "status": "not run",
               "reason": "no report yet: run `make reports`", "effect": "", "benefit": "",
               "recommendation": "", "converged": None}
        if summ:
            head = summ.get("headline") or {}
            conv = summ.get("converged")
            row.update(link=f"{pid}/report.html", effect=head.get("effect", ""),
                       benefit=head.get("benefit", ""),
                       recommendation=(summ.get("recommendation") or {}).get("action", ""),
                       converged=conv, reason=(summ.get("recommendation") or {}).get("reason", ""))
            if conv is False:
                row["status"] = "fit failed diagnostics"
            elif summ.get("failed_outcomes"):
                row["status"] = "partial"
                row["reason"] = "; ".join(f"{k}: {v}" for k, v in summ["failed_outcomes"].items())
            else:
                row["status"] = "ok"
        elif st.get("status") == "failed":
            row.update(status="report failed", reason=st.get("reason") or "unknown")
        rows.append(row)
    for key, err in cfg.errors.items():
        rows.append({"program": str(key), "name": "", "link": None, "status": "invalid in programs.yaml",
                     "reason": " ".join(str(err).split()), "effect": "", "benefit": "",
                     "recommendation": "", "converged": None})
    return rows


def build_index(out: Path, cfg, root: Path, src: str | None = None) -> bool:
    """Execute notebooks/portfolio.ipynb into ``out/index.html`` unless nothing changed."""
    rows = portfolio_rows(out, cfg)
    stamp = _sha({"rows": rows, "source": src or source_hash(), "org": cfg.organisation.model_dump(mode="json")})
    idx = out / "index.html"
    if idx.is_file() and (_read_json(out / ".index.json") or {}).get("stamp") == stamp:
        return False
    with _lock(out / ".index.lock"):
        tmp = out / f".index.tmp-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        tmp.mkdir()
        try:
            execute_notebook(PORTFOLIO_TEMPLATE, tmp / "index.ipynb",
                             {"reports_dir": str(out), "data_root": str(root)}, cwd=tmp)
            export_html(tmp / "index.ipynb", tmp / "index.html", title="Training impact portfolio")
            os.replace(tmp / "index.html", idx)
            _atomic_write_text(out / ".index.json", json.dumps({"stamp": stamp}))
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return True


# =============================================================================================
# CLI

def register_cli(subparsers) -> None:
    p = subparsers.add_parser(
        "report", help="write every program's impact report and reports/index.html (incremental)",
        description="Run the report notebook of each program (only those whose inputs changed) "
                    "and write reports/<program>/ and reports/index.html.")
    p.add_argument("--program", action="append", metavar="ID",
                   help="only this program (repeatable); default: every program")
    p.add_argument("--data", metavar="DIR", default=None,
                   help="data root holding raw/ (default: data/ or the example organisation)")
    p.add_argument("--out", metavar="DIR", default=str(REPORTS_DIR), help="output folder (default: reports/)")
    p.add_argument("--jobs", "-j", type=int, default=None, metavar="N",
                   help=f"programs run in parallel (default {DEFAULT_JOBS})")
    p.add_argument("--force", action="store_true", help="re-run even when nothing changed")
    p.add_argument("--draws", type=int, default=Settings.draws, help=argparse_help("draws per chain"))
    p.add_argument("--tune", type=int, default=Settings.tune, help=argparse_help("tuning steps per chain"))
    p.add_argument("--chains", type=int, default=Settings.chains, help=argparse_help("chains"))
    p.add_argument("--seed", type=int, default=Settings.seed, help=argparse_help("random seed"))
    p.set_defaults(func=_cli)


def argparse_help(text: str) -> str:
    return f"{text} (default %(default)s)"


def _cli(args) -> int:
    settings = Settings(seed=args.seed, draws=args.draws, tune=args.tune, chains=args.chains)
    summary = run_reports(data_root=args.data, out_dir=args.out, programs=args.program,
                          jobs=args.jobs, force=args.force, settings=settings)
    print()
    print(summary.table())
    if summary.index:
        print(f"\nIndex: {summary.index}" + ("" if summary.index_rebuilt else " (up to date)"))
    print(f"Finished in {summary.seconds:.1f} s.")
    if summary.failed:
        print(f"{len(summary.failed)} program(s) failed; see the reasons above and reports/index.html.",
              file=sys.stderr)
    return summary.exit_code


# =============================================================================================
# Formatting helpers (used by the notebooks)

MINUS = "\u2212"


def _decimals(width: float, sig: int = 2) -> int:
    if not width or not math.isfinite(width) or width <= 0:
        return 2
    return int(max(0, min(4, sig - 1 - math.floor(math.log10(width)))))


def fmt_num(x: float | None, decimals: int = 1, signed: bool = False) -> str:
    if x is None or not math.isfinite(float(x)):
        return "n/a"
    x = float(x)
    if round(x, decimals) == 0:
        x = 0.0
    s = f"{abs(x):,.{decimals}f}"
    sign = MINUS if x < 0 else ("+" if signed and x > 0 else "")
    return sign + s


def fmt_interval(mean, lower, upper, unit: str = "", decimals: int | None = None,
                 signed: bool = True) -> str:
    """``+4.1 pp (90% interval +2.2 to +6.0)``: decimals chosen from the interval width."""
    d = _decimals(abs(upper - lower)) if decimals is None else decimals
    u = f" {unit}" if unit else ""
    return (f"{fmt_num(mean, d, signed)}{u} ({fmt_num(lower, d, signed)} to "
            f"{fmt_num(upper, d, signed)})")


def fmt_pct(p: float | None, signed: bool = False) -> str:
    if p is None or not math.isfinite(p):
        return "n/a"
    v = p * 100
    if not signed and v > 99:       # finite draws never prove certainty
        return ">99%"
    if not signed and v < 1:
        return "<1%"
    return fmt_num(v, 0, signed) + "%"


def fmt_money(x: float | None, currency: str = "EUR", signed: bool = False) -> str:
    if x is None or not math.isfinite(x):
        return "n/a"
    a = abs(x)
    sign = MINUS if x < 0 else ("+" if signed and x > 0 else "")
    if a >= 1e6:
        body = f"{a / 1e6:,.2f} million"
    elif a >= 1e4:
        body = f"{a / 1e3:,.0f}k"
    else:
        body = f"{a:,.0f}"
    return f"{sign}{currency} {body}"


def fmt_money_interval(b: dict, currency: str) -> str:
    return (f"{fmt_money(b['mean'], currency)} ({fmt_money(b['lower'], currency)} to "
            f"{fmt_money(b['upper'], currency)})")


def business_scale(family: str, unit_label: str | None = None) -> tuple[float, str]:
    """(display multiplier, unit) for absolute effects on the business scale of a family."""
    if family == "binary":
        return 100.0, "percentage points"
    if family == "ordinal":
        return 1.0, unit_label or "score points (1\u20135)"
    return 1.0, unit_label or "units"


def esc(x) -> str:
    return html.escape(str(x))


def table_html(df, *, formats: dict | None = None, caption: str | None = None,
               index: bool = False, classes: str = "lnd") -> str:
    """A compact HTML table with per-column formatters (missing values shown as a dash)."""
    import pandas as pd

    formats = formats or {}
    cols = list(df.columns)
    head = "".join(f"<th>{esc(c)}</th>" for c in ([df.index.name or ""] if index else []) + cols)
    body = []
    for idx, row in df.iterrows():
        cells = [f"<th>{esc(idx)}</th>"] if index else []
        for c in cols:
            v = row[c]
            if v is None or (not isinstance(v, str) and pd.isna(v)):
                s = "\u2013"
            elif c in formats:
                s = formats[c](v)
            elif isinstance(v, float):
                s = fmt_num(v, 2)
            else:
                s = str(v)
            num = not isinstance(v, str) and v is not None
            cells.append(f"<td class='{'num' if num else 'txt'}'>{esc(s)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    cap = f"<caption>{esc(caption)}</caption>" if caption else ""
    return (f"<table class='{classes}'>{cap}<thead><tr>{head}</tr></thead><tbody>"
            + "".join(body) + "</tbody></table>")


REPORT_CSS = """
<style>
body, .jp-Notebook { font-family: -apple-system, 'Segoe UI', Roboto, Helvetica, Arial, sans-serif; }
.jp-Notebook { max-width: 980px; margin: 0 auto; }
table.lnd { border-collapse: collapse; margin: 0.6em 0 1.2em; font-size: 0.92em; }
table.lnd caption { caption-side: top; text-align: left; font-weight: 600; padding-bottom: 0.3em; }
table.lnd th, table.lnd td { padding: 0.3em 0.8em; border-bottom: 1px solid #e5e7eb; text-align: left; }
table.lnd td.txt, table.lnd th { text-align: left !important; }
table.lnd td.num { text-align: right !important; font-variant-numeric: tabular-nums; }
table.lnd thead th { border-bottom: 2px solid #9ca3af; }
.lnd-banner { padding: 0.8em 1.1em; border-radius: 6px; margin: 0.8em 0; font-size: 1.02em; }
.lnd-banner.bad { background: #fee2e2; border: 2px solid #b91c1c; color: #7f1d1d; }
.lnd-banner.warn { background: #fef3c7; border: 1px solid #d97706; color: #78350f; }
.lnd-banner.note { background: #eff6ff; border: 1px solid #93c5fd; color: #1e3a8a; }
.lnd-rec { font-size: 1.15em; font-weight: 700; padding: 0.2em 0.6em; border-radius: 4px; color: white; }
.lnd-rec.scale { background: #15803d; } .lnd-rec.iterate { background: #b45309; } .lnd-rec.stop { background: #b91c1c; }
.lnd-kpi { display: inline-block; margin: 0.3em 1.4em 0.6em 0; vertical-align: top; }
.lnd-kpi .v { font-size: 1.5em; font-weight: 700; } .lnd-kpi .l { color: #4b5563; font-size: 0.9em; }
</style>
"""


def banner(text: str, kind: str = "bad") -> str:
    return f"<div class='lnd-banner {kind}'>{text}</div>"


# =============================================================================================
# ProgramReport: everything the program notebook shows, computed from results (no model code)

class ProgramReport:
    """Display helpers for one program's report. Built in the notebook from the fitted results::

        rep = ProgramReport(org, program, results, failures, min_group=5)
        display(HTML(rep.executive_summary_html()))
    """

    def __init__(self, org, program, results: dict, failures: dict | None = None,
                 min_group: int | None = None, settings: dict | None = None):
        from lndbayes import decisions as dc
        from lndbayes.privacy import min_group_of

        self.org = org
        self.program = program
        self.results = dict(results)
        self.failures = dict(failures or {})
        self.min_group = int(min_group or min_group_of(org.programs))
        self.currency = org.programs.organisation.currency
        self.settings = settings or {}
        self.panels = {}
        self.decisions: dict[str, dc.OutcomeDecision] = {}
        for oid, res in self.results.items():
            outcome = program.outcome(oid)
            panel = self._panel(oid)
            target, tscale = dc.target_for(program, oid)
            abs_d = res.draws("average_effect_abs")
            try:
                rel_d = res.draws("average_effect_rel")
            except Exception:  # noqa: BLE001
                rel_d = None
            self.decisions[oid] = dc.decide_outcome(
                abs_d, rel_d, outcome_id=oid, direction=outcome.direction,
                converged=bool(res.converged), target=target, target_scale=tscale,
                n_units=self.treated_units(panel) if panel is not None else None,
                value_per_unit=outcome.value_per_unit)
        self.primary = program.target.outcome if program.target else (
            next(iter(self.results)) if self.results else None)
        self.recommendation = dc.decide_program(self.decisions, self.primary, self.failures)

    # ---- data helpers ------------------------------------------------------------------------
    def _panel(self, oid):
        if oid in self.panels:
            return self.panels[oid]
        try:
            from lndbayes.design.panel import build_panel

            self.panels[oid] = build_panel(self.org, self.program.id, oid)
        except Exception:  # noqa: BLE001 - the fit worked, so the panel only adds context
            self.panels[oid] = None
        return self.panels[oid]

    @staticmethod
    def treated_units(panel) -> float:
        """How many units of outcome the program touched, the multiplier of the benefit.

        Treated rows (randomized: treated people or teams; pre/post and staggered: treated
        post-start unit-periods); for count outcomes the exposure of those rows (an effect in
        errors per ticket times the tickets handled)."""
        d = panel.data
        mask = d["treated"] == 1
        if "post" in d.columns and d["post"].notna().any() and d["period"].notna().any():
            mask &= d["post"] == 1
        if panel.meta.get("family") == "count" and "exposure" in d.columns:
            return float(d.loc[mask, "exposure"].fillna(1).sum())
        return float(mask.sum())

    def n_people(self, oid=None) -> int | None:
        oid = oid or self.primary
        panel = self.panels.get(oid)
        if panel is None:
            return None
        meta = panel.meta if isinstance(panel.meta, dict) else vars(panel.meta)
        for key in ("n_people", "n"):
            if meta.get(key) is not None:
                return int(meta[key])
        return int(panel.data["unit"].nunique())

    def scale_of(self, oid) -> tuple[float, str]:
        o = self.program.outcome(oid)
        return business_scale(o.family, o.unit_label)

    def outcome_title(self, oid) -> str:
        o = self.program.outcome(oid)
        who = {"participants": "participants", "direct_reports": "their direct reports",
               "team": "the team"}.get(o.measured_on, o.measured_on)
        return f"{o.kpi.replace('_', ' ').capitalize()} of {who} ({o.window_months} months, {o.family})"

    def effect_text(self, oid) -> str:
        d = self.decisions[oid]
        scale, unit = self.scale_of(oid)
        e = d.effect_abs
        return fmt_interval(e.mean * scale, e.lower * scale, e.upper * scale, unit)

    def rel_text(self, oid) -> str:
        r = self.decisions[oid].effect_rel
        if r is None:
            return ""
        return (f"{fmt_num(r.mean * 100, 0, True)}% ({fmt_num(r.lower * 100, 0, True)}% to "
                f"{fmt_num(r.upper * 100, 0, True)}%)")

    def benefit_text(self, oid) -> str:
        b = self.decisions[oid].benefit
        return "" if b is None else fmt_money_interval(b.to_dict(), self.currency)

    def target_text(self, oid) -> str:
        d = self.decisions[oid]
        if d.target is None:
            return ""
        if d.target_scale == "rel":
            return f"{fmt_num(d.target * 100, 0, True)}%"
        scale, unit = self.scale_of(oid)
        return f"{fmt_num(d.target * scale, 2, True)} {unit}"

    # ---- summary.json --------------------------------------------------------------------------
    def summary(self) -> dict:
        outcomes = {}
        for oid, d in self.decisions.items():
            res = self.results[oid]
            scale, unit = self.scale_of(oid)
            diag = _jsonable(res.diagnostics())
            outcomes[oid] = {**d.to_dict(), "family": self.program.outcome(oid).family,
                             "level": self.program.outcome(oid).level,
                             "display_scale": scale, "unit": unit,
                             "display": {"effect_abs": self.effect_text(oid), "effect_rel": self.rel_text(oid),
                                         "p_works": fmt_pct(d.p_works),
                                         "p_target": fmt_pct(d.p_target) if d.p_target is not None else "",
                                         "benefit": self.benefit_text(oid)},
                             "diagnostics": diag, "n_people": self.n_people(oid),
                             **self._team_counts(oid)}
        head = {}
        if self.primary in self.decisions:
            p = self.primary
            head = {"outcome": p, "effect": self.effect_text(p),
                    "effect_rel": self.rel_text(p), "p_works": outcomes[p]["display"]["p_works"],
                    "p_target": outcomes[p]["display"]["p_target"],
                    "benefit": self.benefit_text(p)}
        return {
            "program": self.program.id, "name": self.program.name, "lndbayes": __version__,
            "interval": INTERVAL, "currency": self.currency, "design": self.program.design.type,
            "n_people": self.n_people(), "converged": all(r.converged for r in self.results.values())
            and bool(self.results), "recommendation": {"action": self.recommendation.action,
                                                       "reason": self.recommendation.reason},
            "headline": head, "outcomes": outcomes, "failed_outcomes": self.failures,
            "min_group": self.min_group, "settings": self.settings,
        }

    def _team_counts(self, oid) -> dict:
        try:
            tt = self.team_table(oid)
        except Exception:  # noqa: BLE001
            return {"teams_shown": None, "teams_suppressed": []}
        sup = tt["note"] != ""
        return {"teams_shown": int((~sup).sum()), "teams_suppressed": sorted(map(str, tt.loc[sup, "team"]))}

    def write(self, out_dir) -> Path:
        """Write summary.json and each outcome's posterior (``result.save``) into ``out_dir``."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        for oid, res in self.results.items():
            res.save(out / "posterior" / oid)
        path = out / SUMMARY_FILE
        path.write_text(json.dumps(self.summary(), indent=2, default=_json_default))
        return path

    # ---- sections ----------------------------------------------------------------------------
    def header_html(self) -> str:
        p = self.program
        org = self.org.programs.organisation
        lines = [REPORT_CSS, f"<h1>{esc(p.name)}</h1>",
                 f"<p><b>Program</b> {esc(p.id)} &middot; {esc(p.program.type)} &middot; "
                 f"design: {esc(p.design.type)} (unit: {esc(p.design.unit)}, start {p.design.start}) "
                 f"&middot; {esc(org.name)}</p>"]
        a = p.alignment
        if a.organisational_goal or a.department_kpi:
            lines.append(f"<p><b>Aligned with</b> {esc(a.organisational_goal or '')}"
                         f"{' &middot; ' + esc(a.department_kpi) if a.department_kpi else ''}</p>")
        lines.append(banner(esc(INTERVAL_SENTENCE), "note"))
        return "\n".join(lines)

    def failure_banner_html(self) -> str:
        parts = []
        bad = [oid for oid, r in self.results.items() if not r.converged]
        if bad:
            parts.append(banner(
                "<b>WARNING: the model fit failed its diagnostics for "
                f"{esc(', '.join(bad))}.</b> Its numbers are shown for review only and must not be "
                "used to decide. See the diagnostics in the appendix.", "bad"))
        if self.failures:
            items = "".join(f"<li><b>{esc(k)}</b>: {esc(v)}</li>" for k, v in self.failures.items())
            parts.append(banner(f"<b>Some outcomes could not be estimated:</b><ul>{items}</ul>", "bad"))
        return "\n".join(parts)

    def executive_summary_html(self) -> str:
        rec = self.recommendation
        out = [self.failure_banner_html(),
               f"<p>Recommendation: <span class='lnd-rec {rec.action}'>{rec.action.upper()}</span></p>",
               f"<p><b>Why:</b> {esc(rec.reason)}.</p>"]
        if self.program.target is not None and self.program.target.description:
            out.append(f"<p><b>Agreed target:</b> {esc(self.program.target.description)}.</p>")
        rows = []
        for oid, d in self.decisions.items():
            o = self.program.outcome(oid)
            good = "lower is better" if o.direction == "decrease" else "higher is better"
            rows.append({"Outcome (level)": f"{self.outcome_title(oid)} [L{o.level}]",
                         "Effect": self.effect_text(oid), "Relative": self.rel_text(oid) or "\u2013",
                         "P(works)": fmt_pct(d.p_works), "P(meets target)":
                         (f"{fmt_pct(d.p_target)} (target {self.target_text(oid)})"
                          if d.p_target is not None else "no target"),
                         "Direction": good})
        if rows:
            import pandas as pd

            out.append(table_html(pd.DataFrame(rows), caption="Effect of the program on each outcome"))
        sentences = []
        for oid, d in self.decisions.items():
            o = self.program.outcome(oid)
            sentences.append(
                f"<li><b>{esc(self.outcome_title(oid))}</b>: the program changes it by "
                f"{esc(self.effect_text(oid))}"
                f"{(' (' + esc(self.rel_text(oid)) + ' relative)') if self.rel_text(oid) else ''}. "
                f"The probability that the program improves it ({'lower' if o.direction == 'decrease' else 'higher'}"
                f" is better) is {fmt_pct(d.p_works)}"
                + (f"; the probability that it meets the agreed target ({esc(self.target_text(oid))}) "
                   f"is {fmt_pct(d.p_target)}." if d.p_target is not None else ".") + "</li>")
        if sentences:
            out.append("<p><b>In plain words</b></p><ul>" + "".join(sentences) + "</ul>")
        money = [(oid, d) for oid, d in self.decisions.items() if d.benefit is not None]
        if money:
            items = "".join(
                f"<li>{esc(self.outcome_title(oid))}: <b>{esc(self.benefit_text(oid))}</b> "
                f"({fmt_num(d.benefit.n_units, 0)} units touched &times; "
                f"{esc(fmt_money(d.benefit.value_per_unit, self.currency))} per unit of outcome)</li>"
                for oid, d in money)
            out.append("<p><b>Monetised benefit</b> (gross, before program costs; full ROI comes "
                       f"in a later release):</p><ul>{items}</ul>")
        else:
            out.append("<p><b>Monetised benefit:</b> not available: no outcome of this program has a "
                       "<code>value_per_unit</code> in programs.yaml (full ROI comes in a later release).</p>")
        return "\n".join(out)

    def outcomes_at_level(self, level: int) -> list[str]:
        return [o.id for o in self.program.outcomes if o.level == level]

    def level_html(self, level: int) -> str:
        ids = self.outcomes_at_level(level)
        name = {4: "results", 3: "behaviour"}[level]
        if not ids:
            return f"<p>No level {level} ({name}) outcome is configured for this program.</p>"
        out = []
        for oid in ids:
            if oid in self.failures:
                out.append(f"<h4>{esc(oid)}</h4>" + banner(f"Not estimated: {esc(self.failures[oid])}", "bad"))
                continue
            if oid not in self.results:
                continue
            res = self.results[oid]
            d = self.decisions[oid]
            out.append(f"<h4>{esc(self.outcome_title(oid))}</h4>")
            if not res.converged:
                out.append(banner("This fit failed its diagnostics: do not use these numbers to decide.", "bad"))
            out.append(f"<p>Average effect: <b>{esc(self.effect_text(oid))}</b>"
                       + (f", relative {esc(self.rel_text(oid))}" if self.rel_text(oid) else "")
                       + f". P(works) = {fmt_pct(d.p_works)}"
                       + (f", P(meets target {esc(self.target_text(oid))}) = {fmt_pct(d.p_target)}"
                          if d.p_target is not None else "") + ".</p>")
            out.append(self.summary_table_html(oid))
        return "\n".join(out)

    def summary_table_html(self, oid) -> str:
        import pandas as pd

        res = self.results[oid]
        s = res.summary().copy()
        scale, unit = self.scale_of(oid)
        labels = {"effect_mean": "average effect (link scale)", "effect_sd_team": "between-team sd (link scale)",
                  "effect_new_team": "effect in a new team (link scale)",
                  "average_effect_abs": f"average effect ({unit})", "average_effect_rel": "average effect (relative, %)"}
        rows = []
        for _, r in s.iterrows():
            est = r["estimand"]
            mult = scale if est == "average_effect_abs" else (100.0 if est == "average_effect_rel" else 1.0)
            dec = _decimals(abs(r["upper"] - r["lower"]) * mult)
            rows.append({"estimand": labels.get(est, est),
                         "mean": fmt_num(r["mean"] * mult, dec, True),
                         f"{INTERVAL:.0%} interval": f"{fmt_num(r['lower'] * mult, dec, True)} to "
                                                      f"{fmt_num(r['upper'] * mult, dec, True)}",
                         "P(> 0)": fmt_pct(r.get("p_gt_0")) if pd.notna(r.get("p_gt_0")) else "\u2013"})
        return table_html(pd.DataFrame(rows), caption="Posterior summary")

    # ---- learning / reaction / completion (context) ------------------------------------------
    def program_enrollments(self):
        import pandas as pd

        enr = self.org.enrollments
        prefix = self.program.program.lms_activity_prefix
        if enr is None or enr.empty or not prefix:
            return pd.DataFrame(columns=["employee_key", "activity_id", "score_scaled", "reaction",
                                         "completed_at"])
        return enr[enr["activity_id"].astype(str).str.startswith(prefix)]

    def learning_html(self) -> tuple[str, object | None]:
        import pandas as pd

        enr = self.program_enrollments()
        scores = pd.to_numeric(enr.get("score_scaled", pd.Series(dtype=float)), errors="coerce").dropna()
        n = int(enr.loc[scores.index, "employee_key"].nunique()) if len(scores) else 0
        if n < self.min_group:
            return (f"<p>Assessment scores: {'none recorded' if n == 0 else 'suppressed (fewer than '
                                             + str(self.min_group) + ' people)'} for this program's "
                    "activities.</p>", None)
        from lndbayes import viz

        fig = viz.score_distribution(enr.loc[scores.index], title="Level 2: assessment scores in the program")
        text = (f"<p>{n} people have an assessment score on this program's activities. Mean score "
                f"<b>{fmt_num(scores.mean() * 100, 0)}%</b> of the maximum (median "
                f"{fmt_num(scores.median() * 100, 0)}%). Scores show what was learned; they are not the "
                "business result.</p>")
        return text, fig

    def reaction_html(self) -> str:
        import pandas as pd

        enr = self.program_enrollments()
        r = pd.to_numeric(enr.get("reaction", pd.Series(dtype=float)), errors="coerce").dropna()
        n = int(enr.loc[r.index, "employee_key"].nunique()) if len(r) else 0
        head = ("<p><i>Reaction is an indicator, not an outcome: people liking a program does not "
                "show that it changes the business.</i></p>")
        if n < self.min_group:
            return head + ("<p>No reaction ratings recorded.</p>" if n == 0 else
                           f"<p>Reaction: suppressed (fewer than {self.min_group} people).</p>")
        dist = r.round().clip(1, 5).astype(int).value_counts(normalize=True).reindex(range(1, 6), fill_value=0)
        cells = " &middot; ".join(f"{k}: {v:.0%}" for k, v in dist.items())
        return head + (f"<p>{n} people rated the program: mean <b>{r.mean():.1f} / 5</b> "
                       f"(share of ratings {cells}).</p>")

    def completion_html(self) -> str:
        import pandas as pd

        enr = self.program_enrollments()
        people = enr["employee_key"].nunique() if len(enr) else 0
        if people < self.min_group:
            return "<p>Completion: not enough enrolments to report.</p>"
        done = enr[pd.notna(enr["completed_at"])]["employee_key"].nunique()
        return (f"<p><i>Context only:</i> {people} people enrolled in the program's activities and "
                f"{done} ({done / people:.0%}) completed at least one. Completion is not used as the "
                "treatment: the analysis compares the assigned arms.</p>")

    # ---- team level ----------------------------------------------------------------------------
    def team_table(self, oid):
        """Team effects with privacy suppression (people per team from the panel)."""
        from lndbayes.privacy import suppress_small_groups

        te = self.results[oid].team_effects().copy()
        panel = self.panels.get(oid)
        people = None
        if panel is not None and "unit" in panel.data:
            d = panel.data
            if self.program.outcome(oid).measured_on == "team" or self.program.design.unit == "team" \
                    and not d["unit"].astype(str).str.startswith("p_").any():
                emp = self.org.employees
                people = emp.groupby("team")["employee_key"].nunique() if len(emp) else None
            else:
                people = d.groupby("team", observed=True)["unit"].nunique()
        te["people"] = te["team"].map(people) if people is not None else te["n"]
        return suppress_small_groups(te, n_col="people", min_group=self.min_group)

    def team_html(self, oid) -> str:
        from lndbayes.privacy import reportable

        tt = self.team_table(oid)
        scale, unit = self.scale_of(oid)
        n_sup = int((tt["note"] != "").sum())
        shown = reportable(tt)
        summ = self.results[oid].summary().set_index("estimand")
        txt = [f"<p>{len(shown)} teams with analysed program observations shown"
               + (f"; {n_sup} team(s) suppressed (fewer than {self.min_group} people)" if n_sup else "")
               + ". Pooling pulls each team's noisy raw difference towards the average of all teams "
                 "(shrinkage), most strongly for small teams.</p>"]
        if "effect_new_team" in summ.index:
            r = summ.loc["effect_new_team"]
            txt.append(f"<p>Expected effect in a <b>new team</b> (link scale, {self.results[oid].meta.get('family', '')}): "
                       f"{esc(fmt_interval(r['mean'], r['lower'], r['upper']))}; "
                       f"P(positive) = {fmt_pct(r['p_gt_0'])}. It is wider than the average effect "
                       "because teams differ.</p>")
        if n_sup:
            sup = tt[tt["note"] != ""][["team", "note"]]
            txt.append(table_html(sup, caption="Teams not shown"))
        return "\n".join(txt)

    def forest_figure(self, oid):
        from lndbayes import viz
        from lndbayes.privacy import reportable

        tt = reportable(self.team_table(oid))
        scale, unit = self.scale_of(oid)
        return viz.forest_plot(tt, xlabel=f"Effect in the team ({unit})", scale=scale,
                               average=self.decisions[oid].effect_abs.mean,
                               title=f"Team effects, raw vs pooled: {oid}")

    def event_time_effects(self, oid):
        """Effect by event time (staggered designs): effect_mean + event_time_dev, link scale."""
        import numpy as np
        import pandas as pd

        res = self.results[oid]
        if self.program.design.type != "staggered" or res.idata is None:
            return None
        try:
            post = res.idata["posterior"].to_dataset()
        except Exception:  # noqa: BLE001
            return None
        if "event_time_dev" not in post or "effect_mean" not in post:
            return None
        dev = post["event_time_dev"]
        eff = (post["effect_mean"] + dev).stack(sample=("chain", "draw")).transpose("event_time", "sample")
        labels = (res.meta.get("event_times") or res.extra.get("event_times")
                  if isinstance(res.extra, dict) else None)
        coords = np.asarray(dev["event_time"].values)
        if labels is not None and len(labels) == len(coords):
            coords = np.asarray(labels)
        vals = np.asarray(eff.values, float)
        a = (1 - INTERVAL) / 2
        return pd.DataFrame({"event_time": coords, "mean": vals.mean(axis=1),
                             "lower": np.quantile(vals, a, axis=1),
                             "upper": np.quantile(vals, 1 - a, axis=1)})

    def event_time_figure(self, oid):
        eff = self.event_time_effects(oid)
        if eff is None or eff.empty:
            return None
        from lndbayes import viz

        return viz.event_time_plot(eff, ylabel=f"Effect ({self._link_label(oid)})",
                                   title=f"Effect by months since the team started: {oid}")

    def _link_label(self, oid) -> str:
        fam = self.program.outcome(oid).family
        return {"normal": f"difference in {self.scale_of(oid)[1]}", "lognormal": "log ratio",
                "binary": "log odds ratio", "count": "log rate ratio",
                "time_to_event": "log time ratio", "ordinal": "latent logit shift"}.get(fam, "link scale")

    def distribution_figure(self, oid):
        from lndbayes import viz

        d = self.decisions[oid]
        res = self.results[oid]
        scale, unit = self.scale_of(oid)
        if d.target is not None and d.target_scale == "rel" and d.effect_rel is not None:
            return viz.effect_distribution(res.draws("average_effect_rel"), scale=100.0,
                                           xlabel="Average effect, relative change (%)",
                                           target=d.target, target_label=f"agreed target ({self.target_text(oid)})",
                                           title=f"Average effect: {oid}")
        return viz.effect_distribution(res.draws("average_effect_abs"), scale=scale,
                                       xlabel=f"Average effect ({unit})", target=d.target,
                                       title=f"Average effect: {oid}")

    # ---- data section --------------------------------------------------------------------------
    def ledger_html(self) -> str:
        import pandas as pd

        led = self.org.ledger
        out = []
        if led is not None and len(led):
            out.append(table_html(led, caption="Ledger: rows read = accepted + rejected, per file",
                                  formats={c: (lambda v: f"{int(v):,}") for c in
                                           ("rows_read", "rows_accepted", "rows_rejected")}))
        rej_dir = Path(self.org.root) / "interim" / "rejected"
        reasons = []
        for f in sorted(rej_dir.glob("*.csv")) if rej_dir.is_dir() else []:
            try:
                r = pd.read_csv(f, usecols=lambda c: c in ("reason", "source_file"), dtype=str)
            except (ValueError, pd.errors.EmptyDataError):
                continue
            if "reason" in r and len(r):
                c = r.groupby("reason").size().reset_index(name="rows")
                c.insert(0, "table", f.stem)
                reasons.append(c)
        if reasons:
            rs = pd.concat(reasons).sort_values("rows", ascending=False).head(30)
            rs["reason"] = rs["reason"].map(_redact)
            out.append(table_html(rs, caption="Why rows were rejected (counts)"))
        elif led is not None and len(led):
            out.append("<p>No row was rejected.</p>")
        return "\n".join(out) or "<p>No ledger available.</p>"

    def population_html(self) -> str:
        p = self.program
        pop = {k: v for k, v in p.population.model_dump(mode="json").items() if v is not None}
        crit = "; ".join(f"{k}: {v}" for k, v in pop.items()) or "everybody"
        out = [f"<p><b>Population:</b> {esc(crit)}.</p>"]
        rows = []
        for o in p.outcomes:
            panel = self.panels.get(o.id) if o.id in self.results else None
            if panel is None:
                continue
            d = panel.data
            people = d.groupby("treated")["unit"].nunique()
            rows.append({"outcome": o.id, "measured on": o.measured_on.replace("_", " "),
                         "rows": len(d), "units (treated)": int(people.get(1, 0)),
                         "units (control)": int(people.get(0, 0)), "teams": int(d["team"].nunique())})
        if rows:
            import pandas as pd

            out.append(table_html(pd.DataFrame(rows), caption="Analysed units per outcome",
                                  formats={c: (lambda v: f"{int(v):,}") for c in
                                           ("rows", "units (treated)", "units (control)", "teams")}))
        des = p.design
        words = {"randomized": "Units were randomly assigned to the program or to a control group; "
                               "the arms are compared directly.",
                 "pre_post": "Outcomes before and after the start are compared between the program "
                             "and the comparison group (difference in differences).",
                 "staggered": "Teams started the program at different times; teams not yet started "
                              "serve as comparisons (staggered adoption)."}
        out.append(f"<p><b>Design:</b> {esc(des.type)}, unit {esc(des.unit)}, start {des.start}. "
                   f"{words.get(des.type, '')}</p>")
        return "\n".join(out)

    def balance_html(self) -> str:
        try:
            from lndbayes.design import balance as panel_mod
        except Exception:  # noqa: BLE001
            return "<p>Balance check: not available.</p>"
        fn = getattr(panel_mod, "balance_table", None)
        oid = self.primary if self.primary in self.panels else next(iter(self.panels), None)
        if fn is None or oid is None or self.panels.get(oid) is None:
            return "<p>Balance check: not available in this version.</p>"
        try:
            bt = fn(self.panels[oid])
        except Exception as exc:  # noqa: BLE001
            return f"<p>Balance check could not be computed ({esc(type(exc).__name__)}).</p>"
        bt = bt.reset_index() if bt.index.name else bt.copy()
        if "imbalanced" in bt:
            bt["imbalanced"] = bt["imbalanced"].map(lambda v: "yes" if v else "no")
        bt = bt.rename(columns={"mean_treated": "mean (program)", "mean_control": "mean (control)",
                                "sd_treated": "sd (program)", "sd_control": "sd (control)",
                                "n_treated": "n (program)", "n_control": "n (control)",
                                "std_diff": "standardised difference", "imbalanced": "imbalanced (|d| > 0.1)"})
        fmt2 = lambda v: fmt_num(v, 2)  # noqa: E731
        return table_html(bt, caption=f"Balance of the arms before the program ({oid}; one row per unit)",
                          formats={c: fmt2 for c in bt.columns if c.startswith(("mean", "sd", "standard"))}
                          | {c: (lambda v: f"{int(v):,}") for c in bt.columns if c.startswith("n (")})

    def skills_html(self) -> str:
        skills = self.program.program.skills
        lst = ", ".join(esc(s) for s in skills) if skills else "none listed in programs.yaml"
        return banner("<b>Skill-gap forecast: not yet available.</b> A later release forecasts how "
                      "the gaps in the skills this program targets will develop with and without it. "
                      f"Target skills: {lst}.", "note")

    # ---- appendix ------------------------------------------------------------------------------
    def model_html(self, oid) -> str:
        res = self.results[oid]
        meta = res.meta or {}
        text = meta.get("model_latex") or meta.get("model") or ""
        if not text:
            try:
                from lndbayes import models

                fn = getattr(models, "model_math", None)
                text = fn(meta.get("family"), meta.get("design")) if fn else ""
            except Exception:  # noqa: BLE001
                text = ""
        sm = meta.get("sampler") or {}
        teams = meta.get("teams")
        n_teams = len(teams) if isinstance(teams, (list, tuple)) else teams
        sampler = (f"{sm.get('sampler', 'NUTS')}, {sm.get('chains', '?')} chains x {sm.get('draws', '?')} "
                   f"draws after {sm.get('tune', '?')} tuning steps") if isinstance(sm, dict) else str(sm)
        return (f"<p><b>{esc(oid)}</b>: family <i>{esc(meta.get('family', ''))}</i> (link "
                f"{esc(meta.get('link', ''))}), design <i>{esc(meta.get('design', ''))}</i>, "
                f"{esc(meta.get('n', ''))} observations, {esc(n_teams)} teams, "
                f"{'sufficient statistics' if meta.get('collapsed') else 'individual rows'}; sampler "
                f"{esc(sampler)}; seed {esc(meta.get('seed', ''))}.</p>"
                + (f"<div>{text}</div>" if text else ""))

    def priors_html(self, oid) -> str:
        import pandas as pd

        pri = (self.results[oid].meta or {}).get("priors")
        if not pri:
            return "<p>Priors: not recorded.</p>"
        try:
            from lndbayes.models.priors import PRIOR_SPECS
        except Exception:  # noqa: BLE001
            PRIOR_SPECS = {}

        def show(v):
            if not isinstance(v, dict):
                return str(v)
            args = ", ".join(f"{k}={fmt_num(x, 2) if isinstance(x, (int, float)) else x}"
                             for k, x in v.items() if k != "dist")
            return f"{v.get('dist', '')}({args})"

        if isinstance(pri, dict):
            df = pd.DataFrame([{"parameter": k, "prior (link scale)": show(v),
                                "why": (PRIOR_SPECS.get(k) or ("", "", ""))[2]} for k, v in pri.items()])
        else:
            df = pd.DataFrame(pri)
        return table_html(df, caption=f"Priors ({oid})")

    def diagnostics_html(self) -> str:
        import pandas as pd

        rows = []
        for oid, res in self.results.items():
            dg = res.diagnostics()
            rows.append({"outcome": oid, "converged": "yes" if dg.get("converged") else "NO",
                         "max R-hat": dg.get("rhat_max"), "min bulk ESS": dg.get("ess_bulk_min"),
                         "min tail ESS": dg.get("ess_tail_min"), "divergences": dg.get("divergences"),
                         "min E-BFMI": dg.get("ebfmi_min"), "retries": dg.get("retries"),
                         "messages": "; ".join(map(str, dg.get("messages") or [])) or "\u2013"})
        if not rows:
            return "<p>No fit.</p>"
        return table_html(pd.DataFrame(rows), caption="Sampler diagnostics (rules: R-hat < 1.01, ESS > 400, "
                                                      "no divergences, E-BFMI > 0.3)",
                          formats={"max R-hat": lambda v: f"{v:.3f}", "min bulk ESS": lambda v: f"{v:,.0f}",
                                   "min tail ESS": lambda v: f"{v:,.0f}", "divergences": lambda v: f"{int(v)}",
                                   "min E-BFMI": lambda v: f"{v:.2f}", "retries": lambda v: f"{int(v)}"})

    def ppc_html(self) -> str:
        import pandas as pd

        have = [oid for oid in self.results if self.ppc_figure(oid, "posterior", probe=True)]
        missing = [oid for oid in self.results if oid not in have]
        parts = []
        if have:
            parts.append(
                "<p>Observed mean outcome by arm (vertical line) against the same mean in 200 "
                "datasets replicated from the model. <b>Prior</b> predictive: replicated from the "
                "priors alone; it should cover the observed value and be wide, i.e. the priors "
                "allow any plausible outcome level without favouring one. <b>Posterior</b> "
                "predictive: replicated from the fitted model; the observed value should sit "
                "well inside (a share of replications above it near 0 or 1 flags misfit).</p>")
            rows = []
            for oid in have:
                pc = (getattr(self.results[oid], "extra", None) or {}).get("predictive") or {}
                for arm, p in (pc.get("posterior_p_value") or {}).items():
                    rows.append({"outcome": oid, "arm": arm, "observed": pc["observed"][arm],
                                 "share of replications above": p})
            if rows:
                parts.append(table_html(pd.DataFrame(rows), caption="Posterior predictive check",
                                        formats={"observed": lambda v: f"{v:.3g}",
                                                 "share of replications above": lambda v: f"{v:.2f}"}))
        if missing:
            parts.append(f"<p>No predictive check for {', '.join(missing)}: time-to-event "
                         "outcomes are right censored, and replicating them needs each person's "
                         "follow-up time, which the fitted summary does not keep.</p>")
        return "".join(parts) or "<p>No fit.</p>"

    def ppc_figure(self, oid, kind: str = "posterior", probe: bool = False):
        """Observed vs replicated mean outcome by arm, when the result carries predictive draws."""
        import numpy as np

        res = self.results[oid]
        panel = self.panels.get(oid)
        if panel is None:
            return None
        fn = getattr(res, "predictive_means_by_arm", None)
        if fn is not None:
            try:
                observed, replicated = fn(kind)
            except Exception:  # noqa: BLE001
                return None
            if probe:
                return True
        else:
            tree = getattr(res, "idata", None)
            group = f"{kind}_predictive"
            try:
                pp = tree[group].to_dataset() if hasattr(tree[group], "to_dataset") else tree[group]
            except Exception:  # noqa: BLE001
                return None
            var = next(iter(pp.data_vars))
            arr = np.asarray(pp[var]).reshape(-1, pp[var].shape[-1])
            treated = panel.data["treated"].to_numpy()
            if arr.shape[-1] != treated.size:
                return None
            observed = {a: float(panel.data["outcome"][treated == t].mean()) for a, t in
                        (("control", 0), ("program", 1))}
            replicated = {a: arr[:, treated == t].mean(axis=1) for a, t in (("control", 0), ("program", 1))}
        if probe:
            return True
        from lndbayes import viz

        stat = ((getattr(res, "extra", None) or {}).get("predictive") or {}).get("statistic")
        xlabel = (stat[0].upper() + stat[1:]) if stat else f"Mean outcome ({self.scale_of(oid)[1]})"
        return viz.ppc_plot(observed, replicated, xlabel=xlabel,
                            title=f"{kind.capitalize()} predictive check: {oid}")


def _redact(text: str) -> str:
    """Reasons never carry identifiers into a report."""
    import re

    from lndbayes.privacy import PSEUDONYM_RE

    text = PSEUDONYM_RE.sub("<id>", str(text))
    return re.sub(r"'[^']{1,64}'", "'\u2026'", text) if re.search(r"employee|manager|actor", text, re.I) else text


def _json_default(o):
    try:
        import numpy as np

        if isinstance(o, np.generic):
            return o.item()
        if isinstance(o, np.ndarray):
            return o.tolist()
    except ImportError:
        pass
    return str(o)


def _jsonable(obj):
    return json.loads(json.dumps(obj, default=_json_default))


def portfolio_html(reports_dir, data_root=None) -> str:
    """The body of reports/index.html (called by notebooks/portfolio.ipynb)."""
    from lndbayes.config import load_programs

    cfg = load_programs(Path(data_root) / "raw" / "programs.yaml")
    rows = portfolio_rows(Path(reports_dir), cfg)
    out = [REPORT_CSS, f"<h1>Training impact: {esc(cfg.organisation.name)}</h1>",
           banner(esc(INTERVAL_SENTENCE) + " Benefits are gross (before program costs); full ROI "
                  "comes in a later release.", "note")]
    recs = {}
    for r in rows:
        recs[r["status"]] = recs.get(r["status"], 0) + 1
    out.append("<p>" + " &middot; ".join(f"{v} {esc(k)}" for k, v in recs.items()) + "</p>")
    body = []
    for r in rows:
        name = esc(r["name"] or r["program"])
        link = f"<a href='{esc(r['link'])}'>{name}</a>" if r["link"] else name
        rec = r["recommendation"]
        rec_html = f"<span class='lnd-rec {esc(rec)}'>{esc(rec.upper())}</span>" if rec else ""
        status = r["status"]
        st_html = esc(status) if status == "ok" else f"<b style='color:#b91c1c'>{esc(status.upper())}</b>"
        reason = esc(r["reason"] or "") if status != "ok" else ""
        body.append(f"<tr><td class='txt'>{link}<br><small>{esc(r['program'])}</small></td>"
                    f"<td class='txt'>{st_html}{'<br><small>' + reason + '</small>' if reason else ''}</td>"
                    f"<td class='txt'>{esc(r['effect'])}</td><td class='txt'>{esc(r['benefit']) or '\u2013'}</td>"
                    f"<td class='txt'>{rec_html}</td></tr>")
    out.append("<table class='lnd'><thead><tr><th>Program</th><th>Status</th>"
               "<th>Headline effect (primary outcome)</th><th>Monetised benefit (gross)</th>"
               "<th>Recommendation</th></tr></thead><tbody>" + "".join(body) + "</tbody></table>")
    out.append(f"<p><small>Generated by lndbayes {__version__}. Each program's report explains its "
               "numbers, evidence by Kirkpatrick level, team-level results and diagnostics.</small></p>")
    return "\n".join(out)


__all__ = ["run_reports", "RunSummary", "ProgramRun", "Settings", "ProgramReport", "register_cli",
           "export_html", "portfolio_html", "portfolio_rows", "fmt_interval", "fmt_pct", "fmt_money"]

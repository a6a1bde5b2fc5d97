"""Executing a report notebook and exporting it to self-contained HTML.

Two ways to execute: :func:`execute_in_process` (what the report workers use) runs the cells in
this process's IPython shell, so a long-lived worker pays the imports and keeps its compiled
models from one report to the next; :func:`execute_notebook` runs them in a fresh Papermill
kernel (kept for debugging a notebook as JupyterLab would run it). Both write the same
notebook: the parameters cell is injected by Papermill's own function, outputs are the
notebook's display data (HTML, PNG) and streams.

Why in process: profiled on the example organisation (benchmarks/results/compile.md), each
kernel paid its start-up and the lndbayes/PyMC imports, and every compiled model died with it.
"""

from __future__ import annotations

import functools
import os
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import nbformat
from nbconvert import HTMLExporter

from lndbayes.atomic import write_text
from lndbayes.report.process_env import kernel_env

KERNEL = "python3"


class NotebookCellError(RuntimeError):
    """A cell of an in-process notebook raised; ``ename``/``evalue`` as Papermill's error has."""

    def __init__(self, ename: str, evalue: str, cell: int):
        super().__init__(f"{ename}: {evalue} (cell {cell})")
        self.ename, self.evalue, self.cell = ename, evalue, cell


def execute_notebook(template: Path, output: Path, parameters: dict, cwd: Path | None = None) -> None:
    """Execute in a fresh Papermill kernel (a separate process)."""
    import papermill as pm

    kernel_env()
    pm.execute_notebook(str(template), str(output), parameters=parameters, kernel_name=KERNEL,
                        progress_bar=False, log_output=False, request_save_on_cell_execute=False,
                        cwd=str(cwd) if cwd else None,
                        # the kernel's own log is noise in `make reports`: start-up warnings,
                        # and at shutdown an ERROR-level "KeyboardInterrupt caught in kernel"
                        # that follows a finished notebook (a failing cell reaches us as
                        # papermill's PapermillExecutionError, not through this log)
                        extra_arguments=["--IPKernelApp.log_level=CRITICAL"])


_SHELL = None
#: the user namespace's names right after this process's last completed reset (None: not
#: known clean). The reset that ends every in-process report leaves the namespace clean for
#: the next one, so the next report need not reset it again: each reset flushes the display
#: hook, which runs a full garbage collection (~0.4 s in a worker holding PyMC and its models).
_CLEAN_NS: frozenset | None = None


def _shell():
    """This process's IPython shell, with matplotlib's inline backend (figures become PNG
    display data, as in a kernel)."""
    global _SHELL
    if _SHELL is None:
        from IPython.core.interactiveshell import InteractiveShell

        class _Shell(InteractiveShell):
            def enable_gui(self, gui=None):   # no event loop: figures are captured, not shown
                pass

        # IPython puts its namespace module in sys.modules["__main__"]; that module has no
        # __spec__, and multiprocessing's spawn then fails in this process ("module '__main__'
        # has no attribute '__spec__'"), e.g. a report run started after an in-process build.
        # The reports pickle nothing defined in a cell, so the process keeps its own __main__.
        main = sys.modules.get("__main__")
        _SHELL = _Shell.instance()
        if main is not None:
            sys.modules["__main__"] = main
        from lndbayes.report import figure_cache

        # Before the inline backend: it binds print_figure into the PNG formatter when it is
        # enabled, and a report's `%config InlineBackend.figure_formats = ["png"]` (the
        # default) does not bind it again, so a later install would never be used.
        figure_cache.install()     # a figure drawn before (same content) is read back
        _SHELL.enable_matplotlib("inline")
    return _SHELL


@contextmanager
def _cwd(path):
    old = os.getcwd()
    if path:
        os.chdir(path)
    try:
        yield
    finally:
        os.chdir(old)


def _outputs(cap) -> list:
    outs = []
    if cap.stdout:
        outs.append(nbformat.v4.new_output("stream", name="stdout", text=cap.stdout))
    if cap.stderr:
        outs.append(nbformat.v4.new_output("stream", name="stderr", text=cap.stderr))
    for o in cap.outputs:
        outs.append(nbformat.v4.new_output("display_data", data=o.data, metadata=o.metadata or {}))
    return outs


def _reset(shell) -> None:
    """Empty the shell's namespace, history and output cache (what a fresh kernel would have)."""
    global _CLEAN_NS
    _CLEAN_NS = None
    shell.reset(new_session=False)
    _CLEAN_NS = frozenset(shell.user_ns)


def clean_namespace() -> bool:
    """True when this process's shell holds nothing from a report (no shell yet, or reset
    since the last cell ran)."""
    return _SHELL is None or (_CLEAN_NS is not None and frozenset(_SHELL.user_ns) == _CLEAN_NS)


def execute_in_process(template: Path, output: Path, parameters: dict, cwd: Path | None = None,
                       stop=None) -> None:
    """Execute ``template`` with ``parameters`` in this process and write it to ``output``.

    Every run starts from a fresh namespace (nothing leaks from one report to the next but
    what the process caches on purpose: imported modules, compiled models). On a failing cell
    the notebook up to that cell (with the error) is written and :class:`NotebookCellError`
    raised. ``stop``: called after each cell; when it returns True the rest is not run (a
    report that will be built again anyway).
    """
    import matplotlib.pyplot as plt
    from IPython.utils.capture import capture_output
    from papermill.iorw import load_notebook_node
    from papermill.parameterize import parameterize_notebook

    kernel_env()
    nb = parameterize_notebook(load_notebook_node(str(template)), parameters,
                               kernel_name=KERNEL, language="python")
    global _CLEAN_NS
    shell = _shell()
    if _CLEAN_NS is None or frozenset(shell.user_ns) != _CLEAN_NS:
        _reset(shell)
    _CLEAN_NS = None
    shell.execution_count = 1
    error = None
    try:
        with _cwd(cwd):
            for i, cell in enumerate(nb.cells):
                if cell.cell_type != "code":
                    continue
                t0 = time.perf_counter()
                with capture_output() as cap:
                    res = shell.run_cell(cell.source, store_history=False, silent=False)
                cell.outputs = _outputs(cap)
                # where a report's time goes (benchmarks/bench_report_run.py reads it)
                cell.metadata["lndbayes"] = {"seconds": round(time.perf_counter() - t0, 3)}
                cell.execution_count = shell.execution_count
                shell.execution_count += 1
                exc = res.error_before_exec or res.error_in_exec
                if isinstance(exc, KeyboardInterrupt):
                    raise exc
                if exc is not None:
                    cell.outputs.append(nbformat.v4.new_output(
                        "error", ename=type(exc).__name__, evalue=str(exc), traceback=[]))
                    error = NotebookCellError(type(exc).__name__, str(exc), i)
                    break
                if stop is not None and stop():
                    break
    finally:
        plt.close("all")
        _reset(shell)
        nbformat.write(nb, str(output))
    if error is not None:
        raise error


@functools.lru_cache(maxsize=1)
def _html_exporter() -> HTMLExporter:
    """One exporter per process: a new one compiled nbconvert's Jinja templates again for every
    report (~0.1 s); an exporter keeps nothing of one notebook for the next."""
    return HTMLExporter(exclude_input=True, exclude_input_prompt=True,
                        exclude_output_prompt=True, embed_images=True)


def export_html(nb_path: Path, html_path: Path, title: str | None = None) -> None:
    """Self-contained HTML with the code hidden (figures are embedded as base64 PNG)."""
    nb = nbformat.read(nb_path, as_version=4)
    if title:
        nb.metadata["title"] = title
    body, _ = _html_exporter().from_notebook_node(nb)
    write_text(html_path, body)

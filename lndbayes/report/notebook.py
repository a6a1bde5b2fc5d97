"""Executing a report notebook with Papermill and exporting it to self-contained HTML."""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
import papermill as pm
from nbconvert import HTMLExporter

from lndbayes.atomic import write_text

KERNEL = "python3"


def kernel_env(threads: int = 1) -> None:
    """One thread per kernel: programs run in parallel processes, not in parallel BLAS."""
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
        os.environ.setdefault(var, str(threads))
    os.environ.setdefault("PYTHONWARNINGS", "ignore")
    os.environ.setdefault("MPLBACKEND", "module://matplotlib_inline.backend_inline")


def execute_notebook(template: Path, output: Path, parameters: dict, cwd: Path | None = None) -> None:
    kernel_env()
    pm.execute_notebook(str(template), str(output), parameters=parameters, kernel_name=KERNEL,
                        progress_bar=False, log_output=False, request_save_on_cell_execute=False,
                        cwd=str(cwd) if cwd else None,
                        # the kernel's own log is noise in `make reports`: start-up warnings,
                        # and at shutdown an ERROR-level "KeyboardInterrupt caught in kernel"
                        # that follows a finished notebook (a failing cell reaches us as
                        # papermill's PapermillExecutionError, not through this log)
                        extra_arguments=["--IPKernelApp.log_level=CRITICAL"])


def export_html(nb_path: Path, html_path: Path, title: str | None = None) -> None:
    """Self-contained HTML with the code hidden (figures are embedded as base64 PNG)."""
    nb = nbformat.read(nb_path, as_version=4)
    if title:
        nb.metadata["title"] = title
    exporter = HTMLExporter(exclude_input=True, exclude_input_prompt=True,
                            exclude_output_prompt=True, embed_images=True)
    body, _ = exporter.from_notebook_node(nb)
    write_text(html_path, body)

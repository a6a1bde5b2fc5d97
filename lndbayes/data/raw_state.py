"""Has the organisation's raw data changed since its last ingest? Light: os and json only.

Why a module of its own: ``lndbayes report`` asks before it imports pandas and the runner
(~1.3 s on the 2-core VM), so that a run which will ingest (and then build reports) starts the
report workers' fork server first and their imports overlap the CLI's and the ingestion
(:func:`lndbayes.report.worker_server.launch`). The answer only decides *when* that server
starts: :func:`lndbayes.data.org.load_org` decides what to ingest, with content hashes.
"""

from __future__ import annotations

import json
import os
from pathlib import Path


def raw_changed_since_ingest(root) -> bool:
    """True when a file under ``root/raw`` was added, removed, or differs in size or mtime from
    ``root/processed/_stamp.json``, or when there is no stamp (never ingested, or the example
    organisation not simulated yet). A file touched without a change counts as changed here
    (``load_org`` then finds the same hashes and ingests nothing)."""
    raw = Path(root) / "raw"
    try:
        files = json.loads((Path(root) / "processed" / "_stamp.json").read_text())["files"]
    except (OSError, ValueError, KeyError, TypeError):
        return True
    seen = {}
    for dirpath, _, names in os.walk(raw):          # as load_org's fingerprint: hidden files skipped
        for name in names:
            if name.startswith("."):
                continue
            path = Path(dirpath) / name
            try:
                st = path.stat()
            except OSError:
                return True
            seen[path.relative_to(raw).as_posix()] = (st.st_size, st.st_mtime_ns)
    if not seen:
        return True
    return seen != {rel: (f.get("size"), f.get("mtime_ns")) for rel, f in files.items()}

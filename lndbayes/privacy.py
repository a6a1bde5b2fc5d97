"""Privacy rules for everything lndbayes publishes.

1. **Small groups**: no result about fewer than ``min_group`` people is shown (default 5, from
   ``organisation.privacy_min_group`` in programs.yaml). :func:`suppress_small_groups` keeps
   the row's name but blanks its numbers and says "suppressed (fewer than 5 people)".
2. **No identifiers**: a rendered report never contains an employee identifier, neither a raw id
   from the HRIS export nor a pseudonymous key (``"p_" + 16 hex``).
   :func:`assert_no_identifiers` scans text, HTML, notebooks and JSON for both and raises
   :class:`PrivacyError` naming how many leaked and where (never the identifiers themselves).
"""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path
from typing import Iterable

import pandas as pd

from lndbayes.errors import LndbayesError

DEFAULT_MIN_GROUP = 5
PSEUDONYM_RE = re.compile(r"(?<![0-9A-Za-z_])p_[0-9a-f]{16}(?![0-9A-Za-z])")
# base64 payloads (embedded figures) are not text a reader sees; scanning them gives false hits
_DATA_URI_RE = re.compile(r"data:[a-z]+/[a-z0-9.+-]+;base64,[A-Za-z0-9+/=\s]+")
_IMAGE_MIMES = ("image/png", "image/jpeg", "image/gif", "image/webp")


class PrivacyError(LndbayesError):
    """A report would reveal an employee identifier."""


def suppressed_label(min_group: int = DEFAULT_MIN_GROUP) -> str:
    return f"suppressed (fewer than {min_group} people)"


def min_group_of(programs_config) -> int:
    """``organisation.privacy_min_group`` of a ProgramsConfig (or dict), default 5."""
    org = getattr(programs_config, "organisation", None)
    if org is None and isinstance(programs_config, dict):
        org = programs_config.get("organisation")
    value = org.get("privacy_min_group") if isinstance(org, dict) else getattr(org, "privacy_min_group", None)
    return int(value) if value is not None else DEFAULT_MIN_GROUP


def is_small(n, min_group: int = DEFAULT_MIN_GROUP) -> pd.Series | bool:
    """True where a group of ``n`` people is too small to report (unknown size counts as small)."""
    if isinstance(n, pd.Series):
        return n.isna() | (n < min_group)
    return n is None or pd.isna(n) or n < min_group


def suppress_small_groups(df: pd.DataFrame, n_col: str = "n", min_group: int = DEFAULT_MIN_GROUP,
                          keep: Iterable[str] = ("team", "department", "group", "name"),
                          note_col: str = "note") -> pd.DataFrame:
    """A copy of ``df`` where rows about fewer than ``min_group`` people carry no result.

    ``n_col`` holds the number of *people* the row is about. In a suppressed row every column
    except the name columns in ``keep`` is blanked (set to missing, the count included), and
    ``note_col`` says ``"suppressed (fewer than 5 people)"``. Other rows get an empty note.
    """
    if n_col not in df.columns:
        raise KeyError(f"column {n_col!r} (the number of people per row) is missing")
    out = df.copy()
    small = is_small(out[n_col], min_group)
    blank = [c for c in out.columns if c not in set(keep)]
    for col in blank:
        if small.any():
            if not (pd.api.types.is_float_dtype(out[col]) or pd.api.types.is_object_dtype(out[col])):
                out[col] = out[col].astype("float64" if pd.api.types.is_numeric_dtype(out[col]) else object)
            out.loc[small, col] = None
    out[note_col] = ""
    out.loc[small, note_col] = suppressed_label(min_group)
    return out


def reportable(df: pd.DataFrame, note_col: str = "note") -> pd.DataFrame:
    """Only the rows that may be shown with a result (after :func:`suppress_small_groups`)."""
    if note_col not in df.columns:
        return df
    return df[df[note_col].fillna("") == ""]


def people_per_group(units: pd.DataFrame, group: str = "team", unit: str = "unit") -> pd.Series:
    """Number of distinct people per group in a panel-like table (``unit`` = person key)."""
    return units.groupby(group, observed=True)[unit].nunique()


# ---------------------------------------------------------------------------------------------
# identifier scan

def _visible_text_of_notebook(nb: dict) -> str:
    parts = []
    for cell in nb.get("cells", []):
        src = cell.get("source", "")
        parts.append("".join(src) if isinstance(src, list) else str(src))
        for out in cell.get("outputs", []) or []:
            for key in ("text", "ename", "evalue", "traceback"):
                val = out.get(key)
                if val:
                    parts.append("".join(val) if isinstance(val, list) else str(val))
            for mime, val in (out.get("data") or {}).items():
                if mime in _IMAGE_MIMES:
                    continue
                parts.append(json.dumps(val) if not isinstance(val, (str, list)) else
                             ("".join(val) if isinstance(val, list) else val))
    parts.append(json.dumps(nb.get("metadata", {})))
    return "\n".join(parts)


def text_of(path: Path) -> str:
    """The scannable text of a report file (.ipynb: sources and non-image outputs)."""
    path = Path(path)
    raw = path.read_text(encoding="utf-8", errors="replace")
    if path.suffix == ".ipynb":
        try:
            return _visible_text_of_notebook(json.loads(raw))
        except json.JSONDecodeError:
            pass
    return _DATA_URI_RE.sub("data:", raw)


def _id_pattern(ids: Iterable[str], min_length: int) -> re.Pattern | None:
    words = sorted({str(i).strip() for i in ids if i is not None and len(str(i).strip()) >= min_length},
                   key=len, reverse=True)
    if not words:
        return None
    body = "|".join(re.escape(w) for w in words)
    return re.compile(rf"(?<![0-9A-Za-z_])(?:{body})(?![0-9A-Za-z_])")


_WORD = "[0-9A-Za-z_]"
_WORD_RUN = re.compile(f"{_WORD}+")


_WORD_ONLY = re.compile(f"{_WORD}+")


@functools.lru_cache(maxsize=8)
def _matcher(ids: tuple, min_length: int) -> tuple[frozenset, re.Pattern | None]:
    """``ids`` made only of word characters (a set) and the others (one pattern), for
    :func:`_count_ids`. Kept: a report worker scans every report's files for the same ~27,000
    ids at 20,000 employees, and sorting them out took ~0.1 s a file (a regex match per id)."""
    words = {str(i).strip() for i in ids if i is not None and len(str(i).strip()) >= min_length}
    simple = frozenset(w for w in words if _WORD_ONLY.fullmatch(w))
    return simple, _id_pattern(words - simple, min_length)


def _count_ids(text: str, matcher: tuple[frozenset, re.Pattern | None], runs: list[str]) -> int:
    """Whole-token hits of the ids of ``matcher`` (:func:`_matcher`) in ``text``. An id made
    only of word characters is a hit exactly where a maximal run of word characters equals it
    (a set lookup per run: a regex alternation of 27,000 ids took 1.7 s per report page at
    20,000 employees); other ids (with '-', '.', ...) go through :func:`_id_pattern`."""
    simple, pat = matcher
    n = sum(1 for run in runs if run in simple) if simple else 0
    return n + (len(pat.findall(text)) if pat is not None else 0)


def find_identifiers(text: str, raw_ids: Iterable[str] = (), keys: Iterable[str] = (),
                     min_id_length: int = 3) -> dict[str, int]:
    """Counts of identifier hits in ``text``: ``raw_ids``, ``keys`` and any ``p_<16 hex>``.

    Raw ids shorter than ``min_id_length`` characters are not searched (they would match
    ordinary numbers); ids are matched as whole tokens.
    """
    return _find(text, _matcher(_as_ids(raw_ids), min_id_length), _matcher(_as_ids(keys), 1))


def _as_ids(ids: Iterable) -> tuple:
    """``ids`` as text (the key of :func:`_matcher`); None dropped."""
    return tuple(i if isinstance(i, str) else str(i) for i in ids if i is not None)


def _find(text: str, raw, keys) -> dict[str, int]:
    text = _DATA_URI_RE.sub("data:", text)
    runs = _WORD_RUN.findall(text)
    return {"raw_ids": _count_ids(text, raw, runs), "keys": _count_ids(text, keys, runs),
            "pseudonym_pattern": len(PSEUDONYM_RE.findall(text))}


def assert_no_identifiers(sources, raw_ids: Iterable[str] = (), keys: Iterable[str] = (),
                          min_id_length: int = 3) -> None:
    """Raise :class:`PrivacyError` if any source holds an employee identifier.

    ``sources``: a path, a string of text, or a list of them (files: .html, .ipynb, .json, ...).
    The error says which file and how many identifiers, never the identifiers themselves.
    """
    if isinstance(sources, (str, Path)):
        sources = [sources]
    raw, key = _matcher(_as_ids(raw_ids), min_id_length), _matcher(_as_ids(keys), 1)
    problems = []
    for src in sources:
        if isinstance(src, Path) or (isinstance(src, str) and len(src) < 4096 and "\n" not in src
                                     and Path(src).exists()):
            label, text = str(src), text_of(Path(src))
        else:
            label, text = "<text>", str(src)
        hits = _find(text, raw, key)
        if any(hits.values()):
            what = ", ".join(f"{n} {k.replace('_', ' ')}" for k, n in hits.items() if n)
            problems.append(f"{label}: {what}")
    if problems:
        raise PrivacyError(
            "employee identifiers found in a report (" + "; ".join(problems) + "). Fix: show only "
            "aggregates (teams, departments) and never print unit keys")


def org_identifiers(org) -> tuple[list[str], list[str]]:
    """(raw employee ids from ``<root>/raw/employees.csv``, pseudonymous keys of the org)."""
    raw_ids: list[str] = []
    root = Path(getattr(org, "root", "."))
    emp_csv = root / "raw" / "employees.csv"
    if emp_csv.exists():
        df = pd.read_csv(emp_csv, dtype=str, usecols=lambda c: c in ("employee_id", "manager_id"))
        for col in df.columns:
            raw_ids.extend(df[col].dropna().astype(str).tolist())
    keys: list[str] = []
    emp = getattr(org, "employees", None)
    if isinstance(emp, pd.DataFrame):
        for col in ("employee_key", "manager_key"):
            if col in emp.columns:
                keys.extend(emp[col].dropna().astype(str).tolist())
    return sorted(set(raw_ids)), sorted(set(keys))

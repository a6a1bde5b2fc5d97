"""Random assignment of a population to the program (treatment) or to control.

Two designs:

* **individual** (``unit="employee"``): people are randomised *within strata*, a stratum being
  their team and, optionally, other attributes (``strata=["role"]``). Each stratum is split in
  halves, so every team has both arms (what the package's randomized model compares within).
* **cluster** (``unit="team"``): whole teams are randomised, optionally within strata of team
  attributes (``strata=["department"]``); every member of a team gets the team's arm.

The algorithm, seeded and reproducible (same seed and same people give a byte-identical file,
whatever the order of the input rows):

1. units are sorted by their stratum and identifier (so the input order does not matter);
2. strata are visited in sorted order; within a stratum of size :math:`n` a seeded random
   permutation sends :math:`\\lfloor n/2 \\rfloor` units to each arm;
3. a stratum of odd size leaves one unit over (a stratum of one person leaves that person).
   With several stratum columns (team, then ``strata`` in order) the left-overs are first
   balanced inside their coarser groups, finest first: the left-overs of one (team, role) are
   split in halves by a seeded permutation, an odd one out moves up to the team, then to all
   (so role x level strata inside a team cannot pile up in one arm of the team);
4. the left-over units that reach the top are placed together by a seeded *balanced* draw:
   half of them (rounded down) to each arm in random order, and the last one, when their
   number is odd, by a seeded coin. So each stratum's arms differ by at most one unit, and so
   do every coarser group's (each team's) and the totals. With one stratum column (the team
   alone, or one team attribute in a cluster design) step 3 does nothing.

The file follows the assignments.csv contract (docs/data-contract.md): ``program_id,
unit_type, unit_id, arm, start_date``, one row per unit, sorted by unit_id.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from lndbayes import atomic
from lndbayes.data.contract import RAW_FILES
from lndbayes.design.balance import balance_row
from lndbayes.errors import ContractError, ModelInputError

ARMS = ("treatment", "control")
_ID = re.compile(r"^[a-z0-9_]+$")
#: attributes compared in the balance table when they are present (and not the unit itself)
DEFAULT_BALANCE = ("department", "role", "level", "tenure_years")


@dataclass
class Assignment:
    """The result of :func:`design_experiment`.

    ``assignments``: the file's rows (the assignments.csv contract); ``members``: one row per
    person with its unit, stratum and arm (identifiers included: keep it private);
    ``balance``: the arms compared on each attribute (``std_diff`` = standardised difference,
    ``imbalanced`` when its absolute value exceeds 0.1); ``strata``: per stratum its size, its
    arms and whether a left-over unit was placed by the balanced draw; ``notes``: what the
    planner decided on the user's behalf (single-person strata, teams spanning strata).
    """

    program_id: str
    design: str  # "individual" or "cluster"
    unit_type: str  # "employee" or "team"
    seed: int
    strata_columns: list[str]
    assignments: pd.DataFrame
    members: pd.DataFrame
    balance: pd.DataFrame
    strata: pd.DataFrame
    notes: list[str] = field(default_factory=list)
    source: str = ""

    def n(self, arm: str) -> int:
        return int((self.assignments["arm"] == arm).sum())

    def to_csv(self, path) -> Path:
        """Write the assignment file (byte-identical for the same seed and people)."""
        return atomic.write_text(Path(path), self.assignments.to_csv(index=False, lineterminator="\n"))

    def write(self, path, balance_path=None) -> tuple[Path, Path]:
        """The assignment file at ``path`` and the balance table beside it
        (``<stem>_balance.csv`` unless ``balance_path`` is given)."""
        path = Path(path)
        bpath = Path(balance_path) if balance_path else path.with_name(path.stem + "_balance.csv")
        self.to_csv(path)
        atomic.write_text(bpath, self.balance.to_csv(index=False, lineterminator="\n",
                                                     float_format="%.4f"))
        return path, bpath

    def summary(self) -> str:
        units = "teams" if self.unit_type == "team" else "people"
        people = self.members.groupby("arm").size()
        lines = [f"program {self.program_id}: {self.design} design, seed {self.seed}; "
                 f"{self.n('treatment')} {units} to treatment, {self.n('control')} to control"
                 + (f" ({int(people.get('treatment', 0))} / {int(people.get('control', 0))} people)"
                    if self.unit_type == "team" else ""),
                 f"strata: {', '.join(self.strata_columns) or 'none'} ({len(self.strata)} strata; "
                 f"{int(self.strata['leftover'].sum())} left-over unit(s) placed by the balanced draw)"]
        b = self.balance
        if len(b):
            worst = b.loc[b["std_diff"].abs().idxmax()] if b["std_diff"].notna().any() else None
            if worst is not None:
                lines.append(f"balance: largest |standardised difference| {abs(worst['std_diff']):.3f} "
                             f"({worst['variable']}); {int(b['imbalanced'].sum())} of {len(b)} above 0.1")
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)


# ------------------------------------------------------------------------------ input
def _read_people(people, id_column: str) -> tuple[pd.DataFrame, str, bool]:
    """(table, its name for messages, whether rows are file lines)."""
    if isinstance(people, pd.DataFrame):
        return people.copy(), "the people table", False
    p = Path(people)
    if not p.exists():
        raise ContractError("file not found", file=p,
                            fix="give the path of a CSV table with one row per person")
    try:
        df = pd.read_csv(p, dtype=str, keep_default_na=False, na_values=[""])
    except Exception as err:  # noqa: BLE001 -- any parse failure is the user's file
        raise ContractError(f"cannot read as CSV ({err})", file=p,
                            fix="save the table as CSV with a header row") from None
    return df, str(p), True


def _population_from_org(org, program: str, start_date):
    """People of a programs.yaml program's population, with their raw employee ids (the
    assignments.csv contract names people by employee_id, pseudonymised at ingestion)."""
    from lndbayes.data.org import Org, load_org
    from lndbayes.data.pseudonym import get_key, pseudonymise
    from lndbayes.paths import raw_dir

    org = org if isinstance(org, Org) else load_org(org)
    prog = org.programs.get_program(program)  # unknown ids: a clear error listing the valid ones
    start = pd.Timestamp(start_date if start_date is not None else prog.design.start)
    emp = org.employees
    where = f"{org.programs.path or 'programs.yaml'}, line {prog.line_of('population')}"
    if emp.empty:
        raise ContractError("the organisation has no employees table", file=raw_dir(org.root),
                            fix="add employees.csv (docs/data-contract.md) and ingest again")
    mask = prog.population.select(emp, at=start)
    pop = emp.loc[mask].copy()
    if pop.empty:
        raise ContractError(f"program '{program}': its population selects nobody employed on "
                            f"{start.date()}", file=where,
                            fix="widen the population filter in programs.yaml, or give another "
                                "start date (start_date= / --start-date)")
    raw = raw_dir(org.root)
    path = raw / "employees.csv"
    if path.exists():
        ids = pd.read_csv(path, dtype=str, usecols=["employee_id"], keep_default_na=False)["employee_id"]
    elif (raw / "employees.parquet").exists():
        path = raw / "employees.parquet"
        ids = pd.read_parquet(path, columns=["employee_id"])["employee_id"].astype(str)
    else:
        raise ContractError("the raw employees file is missing: the assignment file names people by "
                            "their employee_id", file=raw / "employees.csv",
                            fix="keep raw/employees.csv beside the processed tables")
    ids = ids.str.strip()
    ids = ids[ids != ""].drop_duplicates()
    keys = pd.Series(pseudonymise(ids, get_key(org.root)), index=ids.index)
    key_to_id = dict(zip(keys, ids))
    pop["employee_id"] = pop["employee_key"].map(key_to_id)
    lost = int(pop["employee_id"].isna().sum())
    if lost:
        raise ContractError(f"{lost} people of the processed employees table are not in the raw file "
                            "(the raw file changed since ingestion, or another pseudonym key was used)",
                            file=path, fix="run `lndbayes ingest` again")
    return pop.drop(columns=["employee_key", "manager_key"], errors="ignore"), prog, start, str(path)


def _check_column(df, col: str, what: str, source: str, option: str) -> None:
    if col not in df.columns:
        have = ", ".join(map(str, df.columns[:12]))
        raise ContractError(f"there is no {what} column '{col}' (columns: {have})", file=source,
                            column=col, fix=f"name the right column with {option}, or add it")


def _clean(df: pd.DataFrame, id_column: str, team_column: str, strata: list[str], source: str,
           lines: bool) -> pd.DataFrame:
    _check_column(df, id_column, "id", source, "id_column= / --id-column")
    _check_column(df, team_column, "team", source, "team_column= / --team-column")
    for s in strata:
        _check_column(df, s, "stratum", source, "strata= / --strata")
    if df.empty:
        raise ContractError("the population is empty (no rows)", file=source,
                            fix="give a table with one row per person")
    df = df.copy()
    first = 2 if lines else 0  # CSV: the header is line 1

    def where(i):
        return f"line {i + first}" if lines else f"row {i}"

    for col in [id_column, team_column, *strata]:
        s = df[col].astype("string").str.strip()
        empty = s.isna() | (s == "")
        if empty.any():
            i = int(np.flatnonzero(empty.to_numpy())[0])
            raise ContractError(f"{int(empty.sum())} row(s) have no value, the first at {where(i)}",
                                file=source, column=col,
                                fix="fill in the value or leave those people out of the table")
        df[col] = s.astype(str)
    dup = df[id_column].duplicated(keep=False)
    if dup.any():
        pos = np.flatnonzero(dup.to_numpy())
        first_id = df[id_column].iloc[pos[0]]
        same = np.flatnonzero((df[id_column] == first_id).to_numpy())
        raise ContractError(f"{int(df[id_column].duplicated().sum())} duplicate id(s); for example "
                            f"{' and '.join(where(int(i)) for i in same[:2])} hold the same person",
                            file=source, column=id_column,
                            fix="keep one row per person (an id may appear once)")
    return df


# ------------------------------------------------------------------------------ randomisation
def _randomise(units: pd.DataFrame, seed: int) -> tuple[pd.Series, pd.DataFrame]:
    """Arm per unit (``units``: columns unit, stratum; stratum a tuple of strings); the strata
    table. See the module docstring for the algorithm."""
    rng = np.random.default_rng(seed)
    units = units.assign(_key=units["stratum"].map(lambda t: "\x1f".join(t)))
    units = units.sort_values(["_key", "unit"], kind="mergesort")
    arm: dict[str, str] = {}
    leftovers: list[tuple[str, str]] = []
    rows = []
    for key, grp in units.groupby("_key", sort=True):
        ids = grp["unit"].tolist()
        perm = rng.permutation(len(ids))
        half = len(ids) // 2
        for i in perm[:half]:
            arm[ids[i]] = "treatment"
        for i in perm[half:2 * half]:
            arm[ids[i]] = "control"
        if len(ids) % 2:
            leftovers.append((tuple(grp["stratum"].iloc[0]), ids[perm[-1]]))
        rows.append({"stratum": " / ".join(grp["stratum"].iloc[0]), "_key": key, "n": len(ids)})
    depth = max((len(k) for k, _ in leftovers), default=0)
    for level in range(depth - 1, 0, -1):
        # balance the left-overs inside each coarser group (e.g. a team), finest first; an odd
        # one out moves up a level
        groups: dict[tuple, list] = {}
        for item in leftovers:
            groups.setdefault(item[0][:level], []).append(item)
        up = []
        for prefix in sorted(groups):
            items = groups[prefix]
            if len(items) < 2:
                up += items
                continue
            perm = rng.permutation(len(items))
            half = len(items) // 2
            for i in perm[:half]:
                arm[items[i][1]] = "treatment"
            for i in perm[half:2 * half]:
                arm[items[i][1]] = "control"
            if len(items) % 2:
                up.append(items[perm[-1]])
        leftovers = up
    L = len(leftovers)
    draw = ["treatment"] * (L // 2) + ["control"] * (L // 2)
    if L % 2:
        draw.append(ARMS[int(rng.integers(2))])
    for (key, unit), a in zip(leftovers, [draw[i] for i in rng.permutation(L)] if L else []):
        arm[unit] = a
    strata = pd.DataFrame(rows)
    arms = units["unit"].map(arm)
    counts = pd.crosstab(units["_key"], arms).reindex(columns=list(ARMS), fill_value=0)
    strata["n_treatment"] = strata["_key"].map(counts["treatment"]).fillna(0).astype(int)
    strata["n_control"] = strata["_key"].map(counts["control"]).fillna(0).astype(int)
    strata["leftover"] = strata["n"] % 2 == 1
    return pd.Series(arm), strata.drop(columns="_key")


def _balance(members: pd.DataFrame, variables: list[str], team_level: bool) -> pd.DataFrame:
    """Standardised differences between the arms: numeric attributes as they are, categorical
    ones one row per level (the share of people at that level)."""
    t = members["arm"] == "treatment"
    rows = []
    size = members.groupby("unit")["unit"].transform("size") if team_level else \
        members.groupby("team")["team"].transform("size")
    rows.append(balance_row("team_size", size[t], size[~t]))
    for var in variables:
        if var not in members:
            continue
        col = members[var]
        # a blank cell is a missing value (as read from a CSV), not a category of its own
        missing = col.isna() | (col.astype("string").str.strip() == "").fillna(True)
        num = pd.to_numeric(col.where(~missing), errors="coerce")
        if (~missing).any() and num[~missing].notna().all():
            # numeric: compare the numbers that are there (one missing value must not turn
            # the attribute into one row per distinct value)
            rows.append(balance_row(var, num[t & ~missing], num[~t & ~missing]))
            if missing.any():
                ind = missing.astype(float)
                rows.append(balance_row(f"{var} (missing)", ind[t], ind[~t]))
        else:
            text = col.astype(str).str.strip().where(~missing, "(missing)")
            for level in sorted(text.unique()):
                ind = (text == level).astype(float)
                rows.append(balance_row(f"{var}={level}", ind[t], ind[~t]))
    return pd.DataFrame(rows)


# ------------------------------------------------------------------------------ the API
def design_experiment(people=None, *, org=None, program: str | None = None, unit: str | None = None,
                      strata=(), id_column: str = "employee_id", team_column: str = "team",
                      balance_on=None, seed: int = 0, start_date=None, out=None,
                      balance_out=None) -> Assignment:
    """Split a population into treatment and control, seeded and reproducible.

    The population is either ``people`` (a DataFrame or a CSV path, one row per person with
    ``id_column`` and ``team_column``), written under the id ``program``; or, with ``people``
    omitted, the population of the programs.yaml program ``program`` in ``org`` (an
    :class:`~lndbayes.data.org.Org`, a data root, or None for the default one), employed on
    its design start (or ``start_date``), whose ``design.unit`` sets the default ``unit``.

    ``unit``: ``"employee"`` (individual design, stratified by team and ``strata``) or
    ``"team"`` (cluster design: whole teams, stratified by the team attributes ``strata``, each
    team taking the most common value of its members). ``balance_on``: attributes compared in
    the balance table (default: department, role, level, tenure_years where present, and the
    strata). ``out``: write the assignment file there (and the balance table beside it).
    Odd strata: see the module docstring (one left-over unit per odd stratum, placed by a
    seeded balanced draw over all left-overs).
    """
    strata = [s for s in ([strata] if isinstance(strata, str) else list(strata or ())) if s]
    prog = None
    if people is None:
        if program is None:
            raise ModelInputError("give program= (a program id of programs.yaml), or a table of "
                                  "people. Fix: design_experiment(org=..., program='<id>') or "
                                  "design_experiment('people.csv', program='<id>')")
        df, prog, start, source = _population_from_org(org, program, start_date)
        id_column, lines = "employee_id", False
        unit = unit or prog.design.unit
    else:
        if program is None or not _ID.match(str(program)):
            raise ModelInputError(f"program id {program!r} is missing or not valid. Fix: give the "
                                  "program's id as in programs.yaml (lower case letters, digits "
                                  "and _), e.g. program='manager_coaching'")
        df, source, lines = _read_people(people, id_column)
        start = pd.Timestamp(start_date) if start_date is not None else None
        unit = unit or "employee"
    if unit not in ("employee", "team"):
        raise ModelInputError(f"unit must be 'employee' or 'team', got {unit!r}. Fix: 'employee' "
                              "randomises people within teams, 'team' randomises whole teams")
    if team_column in strata:
        strata.remove(team_column)  # the team is always a stratum (individual) or the unit (cluster)
    df = _clean(df, id_column, team_column, strata, source, lines)
    if "tenure_years" not in df and "hire_date" in df:
        at = start if start is not None else pd.Timestamp.today().normalize()
        hired = pd.to_datetime(df["hire_date"], errors="coerce")
        df["tenure_years"] = ((at - hired).dt.days / 365.25).round(2)
    notes: list[str] = []
    members = pd.DataFrame({"person": df[id_column].to_numpy(), "team": df[team_column].to_numpy()})
    for s in strata:
        members[s] = df[s].to_numpy()
    if unit == "employee":
        members["unit"] = members["person"]
        members["stratum"] = [tuple(r) for r in members[["team", *strata]].astype(str).to_numpy()]
        units = members[["unit", "stratum"]]
        n_units, what = len(units), "people"
    else:
        members["unit"] = members["team"]
        team_attr = {}
        for s in strata:
            per_team = members.groupby("team")[s].agg(
                lambda v: sorted(v.value_counts().loc[lambda c: c == c.max()].index)[0])
            mixed = members.groupby("team")[s].nunique()
            if (mixed > 1).any():
                notes.append(f"{int((mixed > 1).sum())} team(s) have members with different '{s}' "
                             f"values; each team is stratified by its most common value")
            team_attr[s] = per_team
        units = pd.DataFrame({"unit": sorted(members["team"].unique())})
        units["stratum"] = [tuple(str(team_attr[s][u]) for s in strata) for u in units["unit"]]
        n_units, what = len(units), "teams"
    if n_units < 2:
        raise ContractError(f"the population is too small to split: {n_units} "
                            f"{what[:-1] if n_units == 1 else what}", file=source,
                            fix=("a cluster design needs at least 2 teams (better 10 or more); "
                                 "randomise people instead (unit='employee')" if unit == "team"
                                 else "at least 2 people are needed, one per arm"))
    arm, strata_table = _randomise(units, int(seed))
    members["arm"] = members["unit"].map(arm)
    singles = int((strata_table["n"] == 1).sum())
    if singles:
        notes.append(f"{singles} stratum/strata hold a single {what[:-1] if what == 'teams' else 'person'}: "
                     "each such unit was placed with the other left-over units by the seeded "
                     "balanced draw (half of the left-overs to each arm), so its stratum has one arm only")
    ttype = "team" if unit == "team" else "employee"
    start_text = "" if start is None else str(pd.Timestamp(start).date())
    assignments = pd.DataFrame({"program_id": str(prog.id if prog is not None else program),
                                "unit_type": ttype, "unit_id": list(arm.index),
                                "arm": list(arm.to_numpy()), "start_date": start_text})
    assignments = assignments.sort_values("unit_id", kind="mergesort").reset_index(drop=True)
    assert list(assignments.columns) == RAW_FILES["assignments"].names  # the contract's columns
    if balance_on is None:
        balance_on = [c for c in DEFAULT_BALANCE if c in df.columns] + \
                     [s for s in strata if s not in DEFAULT_BALANCE]
    else:
        balance_on = [balance_on] if isinstance(balance_on, str) else list(balance_on)
        for c in balance_on:
            _check_column(df, c, "balance", source, "balance_on= / --balance-on")
    for c in balance_on:
        if c not in members:
            members[c] = df[c].to_numpy()
    balance = _balance(members, [c for c in balance_on if c != team_column], unit == "team")
    res = Assignment(program_id=str(assignments["program_id"].iloc[0]),
                     design="cluster" if unit == "team" else "individual", unit_type=ttype,
                     seed=int(seed), strata_columns=([] if unit == "team" else [team_column]) + strata,
                     assignments=assignments, members=members.drop(columns="stratum", errors="ignore"),
                     balance=balance, strata=strata_table, notes=notes, source=source)
    if out is not None:
        res.write(out, balance_out)
    return res

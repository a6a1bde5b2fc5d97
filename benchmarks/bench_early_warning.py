"""Calibration of the early warning's P(real change in the bad direction), over simulated orgs.

    .venv/bin/python benchmarks/bench_early_warning.py [--reps 200] [--seed 880000]

Each replication simulates one organisation with lndbayes.skills.early_warning.simulate_kpi_org
(8, 12 or 20 teams of 5-25 people, 24 months of CSAT and errors/tickets, common month shocks)
and plants changes in the last 6 months from a process that is *not* the model's prior:

* an overall change with probability 0.3 (CSAT N(0, 0.08) points, errors N(0, 0.3) log ratio);
* on top, each team deviates with probability 0.2 (CSAT N(0, 0.2), errors N(0, 0.5));
* everything else exactly no change.

It then runs early_warning(org) and compares p_real with what was planted: the reliability
table (events forecast at about p should happen about p of the time), the flag rate of teams
with nothing planted, the share of flags that are real (precision), the flag rate of real bad
moves by size, and the 90% interval coverage of the CSAT change (its truth is exact). Writes
benchmarks/results/early_warning.md and .json.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lndbayes.atomic import write_json  # noqa: E402
from lndbayes.skills.early_warning import early_warning, simulate_kpi_org  # noqa: E402

OUT = Path(__file__).resolve().parent / "results"
BINS = [0.0, 0.1, 0.3, 0.5, 0.7, 0.9, 1.0000001]


def one(seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = int(rng.choice([8, 12, 20]))
    sizes = rng.integers(5, 26, n).astype(float)
    cc = np.zeros(n)
    ec = np.zeros(n)
    if rng.random() < 0.3:
        cc += rng.normal(0, 0.08)
    if rng.random() < 0.3:
        ec += rng.normal(0, 0.3)
    dev_c = rng.random(n) < 0.2
    dev_e = rng.random(n) < 0.2
    cc[dev_c] += rng.normal(0, 0.2, dev_c.sum())
    ec[dev_e] += rng.normal(0, 0.5, dev_e.sum())
    org, truth = simulate_kpi_org(seed, sizes=sizes, csat_change=cc, error_change=ec)
    df = early_warning(org, min_group=1)
    rows = []
    for kpi, change, bad in (("csat", cc, lambda x: x < 0), ("errors", ec, lambda x: x > 0)):
        t = df[df["kpi"] == kpi].set_index("team").loc[truth["teams"]]
        truth_units = change if kpi == "csat" else truth["error_change"]
        rows.append(pd.DataFrame({
            "seed": seed, "kpi": kpi, "n_teams": n, "size": sizes, "p_real": t["p_real"].to_numpy(),
            "flagged": t["flagged"].to_numpy(bool), "true_change": truth_units,
            "bad": bad(change), "none": change == 0, "z": truth_units / truth["csat_sd"] if kpi == "csat" else np.nan,
            "covered": (t["change_lo"].to_numpy() <= truth_units) & (truth_units <= t["change_hi"].to_numpy())}))
    return pd.concat(rows, ignore_index=True)


def reliability(res: pd.DataFrame) -> pd.DataFrame:
    b = pd.cut(res["p_real"], BINS, right=False)
    g = res.groupby(b, observed=False)
    out = pd.DataFrame({"n": g.size(), "mean_p_real": g["p_real"].mean(), "observed_bad": g["bad"].mean()})
    out["se"] = np.sqrt(out["observed_bad"] * (1 - out["observed_bad"]) / out["n"].clip(lower=1))
    out.index = [f"[{iv.left:.1f}, {min(iv.right, 1):.1f}{']' if iv.right > 1 else ')'}" for iv in out.index]
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=200)
    ap.add_argument("--seed", type=int, default=880_000)
    args = ap.parse_args()
    t0 = time.perf_counter()
    res = pd.concat([one(args.seed + r) for r in range(args.reps)], ignore_index=True)
    wall = time.perf_counter() - t0
    rel = {k: reliability(res[res["kpi"] == k]) for k in ("csat", "errors")}
    rel_all = reliability(res)
    none = res[res["none"]]
    flags = res[res["flagged"]]
    bad = res[res["bad"]]
    csat_bad = bad[bad["kpi"] == "csat"].copy()
    csat_bad["size_bin"] = pd.cut(csat_bad["true_change"].abs(), [0, 0.05, 0.1, 0.2, 0.4, 10])
    power = csat_bad.groupby("size_bin", observed=False)["flagged"].agg(["mean", "size"])
    err_bad = bad[bad["kpi"] == "errors"].copy()
    summary = {
        "reps": args.reps, "seed": args.seed, "team_kpis": len(res), "wall_s": round(wall, 1),
        "s_per_org": round(wall / args.reps, 3),
        "flag_rate_nothing_planted": float(none["flagged"].mean()), "n_nothing_planted": len(none),
        "precision_of_flags": float(flags["bad"].mean()) if len(flags) else None, "n_flags": len(flags),
        "flag_rate_real_bad": float(bad["flagged"].mean()), "n_real_bad": len(bad),
        "csat_interval_coverage": float(res.loc[res["kpi"] == "csat", "covered"].mean()),
        "brier": float(np.mean((res["p_real"] - res["bad"]) ** 2)),
        "brier_constant": float(np.mean((res["bad"].mean() - res["bad"]) ** 2)),
    }
    # the example organisation, as the product runs it
    import lndbayes as lb
    org = lb.load_org()
    t1 = time.perf_counter()
    ex = early_warning(org)
    summary["example_s"] = round(time.perf_counter() - t1, 2)
    summary["example_flags"] = int(ex["flagged"].sum())
    summary["example_rows"] = len(ex)
    write_json(OUT / "early_warning.json", {"summary": summary,
                                            "reliability": {k: v.reset_index().to_dict("records")
                                                            for k, v in {**rel, "all": rel_all}.items()}})

    def md_table(df: pd.DataFrame) -> str:
        lines = ["| P(real) bin | team-KPIs | mean p_real | observed share bad | +/- 1 se |", "|---|---|---|---|---|"]
        for idx, r in df.iterrows():
            lines.append(f"| {idx} | {int(r['n'])} | {r['mean_p_real']:.3f} | {r['observed_bad']:.3f} | "
                         f"{r['se']:.3f} |")
        return "\n".join(lines)

    text = f"""# Early warning: calibration of P(real change in the bad direction)

Command: `.venv/bin/python benchmarks/bench_early_warning.py --reps {args.reps} --seed {args.seed}`
({platform.python_version()}, {wall:.0f} s wall on the shared 2-core machine, {summary['s_per_org']} s per
simulated organisation of two KPIs).

Truth process (not the model's prior): 8, 12 or 20 teams of 5-25 people; an overall change with
probability 0.3 (CSAT N(0, 0.08) points, errors N(0, 0.3) log rate ratio), each team deviating
with probability 0.2 (CSAT N(0, 0.2), errors N(0, 0.5)); everything else exactly no change;
common month shocks and team noise as in `simulate_kpi_org`. {summary['team_kpis']} team x KPI
results in all. "Bad" = the planted change is strictly in the bad direction (CSAT down, errors
per ticket up); a team with nothing planted is never bad.

## Reliability (all team x KPI results)

{md_table(rel_all)}

### CSAT only

{md_table(rel['csat'])}

### Errors per ticket only

{md_table(rel['errors'])}

## Flags at the default threshold 0.9

| measure | value |
|---|---|
| flag rate of team-KPIs with nothing planted | {summary['flag_rate_nothing_planted']:.3f} (of {summary['n_nothing_planted']}) |
| share of flags that are real bad moves (precision) | {summary['precision_of_flags']:.3f} (of {summary['n_flags']} flags) |
| flag rate of real bad moves (any size) | {summary['flag_rate_real_bad']:.3f} (of {summary['n_real_bad']}) |
| 90% interval coverage of the CSAT change | {summary['csat_interval_coverage']:.3f} |
| Brier score of p_real / of the constant base rate | {summary['brier']:.4f} / {summary['brier_constant']:.4f} |

Flag rate of real CSAT declines by size (CSAT points; team monthly noise sd 0.08 x sqrt(10 / size)):

| true decline | flagged | n |
|---|---|---|
""" + "\n".join(f"| {iv} | {r['mean']:.2f} | {int(r['size'])} |" for iv, r in power.iterrows()) + f"""

Errors per ticket: {err_bad['flagged'].mean():.2f} of {len(err_bad)} real rises flagged (most are small:
the planted log ratios are N(0, 0.5) on 3-15 errors a month).

## The example organisation

`early_warning(lb.load_org())` on data/synthetic: {summary['example_rows']} team x KPI rows,
{summary['example_flags']} flagged, {summary['example_s']} s. The example plants only improvements
(the programs work), no decline, so no flag is the right answer.
"""
    (OUT / "early_warning.md").write_text(text, encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

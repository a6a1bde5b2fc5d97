"""Interim monitoring: cost of a full refit per checkpoint vs the fast approximation, the
approximation against the full fit, and the rule's operating characteristics vs thresholds.

Writes benchmarks/results/monitoring.md and monitoring.json::

    .venv/bin/python benchmarks/bench_monitoring.py            # ~4 min on 2 cores
    .venv/bin/python benchmarks/bench_monitoring.py --quick    # no full fits (OC tables only)

The example organisation is simulated into benchmarks/_work/monitoring (git-ignored), so the
numbers do not depend on the state of data/synthetic.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
import warnings
from pathlib import Path


HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
os.environ.setdefault("LNDBAYES_CACHE", tempfile.mkdtemp(prefix="lndbayes-bench-cache-"))

import lndbayes as lb  # noqa: E402
from lndbayes.design.panel import build_panel  # noqa: E402
from lndbayes.monitoring import (MonitorDesign, MonitoringRule, as_of, cut_date,  # noqa: E402
                                 monitor_program, threshold_table)
from lndbayes.monitoring.approx import grid_posterior, team_contrasts  # noqa: E402

THRESHOLDS = (0.9, 0.95, 0.975, 0.99, 0.995)
STOPS = (0.05, 0.1, 0.2, 0.3)


def pct(x):
    return "-" if x is None else f"{100 * x:.1f}%"


def month(w):
    return "-" if not w else f"{w['median']:.0f} ({w['q25']:.0f}-{w['q75']:.0f})"


def refit_costs(org, out):
    """Seconds of a full PyMC fit of a checkpoint's panel (fresh cache; first = with compile)."""
    from lndbayes.fitting import fit_panel

    rows = []
    for pid, oid in (("manager_coaching", "attrition_12m"), ("support_upskilling", "error_count")):
        start = org.programs.get_program(pid).design.start
        for k in (3, 6, 9):
            panel = build_panel(as_of(org, cut_date(start, k)), pid, oid)
            t = time.perf_counter()
            fit_panel(panel, seed=0, cache=False)
            fit_s = time.perf_counter() - t
            t = time.perf_counter()
            tc = team_contrasts(panel)
            grid_posterior(tc.y, tc.v, tc.X, tc.s_tau).p_works("decrease")
            rows.append({"program": pid, "outcome": oid, "checkpoint": k, "periods": len(panel.meta.periods),
                         "full_fit_s": fit_s, "approx_s": time.perf_counter() - t})
            print(rows[-1], flush=True)
    out["refit"] = rows


def programs(org, out, full: bool):
    from lndbayes.fitting import fit_panel

    res = {}
    for p in org.programs:
        t = time.perf_counter()
        try:
            mon = monitor_program(org, p.id, n_sims=1000, seed=0, cache=False)  # time the work
        except lb.LndbayesError as err:
            res[p.id] = {"error": str(err)}
            continue
        wall = time.perf_counter() - t
        entry = {"outcome": mon.outcome_id, "seconds": wall, "checkpoints": len(mon.table),
                 "first_decision": mon.first_decision, "oc": mon.operating_characteristics,
                 "final": mon.table.iloc[-1][["checkpoint", "effect_mean", "effect_lower", "effect_upper",
                                              "p_works", "p_roi_positive", "action"]].to_dict()}
        if full:
            panel = build_panel(org, p.id, mon.outcome_id)
            ref = fit_panel(panel, seed=0)
            from lndbayes.monitoring.core import _validate

            entry["validation"] = _validate(org, p.id, p.outcome(mon.outcome_id), ref)
        if mon.oc_design is not None:
            rule = MonitoringRule()
            entry["by_scale_threshold"] = threshold_table(
                mon.oc_design, rule, mon.direction, effects=mon.oc_effects, thresholds=THRESHOLDS,
                n_sims=2000, seed=1)
            entry["by_stop_threshold"] = threshold_table(
                mon.oc_design, rule, mon.direction, effects=mon.oc_effects, thresholds=STOPS,
                field="stop_p_works", n_sims=2000, seed=1)
        res[p.id] = entry
        print(p.id, f"{wall:.1f}s", mon.first_decision, flush=True)
    out["programs"] = res


def plain(out):
    rows = []
    rule = MonitoringRule()
    for people in (10, 20, 40):
        d = MonitorDesign.from_size(n_teams=20, people_per_team=people, months=12, sd=1.0, tau=0.1)
        rows.append({"people_per_team": people, "table": threshold_table(
            d, rule, "increase", effects={"no effect": 0.0, "target 0.25 sd": 0.25},
            thresholds=THRESHOLDS, n_sims=2000, seed=2)})
    out["plain"] = rows


def write_md(out, path: Path):
    L = ["# Interim monitoring: cost, accuracy, operating characteristics", "",
         f"Command: `.venv/bin/python benchmarks/bench_monitoring.py` ({out['when']}, "
         f"{out['machine']}; load average before {out['load']:.1f}). Example organisation simulated "
         "with seed 0. Default rule: " + MonitoringRule().text(), ""]
    if "refit" in out:
        L += ["## Why an approximation: a full PyMC refit per checkpoint", "",
              "Seconds for one checkpoint's panel, posterior cache off. A randomized design keeps "
              "its graph structure across checkpoints (compiled once per process, first row); a "
              "pre/post design changes its number of periods at every checkpoint, so every "
              "checkpoint recompiles.", "",
              "| program / outcome | checkpoint | periods | full fit (s) | approximation (s) |",
              "|---|---|---|---|---|"]
        for r in out["refit"]:
            L.append(f"| {r['program']} / {r['outcome']} | {r['checkpoint']} | {r['periods']} | "
                     f"{r['full_fit_s']:.1f} | {r['approx_s']:.2f} |")
        L.append("")
    L += ["## monitor_program on the example organisation", "",
          "Wall time of `monitor_program(org, id)` (monthly checkpoints over the outcome window, "
          "1,000 simulated programs per scenario for the operating characteristics), and the "
          "rule's operating characteristics for the program's own design (variances from its data "
          "at each checkpoint). OC columns: P(scale) with no effect (false scale), P(scale) at the "
          "target with the median month of scaling (quartiles), P(stop) at the target (false stop), "
          "P(alter) at some checkpoint before a decision, at the target.", "",
          "| program | outcome | checkpoints | seconds | first decision | false scale | scale at target (month) | false stop | alter at target |",
          "|---|---|---|---|---|---|---|---|---|"]
    for pid, e in out["programs"].items():
        if "error" in e:
            L.append(f"| {pid} | - | - | - | {e['error']} | | | | |")
            continue
        oc = e["oc"]
        if oc.get("available"):
            sc = oc["scenarios"]
            alt = sc.get("target") or sc.get("current estimate")
            note = "" if "target" in sc else " [no target: at the current estimate]"
            cells = (pct(sc["no effect"]["p_scale"]), f"{pct(alt['p_scale'])} ({month(alt['scale_month'])}){note}",
                     pct(alt["p_stop"]), pct(alt["p_alter"]))
        else:
            cells = ("-", "-", "-", "-")
        fd = e["first_decision"]
        L.append(f"| {pid} | {e['outcome']} | {e['checkpoints']} | {e['seconds']:.1f} | "
                 f"{'none' if not fd else fd['action'] + ' at month ' + str(fd['checkpoint'])} | "
                 + " | ".join(cells) + " |")
    L.append("")
    if any("validation" in e for e in out["programs"].values()):
        L += ["## The approximation against the full fit (all data, the final analysis' panel)", "",
              "| program | outcome | approx mean [90%] | full fit mean [90%] | P(works) approx / full | width ratio |",
              "|---|---|---|---|---|---|"]
        for pid, e in out["programs"].items():
            v = e.get("validation")
            if not v:
                continue
            a, f = v["approx"], v["full_fit"]
            L.append(f"| {pid} | {e['outcome']} | {a['mean']:.4g} [{a['lower']:.4g}, {a['upper']:.4g}] | "
                     f"{f['mean']:.4g} [{f['lower']:.4g}, {f['upper']:.4g}] | {a['p_works']:.3f} / "
                     f"{f['p_works']:.3f} | {v['interval_width_ratio']:.2f} |")
        L.append("")
    L += ["## Operating characteristics vs the scale threshold (the program's own design)", "",
          "Same simulated paths for every row (2,000 per scenario, seed 1); other thresholds at their "
          "defaults.", ""]
    for pid, e in out["programs"].items():
        rows = e.get("by_scale_threshold")
        if not rows:
            continue
        names = [k for k in rows[0] if k != "scale_p_works"]
        L += [f"**{pid}** ({e['outcome']})", "",
              "| scale needs P(works) >= | " + " | ".join(f"{n}: P(scale) (month) / P(stop)" for n in names) + " |",
              "|---|" + "---|" * len(names)]
        for r in rows:
            L.append(f"| {r['scale_p_works']:.3f} | " + " | ".join(
                f"{pct(r[n]['p_scale'])} ({month(r[n]['scale_month'])}) / {pct(r[n]['p_stop'])}" for n in names) + " |")
        L.append("")
    L += ["## Operating characteristics vs the stop threshold (the program's own design)", ""]
    for pid, e in out["programs"].items():
        rows = e.get("by_stop_threshold")
        if not rows:
            continue
        names = [k for k in rows[0] if k != "stop_p_works"]
        L += [f"**{pid}**", "", "| stop below P(works) = | " + " | ".join(f"{n}: P(stop) / P(scale)" for n in names) + " |",
              "|---|" + "---|" * len(names)]
        for r in rows:
            L.append(f"| {r['stop_p_works']:.2f} | " + " | ".join(
                f"{pct(r[n]['p_stop'])} / {pct(r[n]['p_scale'])}" for n in names) + " |")
        L.append("")
    L += ["## Plain designs (20 teams, half of each team treated, 12 monthly looks, outcome sd 1, "
          "between-team sd of the effect 0.1)", "",
          "| people per team | scale needs P(works) >= | false scale | P(scale) at 0.25 sd (month) | false stop |",
          "|---|---|---|---|---|"]
    for block in out["plain"]:
        for r in block["table"]:
            n, t = r["no effect"], r["target 0.25 sd"]
            L.append(f"| {block['people_per_team']} | {r['scale_p_works']:.3f} | {pct(n['p_scale'])} | "
                     f"{pct(t['p_scale'])} ({month(t['scale_month'])}) | {pct(t['p_stop'])} |")
    L.append("")
    path.write_text("\n".join(L))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="skip the full PyMC fits")
    ap.add_argument("--rewrite", action="store_true",
                    help="only rewrite monitoring.md from results/monitoring.json")
    args = ap.parse_args()
    if args.rewrite:
        out = json.loads((HERE / "results" / "monitoring.json").read_text())
        write_md(out, HERE / "results" / "monitoring.md")
        return
    warnings.filterwarnings("ignore")
    load = os.getloadavg()[0]
    root = HERE / "_work" / "monitoring"
    if not (root / "raw" / "employees.csv").exists():
        lb.simulate_org(root / "raw", seed=0)
    org = lb.load_org(root)
    out = {"when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
           "machine": f"{os.cpu_count()} cores, {platform.python_implementation()} {platform.python_version()}",
           "load": load}
    if not args.quick:
        refit_costs(org, out)
    programs(org, out, full=not args.quick)
    plain(out)
    res = HERE / "results"
    res.mkdir(exist_ok=True)
    from lndbayes.results import json_safe

    (res / "monitoring.json").write_text(json.dumps(json_safe(out), indent=1, allow_nan=False, default=str))
    write_md(out, res / "monitoring.md")
    print((res / "monitoring.md").read_text())


if __name__ == "__main__":
    main()

"""How many model compiles a report run pays, how long they take, and what the disk cache saves.

Fits every outcome of every program of the example organisation in ONE process (as a long-lived
worker would; posterior cache off so every fit samples), under three conditions, each in a fresh
subprocess so no in-process state carries over:

* ``nutpie``: nutpie's own compile (``LNDBAYES_COMPILE_CACHE_OFF=1``), the behaviour before;
* ``cold``:  lndbayes' disk-cached callbacks with an empty cache folder (first run on a machine;
  PyTensor's own op cache in ~/.pytensor is left as it is);
* ``warm``:  the same folder again (every later run, every later report worker).

It also counts compiles per report run in today's layout (one kernel process per program, each
compiling the distinct structures of its outcomes) and checks that the draws of every outcome are
identical across the three conditions.

    .venv/bin/python benchmarks/bench_compile.py            # -> benchmarks/results/compile.{json,md}
    .venv/bin/python benchmarks/bench_compile.py --draws 300 --quick
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE / "results"


def worker(args) -> None:
    """One condition: fit all outcomes in this process; print one JSON line per fit."""
    t_import = time.perf_counter()
    import hashlib

    import numpy as np

    import lndbayes as lb
    from lndbayes.design.panel import build_panel
    from lndbayes.inference import sampling
    import_s = time.perf_counter() - t_import
    seen: list = []  # the structure key of every sampling call (reused or compiled)
    inner_sample = sampling.sample

    def sample(structure_key, *a, **k):
        seen.append(structure_key)
        return inner_sample(structure_key, *a, **k)

    sampling.sample = sample
    org = lb.load_org(args.data) if args.data else lb.load_org()
    rows = []
    t_all = time.perf_counter()
    for prog in org.programs.programs.values():
        for out in prog.outcomes:
            n_log = len(sampling.compile_log())
            t0 = time.perf_counter()
            panel = build_panel(org, prog.id, out.id)
            res = lb.fit_panel(panel, cache=False, draws=args.draws, tune=args.draws, chains=4,
                               seed=0)
            fit_s = time.perf_counter() - t0
            new = sampling.compile_log()[n_log:]
            draws = np.ascontiguousarray(res.draws("average_effect_abs"))
            rows.append({"program": prog.id, "outcome": out.id, "fit_s": round(fit_s, 2),
                         "structure": (hashlib.sha256(new[0]["structure"].encode()).hexdigest()[:12]
                                       if new else "(reused)"),
                         "compiles": len(new), "compile_s": round(sum(c["seconds"] for c in new), 2),
                         "loaded": all(c["loaded"] for c in new) if new else None,
                         "how": new[0]["how"] if new else None,
                         "spec": hashlib.sha256(seen[-1].encode()).hexdigest()[:12],
                         "draws_sha": hashlib.sha256(draws.tobytes()).hexdigest()[:16],
                         "converged": bool(res.converged)})
            print("ROW " + json.dumps(rows[-1]), flush=True)
    print("TOTAL " + json.dumps({"fit_all_s": round(time.perf_counter() - t_all, 2),
                                 "import_s": round(import_s, 2)}), flush=True)


def run_condition(name: str, env_extra: dict, args) -> dict:
    env = {**os.environ, **env_extra}
    cmd = [sys.executable, __file__, "--worker", "--draws", str(args.draws)]
    if args.data:
        cmd += ["--data", args.data]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode:
        sys.stderr.write(proc.stderr[-4000:])
        raise SystemExit(f"condition {name} failed")
    rows = [json.loads(line[4:]) for line in proc.stdout.splitlines() if line.startswith("ROW ")]
    total = [json.loads(line[6:]) for line in proc.stdout.splitlines() if line.startswith("TOTAL ")][0]
    print(f"{name}: {total['fit_all_s']} s for {len(rows)} fits, "
          f"{sum(r['compiles'] for r in rows)} compiles ({sum(r['compile_s'] for r in rows):.1f} s)",
          flush=True)
    return {"condition": name, "rows": rows, "wall_s": round(wall, 2), **total}


def kernel_compiles(rows) -> int:
    """Compiles in today's layout: each program's kernel compiles its distinct structures."""
    by_prog: dict = {}
    for r in rows:
        by_prog.setdefault(r["program"], set()).add(r["spec"])
    return sum(len(v) for v in by_prog.values())


def write_md(result: dict, path: Path) -> None:
    c = {x["condition"]: x for x in result["conditions"]}
    rows = c["nutpie"]["rows"]
    n_fit = len(rows)
    n_struct = len({r["structure"] for r in rows if r["structure"] != "(reused)"})
    lines = [
        "# Compilation: what a report run pays, and the disk cache",
        "",
        f"Command: `{result['command']}` ({result['date']}, {result['cpus']} cores shared with "
        "other work: compare conditions within this run, and count compiles, not only seconds).",
        f"Example organisation: {len({r['program'] for r in rows})} programs, {n_fit} outcomes; "
        f"draws = tune = {result['draws']}, 4 chains, posterior cache off.",
        "",
        "## Compiles per run",
        "",
        f"- distinct model structures (family, design, sizes): **{n_struct}** for {n_fit} fits: "
        "outcomes differ in family or design, so sharing a compiled model within a run saves "
        f"{n_fit - n_struct} compile(s) here; bucketing sizes would not merge families or designs.",
        f"- today's layout (one kernel process per program): **{result['kernel_compiles']}** compiles "
        "per `make reports`, every run, each a full Numba compile with nutpie's callbacks.",
        "- with the disk-cached callbacks: the same number of *compiles requested*, but after the "
        "first run on a machine every one is a cache load (column `loaded`).",
        "",
        "## Seconds (one process fits all outcomes)",
        "",
        "| condition | fit all outcomes (s) | of which compile (s) | compiles | loaded from disk |",
        "|---|---|---|---|---|",
    ]
    for name, label in (("nutpie", "before: nutpie's compile"),
                        ("cold", "after, empty cache (first run)"),
                        ("warm", "after, warm cache (later runs, other workers)")):
        x = c[name]
        comp = [r for r in x["rows"] if r["compiles"]]
        lines.append(f"| {label} | {x['fit_all_s']:.1f} | {sum(r['compile_s'] for r in comp):.1f} | "
                     f"{len(comp)} | {sum(bool(r['loaded']) for r in comp)} |")
    lines += ["", "Per outcome (compile seconds: nutpie / cold / warm; fit seconds warm):", "",
              "| program | outcome | compile nutpie | compile cold | compile warm | fit warm | same draws |",
              "|---|---|---|---|---|---|---|"]
    for i, r in enumerate(rows):
        co, wa = c["cold"]["rows"][i], c["warm"]["rows"][i]
        same = r["draws_sha"] == co["draws_sha"] == wa["draws_sha"]
        lines.append(f"| {r['program']} | {r['outcome']} | {r['compile_s']} | {co['compile_s']} | "
                     f"{wa['compile_s']} | {wa['fit_s']} | {'yes' if same else 'NO'} |")
    lines += ["", f"Draws identical in all conditions for every outcome: **{result['all_same']}**.", ""]
    lines += result.get("notes", [])
    path.write_text("\n".join(lines) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--worker", action="store_true")
    ap.add_argument("--draws", type=int, default=1000)
    ap.add_argument("--data", default=None)
    args = ap.parse_args()
    if args.worker:
        return worker(args)
    with tempfile.TemporaryDirectory(prefix="lndbayes-compile-bench-") as tmp:
        conds = [run_condition("nutpie", {"LNDBAYES_COMPILE_CACHE_OFF": "1"}, args),
                 run_condition("cold", {"LNDBAYES_COMPILE_CACHE": tmp}, args),
                 run_condition("warm", {"LNDBAYES_COMPILE_CACHE": tmp}, args)]
    rows = conds[0]["rows"]
    all_same = all(len({c["rows"][i]["draws_sha"] for c in conds}) == 1 for i in range(len(rows)))
    result = {"command": "python benchmarks/bench_compile.py" + (f" --draws {args.draws}" if args.draws != 1000 else ""),
              "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "cpus": os.cpu_count(),
              "draws": args.draws, "conditions": conds, "kernel_compiles": kernel_compiles(rows),
              "all_same": all_same}
    OUT.mkdir(exist_ok=True)
    (OUT / "compile.json").write_text(json.dumps(result, indent=1))
    md = OUT / "compile.md"
    if md.exists() and "## Notes" in md.read_text():  # keep hand-written notes
        result["notes"] = md.read_text().split("## Notes", 1)[1].join(["## Notes", ""]).splitlines()
    write_md(result, md)
    print(md.read_text())


if __name__ == "__main__":
    main()

"""Cold compile CPU of the example's models, per model and per Numba function.

Runs in a fresh subprocess with an EMPTY PyTensor compile folder and lndbayes compile cache (a
machine that never compiled an lndbayes model), builds each outcome's model as ``fit_panel``
does (without sampling) and compiles it with ``lndbayes.inference.compiled``. Prints the CPU
seconds per model and the Numba functions that took the most exclusive CPU (from Numba's
``numba:compile`` events) and how many Numba compiles each model took (deterministic: compare
these counts, not only seconds). Compare conditions within one run: timings on a shared 2-core
machine vary 2x with the load (benchmarks/results/compile.md, "Session 10: cold compile").

    .venv/bin/python benchmarks/bench_cold_compile.py                       # manager_coaching
    .venv/bin/python benchmarks/bench_cold_compile.py --outcomes all
    .venv/bin/python benchmarks/bench_cold_compile.py --outcomes compliance_training/violations
    .venv/bin/python benchmarks/bench_cold_compile.py --outcomes skills,chain/manager_coaching --data /tmp/x

Besides program/outcome, ``skills`` is the skill-gap model of the forecast (``run_forecast``'s
fit) and ``chain/<program>`` the program's Kirkpatrick-chain mediation model
(``kirkpatrick_chain``). Pass a private copy of the example with ``--data``
(``lndbayes simulate --out X/raw`` then ``lndbayes ingest --data X``): the skill forecast
prepares its inputs from the organisation's files.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DEFAULT = "manager_coaching/attrition_12m,manager_coaching/promotion_readiness,manager_coaching/engagement"


def worker(args) -> None:
    import collections

    from numba.core import event

    import lndbayes as lb
    from lndbayes import fitting
    from lndbayes.design.panel import build_panel
    from lndbayes.inference import compiled

    excl, count, stack = collections.Counter(), collections.Counter(), []

    class Listener(event.Listener):
        def on_start(self, e):
            d = e.data.get("dispatcher")
            stack.append([d.py_func.__qualname__ if d is not None else "?", time.process_time(), 0.0])

        def on_end(self, e):
            name, t0, child = stack.pop()
            dt = time.process_time() - t0
            excl[name] += dt - child
            count[name] += 1
            if stack:
                stack[-1][2] += dt

    event.register("numba:compile", Listener())

    class Built(Exception):
        pass

    captured = {}

    def capture(structure_key, build, data, **kw):  # fit_effects hands over the model builder
        captured["model"] = build()
        raise Built

    from lndbayes.inference import sampling

    fitting.inference.sample_with_retry = capture     # fit_panel and fit_mediation
    sampling.sample_with_retry = capture              # the skill-gap model (imports it at call time)
    org = lb.load_org(args.data) if args.data else lb.load_org()
    wanted = [tuple(x.split("/")) for x in args.outcomes.split(",")] if args.outcomes != "all" else [
        (p.id, o.id) for p in org.programs.programs.values() for o in p.outcomes]
    total = 0.0
    for item in wanted:
        try:
            if item == ("skills",):
                from lndbayes.skills.forecast import run_forecast

                run_forecast(org, 4, cache=False)
            elif item[0] == "chain":
                lb.kirkpatrick_chain(org, item[1], cache=False)
            else:
                lb.fit_panel(build_panel(org, *item), cache=False)
        except Built:
            pass
        label = "/".join(item)
        t0 = time.process_time()
        n0 = sum(count.values())
        c = compiled.compile_pymc_model(captured["model"])
        dt = time.process_time() - t0
        total += dt
        # the number of Numba compiles is deterministic where the seconds vary 20% run to run
        print(f"{label}: {dt:.1f} CPU-s, {sum(count.values()) - n0} Numba compiles, "
              f"log density loaded from disk: {bool(c.cache_hits)}", flush=True)
    print(f"total compile: {total:.1f} CPU-s, {sum(count.values())} Numba compiles "
          f"(lndbayes from {Path(lb.__file__).parent}); Numba functions by exclusive CPU:")
    for name, s in excl.most_common(args.top):
        print(f"  {s:6.2f} s  x{count[name]:3d}  {name}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--outcomes", default=DEFAULT, help="program/outcome,... or 'all'")
    ap.add_argument("--data", default=None, help="organisation folder (default: the example)")
    ap.add_argument("--top", type=int, default=15)
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        return worker(args)
    with tempfile.TemporaryDirectory(prefix="lndbayes-cold-") as tmp:
        env = {**os.environ, "PYTENSOR_FLAGS": f"base_compiledir={Path(tmp) / 'pytensor'}",
               "LNDBAYES_COMPILE_CACHE": str(Path(tmp) / "lndbayes"),
               "LNDBAYES_CACHE": str(Path(tmp) / "posteriors")}
        cmd = [sys.executable, __file__, "--worker", "--outcomes", args.outcomes,
               "--top", str(args.top)] + (["--data", args.data] if args.data else [])
        t0 = time.perf_counter()
        subprocess.run(cmd, env=env, check=True)
        print(f"wall {time.perf_counter() - t0:.1f} s (load {os.getloadavg()[0]:.1f})")


if __name__ == "__main__":
    main()

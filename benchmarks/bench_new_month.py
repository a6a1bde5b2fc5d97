"""Does a month of KPIs more reuse the compiled model? Fit one outcome of the example with its last
period dropped in one process, then whole in another, sharing one empty compile cache.

The second process should load the compiled model from disk (``loaded: True``) instead of
compiling: the graph holds period slots (lndbayes.models.graph.time_slots), not periods.

    .venv/bin/python benchmarks/bench_new_month.py [--program support_upskilling --outcome csat]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import tempfile
import time


def worker(program: str, outcome: str, drop_last: bool) -> None:
    import lndbayes as lb
    from lndbayes.design.panel import build_panel
    from lndbayes.inference import sampling

    panel = build_panel(lb.load_org(), program, outcome)
    d = panel.data
    periods = sorted(d["period"].astype(str).unique())
    if drop_last:
        panel = dataclasses.replace(panel, data=d[d["period"].astype(str) != periods[-1]])
    t0 = time.perf_counter()
    lb.fit_panel(panel, cache=False, draws=1000, tune=1000, chains=4, seed=0)
    print("RESULT " + json.dumps({
        "periods": len(periods) - drop_last, "fit_s": round(time.perf_counter() - t0, 2),
        "compiles": [{"loaded": c["loaded"], "seconds": round(c["seconds"], 2)}
                     for c in sampling.compile_log()]}), flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--program", default="support_upskilling")
    ap.add_argument("--outcome", default="csat")
    ap.add_argument("--worker", choices=["drop", "whole"])
    a = ap.parse_args()
    if a.worker:
        worker(a.program, a.outcome, a.worker == "drop")
        return
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "LNDBAYES_COMPILE_CACHE": cache}
        for which in ("drop", "whole"):
            out = subprocess.run([sys.executable, __file__, "--program", a.program, "--outcome",
                                  a.outcome, "--worker", which], env=env, capture_output=True,
                                 text=True, check=True).stdout
            res = json.loads(out.split("RESULT ", 1)[1])
            print(f"{which:5s} ({res['periods']} periods): fit {res['fit_s']} s, compiles "
                  f"{res['compiles']}  (1-min load {os.getloadavg()[0]:.1f})")


if __name__ == "__main__":
    main()

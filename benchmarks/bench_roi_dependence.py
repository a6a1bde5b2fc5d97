"""How much the ROI interval depends on pairing separately fitted outcomes as independent.

Each outcome is fitted on its own, so a program's monetised outcomes are added draw by draw as
if their effects were independent (lndbayes.roi). No joint fit exists to pair them, so this
script measures the other extreme on the example organisation: perfect positive correlation
(each outcome's benefit draws sorted and added rank by rank, ``roi.comonotonic_benefit``).
For every program with two or more monetised outcomes it fits each outcome at the report's
settings (seed 0, 1000 draws x 4 chains; the posterior cache is used when warm) on a private
copy of data/synthetic and prints the net benefit's and ROI's 90% intervals and P(ROI > 0)
both ways.

Run:  .venv/bin/python benchmarks/bench_roi_dependence.py [--draws 1000] [--chains 4]
(about 2-6 min on 2 shared cores when nothing is cached). Results are quoted in
docs/decisions.md ("Several monetised outcomes").
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--draws", type=int, default=1000)
    ap.add_argument("--tune", type=int, default=1000)
    ap.add_argument("--chains", type=int, default=4)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    import lndbayes as lb
    from lndbayes import roi as R
    from lndbayes.design.panel import build_panel
    from lndbayes.fitting import fit_panel
    from lndbayes.formatting import fmt_money_interval, fmt_pct, fmt_rel

    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "org"
        # a private copy: loading may write processed/ and the report runner must not see it
        shutil.copytree(ROOT / "data" / "synthetic", root)
        org = lb.load_org(root)
        cur = org.programs.organisation.currency
        for program in org.programs.programs.values():
            monetised = [o for o in program.outcomes if o.value_per_unit is not None
                         and o.id not in (program.roi.exclude if program.roi else [])]
            if len(monetised) < 2:
                continue
            panels, effects = {}, {}
            for o in monetised:
                panels[o.id] = build_panel(org, program.id, o.id)
                res = fit_panel(panels[o.id], seed=args.seed, draws=args.draws, tune=args.tune,
                                chains=args.chains)
                effects[o.id] = res.draws("average_effect_abs")
            pr = R.roi_for_program(org, program, panels, effects, currency=cur)
            dep = pr.dependence
            corr = np.corrcoef(list(pr.draws.by_outcome.values()))[0, 1]
            w_ind = pr.net_benefit.upper - pr.net_benefit.lower
            w_dep = dep["net_benefit"]["upper"] - dep["net_benefit"]["lower"]
            print(f"\n{program.id}: {', '.join(effects)} (draw-index correlation of the benefits {corr:+.3f})")
            print(f"  independent (shown):      net benefit {fmt_money_interval(pr.net_benefit.to_dict(), cur)}, "
                  f"ROI {fmt_rel(pr.roi.mean, pr.roi.lower, pr.roi.upper)}, P(ROI > 0) {fmt_pct(pr.p_roi_positive)}")
            print(f"  perfectly correlated:     net benefit {fmt_money_interval(dep['net_benefit'], cur)}, "
                  f"ROI {fmt_rel(dep['roi']['mean'], dep['roi']['lower'], dep['roi']['upper'])}, "
                  f"P(ROI > 0) {fmt_pct(dep['p_roi_positive'])}")
            print(f"  90% interval width: {w_ind:,.0f} -> {w_dep:,.0f} {cur} (x{w_dep / w_ind:.2f})")
    print(f"\n{time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()

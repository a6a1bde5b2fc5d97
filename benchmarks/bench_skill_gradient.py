"""The skill-gap model's log density and gradient: this code against another commit's model.

Sampling the skill model is ~all gradient evaluations (at 20,000 employees ~250,000 a fit), so
their cost is its speed. For one organisation this prepares the skill data once, builds the model
of this checkout and of ``--against REV``'s ``lndbayes/skills/model.py`` (the same data), checks
that both give the same gradient (and the same log density up to a constant) at random points,
and times one evaluation of both (median of 9 x 300, alternating). ``--fit`` also samples each
(4 chains x 1000 draws after the product's tuning steps, no retry, no cache; compiled first, the
two models alternating per ``--fit-seeds`` seed) and prints the seconds, the mean number of
leapfrog steps and the step size::

    .venv/bin/python benchmarks/bench_skill_gradient.py --against 2647cd7
    .venv/bin/python benchmarks/bench_skill_gradient.py --data /tmp/large --against 2647cd7 --fit --fit-seeds 1,2

(``--data``: an organisation folder, e.g. ``lndbayes simulate --preset large --out X/raw`` then
``lndbayes ingest --data X``; default the example.) Results: benchmarks/results/skill_gaps.md.
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))


def module_at(rev: str):
    """``lndbayes/skills/model.py`` as it was at ``rev``, imported as a module of its own."""
    src = subprocess.run(["git", "-C", str(HERE.parent), "show", f"{rev}:lndbayes/skills/model.py"],
                         check=True, capture_output=True, text=True).stdout
    path = Path(tempfile.mkdtemp(prefix="lndbayes-skill-model-")) / "skill_model_ref.py"
    path.write_text(src)
    spec = importlib.util.spec_from_file_location("skill_model_ref", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


def logp_and_gradient(mod, data):
    """The compiled log density and gradient of ``mod``'s model, built as nutpie builds them:
    PyMC's ``logp()``, the "canonicalize" and "stabilize" rewrites, then ``pt.grad``. (Before
    session 27 this timed the gradient of the unrewritten log density: PyMC builds each term on
    its own copy of the graph it reads, and without the rewrites' merge the gradient passes
    over shared terms once per copy, e.g. 620 instead of 535 us at 20,000 employees.)"""
    import pytensor
    import pytensor.tensor as pt
    from pytensor.graph import rewrite_graph

    model = mod.build_model(mod.model_inputs(data))
    logp = rewrite_graph(model.logp(), include=["canonicalize", "stabilize"])
    with pytensor.config.change_flags(numba__fastmath=False):   # as lndbayes samples
        f = pytensor.function(model.value_vars, [logp] + pt.grad(logp, model.value_vars), mode="NUMBA")
    return f, [v.name for v in model.value_vars], model.initial_point()


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default=None, help="organisation folder (default: the example)")
    ap.add_argument("--against", required=True, help="the commit whose skills/model.py to compare with")
    ap.add_argument("--fit", action="store_true", help="also sample both models once")
    ap.add_argument("--fit-seeds", default="0", help="sampler seeds of --fit, comma-separated: "
                    "the two models alternate, one fit each per seed")
    args = ap.parse_args(argv)
    import warnings

    warnings.filterwarnings("ignore")
    import lndbayes as lb
    from lndbayes.skills import model as this
    from lndbayes.skills.data import prepare

    data = prepare(lb.load_org(args.data) if args.data else lb.load_org())
    ref = module_at(args.against)
    (f_ref, names, point), (f_new, names_new, _) = logp_and_gradient(ref, data), logp_and_gradient(this, data)
    assert names == names_new, (names, names_new)
    rng = np.random.default_rng(1)
    offsets, grad_rel = [], 0.0
    for _ in range(5):
        x = [np.asarray(point[n]) + 0.3 * rng.standard_normal(np.shape(point[n])) for n in names]
        a, b = f_ref(*x), f_new(*x)
        offsets.append(float(b[0]) - float(a[0]))
        grad_rel = max(grad_rel, *(float(np.max(np.abs(g - h) / (1 + np.abs(g)))) for g, h in zip(a[1:], b[1:])))
    print(f"cells {len(data.cells):,}; gradient max relative difference {grad_rel:.1e}; log density "
          f"this - {args.against}: {min(offsets):+.6f} .. {max(offsets):+.6f} (a constant: same sampler)")
    x = [np.asarray(point[n]) + 0.01 for n in names]
    times = {args.against: [], "this": []}
    for _ in range(9):
        for label, f in ((args.against, f_ref), ("this", f_new)):
            t = time.perf_counter()
            for _ in range(300):
                f(*x)
            times[label].append((time.perf_counter() - t) / 300 * 1e6)
    for label, ts in times.items():
        print(f"{label}: {np.median(ts):.1f} us a log density + gradient (median of 9 x 300, alternating)")
    if args.fit:
        from lndbayes.inference.sampling import sample
        from lndbayes.skills.model import DEFAULT_SETTINGS

        models = []
        for label, mod in ((args.against, ref), ("this", this)):
            inputs = mod.model_inputs(data)
            key = f"bench-{label}|" + "|".join(f"{k}={v}" for k, v in sorted(inputs.sizes.items()))
            t = time.perf_counter()
            sample(key, lambda: mod.build_model(inputs), inputs.arrays, draws=10, tune=10, chains=4, seed=0)
            print(f"{label}: compiled in {time.perf_counter() - t:.1f} s")
            models.append((label, mod, inputs, key))
        for seed in map(int, args.fit_seeds.split(",")):
            for label, mod, inputs, key in models:        # alternating: both see the same load
                t = time.perf_counter()
                idata = sample(key, lambda: mod.build_model(inputs), inputs.arrays, draws=1000,
                               tune=DEFAULT_SETTINGS["tune"], chains=4, seed=seed)
                stats = idata["sample_stats"]
                print(f"{label}: seed {seed} fit {time.perf_counter() - t:.1f} s (4 x ({DEFAULT_SETTINGS['tune']} "
                      f"tuning + 1000 draws), {float(stats['n_steps'].mean()):.1f} leapfrog steps a draw, "
                      f"step size {float(stats['step_size'].mean()):.3f}", flush=True)


if __name__ == "__main__":
    main()

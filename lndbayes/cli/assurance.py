"""`lndbayes assurance`: how likely is a planned two-arm study to show that the program works?

Assurance = the probability, over a design prior for the true effect and the study's data,
that the finished study's posterior says P(effect in the good direction) > --threshold. Effects
are on the family's link scale: normal, outcome units; binary, log odds ratio; count, log rate
ratio; lognormal, log ratio. Give --teams for a team-clustered design (whole teams randomised;
--unit employee: people randomised within teams). Writes JSON with the assurance (and its Monte
Carlo standard error) per sample size, and the smallest sample that reaches --target.
Exit status 2 for bad input. Method: docs/experiment-design.md.
"""

from __future__ import annotations

import argparse
import math
import sys
import warnings
from pathlib import Path

import pandas as pd

from lndbayes.atomic import write_json
from lndbayes.cli._common import floats, ints, written
from lndbayes.errors import ModelInputError
from lndbayes.planning.assurance import DEFAULT_SIMS, SUPPORTED, assurance, smallest_sample_size


def configure(command: str, p) -> None:
    p.description = __doc__
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.add_argument("--family", default="normal",
                   help=f"outcome family: {', '.join(SUPPORTED)} (time_to_event and ordinal are not "
                        "supported) (default normal)")
    p.add_argument("--effect", type=float, required=True,
                   help="design prior mean of the effect, link scale, signed (normal: outcome units; "
                        "binary: log odds ratio, not a difference in probability: 0.2 -> 0.25 is "
                        "--effect 0.288; count: log rate ratio)")
    p.add_argument("--effect-sd", type=float, default=0.0,
                   help="design prior sd of the effect (0 = a point mass: assurance is then the "
                        "Bayesian power at --effect) (default 0)")
    p.add_argument("--n-per-arm", type=ints, required=True,
                   help="people per arm, comma-separated (e.g. 50,100,200); at least 2")
    p.add_argument("--outcome-sd", type=float, default=None,
                   help="normal/lognormal: sd of the outcome between people within a team "
                        "(lognormal: of the log outcome)")
    p.add_argument("--base-rate", type=float, default=None,
                   help="binary: control probability of the event within --base-months; count: "
                        "control events per person-month")
    p.add_argument("--overdispersion", type=float, default=0.0,
                   help="count: negative binomial overdispersion phi (variance mu + phi mu^2; 0 = "
                        "Poisson) (default 0)")
    p.add_argument("--teams", type=ints, default=None,
                   help="numbers of teams, comma-separated (e.g. 10,20,40); omit for a plain "
                        "two-arm study without teams")
    p.add_argument("--unit", choices=("team", "employee"), default="team",
                   help="with --teams: 'team' randomises whole teams (cluster design), 'employee' "
                        "people within each team (default team)")
    p.add_argument("--effect-sd-team", type=float, default=0.0,
                   help="between-team sd of the effect, link scale (default 0)")
    p.add_argument("--intercept-sd-team", type=float, default=0.0,
                   help="between-team sd of the outcome level, link scale (default 0)")
    p.add_argument("--durations", type=floats, default=None,
                   help="months the outcome is followed, comma-separated (count: exposure; binary: "
                        "event window; normal: months averaged) (default 12)")
    p.add_argument("--month-correlation", type=float, default=1.0,
                   help="normal: correlation of a person's monthly values; 1 makes the duration "
                        "irrelevant (default 1)")
    p.add_argument("--base-months", type=float, default=12.0,
                   help="binary: months the --base-rate refers to (default 12)")
    p.add_argument("--direction", choices=("increase", "decrease"), default="increase",
                   help="which way is good (default increase)")
    p.add_argument("--threshold", type=float, default=0.95,
                   help="success: posterior P(effect in the good direction) above this (default 0.95)")
    p.add_argument("--analysis-prior-mean", type=float, default=0.0,
                   help="mean of the analysis prior of the effect (default 0)")
    p.add_argument("--analysis-prior-sd", type=float, default=None,
                   help="sd of the analysis prior (default: the package's, outcome sd for normal, "
                        "1 otherwise; 'inf' for flat)")
    p.add_argument("--target", type=float, default=0.8,
                   help="assurance to reach: the JSON names the smallest sample that does (default 0.8)")
    p.add_argument("--sims", type=int, default=DEFAULT_SIMS,
                   help=f"simulated studies per design; Monte Carlo sd <= 0.5/sqrt(sims) (default {DEFAULT_SIMS})")
    p.add_argument("--seed", type=int, default=0,
                   help="random seed: the same inputs and seed give the same numbers (default 0)")
    p.add_argument("--find-n", action="store_true",
                   help="also search the smallest n per arm reaching --target by bisection (per "
                        "number of teams and duration), beyond the sizes listed")
    p.add_argument("--n-max", type=int, default=20000,
                   help="largest n per arm the --find-n search tries (default 20000)")
    p.add_argument("--out", type=Path, required=True, help="JSON file to write")
    p.add_argument("--figure", type=Path, default=None,
                   help="also save the assurance curve (PNG or SVG) here")
    p.set_defaults(func=_run)


def _run(args) -> int:
    if args.teams is None and args.unit == "employee":
        raise ModelInputError("--unit employee needs --teams. Fix: give the number of teams, or drop --unit")
    kw = dict(effect=args.effect, effect_sd=args.effect_sd, outcome_sd=args.outcome_sd,
              base_rate=args.base_rate, overdispersion=args.overdispersion, unit=args.unit,
              effect_sd_team=args.effect_sd_team, intercept_sd_team=args.intercept_sd_team,
              month_correlation=args.month_correlation, base_months=args.base_months,
              direction=args.direction, threshold=args.threshold,
              analysis_prior_mean=args.analysis_prior_mean,
              analysis_prior_sd=(math.inf if args.analysis_prior_sd is not None
                                 and math.isinf(args.analysis_prior_sd) else args.analysis_prior_sd),
              n_sims=args.sims, seed=args.seed)
    with warnings.catch_warnings():
        # a binary effect that looks like a probability difference: the same text is in
        # res.notes and printed once below, not once per call of the search
        warnings.simplefilter("ignore", UserWarning)
        res = assurance(args.family, n_per_arm=args.n_per_arm, teams=args.teams,
                        durations=args.durations, target=args.target, **kw)
        payload = res.to_dict()
        if args.find_n:
            payload["smallest_sample_search"] = [
                {"teams": t, "duration_months": d,
                 **smallest_sample_size(args.target, family=args.family, teams=t, durations=[d],
                                        n_max=args.n_max, **kw)}
                for t in (args.teams or [None]) for d in (args.durations or [12.0])]
    write_json(args.out, payload)
    cols = ["n_per_arm", "teams", "duration_months", "assurance", "mc_se"]
    tab = res.table[cols].copy()
    if tab["teams"].isna().all():
        tab = tab.drop(columns="teams")
    print(tab.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    for r in res.smallest().itertuples():
        where = (f"{int(r.teams)} teams, " if pd.notna(r.teams) else "") + \
                f"{r.duration_months:g} months"
        print(f"smallest n per arm reaching assurance {r.target:g} ({where}): "
              + (f"{r.n_per_arm} ({r.assurance:.3f})" if pd.notna(r.n_per_arm)
                 else "none of those tried: try larger samples"))
    for r in payload.get("smallest_sample_search", []):
        where = (f"{r['teams']} teams, " if r["teams"] is not None else "") + f"{r['duration_months']:g} months"
        print(f"search: smallest n per arm reaching assurance {r['target']:g} ({where}): "
              + (f"{r['n_per_arm']} ({r['assurance']:.3f} +- {r['mc_se']:.3f})" if r["reached"]
                 else f"not reached by {r['n_max']} ({r['assurance']:.3f})"))
    for n in res.notes:
        if n.startswith("WARNING: "):
            print(f"warning: {n[len('WARNING: '):]}", file=sys.stderr)
        else:
            print(f"note: {n}")
    if args.figure is not None:
        fig = res.plot()
        args.figure.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(args.figure, dpi=120, bbox_inches="tight")
        print(f"figure: {args.figure}")
    written(args.out)
    return 0

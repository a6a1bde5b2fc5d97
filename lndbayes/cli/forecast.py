"""`lndbayes forecast`: skill-gap forecast per team x skill x quarter (issue #14)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from lndbayes.atomic import write_json, write_text
from lndbayes.data.org import load_org
from lndbayes.formatting import fmt_pct
from lndbayes.skills.model import DEFAULT_SETTINGS


def _default(text: str) -> str:
    return f"{text} (default %(default)s)"


def configure(command: str, p) -> None:
    p.description = ("Forecast skill gaps for the next quarters: per team x skill x quarter, the "
                     "probability that the team's mean proficiency falls below its requirement, "
                     "the expected shortfall, and which programs would close the gap at what cost. "
                     "Teams with no assessments are listed as 'no data'.")
    p.add_argument("--data", metavar="ROOT", default=None,
                   help="data root holding raw/ (default: data/ or the example organisation)")
    p.add_argument("--horizon", type=int, default=4, metavar="Q",
                   help=_default("quarters to forecast after the last assessment's quarter"))
    p.add_argument("--out", metavar="DIR", default=None,
                   help="write forecast.csv, options.csv, gains.csv, rejected.csv and summary.json "
                        "there (default: print the ranked gaps only)")
    p.add_argument("--as-of", metavar="YYYY-MM-DD", default=None,
                   help="forecast from this date, using assessments up to it (default: the last assessment; "
                        "with --backtest: the cut, default 6 months before the last assessment's month end)")
    p.add_argument("--min-group", type=int, default=None, metavar="N",
                   help="hide team x skill rows about fewer people (default: privacy_min_group of programs.yaml)")
    p.add_argument("--backtest", action="store_true",
                   help="instead of forecasting: fit on all but the last 6 months of assessments, forecast "
                        "them and print interval coverage and Brier / log loss against the baselines")
    p.add_argument("--top", type=int, default=15, metavar="N", help=_default("ranked gaps printed"))
    p.add_argument("--draws", type=int, default=DEFAULT_SETTINGS["draws"], help=_default("posterior draws per chain"))
    p.add_argument("--tune", type=int, default=DEFAULT_SETTINGS["tune"], help=_default("tuning steps per chain"))
    p.add_argument("--chains", type=int, default=DEFAULT_SETTINGS["chains"], help=_default("chains"))
    p.add_argument("--seed", type=int, default=DEFAULT_SETTINGS["seed"], help=_default("random seed"))
    p.set_defaults(func=_run)


def _run(args) -> int:
    from lndbayes.skills.forecast import run_forecast

    org = load_org(args.data)
    if args.backtest:
        return _backtest(org, args)
    fc = run_forecast(org, args.horizon, as_of=args.as_of, min_group=args.min_group, seed=args.seed,
                      draws=args.draws, tune=args.tune, chains=args.chains)
    top = fc.ranked_gaps(top=args.top)
    print(f"Skill-gap forecast from {fc.as_of.date()} for {', '.join(sorted(fc.table['quarter'].dropna().unique()))} "
          f"({fc.seconds:.0f} s{', read back from the cache' if fc.from_cache else ''}; "
          f"sampler {'converged' if fc.diagnostics.get('converged') else 'FAILED its checks'}).")
    if len(top):
        show = pd.DataFrame({
            "team": top["team"], "skill": top["skill"], "quarter": top["quarter"],
            "P(gap)": top["p_gap"].map(fmt_pct), "shortfall": top["expected_shortfall"].map(lambda v: f"{v:.2f}"),
            "required": top["required_level"].map(lambda v: f"{v:.1f}"),
            "forecast": [f"{m:.2f} ({lo:.2f} to {hi:.2f})" for m, lo, hi in zip(top["mean"], top["lower"], top["upper"])],
            "program that closes it": top["best_program"].fillna("-")})
        print(show.to_string(index=False))
    nodata = fc.table[fc.table["status"] == "no data"][["team", "skill", "reason"]].drop_duplicates()
    if len(nodata):
        print(f"\nNo data ({len(nodata)} team x skill): " +
              "; ".join(f"{t} / {s if isinstance(s, str) else '(any skill)'}: {r}" for t, s, r in nodata.head(10).to_numpy()))
    if len(fc.rejected):
        print("\nRows set aside:\n" + fc.rejected.to_string(index=False))
    for note in fc.notes:
        print(f"Note: {note}")
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        write_text(out / "forecast.csv", fc.table.to_csv(index=False))
        write_text(out / "options.csv", fc.options.to_csv(index=False))
        write_text(out / "gains.csv", fc.gains.to_csv(index=False))
        write_text(out / "rejected.csv", fc.rejected.to_csv(index=False))
        write_json(out / "summary.json", fc.summary(), indent=2, default=str)
        print(f"\nWritten: {out}/forecast.csv, options.csv, gains.csv, rejected.csv, summary.json")
    return 0 if fc.diagnostics.get("converged") else 1


def _backtest(org, args) -> int:
    from lndbayes.skills.backtest import backtest

    bt = backtest(org, args.as_of, seed=args.seed, draws=args.draws, tune=args.tune, chains=args.chains)
    print(f"Backtest: fitted on assessments up to {bt.cut.date()}, forecast {bt.coverage['n']} held-out "
          f"team x skill means ({', '.join(sorted(bt.held['quarter'].unique()))}); {bt.seconds:.0f} s.")
    print(f"Coverage: 80% intervals {bt.coverage['80']:.1%}, 90% intervals {bt.coverage['90']:.1%}")
    print(bt.scores.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    print("Beats both baselines on Brier and log loss: " + ("yes" if bt.beats_baselines() else "NO"))
    if bt.planted:
        p = bt.planted
        print(f"Planted gaps: {p['planted_in_top_quarter']} of {p['planted']} in the top quarter (worst rank "
              f"{p['planted_worst_rank']} of {p['pairs']}); no-gap pairs flagged likely "
              f"{p['no_gap_likely_rate']:.1%}, possible {p['no_gap_flag_rate']:.1%}")
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        write_text(out / "backtest.csv", bt.held.to_csv(index=False))
        write_json(out / "backtest.json", bt.summary(), indent=2, default=str)
        print(f"Written: {out}/backtest.csv, backtest.json")
    return 0

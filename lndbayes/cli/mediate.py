"""`lndbayes mediate`: how much of a program's effect runs through a mediator (or a chain of
them: learning, then behaviour), from a CSV table with one row per person.

Writes a JSON with the rows `indirect`, `direct`, `total` and `proportion_mediated` (each with
mean, sd, 90% interval and P(> 0)), one `indirect_path` row per path for a chain, the model's
coefficients, the sensitivity analysis (the indirect effect as a function of rho, the
correlation of the mediator's and the outcome's errors) and the assumptions (docs/kirkpatrick.md).

Exit status: 0 when the fit converged, 1 when it did not (the JSON is written either way, with
`converged: false`), 2 for bad input (the message names the file, column and line, and the fix).
"""

from __future__ import annotations

from pathlib import Path

from lndbayes.cli._common import names, read_csv, sampler_options, sampler_settings, written
from lndbayes.mediation import fit_mediation


def _cmd(args) -> int:
    df = read_csv(args.data)
    res = fit_mediation(df, treatment=args.treatment, mediator=names(args.mediator),
                        outcome=args.outcome, covariates=names(args.covariates),
                        group=args.group, family=args.family, drop_missing=args.drop_missing,
                        source=Path(args.data).name, **sampler_settings(args))
    res.to_json(args.out)
    table = res.summary()[["estimand", "label", "mean", "lower", "upper", "p_gt_0"]]
    print(table.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    m = res.meta
    if m["n_dropped_rows"]:
        print(f"left out: {m['n_dropped_rows']} of {m['n_read']} rows with missing values "
              f"({', '.join(f'{k}: {v}' for k, v in m['dropped'].items())})")
    s = res.sensitivity
    if s:
        at = s["rho_at_zero"]
        print("sensitivity: the indirect effect is 0 at rho = "
              + (f"{at:.2f}" if at is not None else "no rho in (-1, 1)")
              + "; its 90% interval includes 0 for rho in "
              + (", ".join(f"[{lo:.2f}, {hi:.2f}]" for lo, hi in s["rho_where_interval_includes_0"])
                 or "none of the grid"))
    if res.row("proportion_mediated")["unstable"]:
        print("proportion mediated: unstable (the total effect's interval includes 0)")
    if not res.converged:
        print("NOT converged: " + " ".join(res.diagnostics().get("messages") or []))
    written(args.out)
    return 0 if res.converged else 1


def configure(command: str, p) -> None:
    p.description = __doc__
    p.add_argument("--data", required=True, help="CSV table, one row per person (or unit)")
    p.add_argument("--treatment", required=True,
                   help="0/1 column: 1 = in the program, 0 = control")
    p.add_argument("--mediator", required=True,
                   help="mediator column; several, comma-separated and in causal order, for a "
                        "chain (e.g. quiz_score,crm_activities: learning, then behaviour)")
    p.add_argument("--outcome", required=True, help="outcome column (the result, e.g. the KPI)")
    p.add_argument("--covariates", default="",
                   help="comma-separated columns measured before the program (e.g. baselines), "
                        "adjusted for in every equation (default: none)")
    p.add_argument("--group", default=None,
                   help="team column: intercepts vary by team, pooled across teams (omit: one "
                        "intercept per equation)")
    p.add_argument("--family", default="normal", choices=["normal", "binary"],
                   help="outcome family: normal (continuous) or binary (0/1, logit link, one "
                        "mediator; effects on the probability scale) (default normal)")
    p.add_argument("--drop-missing", action="store_true", dest="drop_missing",
                   help="leave out rows with a missing value in a named column (they are counted "
                        "in the output); without it such rows are an error that counts them")
    sampler_options(p)
    p.add_argument("--out", required=True, help="result JSON path (strict JSON, written atomically)")
    p.set_defaults(func=_cmd)

"""Balance of the arms on what was known before the program (baseline, team size, tenure)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from lndbayes.design.panel import Panel


def balance_table(panel: Panel) -> pd.DataFrame:
    """Arms compared on baseline outcome, team size and tenure (one row per unit).

    Columns: variable, mean_treated, mean_control, sd_treated, sd_control, n_treated,
    n_control, std_diff ((treated - control) / sqrt((sd_t^2 + sd_c^2) / 2)) and imbalanced
    (|std_diff| > 0.1, the usual rule of thumb).
    """
    u = panel.units
    if u is None or u.empty:
        d = panel.data
        u = d.groupby("unit", as_index=False).agg(treated=("treated", "max"),
                                                  baseline=("baseline", "first"), team=("team", "first"))
        u["team_size"] = u["team"].map(u.groupby("team").size()).astype(float)
        u["tenure_months"] = np.nan
    return pd.DataFrame([balance_row(var, u.loc[u["treated"] == 1, var], u.loc[u["treated"] == 0, var])
                         for var in ("baseline", "team_size", "tenure_months")])


def balance_row(var: str, treated, control) -> dict:
    """One row of a balance table: the arms' means, sds and counts of ``var`` and the
    standardised difference (shared with the experiment planner, lndbayes.planning)."""
    t = pd.to_numeric(pd.Series(treated), errors="coerce").dropna()
    c = pd.to_numeric(pd.Series(control), errors="coerce").dropna()
    mt, mc = (t.mean() if len(t) else np.nan), (c.mean() if len(c) else np.nan)
    st, sc = (t.std(ddof=1) if len(t) > 1 else np.nan), (c.std(ddof=1) if len(c) > 1 else np.nan)
    pooled = np.sqrt((np.nan_to_num(st) ** 2 + np.nan_to_num(sc) ** 2) / 2)
    diff = (mt - mc) / pooled if pooled > 0 else (0.0 if mt == mc else np.nan)
    return {"variable": var, "mean_treated": mt, "mean_control": mc, "sd_treated": st,
            "sd_control": sc, "n_treated": int(len(t)), "n_control": int(len(c)),
            "std_diff": diff, "imbalanced": bool(abs(diff) > 0.1) if pd.notna(diff) else False}

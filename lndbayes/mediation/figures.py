"""The sensitivity figure: the indirect effect against rho, as medsens' plot."""

from __future__ import annotations


def plot_sensitivity(result, ax=None):
    """Indirect effect (posterior mean, 90% band) as a function of rho; returns the Figure.

    The dashed line marks rho = 0 (the fitted model's assumption), the dotted one the rho at
    which the indirect effect's posterior mean is 0. ``result``: a MediationResult (also one
    read back from JSON: the curve is stored in ``result.sensitivity``).
    """
    import matplotlib.pyplot as plt

    s = result.sensitivity
    if not s:
        raise ValueError("this result has no sensitivity analysis (binary outcome)")
    if ax is None:
        fig, ax = plt.subplots(figsize=(6.0, 3.8))
    else:
        fig = ax.figure
    pct = int(round(100 * s.get("interval", 0.9)))
    ax.fill_between(s["rho"], s["indirect_lower"], s["indirect_upper"], color="#9ecae1",
                    alpha=0.6, label=f"{pct}% interval")
    ax.plot(s["rho"], s["indirect_mean"], color="#08519c", label="posterior mean")
    ax.axhline(0, color="black", linewidth=0.8)
    ax.axvline(0, color="grey", linestyle="--", linewidth=0.8, label="rho = 0 (as fitted)")
    if s.get("rho_at_zero") is not None:
        ax.axvline(s["rho_at_zero"], color="#cb181d", linestyle=":",
                   label=f"indirect = 0 at rho = {s['rho_at_zero']:.2f}")
    med = s.get("mediator") or "mediator"
    ax.set_xlabel(f"rho: correlation of the errors of '{med}' and the outcome")
    ax.set_ylabel("indirect effect")
    ax.set_title("Sensitivity to unmeasured mediator-outcome confounding", fontsize=10)
    ax.legend(fontsize=8, frameon=False)
    fig.tight_layout()
    return fig

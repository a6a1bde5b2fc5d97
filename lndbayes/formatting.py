"""How numbers read in a report: signs, decimals from the interval width, money, percentages.

Pure functions of plain numbers (no pandas, no plotting), shared by the analysis (the display
strings of summary.json) and the report views; it sits below both so that the analysis layer
never imports the presentation layer.
"""

from __future__ import annotations

import math

MINUS = "\u2212"
DASH = "\u2013"


def decimals_for(width: float, sig: int = 2) -> int:
    """Decimals that show ``sig`` significant digits of an interval ``width``."""
    if not width or not math.isfinite(width) or width <= 0:
        return 2
    return int(max(0, min(4, sig - 1 - math.floor(math.log10(width)))))


def fmt_num(x: float | None, decimals: int = 1, signed: bool = False) -> str:
    if x is None or not math.isfinite(float(x)):
        return "n/a"
    x = float(x)
    if round(x, decimals) == 0:
        x = 0.0
    s = f"{abs(x):,.{decimals}f}"
    sign = MINUS if x < 0 else ("+" if signed and x > 0 else "")
    return sign + s


def fmt_interval(mean, lower, upper, unit: str = "", decimals: int | None = None,
                 signed: bool = True) -> str:
    """``+4.1 pp (+2.2 to +6.0)``: decimals chosen from the interval width."""
    d = decimals_for(abs(upper - lower)) if decimals is None else decimals
    u = f" {unit}" if unit else ""
    return (f"{fmt_num(mean, d, signed)}{u} ({fmt_num(lower, d, signed)} to "
            f"{fmt_num(upper, d, signed)})")


def fmt_pct(p: float | None, signed: bool = False) -> str:
    if p is None or not math.isfinite(p):
        return "n/a"
    v = p * 100
    if not signed and v > 99:       # finite draws never prove certainty
        return ">99%"
    if not signed and v < 1:
        return "<1%"
    return fmt_num(v, 0, signed) + "%"


def fmt_rel(mean: float, lower: float, upper: float) -> str:
    """A relative change and its interval in whole percent: ``-31% (-52% to -8%)``."""
    return (f"{fmt_num(mean * 100, 0, True)}% ({fmt_num(lower * 100, 0, True)}% to "
            f"{fmt_num(upper * 100, 0, True)}%)")


def fmt_money(x: float | None, currency: str = "EUR", signed: bool = False) -> str:
    if x is None or not math.isfinite(x):
        return "n/a"
    a = abs(x)
    sign = MINUS if x < 0 else ("+" if signed and x > 0 else "")
    if a >= 1e6:
        body = f"{a / 1e6:,.2f} million"
    elif a >= 1e4:
        body = f"{a / 1e3:,.0f}k"
    else:
        body = f"{a:,.0f}"
    return f"{sign}{currency} {body}"


def fmt_money_interval(b: dict, currency: str) -> str:
    return (f"{fmt_money(b['mean'], currency)} ({fmt_money(b['lower'], currency)} to "
            f"{fmt_money(b['upper'], currency)})")


def fmt_int(v) -> str:
    return f"{int(v):,}"

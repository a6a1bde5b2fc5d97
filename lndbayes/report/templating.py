"""The Jinja2 environment of the report templates (package data: templates/*.html.j2, report.css).

Light on purpose (no pandas, no matplotlib): the portfolio page renders through it on the
no-op path of ``lndbayes report``.
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files

from jinja2 import Environment, PackageLoader, select_autoescape

from lndbayes import INTERVAL

INTERVAL_SENTENCE = (f"All intervals are {INTERVAL:.0%} equal-tailed posterior intervals: "
                     f"the effect lies inside with {INTERVAL:.0%} probability, given the model "
                     "and the data.")


@cache
def _env() -> Environment:
    return Environment(loader=PackageLoader("lndbayes.report", "templates"),
                       autoescape=select_autoescape(["j2"]), trim_blocks=True, lstrip_blocks=True)


def css() -> str:
    return files("lndbayes.report").joinpath("templates/report.css").read_text(encoding="utf-8")


def render(template: str, **context) -> str:
    return _env().get_template(template).render(css=css(), interval_sentence=INTERVAL_SENTENCE, **context)



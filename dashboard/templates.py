"""The dashboard's plain HTML pages (login, report): Jinja2 templates with autoescape on, so no
value reaches the page unescaped and no page escapes by hand."""

from __future__ import annotations

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

TEMPLATES = Environment(
    loader=PackageLoader("dashboard", "templates"),
    autoescape=select_autoescape(["html"]),
    undefined=StrictUndefined,  # a misspelt name fails the test, not the page
)


def render(name: str, **values: object) -> str:
    return TEMPLATES.get_template(name).render(**values)

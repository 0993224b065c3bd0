"""How the rules word their messages: a profile template filled in, numbers as shown."""

from __future__ import annotations

from vitals.vital_signs import SIGNS


def render(template: str, **fields: str) -> str:
    """`template` filled in; a placeholder it names but the rule does not give is left blank."""
    return template.format(**{**_BLANKS, **fields})


def format_number(number: float | None) -> str:
    """At most one decimal, no trailing zeros; "-" where there is no number."""
    if number is None:
        return "-"
    return f"{round(number, 1):g}"


KIND_WORDS = {kind: sign.words for kind, sign in SIGNS.items()}  # how a message names a stream
_BLANKS = {
    "label": "", "value": "", "unit": "", "limit": "", "baseline": "", "offset": "",
    "seconds": "", "cadence": "", "kind": "", "problems": "", "source": "",
}

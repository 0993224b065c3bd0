"""Every text colour of `dashboard.css` on the background it is drawn on meets WCAG 2.x AA:
4.5:1 for normal text, 3:1 for large (24 px, or 18.66 px bold). Pure: the stylesheet is parsed
(tinycss2), its custom properties resolved, and the ratio computed as WCAG defines it.

A rule that sets both a text colour and a background is checked by itself. A rule that sets
only a text colour is drawn on backgrounds set elsewhere: `DRAWN_ON` names them, and a text
colour missing from it fails, so a new grey cannot slip in unchecked."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import pytest
import tinycss2
import tinycss2.color3

from vitals.vital_signs import VITAL_SIGNS

CSS: Final = Path(__file__).resolve().parents[2] / "dashboard" / "assets" / "dashboard.css"
AA_NORMAL: Final = 4.5
AA_LARGE: Final = 3.0


@dataclass(frozen=True)
class Rule:
    selector: str
    declarations: Mapping[str, str]


def rules(css: str) -> Iterator[Rule]:
    """The style rules on screen, those inside @media too (not @keyframes: their colours are
    tested as the backgrounds they flash to)."""
    def walk(nodes: list) -> Iterator[Rule]:
        for node in nodes:
            if node.type == "qualified-rule":
                declarations = {d.name: tinycss2.serialize(d.value).strip()
                                for d in tinycss2.parse_blocks_contents(
                                    node.content, skip_whitespace=True, skip_comments=True)
                                if d.type == "declaration"}
                yield Rule(tinycss2.serialize(node.prelude).strip(), declarations)
            elif (node.type == "at-rule" and node.lower_at_keyword == "media"
                  and "print" not in tinycss2.serialize(node.prelude)):
                # Paper is black on white (`@media print`): the screen's pairs are what's tested.
                yield from walk(tinycss2.parse_rule_list(node.content, skip_whitespace=True,
                                                          skip_comments=True))
    yield from walk(tinycss2.parse_stylesheet(css, skip_whitespace=True, skip_comments=True))


STYLESHEET: Final = tuple(rules(CSS.read_text()))
CUSTOM: Final = {name: value for rule in STYLESHEET if rule.selector == ":root"
                 for name, value in rule.declarations.items() if name.startswith("--")}
VAR: Final = re.compile(r"var\(\s*(--[\w-]+)\s*(?:,\s*([^()]*))?\)")


def colour(value: str | None) -> tuple[float, float, float] | None:
    """An opaque colour's sRGB (0-1), custom properties resolved; None for anything else."""
    if value is None:
        return None
    while (found := VAR.search(value)) is not None:
        value = value[:found.start()] + CUSTOM.get(found.group(1), found.group(2) or "") \
            + value[found.end():]
    parsed = tinycss2.color3.parse_color(value.strip())
    if parsed is None or isinstance(parsed, str) or parsed.alpha < 1:
        return None
    return parsed.red, parsed.green, parsed.blue


def luminance(rgb: tuple[float, float, float]) -> float:
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in rgb]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def ratio(a: tuple[float, float, float], b: tuple[float, float, float]) -> float:
    light, dark = sorted((luminance(a), luminance(b)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def declared(selector: str, name: str) -> str | None:
    """The last value of `name` set by the rule(s) with exactly this selector."""
    values = [r.declarations[name] for r in STYLESHEET
              if r.selector == selector and name in r.declarations]
    return values[-1] if values else None


def background(selector: str) -> str | None:
    return declared(selector, "background-color") or declared(selector, "background")


# Backgrounds, by the rule that paints them.
PAGE = "html, body"
HEADER = ".header"
TILE = ".tile"
HIGH_FLASH = ".tile--high"  # also the reduced-motion steady fill: the flash's darker frame
MEDIUM_FLASH = ".tile--medium"
ALARM_ROW = ".alarm"
DISCLAIMER = ".disclaimer"

# A text colour set without a background -> the backgrounds it is drawn on, and whether it is
# large text (3:1).
DRAWN_ON: Final[Mapping[str, tuple[tuple[str, ...], bool]]] = {
    "html, body": ((PAGE,), False),
    ".tile": ((TILE, HIGH_FLASH, MEDIUM_FLASH), False),
    ".nav-link": ((HEADER,), False),
    ".profile": ((HEADER,), False),
    ".user": ((HEADER,), False),
    ".disclaimer": ((DISCLAIMER,), False),
    ".status-line": ((PAGE,), False),
    ".muted": ((PAGE, TILE), False),
    ".tile-dose": ((TILE, HIGH_FLASH, MEDIUM_FLASH), False),
    ".tile-alarm--none": ((TILE,), False),
    ".vital-label .unit": ((TILE, HIGH_FLASH, MEDIUM_FLASH), False),
    ".vital-age": ((TILE, HIGH_FLASH, MEDIUM_FLASH), False),
    ".vital--stale .vital-value, .vital--stale .vital-label": (
        (TILE, HIGH_FLASH, MEDIUM_FLASH), False),
    ".vital--stale .vital-age": ((TILE, HIGH_FLASH, MEDIUM_FLASH), False),
    ".empty-hint": ((PAGE, TILE), False),
    ".session-clock": ((PAGE,), False),
    ".table th": ((PAGE, ".panel"), False),
    ".prio--high": ((ALARM_ROW, PAGE), False),
    ".prio--medium": ((ALARM_ROW, PAGE), False),
    ".prio--low": ((ALARM_ROW, PAGE), False),
    ".error": ((PAGE, ".panel"), False),
    ".login-error": ((PAGE,), False),
    ".user-disabled": ((PAGE,), False),
    ".users-form .dash-options-list-option": ((PAGE,), False),
    ".sound-status": ((PAGE,), False),
    ".alarms-none": ((PAGE,), False),
    ".alarm-metric": ((ALARM_ROW,), False),
    ".alarm-age": ((ALARM_ROW,), False),
    ".alarm-acked": ((ALARM_ROW,), False),
    ".feedback": ((PAGE,), False),
    ".verdict": ((".panel",), True),
    ".verdict--go": ((".panel",), True),
    ".verdict--caution": ((".panel",), True),
    ".verdict--no_go": ((".panel",), True),
    ".verdict--pending": ((".panel",), True),
    ".override": ((".panel",), False),
    ".cue--overdue": ((".panel",), False),
    ".discharge-head": ((".panel",), False),
    ".discharge-head--ready": ((".panel",), False),
    ".criterion--unmet": ((".panel",), False),
    ".reminder": ((".panel",), False),
    ".check-list label, .check-item": ((".panel",), False),
    ".export-link": ((PAGE, ".panel"), False),
    ".checkin--fresh": ((TILE, ".panel"), False),
    ".checkin--waiting, .checkin--inactive": ((TILE, ".panel"), False),
    ".severity-choice label, .severity-option": ((".panel",), False),
    ".observation-row--severe td": ((".panel",), False),
    ".observation-row--retracted td": ((".panel",), False),
    ".discharge-head--override": ((".panel",), False),
    ".notified-time": ((".panel",), False),
    ".notified-ok": ((".panel",), False),
    ".notified-failed": ((".panel",), False),
    ".hidden-sessions": ((PAGE,), False),
    ".wall-status": ((PAGE,), False),
    ".shortcuts-hint": ((PAGE,), False),
    ".wall-age": ((PAGE,), False),
    ".wall-heartbeat--stale .wall-age": ((".wall-heartbeat--stale",), False),
    ".alarms-summary--high": ((PAGE,), False),
    ".alarms-summary--medium": ((PAGE,), False),
    ".alarms-summary--low": ((PAGE,), False),
    ".forbidden-reason": ((PAGE,), False),
    ".forbidden a": ((PAGE,), False),
}

# Colours that are not a text colour of their own: inherited, a vital sign's or a value in
# alarm's (both below).
NOT_A_COLOUR: Final = ("inherit", "currentcolor", "transparent")


def _text_rules() -> Iterator[Rule]:
    for rule in STYLESHEET:
        value = rule.declarations.get("color")
        if value is not None and value.lower() not in NOT_A_COLOUR and not any(
                own in value for own in ("--vital", "--alarm")):
            yield rule


def _large(rule: Rule) -> bool:
    """WCAG's large text: 24 px (1.5rem), or 18.66 px (~1.17rem) bold."""
    size = re.fullmatch(r"([\d.]+)rem", rule.declarations.get("font-size", ""))
    rem = float(size.group(1)) if size else 1.0
    bold = rule.declarations.get("font-weight", "400") in ("700", "800", "900", "bold")
    return rem >= 1.5 or (bold and rem >= 18.66 / 16)


def _pairs() -> Iterator[tuple[str, str, str, float]]:
    """(what, text colour, background, required ratio) for every text colour; what says on
    which rule's background."""
    for rule in _text_rules():
        own = background(rule.selector) if rule.selector in DRAWN_ON else \
            rule.declarations.get("background-color") or rule.declarations.get("background")
        required = AA_LARGE if _large(rule) else AA_NORMAL
        if rule.selector in DRAWN_ON:
            on, large = DRAWN_ON[rule.selector]
            for where in on:
                yield f"{rule.selector} on {where}", rule.declarations["color"], \
                    background(where) or "", AA_LARGE if large or _large(rule) else AA_NORMAL
        elif own is not None:
            yield rule.selector, rule.declarations["color"], own, required
    # A vital sign's colour (the registry's) on a tile: its label is normal text.
    for sign in VITAL_SIGNS:
        for measure in sign.measures:
            for where in (TILE, HIGH_FLASH, MEDIUM_FLASH):
                yield f"{measure.short} on {where}", measure.colour, background(where) or "", \
                    AA_NORMAL


PAIRS: Final = tuple(_pairs())

# Acknowledged alarms are drawn at reduced opacity, text and background together, over what is
# behind them: (the rule that sets the opacity, a text rule inside it, the rule that paints the
# background the text is on, the rule that paints what is behind).
FADED: Final = (
    (".tile-alarm--acked", ".tile-alarm--high", ".tile-alarm--high", TILE),
    (".tile-alarm--acked", ".tile-alarm--medium", ".tile-alarm--medium", TILE),
    (".tile-alarm--acked", ".tile-alarm--low", ".tile-alarm--low", TILE),
    *((".alarm--acked", text, ALARM_ROW, PAGE) for text in (
        ".prio--high", ".prio--medium", ".prio--low", ".alarm-metric", ".alarm-age",
        ".alarm-acked", "html, body")),  # the page's text: the alarm's message
)


def _faded(fading: str, text: str, back: str, under: str
           ) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """The text's colour and its background's as seen through `fading`'s opacity."""
    alpha = float(declared(fading, "opacity") or 1)
    behind = colour(background(under))
    return tuple(tuple(alpha * c + (1 - alpha) * u for c, u in zip(rgb, behind, strict=True))
                 for rgb in (colour(declared(text, "color")), colour(background(back))))


def test_every_text_colour_set_without_a_background_names_the_backgrounds_it_is_on():
    unnamed = [r.selector for r in _text_rules()
               if r.selector not in DRAWN_ON and colour(r.declarations.get("background-color")
                                                         or r.declarations.get("background"))
               is None]
    assert unnamed == []


def test_every_background_named_is_a_colour_of_the_stylesheet():
    for on, _large_text in DRAWN_ON.values():
        for where in on:
            assert colour(background(where)) is not None, where


@pytest.mark.parametrize(("what", "text", "behind", "required"), PAIRS,
                         ids=[p[0] for p in PAIRS])
def test_text_meets_wcag_aa_on_its_background(what, text, behind, required):
    foreground, back = colour(text), colour(behind)
    assert foreground is not None and back is not None, (text, behind)
    assert ratio(foreground, back) >= required, (
        f"{what}: {text} on {behind} is {ratio(foreground, back):.2f}:1, AA needs {required}:1")


@pytest.mark.parametrize(("a", "b", "expected"), [
    ("#000", "#fff", 21.0),  # WCAG's extremes
    ("#fff", "#fff", 1.0),
    ("#767676", "#fff", 4.54),  # the lightest grey passing AA on white
    ("#fff", "#ef4444", 3.76),  # the alarm red that failed behind white text
])
def test_the_ratio_is_wcags(a, b, expected):
    assert ratio(colour(a), colour(b)) == pytest.approx(expected, abs=0.01)


@pytest.mark.parametrize(("fading", "text", "back", "under"), FADED,
                         ids=[f"{f[1]} faded by {f[0]}" for f in FADED])
def test_an_acknowledged_alarms_faded_text_still_meets_wcag_aa(fading, text, back, under):
    seen, behind = _faded(fading, text, back, under)
    assert float(declared(fading, "opacity")) < 1
    assert ratio(seen, behind) >= AA_NORMAL, (
        f"{text} faded by {fading}: {ratio(seen, behind):.2f}:1, AA needs {AA_NORMAL}:1")


# A value in alarm on its tile: in its priority's colour, on an 18 % wash of that colour over
# the tile's background (`.vital.vital--alarm .vital-value`), on every background its tile can
# have: a tile flashes in its most urgent alarm's colour, so a high value never stands on the
# medium flash.
ALARMED_VALUE: Final = (
    ("high", TILE), ("high", HIGH_FLASH),
    *((priority, where) for priority in ("medium", "low")
      for where in (TILE, HIGH_FLASH, MEDIUM_FLASH)))


@pytest.mark.parametrize(("priority", "where"), ALARMED_VALUE,
                         ids=[f"{p} value on {w}" for p, w in ALARMED_VALUE])
def test_a_value_in_alarm_meets_wcag_aa_on_its_wash(priority, where):
    rule = declared(f".vital--alarm-{priority}", "--alarm")
    assert rule == f"var(--{priority})"
    wash = re.search(r"var\(--alarm\)\s+(\d+)%", declared(".vital.vital--alarm .vital-value",
                                                         "background"))
    text, tile = colour(rule), colour(background(where))
    share = int(wash.group(1)) / 100
    behind = tuple(share * t + (1 - share) * b for t, b in zip(text, tile, strict=True))
    assert ratio(text, behind) >= AA_NORMAL, (
        f"{priority} value on {where}: {ratio(text, behind):.2f}:1, AA needs {AA_NORMAL}:1")

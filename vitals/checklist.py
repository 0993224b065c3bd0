"""The pre-session checklist: what is confirmed and what contraindicates, as data, and how a
recorded `checklist` session event's note reads (pure; the dashboard draws the form, the session
status turns the findings into the one protocol verdict, `vitals.sessions.protocol_verdict`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final


@dataclass(frozen=True, slots=True)
class ChecklistItem:
    key: str  # short, goes into the stored note (which is at most 500 characters)
    label: str


# Session guidelines to confirm before dosing (clinical guidance, do-not-proceed conditions).
GUIDELINES: Final[tuple[ChecklistItem, ...]] = (
    ChecklistItem("antihypertensives", "Usual antihypertensives taken"),
    ChecklistItem("no-benzo-stim-24h", "No benzodiazepines or stimulants in the last 24 h"),
    ChecklistItem("fasted", "No solid food for 3 h, no liquids for 1 h"),
    ChecklistItem("no-alcohol", "No alcohol"),
    ChecklistItem("monitor-present", "A trained monitor is present for the whole session"),
)
# Contraindications: any one of them is do-not-proceed.
CONTRAINDICATIONS: Final[tuple[ChecklistItem, ...]] = (
    ChecklistItem("uncontrolled-hypertension", "Uncontrolled hypertension"),
    ChecklistItem("heart-disease", "Serious heart disease (recent infarction, failure, "
                  "aneurysm or vascular malformation)"),
    ChecklistItem("breathing", "Severe breathing problems"),
    ChecklistItem("raised-pressure", "Raised intraocular or intracranial pressure"),
    ChecklistItem("hyperthyroidism", "Hyperthyroidism"),
    ChecklistItem("pregnancy", "Pregnancy"),
    ChecklistItem("psychosis", "Psychosis or mania"),
    ChecklistItem("ketamine-allergy", "Allergy to ketamine or esketamine"),
)
CHECKLIST_PREFIX: Final = "checklist v1"


def checklist_note(confirmed: Sequence[str], present: Sequence[str]) -> str:
    """The checklist as answered, as the text of a `checklist` session event."""
    done = [i.key for i in GUIDELINES if i.key in confirmed]
    unconfirmed = [i.key for i in GUIDELINES if i.key not in confirmed]
    found = [i.key for i in CONTRAINDICATIONS if i.key in present]
    return (f"{CHECKLIST_PREFIX}; confirmed: {','.join(done) or '-'}"
            f"; not confirmed: {','.join(unconfirmed) or '-'}"
            f"; contraindications: {','.join(found) or 'none'}")


@dataclass(frozen=True, slots=True)
class ChecklistAnswers:
    """A recorded checklist as labels a reader understands (the note stores keys)."""

    confirmed: tuple[str, ...]
    not_confirmed: tuple[str, ...]
    contraindications: tuple[str, ...]


def checklist_answers(note: str | None) -> ChecklistAnswers | None:
    """The answers of a `checklist` event's note, as labels (None: not a checklist note)."""
    if not note or not note.startswith(CHECKLIST_PREFIX):
        return None
    parts = dict(
        (p.split(":", 1)[0].strip(), p.split(":", 1)[1].strip())
        for p in note.split(";")[1:] if ":" in p
    )
    labels = {i.key: i.label for i in (*GUIDELINES, *CONTRAINDICATIONS)}

    def named(part: str, nothing: str) -> tuple[str, ...]:
        keys = (k.strip() for k in parts.get(part, nothing).split(","))
        return tuple(labels.get(k, k) for k in keys if k and k != nothing)

    return ChecklistAnswers(named("confirmed", "-"), named("not confirmed", "-"),
                            named("contraindications", "none"))


def checklist_findings(note: str | None) -> tuple[str, ...]:
    """What a recorded checklist says against proceeding (empty: nothing)."""
    answers = checklist_answers(note)
    if answers is None:
        return ()
    return (*(f"contraindication: {label}" for label in answers.contraindications),
            *(f"not confirmed: {label}" for label in answers.not_confirmed))

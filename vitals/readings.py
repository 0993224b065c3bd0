"""The messages of the MQTT input, as values: readings, session events, observations and their
retractions, acknowledgements, delivery reports and rejections; the topics they come on; and the
limits a message keeps.

`vitals.parser.parse` makes one of these of each MQTT message. Nothing here does I/O.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Final

from vitals.vital_signs import Kind, Metric

SESSION_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
DEVICE_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")

MAX_PAYLOAD_BYTES: Final = 16 * 1024
MAX_JSON_DEPTH: Final = 4
MAX_NOTE_CHARS: Final = 500
# A session's display label (room, chair, initials) as a start names it: short enough for a tile.
MAX_LABEL_CHARS: Final = 40
MAX_BY_CHARS: Final = 64  # who recorded or acknowledged: a dashboard user or a device id
MAX_SESSION_DEVICES: Final = 8  # the devices a `start` may name
REJECTED_PAYLOAD_CHARS: Final = 512
# A measurement cannot come from the future. A time further ahead of its receipt than this is a
# wrong (or hostile) clock: trusted, it would move its stream's clock ahead and hold off the
# stream's "no reading" alarm. The receive time is used instead, flagged `time_inferred`. Within
# the bound (clocks a few seconds apart) the stated time stands; a stream leads by at most this.
MAX_TIME_AHEAD: Final = timedelta(seconds=5)


class SessionEventType(StrEnum):
    """The session protocol (`start`, `dose`, `end`) and the audit trail recorded beside it."""

    START = "start"
    DOSE = "dose"
    END = "end"
    NOTE = "note"  # a free-text note by the monitor or clinician
    CHECKLIST = "checklist"  # the pre-session checklist as answered (in `note`)
    OVERRIDE = "override"  # a no-go verdict overridden; `note` holds the written reason
    SIGNOFF = "signoff"  # clinician's discharge sign-off
    CHECKIN = "checkin"  # the monitor confirms presence (issue 8); a missed one is a data alarm


class DeviceProblem(StrEnum):
    """Measurement problems a device reports about its own reading (technical, not clinical)."""

    BODY_MOVEMENT = "body_movement"
    CUFF_LOOSE = "cuff_loose"
    IRREGULAR_PULSE = "irregular_pulse"
    PULSE_RATE_RANGE = "pulse_rate_range"
    IMPROPER_POSITION = "improper_position"
    SENSOR_CONTACT = "sensor_contact"
    MEASUREMENT_ERROR = "measurement_error"


class ObservationKind(StrEnum):
    """What a monitor can observe but no cuff can measure; the `observation` payload's value."""

    ANXIETY = "anxiety"
    BLURRED_VISION = "blurred_vision"
    CONFUSION = "confusion"
    NAUSEA = "nausea"
    VOMITING = "vomiting"
    RESTLESSNESS = "restlessness"
    SLURRED_SPEECH = "slurred_speech"
    EXCITABILITY = "excitability"
    NYSTAGMUS = "nystagmus"
    ALTERED_TIME_SENSE = "altered_time_sense"
    SYNESTHESIA = "synesthesia"
    DIMINISHED_SENSES = "diminished_senses"
    SEDATION = "sedation"
    DISSOCIATION = "dissociation"
    RESPIRATORY_DEPRESSION = "respiratory_depression"


OBSERVATION_LABELS: Final[Mapping[ObservationKind, str]] = {
    ObservationKind.ANXIETY: "Anxiety",
    ObservationKind.BLURRED_VISION: "Blurred vision",
    ObservationKind.CONFUSION: "Mental confusion",
    ObservationKind.NAUSEA: "Nausea",
    ObservationKind.VOMITING: "Vomiting",
    ObservationKind.RESTLESSNESS: "Restlessness",
    ObservationKind.SLURRED_SPEECH: "Slurred speech",
    ObservationKind.EXCITABILITY: "Excitability",
    ObservationKind.NYSTAGMUS: "Nystagmus",
    ObservationKind.ALTERED_TIME_SENSE: "Altered sense of time",
    ObservationKind.SYNESTHESIA: "Synesthesia",
    ObservationKind.DIMINISHED_SENSES: "Diminished ability to see, hear or feel",
    ObservationKind.SEDATION: "Sedation",
    ObservationKind.DISSOCIATION: "Dissociation",
    ObservationKind.RESPIRATORY_DEPRESSION: "Respiratory depression",
}


class Severity(StrEnum):
    """How marked an observation is; `none` records that it was looked for and not seen."""

    NONE = "none"
    MILD = "mild"
    MODERATE = "moderate"
    SEVERE = "severe"

    @property
    def rank(self) -> int:
        return _SEVERITY_RANK[self.value]


_SEVERITY_RANK: Final = {"none": 0, "mild": 1, "moderate": 2, "severe": 3}


@dataclass(frozen=True, slots=True)
class Reading:
    """One validated measurement. `values` holds floats under the payload's field names."""

    session: str
    kind: Kind
    time: datetime  # aware, UTC, microsecond resolution
    values: Mapping[str, float]
    device: str | None = None
    # The ingest's receive time was used: no `time` in the payload, or one too far ahead of it.
    time_inferred: bool = False
    problems: tuple[DeviceProblem, ...] = ()

    def __getitem__(self, name: str) -> float:
        return self.values[name]


@dataclass(frozen=True, slots=True)
class SessionEvent:
    session: str
    event: SessionEventType
    time: datetime
    time_inferred: bool = False
    note: str | None = None
    by: str | None = None  # who recorded it (dashboard user, device id), if known
    # A `start` may name the devices that feed the session: others are refused (vitals.admission).
    devices: tuple[str, ...] = ()
    # A `start` may carry a display label for people ("Chair 3 · AB"): never patient identity.
    label: str | None = None


@dataclass(frozen=True, slots=True)
class Observation:
    """Something the monitor observed (`<prefix>/<session>/observation`), with who and when.

    Identity (session, observation, by, time): recording it again overwrites.
    """

    session: str
    time: datetime
    observation: ObservationKind
    severity: Severity
    note: str | None = None
    by: str | None = None
    time_inferred: bool = False
    # Marked "entered in error" (an `ObservationRetraction`), as the store reads it back.
    retracted_by: str | None = None
    retracted_at: datetime | None = None

    @property
    def label(self) -> str:
        return OBSERVATION_LABELS[self.observation]


@dataclass(frozen=True, slots=True)
class ObservationRetraction:
    """An observation marked "entered in error" (`{"retract": {...}}` on the observation topic).

    Never a deletion: the observation stays in the record, marked; an alarm it raised stays
    until acknowledged. It names the observation by its kind and time in the session.
    """

    session: str
    time: datetime  # when it was retracted
    observation: ObservationKind
    observed_at: datetime  # the retracted observation's `time`
    by: str


@dataclass(frozen=True, slots=True)
class Rejection:
    """A message refused with a reason; published on `<prefix>/<session>/rejected`."""

    topic: str
    reason: str
    payload: str  # decoded leniently and truncated, for a person to read
    time: datetime
    session: str | None = None  # when the topic named a valid session


@dataclass(frozen=True, slots=True)
class Acknowledgement:
    """Someone watching the session acknowledged its alarm for a metric (from the dashboard).

    It travels over MQTT (`<prefix>/<session>/ack`) so the ingest, the one writer of alert
    events, applies it to the alarm state and stores the audit event.
    """

    session: str
    metric: str  # a `vitals.alerts.Metric` value, checked by the parser
    by: str
    time: datetime
    note: str | None = None
    # For `data`: the technical alarm's rule (e.g. `data.stream_silent.hr`); without it every
    # technical alarm of the session is acknowledged.
    rule: str | None = None


@dataclass(frozen=True, slots=True)
class DeliveryReport:
    """How one notification about the session's alarm went on one channel (from the notifier,
    `<prefix>/<session>/delivery`): the ingest makes a failure a technical alarm of the session,
    as the only writer of alert events."""

    session: str
    time: datetime
    person: str
    channel: str  # the Apprise URL's scheme, never its credentials
    delivered: bool
    error: str | None = None


Parsed = (Reading | SessionEvent | Observation | ObservationRetraction | Acknowledgement
          | DeliveryReport | Rejection)

ALARM_METRICS: Final = tuple(metric.value for metric in Metric)


@dataclass(frozen=True, slots=True)
class Topic:
    """A topic as `vitals.parser.parse_topic` reads it: `<prefix>/<session>/<leaf>`, where a
    reading's leaf is its `Kind` (or `gatt`, with the characteristic, for raw GATT values)."""

    session: str
    leaf: str
    characteristic: str | None = None  # `gatt` topics: the 16-bit UUID, e.g. "2a35"
    # A reading's optional last level: the device's MQTT account, which the broker's ACL checks
    # (`pattern write vitals/+/bp/%u`), so the device is known, not the payload's word.
    device: str | None = None


GATT_LEAF: Final = "gatt"
OBSERVATION_LEAF: Final = "observation"
SESSION_LEAF: Final = "session"
ACK_LEAF: Final = "ack"
DELIVERY_LEAF: Final = "delivery"

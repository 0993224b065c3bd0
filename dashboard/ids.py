"""Component ids, in one place, so layouts, callbacks and tests cannot drift apart."""

from __future__ import annotations

from typing import Final

# Shell (app.py)
HEADER: Final = "header"
DISCLAIMER: Final = "disclaimer"
PROFILE_BADGE: Final = "profile-badge"
USER_BADGE: Final = "user-badge"
LOGOUT_TOKEN: Final = "logout-token"
LOGOUT_BUTTON: Final = "logout-button"
SHELL_INTERVAL: Final = "shell-interval"  # assets/watchdog.js watches its refreshes
WATCHDOG: Final = "watchdog"  # carries the watchdog's threshold (data-after-ms)
PIPELINE_BANNER: Final = "pipeline-banner"
ALARMS_BAR: Final = "alarms-bar"  # the strip: its class says whether it is expanded
ALARMS_EXPAND: Final = "alarms-expand"
ALARMS_PANEL: Final = "alarms-panel"
ALARMS_SIGNATURE: Final = "alarms-signature"
ACK_BUTTON: Final = "ack-button"  # pattern-matching type, with session, metric and rule
ACK_NOTE: Final = "ack-note"
ACK_FEEDBACK: Final = "ack-feedback"
SOUND_LEVEL: Final = "sound-level"
SOUND_PAUSE_UNTIL: Final = "sound-pause-until"
SOUND_PAUSE_BUTTON: Final = "sound-pause"
SOUND_RESUME_BUTTON: Final = "sound-resume"
SHORTCUTS_HINT: Final = "shortcuts-hint"
SOUND_WARNING: Final = "sound-warning"
SOUND_STATUS: Final = "sound-status"
NIGHT_TOGGLE: Final = "night-toggle"
NIGHT_MODE: Final = "night-mode"  # localStorage key too (assets/night.js reads it at load)

# Overview (/)
OVERVIEW_INTERVAL: Final = "overview-interval"
OVERVIEW_TILES: Final = "overview-tiles"
OVERVIEW_STATUS: Final = "overview-status"
OVERVIEW_FEEDBACK: Final = "overview-feedback"
HISTORY_HIDDEN: Final = "history-hidden"  # "N more sessions not shown"
OVERVIEW_HIDDEN: Final = "overview-hidden"  # "N more sessions not shown"
OVERVIEW_RENDERED: Final = "overview-rendered"  # what the browser shows: digests of tile parts
OVERVIEW_CHANGES: Final = "overview-changes"  # a refresh's changed tile parts, to set in place
TILE_CHECKIN: Final = "tile-checkin"  # pattern-matching type, with session

# Session view (/session/<id>)
SESSION_INTERVAL: Final = "session-interval"
SESSION_ID_STORE: Final = "session-id-store"
SESSION_HEADER: Final = "session-header"
SESSION_GRAPH: Final = "session-graph"
SESSION_CHART_DRAWN: Final = "session-chart-drawn"  # what the chart holds (Store)
SESSION_ALERTS: Final = "session-alerts"
# Roster page (/roster, admins only)
ROSTER_VERSION: Final = "roster-version"
ROSTER_TABLE: Final = "roster-table"
ROSTER_PERSON: Final = "roster-person"
ROSTER_TEST_SUBMIT: Final = "roster-test-submit"
ROSTER_TEST_RESULT: Final = "roster-test-result"
SESSION_NOTIFICATIONS: Final = "session-notifications"  # who was told of each alarm (issue 14)
SESSION_STATUS: Final = "session-status"
SESSION_PROTOCOL: Final = "session-protocol"  # verdict, cues, discharge (refreshed)
SESSION_EVENTS: Final = "session-events"
VERDICT: Final = "verdict"
DISCHARGE: Final = "discharge"
CHECKLIST_GUIDELINES: Final = "checklist-guidelines"
CHECKLIST_CONTRAINDICATIONS: Final = "checklist-contraindications"
CHECKLIST_SUBMIT: Final = "checklist-submit"
OVERRIDE_REASON: Final = "override-reason"
OVERRIDE_SUBMIT: Final = "override-submit"
SIGNOFF_SUBMIT: Final = "signoff-submit"
NOTE_TEXT: Final = "note-text"
NOTE_SUBMIT: Final = "note-submit"
EVENT_START: Final = "event-start"
START_LABEL: Final = "start-label"  # the display label a start carries
EVENT_DOSE: Final = "event-dose"
EVENT_END: Final = "event-end"  # asks for the confirmation; END_CONFIRM_SUBMIT ends
END_CONFIRM: Final = "end-confirm"
END_CONFIRM_TEXT: Final = "end-confirm-text"
END_REASON: Final = "end-reason"
END_CONFIRM_SUBMIT: Final = "end-confirm-submit"
END_CANCEL: Final = "end-cancel"
SESSION_FEEDBACK: Final = "session-feedback"
CHECKIN_BUTTON: Final = "checkin-button"
CHECKIN_STATUS: Final = "checkin-status"
CHECKIN_FEEDBACK: Final = "checkin-feedback"
OBSERVATION_BUTTON: Final = "observation-button"  # pattern-matching type, with observation
OBSERVATION_SEVERITY: Final = "observation-severity"
OBSERVATION_NOTE: Final = "observation-note"
OBSERVATION_FEEDBACK: Final = "observation-feedback"
OBSERVATION_UNDO: Final = "observation-undo"  # pattern-matching type: session, observation, time
OBSERVATION_LOG: Final = "observation-log"

# History (/sessions)
HISTORY_TABLE: Final = "history-table"
HISTORY_SEARCH: Final = "history-search"
HISTORY_DATE: Final = "history-date"

# Users (/users, admins only)
USERS_TABLE: Final = "users-table"
USERS_CHANGES: Final = "users-changes"  # the record of recent changes
USERS_VERSION: Final = "users-version"  # bumped by each change: the table re-reads the file
USERS_FEEDBACK: Final = "users-feedback"
NEW_USER_NAME: Final = "new-user-name"
NEW_USER_ROLE: Final = "new-user-role"
NEW_USER_PASSWORD: Final = "new-user-password"
NEW_USER_PASSWORD_AGAIN: Final = "new-user-password-again"
NEW_USER_SUBMIT: Final = "new-user-submit"
EDIT_USER: Final = "edit-user"  # which login the edit controls change
EDIT_ROLE: Final = "edit-role"
EDIT_ROLE_SUBMIT: Final = "edit-role-submit"
EDIT_PASSWORD: Final = "edit-password"
EDIT_PASSWORD_AGAIN: Final = "edit-password-again"
EDIT_PASSWORD_SUBMIT: Final = "edit-password-submit"
EDIT_DISABLE: Final = "edit-disable"
EDIT_ENABLE: Final = "edit-enable"


# Alarm burden (/burden, clinicians and admins)
BURDEN_INTERVAL: Final = "burden-interval"  # polls until the report is computed
BURDEN_REPORT: Final = "burden-report"


def _tile_part(session: str, *part: str) -> str:
    # Session ids may hold "-", and so do the tile parts' ids: doubled here, so session "a"'s
    # `tile-a-hr` can never be the tile of session "a-hr" (`tile-a--hr`). Two elements with one
    # id would show one patient's values on another's tile.
    return "-".join(("tile", session.replace("-", "--"), *part))


def tile(session: str) -> str:
    """The id of one overview tile (session ids are safe in HTML ids by the contract)."""
    return _tile_part(session)


def tile_value(session: str, what: str) -> str:
    """The id of one big number on a tile: `what` is its vital sign's kind (bp, hr ...)."""
    return _tile_part(session, what)


def tile_alarm(session: str) -> str:
    return _tile_part(session, "alarm")


def tile_dose(session: str) -> str:
    return _tile_part(session, "dose")


def tile_vital(session: str, what: str) -> str:
    """The id of one vital's box on a tile (its class says whether the value is stale)."""
    return _tile_part(session, what, "box")


def tile_age(session: str, what: str) -> str:
    """The id of how old one vital's value on a tile is (or how long it has been missing)."""
    return _tile_part(session, what, "age")


def tile_trend(session: str) -> str:
    return _tile_part(session, "trend")


def tile_checkin_status(session: str) -> str:
    return _tile_part(session, "checkin")


def observation_button(observation: str) -> dict[str, str]:
    """The id of one observation's one-tap button."""
    return {"type": OBSERVATION_BUTTON, "observation": observation}


def observation_undo(session: str, observation: str, time: str) -> dict[str, str]:
    """The id of the "Undo" offered after a tap: which observation it marks entered in error."""
    return {"type": OBSERVATION_UNDO, "session": session, "observation": observation,
            "time": time}


def alarm_row(session: str, metric: str, rule: str = "") -> str:
    """The id of one alarm's row in the panel; a technical alarm's rule tells it apart."""
    cause = f"-{rule.replace('.', '_')}" if rule else ""  # no dots: ids are CSS selectors
    return f"alarm-{session}-{metric}{cause}"


def notification_group(session: str, metric: str) -> str:
    """The session page's list of the notifications about one alarm (metric)."""
    return f"notified-{session}-{metric}"

# Wall (/wall): the central screen, no navigation
WALL_INTERVAL: Final = "wall-interval"
WALL_TILES: Final = "wall-tiles"
WALL_STATUS: Final = "wall-status"
WALL_RENDERED: Final = "wall-rendered"  # as OVERVIEW_RENDERED
WALL_CHANGES: Final = "wall-changes"  # as OVERVIEW_CHANGES
WALL_HEARTBEAT: Final = "wall-heartbeat"  # the clock and the age of the last update (wall.js)
WALL_CLOCK: Final = "wall-clock"
WALL_AGE: Final = "wall-age"

"""Callbacks called directly, inside the app they belong to, against a real SqliteStore."""

from __future__ import annotations

import copy
import json
from dataclasses import replace
from typing import Any

import dash
import plotly
import pytest

from dashboard import ids, queries, session_chart, session_view, texts
from dashboard.app import create_app
from dashboard.figures import DISCLAIMER
from dashboard.pages import history, overview
from tests.dashboard.builders import NOW, alert, bp, event, hr, minutes, spo2
from tests.dashboard.conftest import SECRET, logged_in, reread
from tests.dashboard.trees import classes_of, find, text_of
from vitals.alerts import AlertState, Metric, Priority
from vitals.readings import SessionEventType
from vitals.storage.base import Batch


def tiles(_in_app: Any) -> list[Any]:
    """The tiles (links) of the overview, without the check-in button beside each."""
    shown, _status = overview.refresh(1)
    return [c.children[0] if "tile-cell" in classes_of(c) else c for c in shown]


def test_overview_tile_shows_the_latest_reading_of_each_vital(store, in_app):
    store.write(Batch(readings=[bp("a", NOW - minutes(12), 120, 80),
                                bp("a", NOW - minutes(2), 162, 101),
                                hr("a", NOW - minutes(0.1), 91), spo2("a", NOW, 96)]))

    [tile] = tiles(in_app)

    assert text_of(find(tile, ids.tile_value("a", "bp"))) == "162/101"
    assert text_of(find(tile, ids.tile_value("a", "hr"))) == "91"
    assert text_of(find(tile, ids.tile_value("a", "spo2"))) == "96"


def test_overview_marks_a_stale_blood_pressure_with_its_age(store, in_app):
    store.write(Batch(readings=[bp("a", NOW - minutes(16), 120, 80), hr("a", NOW, 70)]))

    [tile] = tiles(in_app)

    assert "no BP for 16 min" in text_of(tile)
    bp_cell = tile.children[2].children[0]
    assert "vital--stale" in classes_of(bp_cell)


def test_overview_tile_shows_the_highest_active_alarm(store, in_app):
    store.write(Batch(readings=[hr("a", NOW, 125)], alerts=[
        alert("a", NOW - minutes(1), Metric.HEART_RATE, Priority.MEDIUM, message="HR 125"),
        alert("a", NOW - minutes(2), Metric.SYSTOLIC, Priority.HIGH,
              message="Systolic 186 mmHg: at or above 180"),
        alert("a", NOW - minutes(1), Metric.SPO2, Priority.HIGH, message="SpO2 gone",
              state=AlertState.ACTIVE),
        alert("a", NOW - minutes(0.5), Metric.SPO2, Priority.HIGH, message="SpO2 back",
              state=AlertState.CLEARED),
    ]))

    [tile] = tiles(in_app)

    assert "tile--high" in classes_of(tile)
    assert text_of(find(tile, ids.tile_alarm("a"))) == (
        "▲ HIGH — Systolic 186 mmHg: at or above 180  (+1 more)")


def test_overview_leaves_out_ended_sessions(store, in_app):
    store.write(Batch(
        readings=[hr("live", NOW, 70), hr("done", NOW - minutes(1), 70)],
        events=[event("done", NOW - minutes(0.5), SessionEventType.END)],
    ))

    shown = tiles(in_app)

    assert [t.id for t in shown] == [ids.tile("live")]


def test_overview_sends_only_the_parts_of_tiles_that_changed_since_the_browser_rendered(
    store, in_app
):
    store.write(Batch(readings=[hr("a", NOW - minutes(1), 70), hr("b", NOW - minutes(1), 80)]))
    shown, _status, rendered, changed = overview.update(1, None)
    assert [cell.children[0].id for cell in shown] == [ids.tile("a"), ids.tile("b")]  # all
    assert changed == {}

    unchanged, _status, same, changed = overview.update(2, rendered)
    assert unchanged is dash.no_update and same == rendered and changed == {}

    store.write(Batch(readings=[hr("b", NOW, 99)]))  # b's heart rate, no longer stale
    reread(in_app)
    unchanged, _status, now_rendered, changed = overview.update(3, rendered)
    assert unchanged is dash.no_update
    assert changed == {
        ids.tile_value("b", "hr"): {"children": "99"},
        ids.tile_age("b", "hr"): {"children": "just now · HR sensor"},
        ids.tile_vital("b", "hr"): {"className": "vital vital--hr"}}
    assert now_rendered["layout"] == rendered["layout"]

    store.write(Batch(readings=[hr("c", NOW, 60)]))  # a new tile: all of them again
    reread(in_app)
    shown, _status, _rendered, changed = overview.update(4, now_rendered)
    assert [cell.children[0].id for cell in shown] == [ids.tile(s) for s in "abc"]
    assert changed == {}


def test_overview_sets_a_raised_alarm_in_place_with_its_text_class_and_role(store, in_app):
    store.write(Batch(readings=[bp("a", NOW - minutes(1), 120, 80)]))
    _shown, _status, rendered, _changed = overview.update(1, None)

    store.write(Batch(alerts=[alert("a", NOW, Metric.SYSTOLIC, Priority.HIGH,
                                    message="Systolic 186 mmHg: at or above 180")]))
    reread(in_app)
    unchanged, _status, _rendered, changed = overview.update(2, rendered)

    assert unchanged is dash.no_update
    assert changed == {
        ids.tile("a"): {"className": "tile tile--alarm tile--high"},
        ids.tile_alarm("a"): {
            "children": "▲ HIGH — Systolic 186 mmHg: at or above 180",
            "className": "tile-alarm tile-alarm--high", "role": "alert"},
        # The value in alarm, in the alarm's colour.
        ids.tile_vital("a", "bp"): {"className": "vital vital--bp vital--alarm vital--alarm-high"}}


def test_overview_hands_the_browser_its_changes_with_what_it_will_then_show(store, in_app):
    store.write(Batch(readings=[hr("a", NOW - minutes(1), 70)]))
    tiles, _status, pending = overview.publish(1, None)
    assert pending["changes"] == {} and tiles[0].children[0].id == "tile-a"

    _tiles, _status, nothing = overview.publish(2, pending["rendered"])
    assert nothing is dash.no_update  # the browser keeps what it shows and what it recorded

    store.write(Batch(readings=[hr("a", NOW, 72)]))
    reread(in_app)
    tiles, _status, pending = overview.publish(3, pending["rendered"])
    assert tiles is dash.no_update and pending["changes"]["tile-a-hr"]["children"] == "72"
    assert overview.publish(4, pending["rendered"])[2] is dash.no_update


def as_sent(components: Any) -> Any:
    """Components as Dash sends them to the browser, which keeps them as its layout (a prop
    set to None shows as one never set: left out)."""
    return without_none(json.loads(json.dumps(components, cls=plotly.utils.PlotlyJSONEncoder)))


def without_none(layout: Any) -> Any:
    if isinstance(layout, list):
        return [without_none(child) for child in layout]
    if isinstance(layout, dict) and "props" in layout:
        layout["props"] = {name: without_none(value) for name, value in layout["props"].items()
                           if value is not None}
    return layout


def set_in_place(layout: Any, part: str, props: dict[str, Any]) -> int:
    """What the browser's `set_props(part, props)` does to its layout; how many it set."""
    if isinstance(layout, list):
        return sum(set_in_place(child, part, props) for child in layout)
    if not isinstance(layout, dict) or "props" not in layout:
        return 0
    found = 0
    if layout["props"].get("id") == part:
        layout["props"].update(props)
        layout["props"] = {name: value for name, value in layout["props"].items()
                           if value is not None}
        found = 1
    return found + sum(set_in_place(value, part, props) for value in layout["props"].values())


def browser_after(shown: Any, tiles: Any, pending: Any) -> Any:
    """The tiles a browser shows after applying one refresh (`overview.publish`) to `shown`."""
    now_shown = shown if tiles is dash.no_update else as_sent(tiles)
    if pending is not dash.no_update:
        for part, props in pending["changes"].items():
            assert set_in_place(now_shown, part, props) == 1, f"{part}: not exactly one on screen"
    return now_shown


A = [hr("a", NOW - minutes(1), 70), spo2("a", NOW - minutes(1), 97)]
HIGH = alert("a", NOW - minutes(0.5), Metric.SPO2, Priority.HIGH, message="SpO2 86 %", value=86)

# (what changes, the store before, what is added): each must reach a browser showing `before`.
TILE_CHANGES = [
    ("a new alarm", Batch(readings=A), Batch(alerts=[HIGH])),
    ("an alarm acknowledged", Batch(readings=A, alerts=[HIGH]), Batch(alerts=[replace(
        HIGH, time=NOW - minutes(0.2), state=AlertState.ACKNOWLEDGED, by="nurse")])),
    ("an alarm cleared", Batch(readings=A, alerts=[HIGH]), Batch(alerts=[replace(
        HIGH, time=NOW - minutes(0.2), state=AlertState.CLEARED)])),
    ("a second alarm", Batch(readings=A, alerts=[HIGH]), Batch(alerts=[alert(
        "a", NOW - minutes(0.2), Metric.HEART_RATE, Priority.MEDIUM, message="HR 125")])),
    ("a new value", Batch(readings=A), Batch(readings=[hr("a", NOW, 71)])),
    ("a value aged past 'just now'", Batch(readings=A), Batch(readings=[hr("a", NOW, 70)])),
    ("the dose", Batch(readings=A), Batch(events=[event("a", NOW, SessionEventType.DOSE)])),
    ("a check-in", Batch(readings=A), Batch(events=[event("a", NOW, SessionEventType.CHECKIN)])),
    ("a tile added", Batch(readings=A), Batch(readings=[hr("b", NOW, 80)])),
    ("a tile removed", Batch(readings=[*A, hr("b", NOW - minutes(1), 80)]),
     Batch(events=[event("b", NOW, SessionEventType.END)])),
    ("a tile replaced by another", Batch(readings=[*A, hr("b", NOW - minutes(1), 80)]),
     Batch(readings=[hr("c", NOW, 80)], events=[event("b", NOW, SessionEventType.END)])),
    ("a first blood pressure", Batch(readings=A), Batch(readings=[bp("a", NOW, 150, 95)])),
]


@pytest.mark.parametrize(("before", "change"), [c[1:] for c in TILE_CHANGES],
                         ids=[c[0] for c in TILE_CHANGES])
def test_a_browser_shown_the_tiles_then_sent_only_the_changes_shows_what_a_new_page_would(
    store, in_app, before, change
):
    store.write(before)
    reread(in_app)
    tiles, _status, pending = overview.publish(1, None)
    shown = browser_after(None, tiles, pending)
    before_shown = json.dumps(shown)

    store.write(change)
    reread(in_app)
    shown = browser_after(shown, *overview.publish(2, pending["rendered"])[::2])

    assert json.dumps(shown) != before_shown  # the change is on screen
    assert shown == as_sent(overview.refresh(3)[0])  # and it is all of what a new page shows


def test_each_part_set_in_place_has_the_props_a_whole_render_gives_it(store, in_app):
    store.write(Batch(readings=[bp("a", NOW, 150, 95), hr("a", NOW, 70), spo2("a", NOW, 97)],
                      alerts=[alert("a", NOW, Metric.SYSTOLIC, Priority.HIGH)]))
    reread(in_app)
    tiles, _status, rendered, _changed = overview.update(1, None)
    layout = as_sent(tiles)
    parts = {part: props for part, props in overview.update(2, {"layout": rendered["layout"]})[3]
             .items()}  # as if the browser had none of the parts: all of them, as set in place

    assert len(parts) > 10  # the tile, its alarm, dose, check-in line, 3 x (box, value, age)
    for part, props in parts.items():
        whole = copy.deepcopy(layout)
        assert set_in_place(whole, part, props) == 1
        assert whole == layout, part


def test_overview_status_counts_the_active_sessions(store, in_app):
    store.write(Batch(readings=[hr("a", NOW, 70), hr("b", NOW, 70)]))

    _tiles, status = overview.refresh(1)

    assert status.startswith("2 active sessions")


def test_overview_with_no_sessions_shows_the_empty_state(in_app):
    assert "No active sessions" in text_of(tiles(in_app))


def test_overview_says_it_is_not_updating_when_the_store_cannot_be_read(store, in_app):
    store.close()

    shown, status = overview.refresh(1)

    assert "cannot read vitals from the database" in text_of(shown)
    assert status.startswith("⚠ Not updating")


def test_session_view_plots_the_session_and_lists_its_alerts(store, in_app):
    store.write(Batch(
        readings=[bp("a", NOW - minutes(20), 150, 90), hr("a", NOW - minutes(1), 80)],
        events=[event("a", NOW - minutes(30), SessionEventType.DOSE)],
        alerts=[alert("a", NOW - minutes(20), Metric.SYSTOLIC, Priority.LOW, message="SBP 150")],
    ))

    header, table, _status, stop = session_view.refresh(1, "a")
    figure, _drawn = session_chart.draw("a")

    assert "LIVE" in text_of(header) and "30 min since dose" in text_of(header)
    assert "● LOW — SBP 150" in text_of(header)
    assert list(next(t for t in figure.data if t.name == "Systolic").x) == [10]
    assert "SBP 150" in text_of(table)
    assert stop is False


def test_the_session_view_and_its_tile_read_one_clock_when_the_session_runs_ahead(store, in_app):
    """The demo compresses time: its readings are stamped ahead of the wall clock. The session
    page said "0 min since dose" beside the tile's "Dose +20 min", and judged discharge and cues
    at the wall clock's time; both read the session's own clock now."""
    store.write(Batch(
        readings=[bp("a", NOW - minutes(5), 124, 80), hr("a", NOW + minutes(20), 80)],
        events=[event("a", NOW - minutes(8), SessionEventType.START),
                event("a", NOW, SessionEventType.DOSE)],
    ))

    header, *_rest = session_view.refresh(1, "a")
    [row] = queries.overview_rows(queries.active(store, NOW), NOW)  # the tile's row
    protocol, _audit = session_view.refresh_protocol(1, "a")

    assert "20 min since dose" in text_of(header)
    assert texts.dose_text(row["since_dose_min"]) == "Dose +20 min"
    assert "20 min since dose (at least 120)" in text_of(protocol)


def test_session_view_stops_polling_once_the_session_has_ended(store, in_app):
    store.write(Batch(readings=[hr("a", NOW - minutes(5), 80)],
                      events=[event("a", NOW - minutes(1), SessionEventType.END)]))

    header, *_rest, stop = session_view.refresh(1, "a")

    assert "ENDED" in text_of(header)
    assert stop is True


def test_session_view_of_an_unknown_session_says_so(in_app):
    header, *_rest, stop = session_view.refresh(1, "nobody")

    assert "no data stored" in text_of(header)
    assert stop is False  # it may still start


def test_history_lists_sessions_newest_first(store, in_app):
    store.write(Batch(readings=[hr("old", NOW - minutes(90), 70), hr("new", NOW, 70)]))

    page = history.refresh(None, None)

    assert text_of(page).index("new") < text_of(page).index("old")


def test_every_page_carries_the_decision_support_disclaimer(app):
    client = logged_in(app, "nurse")

    layout = client.get("/_dash-layout")

    assert layout.status_code == 200
    assert DISCLAIMER in json.dumps(layout.get_json(), ensure_ascii=False)


def test_each_app_reads_its_own_store(tmp_path, settings, users):
    from vitals.storage.sqlite import SqliteStore

    first, second = SqliteStore(tmp_path / "1.sqlite3"), SqliteStore(tmp_path / "2.sqlite3")
    try:
        first.write(Batch(readings=[hr("one", NOW, 70)]))
        second.write(Batch(readings=[hr("two", NOW, 70)]))
        apps = [create_app(s, settings, clock=lambda: NOW, users_path=users, secret_key=SECRET)
                for s in (first, second)]
        seen = []
        for app in apps:
            with app.server.test_request_context("/"):
                seen.append([t.id for t in tiles(app)])
        assert seen == [[ids.tile("one")], [ids.tile("two")]]
    finally:
        first.close()
        second.close()


def test_the_header_names_the_alert_profile_in_force(store, settings, users):
    from vitals.profile_loader import load_profile

    app = create_app(store, settings, profile=load_profile(None), users_path=users,
                     secret_key=SECRET)
    client = logged_in(app, "nurse")

    layout = client.get("/_dash-layout").get_json()

    assert "Alert profile: default.toml" in json.dumps(layout)


def test_the_session_page_shows_per_alarm_who_was_notified_when_and_the_failures(store,
                                                                              in_app):
    from vitals.storage.base import NotificationRecord

    store.write(Batch(readings=[bp("a", NOW, 186, 96)], notifications=[
        NotificationRecord(NOW - minutes(2), "a", "systolic", "Nurse A", "ntfys", "alarm", True),
        NotificationRecord(NOW - minutes(1), "a", "systolic", "Dr X", "mailto", "alarm", False,
                           "connection refused"),
        NotificationRecord(NOW, "a", "data", "Nurse A", "ntfys", "all_clear", True),
    ]))

    log = dash.html.Div(session_view.refresh_notifications(1, "a"))

    systolic = find(log, ids.notification_group("a", "systolic"))
    assert "Systolic" in text_of(systolic)
    assert "Nurse A" in text_of(systolic) and "✔ delivered" in text_of(systolic)
    assert "Dr X" in text_of(systolic) and "✖ failed: connection refused" in text_of(systolic)
    assert "all clear" in text_of(find(log, ids.notification_group("a", "data")))
    assert "No notification sent" in text_of(session_view.refresh_notifications(1, "nobody"))

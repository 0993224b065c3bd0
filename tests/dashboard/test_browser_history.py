"""The clinician's review in headless Chromium: find a past session in the history, open it, and
download each of its exports with the browser's own login (the exports are checked, not just
fetched: CSV round trip, a FHIR Bundle of vital-signs Observations, the self-contained report)."""

from __future__ import annotations

import csv
import io
import json

import pytest
from services import free_port, wait_until

from dashboard.app import create_app
from tests.dashboard.builders import alert, bp, event, hr, minutes, spo2
from tests.dashboard.conftest import SECRET, browser_login
from vitals.alerts import Metric, Priority
from vitals.readings import SessionEventType
from vitals.storage.base import Batch
from vitals.timefmt import utcnow

pytestmark = pytest.mark.browser

WAIT_S = 10
# Fetches a URL with the page's cookies, as a click on the link would: (status, type, body).
FETCH = """
const done = arguments[arguments.length - 1];
fetch(arguments[0], {credentials: "same-origin"})
  .then(r => r.text().then(t => done([r.status, r.headers.get("content-type"), t])))
  .catch(e => done([0, "", String(e)]));
"""


def fetch(dash_duo, url: str) -> tuple[int, str, str]:
    status, mimetype, body = dash_duo.driver.execute_async_script(FETCH, url)
    return status, mimetype, body


def test_a_clinician_finds_a_past_session_opens_it_and_downloads_each_export(
        dash_duo, store, settings, users):
    dosed = utcnow() - minutes(6 * 60)  # this morning's session, long over
    store.write(Batch(
        readings=[bp("review-7", dosed - minutes(5), 150, 95),
                  bp("review-7", dosed + minutes(40), 184, 108),
                  hr("review-7", dosed + minutes(40), 96),
                  spo2("review-7", dosed + minutes(40), 97),
                  bp("other-1", dosed, 120, 80)],
        events=[event("review-7", dosed - minutes(10), SessionEventType.START),
                event("review-7", dosed, SessionEventType.DOSE),
                event("review-7", dosed + minutes(90), SessionEventType.END)],
        alerts=[alert("review-7", dosed + minutes(40), Metric.SYSTOLIC, Priority.HIGH,
                      value=184, message="Systolic 184 mmHg: at or above 180.")],
    ))
    app = create_app(store, settings, users_path=users, secret_key=SECRET)
    browser_login(dash_duo, app, name="doctor", port=free_port())

    dash_duo.driver.get(dash_duo.server.url + "/sessions")
    search = dash_duo.wait_for_element("input#history-search", timeout=WAIT_S)
    dash_duo.wait_for_contains_text(".page--history table", "other-1", timeout=WAIT_S)
    search.send_keys("review")  # filters as typed (once the typing pauses), no Enter
    # The table is re-rendered by the search: read it afresh each time.
    wait_until(lambda: "other-1" not in dash_duo.driver.execute_script(
        "return document.querySelector('.page--history table').innerText;"), WAIT_S,
        "the history filtered as typed")
    assert "review-7" in dash_duo.find_element(".page--history table").text

    links = {a.text: a.get_attribute("href")
             for a in dash_duo.driver.find_elements("css selector", ".export-link")}
    assert set(links) == {"CSV", "ALARMS", "EVENTS", "OBS", "HTML", "FHIR", "NOTIFY"}

    status, mimetype, body = fetch(dash_duo, links["ALARMS"])
    assert status == 200 and mimetype.startswith("text/csv")
    assert [r["state"] for r in csv.DictReader(io.StringIO(body))] == ["active"]

    status, mimetype, body = fetch(dash_duo, links["NOTIFY"])
    assert status == 200 and mimetype.startswith("text/csv")
    assert body.splitlines()[0].startswith("time")  # a header, and no notification was sent

    status, mimetype, body = fetch(dash_duo, links["CSV"])
    assert status == 200 and mimetype.startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(body)))
    assert sorted(float(r["systolic (mmHg)"]) for r in rows if r["kind"] == "bp") == [150, 184]
    assert [float(r["bpm (/min)"]) for r in rows if r["kind"] == "hr"] == [96]

    status, mimetype, body = fetch(dash_duo, links["FHIR"])
    assert status == 200
    bundle = json.loads(body)
    assert bundle["resourceType"] == "Bundle"
    codes = {c["code"] for e in bundle["entry"]
             for c in e["resource"]["code"]["coding"]}
    assert {"85354-9", "8867-4", "59408-5"} <= codes

    status, mimetype, body = fetch(dash_duo, links["HTML"])
    assert status == 200 and mimetype.startswith("text/html")
    assert "184/108" in body and "Systolic 184 mmHg" in body
    assert "<script src=" not in body  # self-contained: nothing fetched from elsewhere

    # The session view of the same session, reached from the history's link.
    dash_duo.find_element(".page--history table a[href='/session/review-7']").click()
    dash_duo.wait_for_contains_text(".main", "review-7", timeout=WAIT_S)
    dash_duo.wait_for_element(".main .js-plotly-plot", timeout=WAIT_S)
    assert dash_duo.get_logs() == []


def test_a_monitor_sees_the_history_without_export_links_and_cannot_download(
        dash_duo, store, settings, users):
    store.write(Batch(readings=[bp("review-8", utcnow() - minutes(300), 130, 85)]))
    app = create_app(store, settings, users_path=users, secret_key=SECRET)
    browser_login(dash_duo, app, name="nurse", port=free_port())

    dash_duo.driver.get(dash_duo.server.url + "/sessions")
    dash_duo.wait_for_contains_text(".page--history table", "review-8", timeout=WAIT_S)
    assert dash_duo.driver.find_elements("css selector", ".export-link") == []

    status, _, _ = fetch(dash_duo, "/export/review-8/readings.csv")
    assert status == 403

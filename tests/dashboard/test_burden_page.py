"""The alarm-burden page (`/burden`): the report of the profile in force, computed once in the
background and kept on disk; clinicians and admins only (Flask test client, real files)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from dashboard import app_context
from dashboard.app import create_app
from dashboard.burden import ACK_AFTER, BurdenReports
from simulators.burden import replay_population, summarise
from simulators.burden_report import headline
from tests.dashboard.builders import NOW
from tests.dashboard.conftest import SECRET, login
from tests.services import wait_until
from vitals.profile_loader import load_profile

PATIENTS = 3
BURDEN_UPDATE = {
    "output": "..burden-report.children...burden-interval.disabled..",
    "outputs": [{"id": "burden-report", "property": "children"},
                {"id": "burden-interval", "property": "disabled"}],
    "inputs": [{"id": "burden-interval", "property": "n_intervals", "value": 1}],
    "changedPropIds": ["burden-interval.n_intervals"],
}


@pytest.fixture
def burden_app(store, settings, users) -> Iterator[Any]:
    dash_app = create_app(store, settings, clock=lambda: NOW, users_path=users,
                          secret_key=SECRET, burden_patients=PATIENTS)
    yield dash_app
    context = app_context.context_of(dash_app.server)
    context.burden.close()
    context.reader.close()


@pytest.fixture
def client(burden_app):
    return burden_app.server.test_client()


def page(client: Any) -> tuple[str, bool]:
    """The report's text as the callback sends it, and whether polling stops."""
    response = client.post("/_dash-update-component", json=BURDEN_UPDATE)
    assert response.status_code == 200
    sent = response.get_json()["response"]
    return json.dumps(sent["burden-report"]["children"]), sent["burden-interval"]["disabled"]


def test_the_page_shows_the_burden_figures_of_the_profile_in_force(client, burden_app):
    login(client, "doctor")
    text, done = page(client)
    assert "Computing the alarm burden of profile default.toml for 3 simulated" in text
    assert not done

    wait_until(lambda: page(client)[1], 120, "the burden report")
    text, _ = page(client)
    profile = app_context.context_of(burden_app.server).profile
    expected = summarise(replay_population(PATIENTS, 1, profile, ack_after=ACK_AFTER),
                         profile=profile.source_path, seed=1, ack_after=ACK_AFTER)
    for label, value in headline(expected):
        assert json.dumps(label) in text and json.dumps(value) in text
    for row in expected.rows:
        assert json.dumps(row.rule) in text


def test_a_computed_report_is_read_back_from_disk_not_computed_again(settings, tmp_path):
    profile = load_profile()
    first = BurdenReports(profile, tmp_path / "burden", PATIENTS)
    try:
        wait_until(lambda: first.status().summary is not None, 120, "the burden report")
    finally:
        first.close()
    again = BurdenReports(profile, tmp_path / "burden", PATIENTS)
    assert again.status().summary == first.status().summary
    assert again._pool is None  # nothing started: read from the file


def test_another_profile_or_population_is_another_report(tmp_path):
    profile = load_profile()
    stricter = load_profile(overrides={"rules": {"systolic.crisis": {"threshold": 170}}})
    paths = {BurdenReports(p, tmp_path, n).path for p, n in
             [(profile, PATIENTS), (stricter, PATIENTS), (profile, PATIENTS + 1)]}
    assert len(paths) == 3


@pytest.mark.parametrize(("name", "status"), [("nurse", 403), ("doctor", 200), ("boss", 200)])
def test_the_page_and_its_callback_need_the_clinician_role(client, name, status):
    login(client, name)

    assert client.get("/burden", headers={"Accept": "text/html"}).status_code == status
    assert client.post("/_dash-update-component", json=BURDEN_UPDATE).status_code == status


@pytest.mark.parametrize(("name", "linked"), [("nurse", False), ("doctor", True)])
def test_the_nav_links_the_page_for_clinicians(client, name, linked):
    login(client, name)

    assert ("Alarm burden" in json.dumps(client.get("/_dash-layout").get_json())) is linked

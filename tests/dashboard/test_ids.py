"""Element ids of overview tiles: one per element, whatever the session ids look like."""

from __future__ import annotations

import itertools

from dashboard import ids

VITALS = ("bp", "hr", "spo2")


def tile_ids(session: str) -> list[str]:
    return [ids.tile(session), ids.tile_alarm(session), ids.tile_dose(session),
            ids.tile_trend(session), ids.tile_checkin_status(session),
            *(f(session, what) for f in (ids.tile_value, ids.tile_vital, ids.tile_age)
              for what in VITALS)]


def test_no_two_tiles_share_an_element_id_even_when_one_session_id_extends_another():
    # Every way a session id could spell another's id plus a part's suffix.
    sessions = ["a", "a-", "a--", "a-hr", "a-bp", "a-bp-age", "a-bp-box", "a--hr", "a-alarm",
                "a-trend", "a-dose", "a-checkin", "a-spo2", "a_hr", "hr", "bp-age", "a-hr-age"]
    every = list(itertools.chain.from_iterable(tile_ids(s) for s in sessions))

    assert len(every) == len(set(every))


def test_tile_ids_are_plain_css_identifiers():
    for element_id in tile_ids("room-A_2"):
        assert element_id.replace("-", "").replace("_", "").isalnum(), element_id

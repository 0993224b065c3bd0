"""The wall (`/wall`): its grid by the number of tiles, and its refresh: the overview's tiles,
without check-in buttons, sent the overview's way."""

from __future__ import annotations

import dash
import pytest

from dashboard import ids
from dashboard.pages import wall
from tests.dashboard.builders import NOW, hr, minutes
from tests.dashboard.conftest import reread
from vitals.storage.base import Batch


@pytest.mark.parametrize(("count", "grid"), [
    (0, (1, 1)),   # the empty state fills the screen
    (1, (1, 1)),
    (2, (2, 1)),   # side by side on a landscape screen
    (3, (2, 2)),
    (4, (2, 2)),
    (5, (3, 2)),
    (9, (3, 3)),
    (10, (4, 3)),
    (16, (4, 4)),
    (17, (5, 4)),
    (48, (7, 7)),  # the most the overview shows (queries.MAX_TILES)
])
def test_the_grid_is_the_most_square_one_with_no_empty_row(count, grid):
    assert wall.grid(count) == grid
    columns, rows = grid
    assert columns * rows >= count and (count == 0 or columns * (rows - 1) < count)


def test_the_wall_shows_the_tiles_without_check_in_buttons_in_a_grid_by_their_count(
        store, in_app):
    store.write(Batch(readings=[hr(s, NOW - minutes(1), 70) for s in "abc"]))

    tiles, status, pending, style = wall.publish(1, None)

    assert [t.id for t in tiles] == [ids.tile(s) for s in "abc"]  # tiles, no cells with buttons
    assert "3 active sessions" in status
    assert style == {"--wall-columns": "2", "--wall-rows": "2"}
    assert pending["changes"] == {}


def test_the_wall_sends_only_changed_parts_and_keeps_its_grid_while_the_tiles_stay(
        store, in_app):
    store.write(Batch(readings=[hr("a", NOW - minutes(1), 70)]))
    _tiles, _status, pending, _style = wall.publish(1, None)

    store.write(Batch(readings=[hr("a", NOW, 72)]))
    reread(in_app)
    tiles, _status, pending, style = wall.publish(2, pending["rendered"])

    assert tiles is dash.no_update and style is dash.no_update
    assert pending["changes"][ids.tile_value("a", "hr")] == {"children": "72"}

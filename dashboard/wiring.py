"""Callback dependencies by the property they watch: `children(a, b)` for
`Output(a, "children"), Output(b, "children")`, so a page's registration lists only what
differs between its callbacks (the component ids), not the same property over and over.

Each returns a list, to unpack into `app.callback(...)`: `*children(a)` is one Output, which
Dash hands back unwrapped (a callback of one output returns its value, not a list)."""

from __future__ import annotations

from typing import Any

from dash import Input, Output, State


def children(*component_ids: Any) -> list[Output]:
    """The content of each component, written by the callback."""
    return [Output(component_id, "children") for component_id in component_ids]


def clicks(*component_ids: Any) -> list[Input]:
    """A click on any of these buttons runs the callback."""
    return [Input(component_id, "n_clicks") for component_id in component_ids]


def values(*component_ids: Any) -> list[State]:
    """What each input holds when the callback runs (read, never watched)."""
    return [State(component_id, "value") for component_id in component_ids]


def ticks(*interval_ids: Any) -> list[Input]:
    """Each tick of any of these `dcc.Interval`s runs the callback."""
    return [Input(interval_id, "n_intervals") for interval_id in interval_ids]


def stores(*store_ids: Any) -> list[Output]:
    """What each `dcc.Store` keeps, written by the callback."""
    return [Output(store_id, "data") for store_id in store_ids]


def stored(*store_ids: Any) -> list[State]:
    """What each store keeps when the callback runs (read, never watched)."""
    return [State(store_id, "data") for store_id in store_ids]


def store_updates(*store_ids: Any) -> list[Input]:
    """Anything new kept in any of these stores runs the callback."""
    return [Input(store_id, "data") for store_id in store_ids]


def new_values(*component_ids: Any) -> list[Output]:
    """What each input holds, written by the callback (a typed password cleared)."""
    return [Output(component_id, "value") for component_id in component_ids]


def styles(*component_ids: Any) -> list[Output]:
    """The inline style of each component, written by the callback."""
    return [Output(component_id, "style") for component_id in component_ids]

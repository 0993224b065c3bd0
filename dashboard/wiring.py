"""Callback dependencies by the property they watch: `children(a, b)` for
`Output(a, "children"), Output(b, "children")`, so a page's registration lists only what
differs between its callbacks (the component ids), not the same property over and over."""

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

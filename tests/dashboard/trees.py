"""Reading what a Dash component tree shows: its text, its classes, a component by id."""

from __future__ import annotations

from typing import Any


def text_of(component: Any) -> str:
    """All text a component tree shows, in document order."""
    if component is None:
        return ""
    if isinstance(component, str | int | float):
        return str(component)
    if isinstance(component, list | tuple):
        return " ".join(text_of(c) for c in component)
    return text_of(getattr(component, "children", None))


def classes_of(component: Any) -> str:
    return getattr(component, "className", "") or ""


def find(component: Any, component_id: str) -> Any:
    if getattr(component, "id", None) == component_id:
        return component
    children = getattr(component, "children", None)
    for child in children if isinstance(children, list | tuple) else [children]:
        if child is not None and not isinstance(child, str | int | float):
            found = find(child, component_id)
            if found is not None:
                return found
    return None

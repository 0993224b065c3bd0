"""Delivery through Apprise, one channel (URL) at a time so each failure names its channel."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from urllib.parse import urlsplit

import apprise

from notify.escalation import Kind, Notification

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Delivery:
    """The outcome of one notification on one channel."""

    channel: str  # the URL's scheme ("mailto", "ntfys", "json"): never its credentials
    delivered: bool
    error: str | None = None


def channel_of(url: str) -> str:
    return urlsplit(url).scheme or "?"


class _Errors(logging.Handler):
    """Collects what Apprise logs while one send runs (it reports failures only by logging)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def load_plugins() -> None:
    """Load Apprise's plugins now: it loads them on the first send otherwise, which takes
    seconds on a loaded machine, and the first alarm must not wait for that."""
    apprise.Apprise().details()


def send(notification: Notification) -> list[Delivery]:
    """Send to each of the person's URLs; never raises for a failed delivery."""
    results = []
    kind = {Kind.ALL_CLEAR: apprise.NotifyType.SUCCESS,
            Kind.TEST: apprise.NotifyType.INFO}.get(notification.kind, apprise.NotifyType.FAILURE)
    for url in notification.person.urls:
        channel = channel_of(url)
        client = apprise.Apprise()
        if not client.add(url):
            results.append(Delivery(channel, False, "not a valid Apprise URL"))
            continue
        errors = _Errors()
        apprise_log = logging.getLogger("apprise")
        apprise_log.addHandler(errors)
        try:
            delivered = bool(client.notify(body=notification.body, title=notification.title,
                                           notify_type=kind))
        finally:
            apprise_log.removeHandler(errors)
        error = None if delivered else (errors.messages[-1] if errors.messages
                                        else "delivery failed")
        results.append(Delivery(channel, delivered, error))
    return results

"""Channels and routing: where a notice goes is decided by the monitor's tags and the
notice's severity, never by its text.

A channel is a named Apprise URL. Its name is what the outbox, the API and the logs show;
the URL may carry passwords and tokens and is shown, where it must be, as scheme and host.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ronda.causes import Severity

if TYPE_CHECKING:
    from ronda.config.schema import Config


@dataclass(frozen=True)
class Channel:
    name: str
    url: str
    tags: frozenset[str] = frozenset()  # empty: every monitor's notices
    min_severity: Severity = Severity.INFO
    deadline_s: float = 86400.0  # how long to keep retrying a notice before it is `failed`

    def admits(self, severity: Severity, monitor_tags: Iterable[str]) -> bool:
        """Does a notice of this severity, about monitors with these tags, belong here?"""
        wanted = not self.tags or not self.tags.isdisjoint(monitor_tags)
        return wanted and Severity(severity).at_least(self.min_severity)


def route(channels: Iterable[Channel], severity: Severity, monitor_tags: Iterable[str]) -> list[Channel]:
    tags = frozenset(monitor_tags)
    return [channel for channel in channels if channel.admits(severity, tags)]


def channels_for(config: Config) -> list[Channel]:
    return [
        Channel(
            entry.name, entry.url, frozenset(entry.tags), entry.min_severity, entry.deadline or config.notify_deadline
        )
        for entry in config.notify
    ]

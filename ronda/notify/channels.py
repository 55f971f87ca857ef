"""Channels and routing: where a notice goes is decided by the monitor's tags and the
notice's severity, never by its text.

A channel is a named Apprise URL. Its name is what the outbox, the API and the logs show;
the URL may carry passwords and tokens and is shown, where it must be, as scheme and host.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from ronda.config.schema import Config

Severity = Literal["info", "warning", "degraded", "down"]
SEVERITIES: tuple[Severity, ...] = ("info", "warning", "degraded", "down")  # least to most urgent


@dataclass(frozen=True)
class Channel:
    name: str
    url: str
    tags: frozenset[str] = frozenset()  # empty: every monitor's notices
    min_severity: Severity = "info"
    deadline_s: float = 86400.0  # how long to keep retrying a notice before it is `failed`

    def admits(self, severity: Severity, monitor_tags: Iterable[str]) -> bool:
        """Does a notice of this severity, about monitors with these tags, belong here?"""
        wanted = not self.tags or not self.tags.isdisjoint(monitor_tags)
        return wanted and SEVERITIES.index(severity) >= SEVERITIES.index(self.min_severity)


def route(channels: Iterable[Channel], severity: Severity, monitor_tags: Iterable[str]) -> list[Channel]:
    tags = frozenset(monitor_tags)
    return [channel for channel in channels if channel.admits(severity, tags)]


def shown(url: str) -> str:
    """A URL as it may appear in a message: scheme and host, no user, password, path or
    query. Some services put a token where the host goes (slack://TokenA/...); a "host"
    that does not look like a network name is left out."""
    parts = urlsplit(url)
    try:
        host = parts.hostname or ""
    except ValueError:
        host = ""
    return f"{parts.scheme}://{host if _looks_like_a_host(host) else '…'}"


def _looks_like_a_host(host: str) -> bool:
    if host == "localhost" or "." in host:
        return True
    with contextlib.suppress(ValueError):
        ipaddress.ip_address(host)
        return True
    return False


def check_url(url: str) -> None:
    """Raise ValueError, without the URL's secrets, unless Apprise can use `url`."""
    import apprise  # here, not at import: loading Apprise's plugins costs a third of a second

    with _apprise_quiet():
        usable = apprise.Apprise.instantiate(url, suppress_exceptions=True) is not None
    if not usable:
        raise ValueError(f"not a notification URL Apprise can use: {shown(url)} (see Apprise's URL syntax)")


@contextlib.contextmanager
def _apprise_quiet() -> Iterator[None]:
    # Apprise logs a URL it cannot parse whole, secrets included; the caller reports it
    # safely. Its first use also imports its plugins, some of which import modules Python
    # deprecates (imghdr): their problem, not the user's.
    logger = logging.getLogger("apprise")
    was = logger.disabled
    logger.disabled = True
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            yield
    finally:
        logger.disabled = was


def channels_for(config: Config) -> list[Channel]:
    return [
        Channel(
            entry.name, entry.url, frozenset(entry.tags), entry.min_severity, entry.deadline or config.notify_deadline
        )
        for entry in config.notify
    ]

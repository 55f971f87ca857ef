"""Notification URLs as the config takes them: Apprise must be able to use each one, and
where one is shown (an error, a message) it is shown without its secrets."""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import warnings
from collections.abc import Iterator
from urllib.parse import urlsplit


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

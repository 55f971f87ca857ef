"""`ronda run --check-config`: a loaded config in a few lines a person checks at a glance
(what will be watched, who will hear, where history goes), secrets never shown."""

from __future__ import annotations

from collections import Counter

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from ronda.config.channel_urls import shown
from ronda.config.schema import Config, StatusPage

NAMES_SHOWN = 10  # a config of 100,000 monitors is summed up, not listed
KIND_WORDS = {"check": "checked", "push": "push", "statuspage": "vendor status page"}


def config_summary(config: Config, path: str) -> list[str]:
    """What `config`, read from `path`, makes `ronda run` do, one line per part."""
    return [
        f"{path}: no problems found",
        f"  monitors: {_monitors(config)}",
        f"  notify: {_channels(config)}",
        f"  status pages: {_status_pages(config)}",
        f"  storage: {_storage(config.storage)}",
        f"  listen: {_listen(config)}",
    ]


def _names(names: list[str]) -> str:
    listed = ", ".join(names[:NAMES_SHOWN])
    return listed + (f" and {len(names) - NAMES_SHOWN} more" if len(names) > NAMES_SHOWN else "")


def _monitors(config: Config) -> str:
    monitors = config.monitors
    if not monitors:
        return "none yet (add them under monitors:)"
    kinds = Counter(monitor.kind for monitor in monitors)
    counted = ", ".join(f"{count} {KIND_WORDS[kind]}" for kind, count in kinds.items())
    return f"{len(monitors)} ({counted}): {_names([monitor.name for monitor in monitors])}"


def _channels(config: Config) -> str:
    if not config.notify:
        return "no channel: incidents show on the dashboard, nobody is told"
    channels = [f"{channel.name} ({shown(channel.url)})" for channel in config.notify]
    return f"{len(channels)} channel{'s' if len(channels) > 1 else ''}: {_names(channels)}"


def _status_pages(config: Config) -> str:
    if not config.status_pages:
        return "none set: /status shows every monitor"
    pages = [f"/status/{page.slug} ({page.title}{_followers(page)})" for page in config.status_pages]
    return _names(pages)


def _followers(page: StatusPage) -> str:
    """Who hears of the page's incidents besides its visitors, never an address or a secret."""
    told = []
    if page.subscribe is not None:
        kinds = [kind for kind, on in (("e-mail", page.subscribe.email), ("webhook", page.subscribe.webhooks)) if on]
        told.append("subscribers by " + " and ".join(kinds))
    if page.announce:
        approved = sum(channel.approve for channel in page.announce)
        told.append(f"{len(page.announce)} public channel(s)" + (f", {approved} approved by hand" if approved else ""))
    return "; " + "; ".join(told) if told else ""


def _storage(url: str) -> str:
    """The storage URL, its password masked (the config may read it from the environment)."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:  # the schema took it by its prefix; show that much
        return url.split("://", 1)[0] + "://…"


def _listen(config: Config) -> str:
    server = config.server
    token = "the API token from the config" if server.token else "no API token set: each run makes its own"
    return f"{server.listen}, links to {server.base_url}; {token}"

"""`ronda init`: a starter config for a person's own sites, each section commented in plain
words, which ronda's own loader takes as it is written (tests/test_starter.py loads it).

Only what a first run needs is set; the rest is there as comments to uncomment, so the file
is also the map of what can be said. Values shown are ronda/defaults.py's, so the comments
cannot drift from the code.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import ValidationError

from ronda import defaults
from ronda.config.schema import parse_monitor
from ronda.errors import UsageError

DEFAULT_FILE = "ronda.yaml"
DEFAULT_LISTEN = "127.0.0.1:8080"
_NOT_IN_A_NAME = re.compile(r"[^A-Za-z0-9_.-]+")
_NAME_LENGTH = 64  # the schema's limit on a monitor's name


@dataclass(frozen=True)
class StarterMonitor:
    name: str
    url: str


def starter_monitors(urls: Sequence[str]) -> list[StarterMonitor]:
    """A monitor for each URL, named after its host (and port, when one is written), each
    name once. A URL without a scheme is taken as https://. Raises UsageError naming the URL
    the config would refuse, in the loader's words."""
    monitors: list[StarterMonitor] = []
    for given in urls:
        url = given.strip() if "://" in given else _as_https(given.strip())
        if url in (monitor.url for monitor in monitors):
            continue  # the same site given twice is one monitor
        name = _unique(_name_for(url), {monitor.name for monitor in monitors})
        try:
            parse_monitor({"name": name, "url": url})  # the loader's own checks of a monitor
        except ValidationError as exc:
            words = "; ".join(str(error["msg"]).removeprefix("Value error, ") for error in exc.errors())
            raise UsageError(f"--url: {words}") from None  # the words name the URL
        monitors.append(StarterMonitor(name, url))
    return monitors


def _as_https(site: str) -> str:
    """`shop.example.com` as people type it: https://shop.example.com/."""
    return f"https://{site}" if "/" in site else f"https://{site}/"


def _name_for(url: str) -> str:
    """shop.example.com, shop.example.com-8443, or the file's name for file:// targets."""
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port
    except ValueError:  # the monitor's own check says what is wrong with it
        return "site"
    base = host or Path(parts.path.rstrip("/")).name
    if port is not None:
        base = f"{base}-{port}"
    name = _NOT_IN_A_NAME.sub("-", base).strip("-._")[:_NAME_LENGTH]
    return name or "site"


def _unique(name: str, taken: set[str]) -> str:
    candidate, number = name, 1
    while candidate in taken:
        number += 1
        suffix = f"-{number}"
        candidate = name[: _NAME_LENGTH - len(suffix)] + suffix
    return candidate


def write_starter(path: Path, monitors: Sequence[StarterMonitor], force: bool = False) -> None:
    """Write the starter config to `path`: never over an existing file unless `force`. The
    file is the owner's alone (0600): notification URLs carry passwords once filled in."""
    if path.exists() and not force:
        raise UsageError(f"{path} exists already; choose another file, or --force to replace it")
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
    try:
        descriptor = os.open(path, flags, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as file:
            file.write(starter_config(monitors, str(path)))
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from None


def starter_config(monitors: Sequence[StarterMonitor], path: str = DEFAULT_FILE) -> str:
    """The starter file's text, for `monitors` (none: commented examples only)."""
    sections = (
        _header(path),
        _server(),
        _storage(),
        _defaults(),
        _notify(),
        _monitors(monitors),
        _status_pages(monitors),
        _maintenance(),
    )
    return "\n".join(sections)


def _duration(seconds: float) -> str:
    """Seconds as the config writes them: 30s, 5m, 1h, 3d."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds / size:g}{unit}"
    return f"{seconds:g}s"


def _quoted(text: str) -> str:
    """A YAML scalar that reads back as exactly `text` (JSON's double quotes are YAML's)."""
    return json.dumps(text, ensure_ascii=False)


def _header(path: str) -> str:
    return f"""\
# ronda's configuration: what to watch, where to keep its history, whom to tell.
#
# Check this file without starting anything:   ronda run --check-config --config {path}
# Then watch:                                   ronda run --config {path}
#
# Durations are written 500ms, 30s, 5m, 1h or 1d. ${{NAME}} anywhere in a value is the
# environment variable NAME (one that is not set is an error, so secrets can stay out of
# this file). Relative paths are read from this file's folder. A misspelt key is an error,
# never ignored. ronda's README and docs/ have every key; these are the ones to start with.
"""


def _server() -> str:
    return f"""\
# The web face: the dashboard (log in), the public status page at /status, and the JSON API.
server:
  listen: {DEFAULT_LISTEN}          # this machine only; for others, a reverse proxy in front (nginx, with TLS)
  # The API's admin token, read from the environment (16 characters at least; make one with
  # `openssl rand -hex 16`). Left out, each run makes its own and shows it on the terminal
  # (or writes it beside this file): set it for a service (systemd, a container).
  # token: ${{RONDA_TOKEN}}
  # The address people reach ronda at: links in notices, status pages and feeds point there.
  # public_url: https://ronda.example.com
  # Your reverse proxy's address, so that per-visitor limits count visitors, not the proxy.
  # trusted_proxies: [127.0.0.1]
"""


def _storage() -> str:
    return """\
# Where checks, incidents and users are kept: an SQLite file, beside this file. Under systemd
# write an absolute path in ronda's state folder: sqlite:////var/lib/ronda/ronda.db (four /).
# Several hubs share one PostgreSQL: postgresql://ronda:${RONDA_DB_PASSWORD}@db.example.com/ronda
storage: sqlite:///ronda.db
"""


def _defaults() -> str:
    settings = (
        (f"interval: {_duration(defaults.INTERVAL)}", "how often each monitor is checked"),
        (f"timeout: {_duration(defaults.TIMEOUT)}", "how long one check may take, all included"),
        (f"confirm: {defaults.CONFIRM}", "failed checks in a row before an incident opens (a first failure"),
        ("", "is checked again within seconds: confirming costs seconds, not intervals)"),
        (f"cert_warn_days: {defaults.CERT_WARN_DAYS:g}", "warn this many days before a certificate expires"),
        ("# ca_file: ./my-ca.pem", "trust your own CA too, beside the system's (internal sites)"),
    )
    lines = "".join(f"  {setting:<30}# {words}\n" for setting, words in settings)
    return (
        "# How every monitor is checked, unless it says otherwise (a monitor may set any of these).\ndefaults:\n"
        + lines
    )


def _notify() -> str:
    return """\
# Whom to tell when an incident opens or resolves: any Apprise URL (mailto://, tgram://,
# slack://, ntfy://, matrix://, json:// ...). None here: incidents show on the dashboard only.
# Uncomment, fill in, and keep passwords in the environment:
# notify:
#   - ntfy://ntfy.sh/my-ronda-alerts                  # a plain URL hears about everything
#   - name: me
#     url: mailtos://me:${SMTP_PASSWORD}@smtp.example.com?to=me@example.com
#     min_severity: down                              # down, degraded, warning or info (all)
#     tags: [public]                                  # only monitors with one of these tags
"""


_MORE_KINDS_HEADING = "# More kinds of target, one per monitor (`ronda check URL` tries any of them once):"
_MORE_KINDS = (
    "- name: mail",
    "  url: smtp://mail.example.com:587         # STARTTLS and its certificate (tls://host:465: implicit TLS)",
    "- name: database",
    "  url: tcp://db.example.com:5432           # the port accepts connections",
    "- name: nightly-backup",
    "  kind: push                               # the job calls its URL; late or failed opens an incident",
    '  cron: "0 3 * * *"',
    "  grace: 1h",
)
_EXAMPLE_SITE = (
    "- name: shop",
    "  url: https://shop.example.com/",
    '  expect: {status: 200, text: "Welcome", max_latency: 2s}',
)


def _commented(lines: Sequence[str], prefix: str) -> str:
    """Lines as comments that become the config's own once `# ` is taken away."""
    return "".join(f"{prefix}{line}\n" for line in lines)


def _monitors(monitors: Sequence[StarterMonitor]) -> str:
    intro = "# What to watch: a name (letters, digits, . _ -) and a URL for each.\n"
    if not monitors:
        return (
            intro
            + "# None yet: uncomment these lines and put your own sites in (or write this file again\n"
            + "# with them: ronda init --force --url https://your.site/).\n"
            + "# monitors:\n"
            + _commented((*_EXAMPLE_SITE, _MORE_KINDS_HEADING, *_MORE_KINDS), "#   ")
        )
    entries = "".join(_monitor(monitor) for monitor in monitors)
    return intro + "monitors:\n" + entries + f"  {_MORE_KINDS_HEADING}\n" + _commented(_MORE_KINDS, "  # ")


def _monitor(monitor: StarterMonitor) -> str:
    text = f"  - name: {_quoted(monitor.name)}\n    url: {_quoted(monitor.url)}\n"
    if urlsplit(monitor.url).scheme in ("http", "https"):
        text += '    # expect: {status: 200, text: "Welcome", max_latency: 2s}   # what a good answer is\n'
    return text


def _status_pages(monitors: Sequence[StarterMonitor]) -> str:
    names = ", ".join(monitor.name for monitor in monitors[:3]) or "shop"
    return f"""\
# The public status page (/status, no login) shows monitors by name, never their URLs.
# Without status_pages it shows every monitor; to choose:
# status_pages:
#   - slug: public                       # at /status/public
#     title: Our services
#     monitors: [{names}]
"""


def _maintenance() -> str:
    return """\
# Planned work: incidents inside a window are marked planned and tell nobody.
# maintenance:
#   - name: nightly backup
#     cron: "0 2 * * *"                  # or start: and end: for a one-off window
#     duration: 30m
#     timezone: Europe/Rome
"""

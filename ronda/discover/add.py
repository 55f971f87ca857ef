"""Monitors for the devices discovery found (`ronda discover --add`): an onvif:// monitor for
each device not watched yet, named after the name it announces, written into the config
file or into the database.

The config file is edited with ruamel.yaml's round trip, so its comments, quotes, order and
layout stay as they were and the new monitors are appended to `monitors:`. The database gets
them as the API stores them (ronda.storage.monitor_specs), so the dashboard can edit and
delete them later.

A device is watched already when a monitor's onvif:// or onvifs:// target has its host and
port; credentials are not guessed: a monitor added here reads the device's time, and its make
and model once user:pass@ is written into its URL.
"""

from __future__ import annotations

import copy
import itertools
import os
import re
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError
from ruamel.yaml.util import load_yaml_guess_indent

from ronda.config.schema import CheckMonitor
from ronda.discover.probe import Found
from ronda.errors import ConfigError, UsageError
from ronda.probes.onvif import DEVICE_SERVICE
from ronda.target import parse_target

NAME_LENGTH = 64  # a monitor's name's limit
_NOT_IN_NAME = re.compile(r"[^A-Za-z0-9_.-]+")


@dataclass(frozen=True)
class Known:
    """A monitor that exists already."""

    name: str
    url: str


@dataclass(frozen=True)
class Planned:
    """What becomes of one device: its monitor's name and URL, and whether it is new."""

    found: Found
    name: str | None  # None: the device gives no address ronda can watch
    url: str | None
    new: bool


def monitor_url(found: Found) -> str | None:
    """onvif://host[:port][/path] for the device's first http(s) address (IPv4 first)."""
    addresses = [urlsplit(xaddr) for xaddr in found.xaddrs]
    usable = [parts for parts in addresses if parts.scheme in ("http", "https") and parts.hostname]
    if not usable:
        return None
    best = sorted(usable, key=lambda parts: ":" in (parts.hostname or ""))[0]  # IPv6 last
    scheme = "onvifs" if best.scheme == "https" else "onvif"
    path = "" if best.path in ("", "/", DEVICE_SERVICE) else best.path
    return f"{scheme}://{best.netloc.rpartition('@')[2]}{path}"


def _place(url: str) -> tuple[str, int] | None:
    try:
        target = parse_target(url)
    except UsageError:
        return None
    return (target.host, target.port) if target.scheme in ("onvif", "onvifs") else None


def plan(devices: Sequence[Found], known: Sequence[Known]) -> list[Planned]:
    """Each device's monitor: the one watching it already, or a new one with a unique name."""
    watched = {place: k.name for k in known if (place := _place(k.url)) is not None}
    taken = {k.name for k in known}
    planned = []
    for found in devices:
        url = monitor_url(found)
        place = _place(url) if url else None
        if url is None or place is None:
            planned.append(Planned(found, None, None, new=False))
        elif place in watched:
            planned.append(Planned(found, watched[place], url, new=False))
        else:
            name = unique_name(base_name(found, place[0]), taken)
            taken.add(name)
            watched[place] = name
            planned.append(Planned(found, name, url, new=True))
    return planned


def base_name(found: Found, host: str) -> str:
    """A monitor name from the name the device announces (else its hardware, else its
    address), in the letters Monitor.name allows: `Garage Cam #2` -> `garage-cam-2`."""
    for source in (found.name, found.hardware, f"onvif-{host}"):
        slug = _NOT_IN_NAME.sub("-", source or "").lower().strip("-_.")[:NAME_LENGTH].rstrip("-_.")
        if slug:
            return slug
    return "onvif-device"


def unique_name(base: str, taken: set[str]) -> str:
    if base not in taken:
        return base
    for number in itertools.count(2):
        suffix = f"-{number}"
        candidate = base[: NAME_LENGTH - len(suffix)] + suffix
        if candidate not in taken:
            return candidate
    raise AssertionError("unreachable")


def _monitors(planned: Sequence[Planned]) -> list[CheckMonitor]:
    """The new monitors, checked as the config file's are (a name or URL that slipped through is a bug)."""
    try:
        return [CheckMonitor(name=p.name, url=p.url) for p in planned if p.new and p.name and p.url]
    except ValidationError as exc:  # pragma: no cover - plan() makes valid names and URLs
        raise AssertionError(f"discovery made a monitor the config would refuse: {exc}") from None


# -- the config file ---------------------------------------------------------------------------


class ConfigFile:
    """A config file, read and written back as it is laid out."""

    def __init__(self, path: str) -> None:
        self.path = Path(path)
        try:
            self.text = self.path.read_text()
        except OSError as exc:
            raise ConfigError(path, [(None, None, f"cannot be read: {exc.strerror or exc}")]) from None
        self.yaml = YAML()  # round trip: comments, quotes and order kept
        self.yaml.preserve_quotes = True
        self.yaml.width = 4096  # long lines stay as they are
        try:
            _, sequence, offset = load_yaml_guess_indent(self.text)
            self.data = self.yaml.load(self.text)
        except YAMLError as exc:
            raise ConfigError(path, [(None, None, f"is not YAML: {exc}")]) from None
        if self.data is None:
            self.data = CommentedMap()
        if not isinstance(self.data, CommentedMap):
            raise ConfigError(path, [(None, None, "is not a mapping of settings")])
        self.yaml.indent(mapping=_mapping_indent(self.text), sequence=sequence or 2, offset=offset or 0)

    def known(self) -> list[Known]:
        entries = self.data.get("monitors") or []
        return [
            Known(str(entry.get("name", "")), str(entry.get("url", "")))
            for entry in (entries if isinstance(entries, list) else [])
            if isinstance(entry, dict)
        ]

    def add(self, planned: Sequence[Planned]) -> list[CheckMonitor]:
        """Append the new monitors to `monitors:` and write the file (whole, or not at all)."""
        monitors = _monitors(planned)
        if not monitors:
            return []
        entries = self.data.get("monitors")
        if not isinstance(entries, CommentedSeq):
            entries = CommentedSeq()
            self.data["monitors"] = entries
        if entries.fa.flow_style():  # `monitors: []`: the new ones go one per block
            entries.fa.set_block_style()
        for monitor in monitors:
            entry = CommentedMap([("name", monitor.name), ("url", monitor.url)])
            if entries and isinstance(entries[-1], CommentedMap):
                _move_trailing_comment(entries[-1], entry)
            entries.append(entry)
        self._write()
        return monitors

    def _write(self) -> None:
        """Through a file beside it, renamed over it: a reader never sees half a config."""
        handle, temporary = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.")
        try:
            with os.fdopen(handle, "w") as out:
                self.yaml.dump(self.data, out)
            os.chmod(temporary, self.path.stat().st_mode & 0o7777)
            os.replace(temporary, self.path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise


def _mapping_indent(text: str) -> int:
    """How far the file indents a mapping's keys (2 unless it shows otherwise)."""
    found = re.search(r"^[A-Za-z_][\w-]*:[ \t]*(?:#.*)?\n( +)[A-Za-z_\"']", text, re.MULTILINE)
    return len(found.group(1)) if found else 2


def _move_trailing_comment(previous: CommentedMap, entry: CommentedMap) -> None:
    """ruamel keeps the comment lines after a list on its last item's last key; they belong
    after the list, so they move to the item appended after it. The first line (the
    previous key's own end-of-line comment) stays."""
    key = next(reversed(previous), None)
    slot = previous.ca.items.get(key) if key is not None else None
    if not slot or len(slot) < 3 or slot[2] is None:
        return
    token = slot[2]
    head, newline, rest = token.value.partition("\n")
    if not rest:
        return
    moved = copy.copy(token)
    moved.value = "\n" + rest
    token.value = head + newline
    entry.ca.items[next(reversed(entry))] = [None, None, moved, None]


# -- the database ----------------------------------------------------------------------------


def stored_known(storage: str) -> list[Known]:
    from ronda.storage.database import Database

    store = Database(storage)
    try:
        return [Known(m.name, m.target) for m in store.monitors.active()]
    finally:
        store.close()


def store_monitors(storage: str, planned: Sequence[Planned]) -> list[CheckMonitor]:
    """Save the new monitors as the API does: a running ronda checks them from its next start."""
    from ronda.service.monitors import spec_of
    from ronda.storage.database import Database

    monitors = _monitors(planned)
    store = Database(storage)
    try:
        specs = store.specs
        for monitor in monitors:
            specs.save(monitor.name, parse_target(monitor.url).url, spec_of(monitor))
    finally:
        store.close()
    return monitors

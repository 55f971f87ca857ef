"""Reading a config file: YAML with line numbers, `${VAR}` from the environment, pydantic
validation, and every problem reported as file:line: field: message.

PyYAML's safe loader forgets where each value came from, so we compose the node tree
ourselves and keep a map from each value's path to its line; pydantic's error locations
are paths, which the map turns back into lines.
"""

from __future__ import annotations

import collections
import functools
import os
import re
import ssl
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from ronda.config.schema import LOGO_MAX_BYTES, Config, Monitor, PushMonitor
from ronda.config.wording import name_in_use, plain_message
from ronda.errors import ConfigError
from ronda.memory import gc_paused

Path_ = tuple[str | int, ...]
_STR = "tag:yaml.org,2002:str"
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


class _Reader:
    def __init__(self, path: str, environ: Mapping[str, str]) -> None:
        self.path = path
        self.environ = environ
        self.lines: dict[Path_, int] = {}
        self.problems: list[tuple[int | None, str | None, str]] = []
        self._constructor = yaml.SafeLoader("")

    def value(self, node: yaml.Node, where: Path_) -> Any:
        self.lines[where] = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, where)
        if isinstance(node, yaml.SequenceNode):
            return [self.value(item, (*where, i)) for i, item in enumerate(node.value)]
        return self._scalar(node, where)

    def _mapping(self, node: yaml.MappingNode, where: Path_) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = str(self._scalar(key_node, where))
            if key in out:
                self.problems.append((key_node.start_mark.line + 1, field_name((*where, key)), "key appears twice"))
            out[key] = self.value(value_node, (*where, key))
        return out

    def _scalar(self, node: yaml.Node, where: Path_) -> Any:
        # A string (most of a file: every key) as it is: the constructor's round for each was
        # a second of loading 100,000 monitors.
        if node.tag == _STR and isinstance(node, yaml.ScalarNode):
            value = node.value
        else:
            value = self._constructor.construct_object(node, deep=True)  # YAML's own typing
        if isinstance(value, str) and "${" in value:
            value = _VAR.sub(lambda m: self._variable(m.group(1), node, where), value)
        return value

    def _variable(self, name: str, node: yaml.Node, where: Path_) -> str:
        if name not in self.environ:
            self.problems.append(
                (node.start_mark.line + 1, field_name(where), f"environment variable {name} is not set")
            )
            return ""
        return self.environ[name]

    def line_of(self, where: Path_) -> int | None:
        """The line of the deepest part of `where` that the file has (a missing key is
        reported at its parent)."""
        for depth in range(len(where), -1, -1):
            if where[:depth] in self.lines:
                return self.lines[where[:depth]]
        return None


def field_name(where: Path_) -> str:
    out = ""
    for part in where:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top)"


def load_config(path: str, environ: Mapping[str, str] | None = None) -> Config:
    """Read and validate `path`; raise ConfigError naming file, line and field."""
    with gc_paused():  # every node and model made here lives on till the end, or for good
        return _load_config(path, environ)


def _load_config(path: str, environ: Mapping[str, str] | None) -> Config:
    reader = _Reader(path, os.environ if environ is None else environ)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(path, [(None, None, f"cannot read the file: {exc.strerror or exc}")]) from None
    raw = _parse_yaml(reader, text)
    if reader.problems:
        raise ConfigError(path, reader.problems)
    try:
        config = Config.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(path, [_describe(reader, error) for error in exc.errors()]) from None
    _check_unique_names(reader, config)
    _check_unique_tokens(reader, config)
    _check_dependencies(reader, config)
    _check_maintenance_monitors(reader, config)
    _check_status_pages(reader, config)
    config = _relative_to(config, Path(path).resolve().parent)
    _check_files_exist(reader, config)
    return config


def _parse_yaml(reader: _Reader, text: str) -> Any:
    try:
        node = _compose(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        raise ConfigError(reader.path, [(line, None, f"not valid YAML: {exc.problem or exc}")]) from None
    if node is None:
        return {}
    if not isinstance(node, yaml.MappingNode):
        raise ConfigError(reader.path, [(node.start_mark.line + 1, None, "the file must be a mapping of keys")])
    return reader.value(node, ())


def _compose(text: str) -> yaml.Node | None:
    """The file's node tree, lines marked. libyaml's parser where PyYAML has it (the Python
    one took 4 s for 10,000 monitors); a file it refuses is parsed again by the Python one,
    whose messages say more ("expected the node content, but found '<stream end>'")."""
    try:
        return yaml.compose(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.MarkedYAMLError:
        return yaml.compose(text, Loader=yaml.SafeLoader)  # raises again, in its words


def _describe(reader: _Reader, error: Any) -> tuple[int | None, str | None, str]:
    where: Path_ = tuple(error["loc"])
    return reader.line_of(where), field_name(where), plain_message(error)


def _check_dependencies(reader: _Reader, config: Config) -> None:
    """depends_on names existing monitors and never leads back to where it started."""
    among = dependency_index(config.monitors)
    for index, monitor in enumerate(config.monitors):
        if (problem := dependency_problem(monitor, among)) is not None:
            where: Path_ = ("monitors", index, "depends_on")
            raise ConfigError(reader.path, [(reader.line_of(where), field_name(where), problem)])


def dependency_problem(monitor: Monitor, among: DependencyIndex) -> str | None:
    """What is wrong with `monitor.depends_on` among the monitors `among` indexes (one it
    does not know, a way back to itself), in a config file's words; None: nothing."""
    if not monitor.depends_on:
        return None  # names nothing, so nothing missing, and no way back to itself
    known, parents = among
    for entry in monitor.depends_on:
        if entry not in known:
            tag = entry.removeprefix("tag:")
            return f"no monitor has the tag {tag!r}" if tag != entry else f"no monitor named {entry!r}"
    if monitor.name in ancestors(monitor.name, parents):
        return f"{monitor.name!r} depends on itself through {' -> '.join(dependency_cycle(monitor.name, parents))}"
    return None


DependencyIndex = tuple[set[str], dict[str, list[str]]]


def dependency_index(monitors: Sequence[Monitor]) -> DependencyIndex:
    """What depends_on may name among `monitors` (names, `tag:` entries) and each one's
    parents: made once for all the monitors a caller asks about (made per monitor, it was
    quadratic: 100,000 monitors at a reload)."""
    known = {m.name for m in monitors} | {f"tag:{tag}" for m in monitors for tag in m.tags}
    return known, dependency_map(monitors)


def dependency_map(monitors: Sequence[Monitor]) -> dict[str, list[str]]:
    """Each monitor's direct parents by name, for the monitors that depend on any (the others
    are not in it: ask with `.get(name, [])`); `tag:NAME` in depends_on stands for every
    other monitor with that tag (a DNS provider's checks, say)."""
    children = [monitor for monitor in monitors if monitor.depends_on]
    tagged: dict[str, list[str]] = {}
    if any(entry.startswith("tag:") for monitor in children for entry in monitor.depends_on):
        for monitor in monitors:
            for tag in monitor.tags:
                tagged.setdefault(f"tag:{tag}", []).append(monitor.name)
    return {
        monitor.name: [
            parent for entry in monitor.depends_on for parent in tagged.get(entry, [entry]) if parent != monitor.name
        ]
        for monitor in children
    }


def ancestors(name: str, parents: Mapping[str, list[str]]) -> tuple[str, ...]:
    """Every monitor `name` depends on, nearest first (breadth first), each once."""
    seen: dict[str, None] = {}  # ordered, and a lookup that does not walk the list
    frontier = collections.deque(parents.get(name, []))
    while frontier:
        current = frontier.popleft()
        if current not in seen:
            seen[current] = None
            frontier += parents.get(current, [])
    return tuple(seen)


def dependency_cycle(start: str, parents: Mapping[str, list[str]]) -> list[str]:
    """A path of dependencies from `start` back to itself, for the error message (the
    config file's and the API's alike)."""

    def walk(path: list[str]) -> list[str] | None:
        for parent in parents.get(path[-1], []):
            if parent == start:
                return [*path, parent]
            if parent not in path and (found := walk([*path, parent])):
                return found
        return None

    return walk([start]) or [start]


def _check_unique_names(reader: _Reader, config: Config) -> None:
    seen: set[str] = set()
    for index, monitor in enumerate(config.monitors):
        if monitor.name in seen:
            where: Path_ = ("monitors", index, "name")
            raise ConfigError(
                reader.path,
                [(reader.line_of(where), field_name(where), name_in_use(monitor.name))],
            )
        seen.add(monitor.name)


def _check_unique_tokens(reader: _Reader, config: Config) -> None:
    """A push monitor's token is its URL: two monitors cannot share one."""
    holders: dict[str, str] = {}
    for index, monitor in enumerate(config.monitors):
        if not isinstance(monitor, PushMonitor) or monitor.token is None:
            continue
        if monitor.token in holders:
            where: Path_ = ("monitors", index, "token")
            message = f"monitor {holders[monitor.token]!r} has this token already"
            raise ConfigError(reader.path, [(reader.line_of(where), field_name(where), message)])
        holders[monitor.token] = monitor.name


def _check_maintenance_monitors(reader: _Reader, config: Config) -> None:
    """A window naming a monitor that does not exist is a typo that would silently leave the
    real one unplanned."""
    names = {monitor.name for monitor in config.monitors}
    problems: list[tuple[int | None, str | None, str]] = []
    for i, window in enumerate(config.maintenance):
        for j, name in enumerate(window.monitors):
            if name not in names:
                where: Path_ = ("maintenance", i, "monitors", j)
                problems.append((reader.line_of(where), field_name(where), f"no monitor is named {name!r}"))
    if problems:
        raise ConfigError(reader.path, problems)


def _check_status_pages(reader: _Reader, config: Config) -> None:
    """Slugs are addresses, so each names one page; a page naming a monitor or tag that does
    not exist is a typo that would silently leave a service off the public page."""
    names = {monitor.name for monitor in config.monitors}
    tags = {tag for monitor in config.monitors for tag in monitor.tags}
    problems: list[tuple[int | None, str | None, str]] = []
    slugs: list[str] = []
    for i, page in enumerate(config.status_pages):
        if page.slug in slugs:
            where: Path_ = ("status_pages", i, "slug")
            problems.append((reader.line_of(where), field_name(where), f"{page.slug!r} is used by another status page"))
        slugs.append(page.slug)
        for key, known, words in (("monitors", names, "no monitor is named"), ("tags", tags, "no monitor has the tag")):
            for j, value in enumerate(getattr(page, key)):
                if value not in known:
                    where = ("status_pages", i, key, j)
                    problems.append((reader.line_of(where), field_name(where), f"{words} {value!r}"))
        for name in page.components:
            if name not in names:
                where = ("status_pages", i, "components", name)
                problems.append((reader.line_of(where), field_name(where), f"no monitor is named {name!r}"))
    if problems:
        raise ConfigError(reader.path, problems)


# Keys that name files: relative to the config file, and checked to exist at load.
_DEFAULTS_FILES = ("ca_file", "client_cert", "client_key")
MONITOR_FILE_KEYS = ("ca_file", "client_cert", "client_key", "deployed_from")


def _check_files_exist(reader: _Reader, config: Config) -> None:
    wanted: list[tuple[Path_, str | None]] = [
        (("defaults", key), getattr(config.defaults, key)) for key in _DEFAULTS_FILES
    ]
    for i, monitor in enumerate(config.monitors):  # what it took from defaults is checked there
        written = [key for key in MONITOR_FILE_KEYS if key in monitor.model_fields_set]
        wanted += [(("monitors", i, key), getattr(monitor, key)) for key in written]
    unusable = functools.cache(_unusable)  # a file many monitors name is read once
    problems = [
        (reader.line_of(where), field_name(where), why)
        for where, path in wanted
        if path is not None and (why := unusable(str(where[-1]), path)) is not None
    ]
    for i, page in enumerate(config.status_pages):  # its logo, relative to the config file by now
        if page.logo is not None and (why := _unusable_logo(page.logo)) is not None:
            where = ("status_pages", i, "logo")
            problems.append((reader.line_of(where), field_name(where), why))
    if problems:
        raise ConfigError(reader.path, problems)


def _unusable_logo(path: str) -> str | None:
    """Why a status page's logo cannot be served, or None: it is read at each start, and a
    page for crowds must not stream a huge file to each of them."""
    file = Path(path)
    if not file.is_file():
        return f"no such file: {path}"
    if file.stat().st_size > LOGO_MAX_BYTES:
        return f"{path} is over {LOGO_MAX_BYTES // 1024} KiB: a status page's logo should be small"
    return _unusable("logo", path)


def _unusable(key: str, path: str) -> str | None:
    """Why the file a key names cannot serve, or None. A CA bundle is loaded as checks will
    load it: one that exists but holds no certificate would otherwise pass here and leave its
    monitors unchecked at every slot."""
    file = Path(path)
    if not file.is_file():
        return f"no such file: {path}"
    try:
        with file.open("rb") as readable:
            readable.read(1)
        if key == "ca_file":  # the file alone, without the system's store a default context loads
            ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_verify_locations(cafile=path)
    except ssl.SSLError:  # before OSError, of which it is one
        return f"{path} holds no PEM certificates a TLS client can trust"
    except OSError as exc:
        return f"cannot read {path}: {exc.strerror or exc}"
    return None


def _relative_to(config: Config, base: Path) -> Config:
    """Paths in the file are relative to the file, not to wherever ronda was started."""

    def resolve(path: str | None) -> str | None:
        return None if path is None else str((base / path).resolve())

    storage = config.storage
    if storage.startswith("sqlite:///") and not storage.startswith("sqlite:////"):
        storage = "sqlite:///" + str(resolve(storage.removeprefix("sqlite:///")))
    defaults = config.defaults.model_copy(
        update={key: resolve(getattr(config.defaults, key)) for key in _DEFAULTS_FILES}
    )
    # A monitor's own paths here; those it took from defaults are filled again from them.
    monitors = [
        m.model_copy(update={key: resolve(getattr(m, key)) for key in MONITOR_FILE_KEYS if key in m.model_fields_set})
        if not m.model_fields_set.isdisjoint(MONITOR_FILE_KEYS)
        else m
        for m in config.monitors
    ]
    pages = [page.model_copy(update={"logo": resolve(page.logo)}) for page in config.status_pages]
    update = {"storage": storage, "status_pages": pages}
    if defaults == config.defaults:  # no path among the defaults: what monitors took from them holds
        return config.model_copy(update=update | {"monitors": monitors})
    return config.model_copy(update=update | {"defaults": defaults}).with_monitors(monitors)

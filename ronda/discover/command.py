"""`ronda discover`: its options, and what it prints (a table, or JSON with --json)."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from ronda.durations import parse_duration

if TYPE_CHECKING:
    from ronda.discover.add import Planned


def _duration(text: str) -> float:
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _ipv4(text: str) -> str:
    import ipaddress

    try:
        return str(ipaddress.IPv4Address(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an IPv4 address of this machine") from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--timeout", type=_duration, default=3.0, metavar="DURATION", help="how long to wait for answers (default 3s)"
    )
    parser.add_argument(
        "--interface", type=_ipv4, metavar="ADDR", help="probe through the interface with this IPv4 address"
    )
    parser.add_argument("--json", action="store_true", help="print the devices as a JSON array")
    parser.add_argument(
        "--add", action="store_true", help="add an onvif:// monitor for each new device (to --config or --storage)"
    )
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--config", metavar="FILE", help="the config file: its monitors, and where --add writes")
    source.add_argument("--storage", metavar="URL", help="the database: its monitors, and where --add stores them")


def run(args: argparse.Namespace) -> int:
    from ronda import eventloop
    from ronda.discover.add import ConfigFile, plan, store_monitors, stored_known
    from ronda.discover.probe import discover
    from ronda.errors import UsageError

    if args.add and not (args.config or args.storage):
        raise UsageError("--add needs --config FILE or --storage URL: where to write the new monitors")
    config = ConfigFile(args.config) if args.config else None  # read first: a bad file stops before probing
    devices = eventloop.run(discover(args.timeout, args.interface))
    known = config.known() if config else stored_known(args.storage) if args.storage else []
    planned = plan(devices, known)
    added: list[str] = []
    if args.add:
        monitors = config.add(planned) if config else store_monitors(args.storage, planned)
        added = [m.name for m in monitors]
    rows = [_row(p, added) for p in planned]
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        _print_table(rows, args.timeout)
        if args.add:
            print(_added_words(added, args.config or args.storage))
    return 0


def _row(planned: Planned, added: Sequence[str]) -> dict[str, Any]:
    return planned.found.to_json() | {
        "monitor_url": planned.url,
        "monitor": planned.name if planned.name in added or not planned.new else None,
        "added": planned.name in added,
    }


def _print_table(rows: Sequence[dict[str, Any]], timeout: float) -> None:
    """A table of what matters for choosing (name, address, hardware, location, monitor),
    then each device's identity, types and scopes as lines, which wrap where a table's
    narrow cells would not be readable."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text  # cells as plain text: an address such as [fe80::1] is not markup

    from ronda.discover.messages import SCOPE_PREFIX

    console = Console(highlight=False, soft_wrap=True)
    if not rows:
        console.print(f"no ONVIF device answered within {timeout:g} s")
        return
    table = Table(show_edge=False, pad_edge=False)
    for column in ("name", "address", "hardware", "location", "monitor"):
        table.add_column(column, overflow="fold")
    for row in rows:
        cells = (
            row["name"] or "—",
            "\n".join(row["xaddrs"]) or f"(none; answered from {row['answered_from']})",
            row["hardware"] or "—",
            row["location"] or "—",
            (row["monitor"] or "—") + (" (added)" if row["added"] else ""),
        )
        table.add_row(*(Text(cell) for cell in cells))
    console.print(table)
    for row in rows:
        scopes = ", ".join(unquote(scope.removeprefix(SCOPE_PREFIX)) for scope in row["scopes"])
        console.print(
            f"{row['name'] or row['endpoint']}: endpoint {row['endpoint']}; types {' '.join(row['types']) or 'none'}; "
            f"scopes {scopes or 'none'}",
            markup=False,
        )
    console.print(f"{len(rows)} device{'s' if len(rows) != 1 else ''} answered")


def _added_words(added: Sequence[str], where: str) -> str:
    if not added:
        return f"nothing added to {where}: every device found is watched already (or gave no address)"
    return f"added {len(added)} monitor{'s' if len(added) != 1 else ''} to {where}: {', '.join(added)}"

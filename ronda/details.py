"""Readable detail under the plugin line: findings, warnings, certificates (Rich)."""

from __future__ import annotations

import csv
import io
from typing import Any

from rich.console import Console
from rich.table import Table

from ronda.probes import FACTS
from ronda.verdict import Verdict, iso


def print_detail(verdict: Verdict, console: Console | None = None) -> None:
    console = console or Console(highlight=False, soft_wrap=True)
    console.print(
        f"status: [bold]{verdict.status}[/]  checked at {iso(verdict.checked_at)}"
        + (f"  addresses: {', '.join(verdict.addresses)}" if verdict.addresses else "")
    )
    for title, items in (("problems", verdict.findings), ("warnings", verdict.warnings)):
        if items:
            console.print(f"{title}:")
            for item in items:
                console.print(f"  - {item.code}: {item.detail}", markup=False)
    for key, facts in verdict.facts.items():  # each protocol's own lines, as its probe words them
        if facts and key in FACTS:
            for line in FACTS[key].detail(facts):
                console.print(line, markup=False)
    if verdict.certificates:
        # Lines, not a table: certificate names are long and plugin output is often 80 columns.
        console.print("certificates:")
        for cert in verdict.certificates:
            console.print(
                f"  - {cert.address}:{cert.port} {', '.join(cert.sans) or cert.subject}: not after "
                f"{iso(cert.not_after)} ({cert.days_left:.1f} days left); issuer {cert.issuer}; "
                f"problems: {', '.join(cert.problems) or 'none'}",
                markup=False,
            )


INVENTORY_COLUMNS = (
    "days_left",
    "not_after",
    "subject",
    "issuer",
    "monitor",
    "host",
    "address",
    "port",
    "fingerprint_sha256",
    "problems",
)


def print_inventory(entries: list[dict[str, Any]], console: Console | None = None) -> None:
    """The certificate inventory as a table, soonest expiry first."""
    console = console or Console(highlight=False)
    if not entries:
        console.print("no certificates seen yet")
        return
    table = Table(show_edge=False, pad_edge=False)
    for column in ("days left", "expires", "subject", "served at", "problems"):
        table.add_column(column, overflow="fold")
    for entry in entries:
        style = "red" if entry["days_left"] < 0 else "yellow" if entry["problems"] else ""
        places = "\n".join(f"{p['monitor']}: {p['host']}:{p['port']} ({p['address']})" for p in entry["places"])
        table.add_row(
            f"{entry['days_left']:.1f}",
            entry["not_after"],
            entry["subject"],
            places,
            ", ".join(entry["problems"]) or "-",
            style=style,
        )
    console.print(table)


def inventory_csv(entries: list[dict[str, Any]]) -> str:
    """One row per certificate and place, for spreadsheets."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(INVENTORY_COLUMNS)
    for entry in entries:
        for place in entry["places"] or [{}]:
            row = {**entry, **place, "problems": " ".join(entry["problems"])}
            writer.writerow([row.get(column, "") for column in INVENTORY_COLUMNS])
    return out.getvalue()

"""Readable detail under the plugin line: findings, warnings, certificates (Rich)."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

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
    if verdict.dns:
        console.print(
            f"dns: {verdict.dns['name']} {verdict.dns['type']} via {verdict.dns['server']}: "
            f"{', '.join(verdict.dns['answers']) or 'no answer'}",
            markup=False,
        )
    if verdict.certificates:
        table = Table(title="certificates", title_justify="left", show_edge=False)
        for column in ("address", "subject", "issuer", "not after", "days left", "problems"):
            table.add_column(column)
        for cert in verdict.certificates:
            table.add_row(
                f"{cert.address}:{cert.port}",
                cert.subject,
                cert.issuer,
                iso(cert.not_after),
                f"{cert.days_left:.1f}",
                ", ".join(cert.problems) or "-",
            )
        console.print(table)

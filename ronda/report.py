"""Readable detail under the plugin line: findings, warnings, certificates (Rich)."""

from __future__ import annotations

from rich.console import Console

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
        # Lines, not a table: certificate names are long and plugin output is often 80 columns.
        console.print("certificates:")
        for cert in verdict.certificates:
            console.print(
                f"  - {cert.address}:{cert.port} {', '.join(cert.sans) or cert.subject}: not after "
                f"{iso(cert.not_after)} ({cert.days_left:.1f} days left); issuer {cert.issuer}; "
                f"problems: {', '.join(cert.problems) or 'none'}",
                markup=False,
            )

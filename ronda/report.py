"""Readable detail under the plugin line: findings, warnings, certificates (Rich)."""

from __future__ import annotations

import csv
import io
from typing import Any

from rich.console import Console
from rich.table import Table

from ronda.probes.sdp import stream_words
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
    if verdict.icmp:
        console.print("ping:")
        for echoes in verdict.icmp["addresses"]:
            console.print(f"  - {echoes['address']}: {_echo_words(echoes)}", markup=False)
    if verdict.websocket:
        console.print(f"websocket: {_websocket_words(verdict.websocket)}", markup=False)
    if verdict.rtsp:
        _print_rtsp(console, verdict.rtsp)
    if verdict.statuspage:
        _print_statuspage(console, verdict.statuspage)
    if verdict.onvif:
        _print_onvif(console, verdict.onvif)
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


def _print_statuspage(console: Console, page: dict[str, Any]) -> None:
    said = " - ".join(str(w) for w in (page["indicator"], page["description"]) if w) or "no overall state"
    watching = f"; watching {', '.join(page['watched'])}" if page["watched"] else ""
    where = f"{page['format']}, {page['url']}"
    console.print(f"vendor: {page['page'] or 'unnamed'} ({where}): {said}{watching}", markup=False)
    for component in page["components"]:
        console.print(f"  - component {component['name']}: {component['status'].replace('_', ' ')}", markup=False)
    for kind, items in (("incident", page["incidents"]), ("maintenance", page["maintenances"])):
        for item in items:
            facts = [item["status"].replace("_", " ")]
            facts += [f"impact {item['impact']}"] if item.get("impact") else []
            facts += [f"updated {item['updated_at']}"] if item["updated_at"] else []
            facts += [item["link"]] if item["link"] else []
            console.print(f"  - {kind} {item['name']!r}: {', '.join(facts)}", markup=False)
    if page.get("truncated"):
        console.print("  (more than the vendor's first 25 of each are not listed)", markup=False)


def _print_rtsp(console: Console, rtsp: dict[str, Any]) -> None:
    auth = rtsp["auth"] or "none"
    offered = f" (offered: {', '.join(rtsp['auth_offered'])})" if rtsp["auth_offered"] else ""
    console.print(
        f"rtsp: {rtsp['address']} answered {rtsp['status']}, server {rtsp['server'] or 'unnamed'}, "
        f"authentication {auth}{offered}",
        markup=False,
    )
    if rtsp["public"]:
        console.print(f"  methods: {', '.join(rtsp['public'])}", markup=False)
    for stream in rtsp["streams"]:
        console.print(f"  - {stream_words(stream)}, {stream['proto']}, track {stream['track'] or '-'}", markup=False)


def _websocket_words(websocket: dict[str, Any]) -> str:
    words = [f"HTTP {websocket['status']}" if websocket["status"] else "no answer to the handshake"]
    if websocket["subprotocol"]:
        words.append(f"subprotocol {websocket['subprotocol']}")
    if "reply" in websocket:
        more = ", truncated" if websocket.get("truncated") else ""
        words.append(f"reply {websocket['reply']!r} ({websocket['reply_bytes']} B{more})")
    elif "round_trip_ms" in websocket:
        words.append("Pong")
    if "round_trip_ms" in websocket:
        words[-1] += f" in {websocket['round_trip_ms']:.3f} ms"
    if websocket["close_code"] is not None:
        words.append(f"close code {websocket['close_code']}")
    return ", ".join(words)


def _print_onvif(console: Console, onvif: dict[str, Any]) -> None:
    skew = onvif["skew_s"]
    clock = "no UTC time given" if skew is None else f"{abs(skew):.1f} s {'behind' if skew < 0 else 'ahead'}"
    time = f"{onvif['device_time']} ({clock})" if onvif["device_time"] else clock
    console.print(f"onvif: device time {time}; authentication {onvif['auth']}", markup=False)
    if onvif["device"]:
        facts = ", ".join(f"{key.replace('_', ' ')} {value or '-'}" for key, value in onvif["device"].items())
        console.print(f"  - device: {facts}", markup=False)


def _echo_words(echoes: dict[str, Any]) -> str:
    words = f"{echoes['received']} of {echoes['sent']} answered, {echoes['loss']:.0%} lost"
    rtt = echoes["rtt_ms"]
    return words + (f", round trip min/avg/max {rtt['min']:.3f}/{rtt['avg']:.3f}/{rtt['max']:.3f} ms" if rtt else "")


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

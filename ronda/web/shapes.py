"""The API's JSON, shaped from the storage's typed records (ronda/records.py): keys, their
order and their formats (times as ISO 8601 with Z) are CONTRACT.md's, so every answer is
byte for byte what clients already read. The dashboard's templates and `ronda certs` read
the same shapes."""

from __future__ import annotations

from dataclasses import asdict
from datetime import timedelta
from typing import Any

from ronda.httpspec import spec_shown
from ronda.records import (
    CertificatePlace,
    CertificateRecord,
    ConnectivityEntry,
    IncidentRecord,
    MonitorRecord,
    OutboxEntry,
    StoredReport,
    SurgeRecord,
    TimelineEntry,
    UptimeReport,
    WindowFigures,
)
from ronda.storage.accounts import ApiToken
from ronda.storage.monitors import VantageFigures
from ronda.verdict import iso


def incident_json(incident: IncidentRecord) -> dict[str, Any]:
    return {
        "id": incident.id,
        "monitor": incident.monitor,
        "cause": incident.cause,
        "status": incident.status,
        "severity": incident.severity,
        "scope": incident.scope,
        "summary": incident.summary,
        "opened_at": iso(incident.opened_at),
        "resolved_at": iso(incident.resolved_at) if incident.resolved_at else None,
        "duration_s": incident.duration_s,
        "regions": list(incident.regions),
        "working_regions": list(incident.working_regions),
        "flapping": incident.flapping,
        "planned": incident.planned,
        "signal": incident.signal,
        "updates": [update_json(u) for u in incident.updates],
    }


def update_json(update: TimelineEntry) -> dict[str, Any]:
    out = {"at": iso(update.at), "kind": update.kind, "message": update.message, "author": update.author}
    return out | ({"status": update.status} if update.status else {})


def monitor_json(monitor: MonitorRecord, push_url: str | None = None) -> dict[str, Any]:
    """`push_url` only for a push monitor, and only behind the token (ronda/web/push.py)."""
    out = {
        "name": monitor.name,
        "target": monitor.target,
        "status": monitor.status,
        "cause": monitor.cause,
        "warning": monitor.warning,
        "since": iso(monitor.since) if monitor.since else None,
        "open_incident": monitor.open_incident,
        "last_check": monitor.last_check,
        "source": monitor.source,
        "editable": monitor.editable,
        "spec": None if monitor.spec is None else spec_shown(monitor.spec),  # its secrets as ***
        "device": monitor.device,
    }
    return out | ({"push_url": push_url} if push_url is not None else {})


def certificate_json(cert: CertificateRecord) -> dict[str, Any]:
    """The latest facts in a verdict's own keys, the most recent place in them too, then
    every place: `{**details, ...}` keeps the verdict's key order, as clients saw it."""
    latest = cert.latest
    return {
        **cert.details,
        "fingerprint_sha256": cert.fingerprint_sha256,
        "subject": cert.subject,
        "issuer": cert.issuer,
        "not_before": iso(cert.not_before),
        "not_after": iso(cert.not_after),
        "monitor": latest.monitor if latest else None,
        "host": latest.host if latest else cert.details.get("host"),
        "address": latest.address if latest else cert.details.get("address"),
        "port": latest.port if latest else cert.details.get("port"),
        "days_left": cert.days_left,
        "first_seen": iso(cert.first_seen),
        "last_seen": iso(cert.last_seen),
        "places": [place_json(p) for p in cert.places],
    }


def place_json(place: CertificatePlace) -> dict[str, Any]:
    return {
        "monitor": place.monitor,
        "host": place.host,
        "address": place.address,
        "port": place.port,
        "first_seen": iso(place.first_seen),
        "last_seen": iso(place.last_seen),
    }


def uptime_json(report: UptimeReport) -> dict[str, Any]:
    return {
        "monitor": report.monitor,
        "at": iso(report.at),
        "windows": {name: window_json(figures) for name, figures in report.windows.items()},
    }


def window_json(figures: WindowFigures) -> dict[str, Any]:
    return asdict(figures) | {"since": iso(figures.since)}  # the fields' order is the JSON's


VANTAGE_SPAN = timedelta(hours=1)  # how far back a monitor's vantage points are summed up


def vantage_json(figures: VantageFigures) -> dict[str, Any]:
    return {
        "vantage": figures.vantage,
        "region": figures.region,
        "status": figures.status,
        "cause": figures.cause,
        "checked_at": iso(figures.checked_at),
        "offline": figures.offline,
        "checks": figures.checks,
        "failed": figures.failed,
        "median_ms": None if figures.median_ms is None else round(figures.median_ms, 1),
    }


def connectivity_json(entry: ConnectivityEntry) -> dict[str, Any]:
    return {"at": iso(entry.at), "online": entry.online, "detail": entry.detail}


def outbox_json(entry: OutboxEntry) -> dict[str, Any]:
    return {
        "id": entry.id,
        "source": entry.source,
        "channel": entry.channel,
        "title": entry.title,
        "status": entry.status,
        "attempts": entry.attempts,
        "last_error": entry.last_error,
        "created_at": iso(entry.created_at),
        # Only a pending row has a next attempt; a sent or failed one's is history.
        "next_attempt_at": iso(entry.next_attempt_at) if entry.status == "pending" else None,
        "deadline_at": iso(entry.deadline_at),
        "sent_at": iso(entry.sent_at) if entry.sent_at else None,
    }


def report_json(report: StoredReport) -> dict[str, Any]:
    return {
        "id": report.id,
        "service": report.service,
        "region": report.region,
        "problem": report.problem,
        "comment": report.comment,  # HTML-escaped, as stored
        "reporter_hash": report.reporter_hash,
        "received_at": iso(report.received_at),
    }


def surge_json(surge: SurgeRecord) -> dict[str, Any]:
    return {
        "id": surge.id,
        "service": surge.service,
        "level": surge.level,
        "peak": surge.peak,
        "scope": surge.scope,
        "regions": list(surge.regions),
        "reports": surge.reports,
        "expected": round(surge.expected, 2),
        "started_at": iso(surge.started_at),
        "updated_at": iso(surge.updated_at),
        "ended_at": iso(surge.ended_at) if surge.ended_at else None,
        "incident": surge.incident,
    }


def token_json(token: ApiToken) -> dict[str, Any]:
    """An API token as the API lists it: never its secret, only the prefix that names it."""
    return {
        "id": token.id,
        "name": token.name,
        "prefix": token.prefix,
        "user": token.username,
        "role": token.role,
        "created_at": iso(token.created_at),
        "last_used_at": iso(token.last_used_at) if token.last_used_at else None,
        "revoked_at": iso(token.revoked_at) if token.revoked_at else None,
    }

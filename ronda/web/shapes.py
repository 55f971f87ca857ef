"""The API's JSON, shaped from the storage's typed records (ronda/records.py): keys, their
order and their formats (times as ISO 8601 with Z) are CONTRACT.md's, so every answer is
byte for byte what clients already read. The dashboard's templates and `ronda certs` read
the same shapes."""

from __future__ import annotations

from typing import Any

from ronda.records import IncidentRecord, TimelineEntry
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
        "flapping": incident.flapping,
        "planned": incident.planned,
        "signal": incident.signal,
        "updates": [update_json(u) for u in incident.updates],
    }


def update_json(update: TimelineEntry) -> dict[str, Any]:
    out = {"at": iso(update.at), "kind": update.kind, "message": update.message, "author": update.author}
    return out | ({"status": update.status} if update.status else {})

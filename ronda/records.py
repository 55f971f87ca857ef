"""Typed records: what the storage returns and the layers above it read, shaped as the
domain speaks, never as the API's JSON (the web layer shapes that)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class PublicUpdate:
    at: datetime
    kind: str  # detected, confirmed, ..., human
    status: str | None  # a human update's: investigating, identified, monitoring, resolved
    message: str  # only a human update's message is ever shown as written


@dataclass(frozen=True)
class PublicIncident:
    id: int
    monitors: tuple[str, ...]  # the incident's monitor first, then those that joined it
    cause: str | None
    severity: str  # down | degraded
    status: str  # open | resolved
    opened_at: datetime
    resolved_at: datetime | None
    duration_s: float | None
    planned: bool
    updates: tuple[PublicUpdate, ...]  # oldest first


@dataclass(frozen=True)
class Report:
    service: str
    region: str  # ISO 3166 code or plain text (ronda/regions.py), "" unknown
    problem: str
    comment: str | None  # HTML-escaped (html.escape): templates show it with the report_comment filter
    reporter_hash: str
    received_at: datetime

"""Failing browser checks' screenshots, apart from their verdicts.

A verdict arrives with its screenshot inside (`browser.screenshot.data`, base64: so agents
and worker processes carry it as they carry the rest). Stored verdicts are kept small and for
long, so here the image goes to a table of its own, in the transaction that stores the
verdict, and the stored verdict keeps only its `id`. A monitor keeps its last KEEP: each new
one deletes the older ones, so a page failing every minute for a month holds three images,
not forty thousand.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, delete, insert, select
from sqlalchemy.orm import Session, sessionmaker

from ronda.probes.screenshot import MEDIA_TYPE, image_of
from ronda.storage.models import MonitorRow, ScreenshotRow
from ronda.verdict import Verdict

KEEP = 3  # screenshots kept per monitor


@dataclass(frozen=True)
class Screenshot:
    """A stored screenshot, as the monitor's page tells of it (its image apart: `image`)."""

    id: int
    checked_at: datetime
    vantage: str
    status: str
    cause: str | None
    url: str


def carried(verdict: Verdict) -> bool:
    """Whether the verdict arrived with a screenshot."""
    shot = (verdict.facts.get("browser") or {}).get("screenshot")
    return isinstance(shot, dict) and "data" in shot


def split_off(data: dict[str, Any]) -> tuple[dict[str, Any], bytes | None]:
    """A verdict's JSON without its screenshot's data, and that image (None: it has none,
    or none that decodes, and then nothing of it is stored but its size)."""
    browser = data.get("browser")
    shot = browser.get("screenshot") if isinstance(browser, dict) else None
    if not isinstance(browser, dict) or not isinstance(shot, dict) or "data" not in shot:
        return data, None
    image = image_of(shot) if shot.get("type") == MEDIA_TYPE else None
    reference = {key: value for key, value in shot.items() if key != "data"}
    return {**data, "browser": {**browser, "screenshot": reference}}, image


def keep(session: Session, monitor_id: int, verdict: Verdict, image: bytes) -> int:
    """Store a verdict's screenshot; its id, for the stored verdict to name."""
    browser = verdict.facts.get("browser") or {}
    row = {
        "monitor_id": monitor_id,
        "checked_at": verdict.checked_at,
        "vantage": verdict.vantage,
        "status": verdict.status,
        "cause": verdict.cause,
        "url": str(browser.get("url") or verdict.target),
        "media_type": MEDIA_TYPE,
        "image": image,
    }
    return int(session.execute(insert(ScreenshotRow).returning(ScreenshotRow.id), row).scalar_one())


def prune(session: Session, monitor_ids: Sequence[int]) -> None:
    """Delete each monitor's screenshots but its newest KEEP."""
    for monitor_id in monitor_ids:
        newest = session.scalars(
            select(ScreenshotRow.id)
            .where(ScreenshotRow.monitor_id == monitor_id)
            .order_by(ScreenshotRow.id.desc())
            .limit(KEEP)
        ).all()
        session.execute(
            delete(ScreenshotRow).where(ScreenshotRow.monitor_id == monitor_id, ScreenshotRow.id.not_in(newest))
        )


_SHOWN = (
    ScreenshotRow.id,
    ScreenshotRow.checked_at,
    ScreenshotRow.vantage,
    ScreenshotRow.status,
    ScreenshotRow.cause,
    ScreenshotRow.url,
)


class Screenshots:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def latest(self, name: str) -> Screenshot | None:
        """The monitor's newest screenshot: its latest failing check's that had one."""
        with self._sessions() as session:
            row = session.execute(select(*_SHOWN).where(_of(name)).order_by(ScreenshotRow.id.desc()).limit(1)).first()
        return None if row is None else Screenshot(**row._mapping)

    def image(self, name: str, shot_id: int | None = None) -> bytes | None:
        """The JPEG of the monitor's screenshot `shot_id` (None: its newest); None when it has
        no such screenshot (never taken, no longer kept, or no such monitor)."""
        query = select(ScreenshotRow.image).where(_of(name))
        if shot_id is not None:
            query = query.where(ScreenshotRow.id == shot_id)
        with self._sessions() as session:
            return session.scalars(query.order_by(ScreenshotRow.id.desc()).limit(1)).first()


def _of(name: str) -> ColumnElement[bool]:
    """The monitor `name`'s screenshots."""
    return ScreenshotRow.monitor_id == select(MonitorRow.id).where(MonitorRow.name == name).scalar_subquery()

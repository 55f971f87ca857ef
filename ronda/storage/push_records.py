"""What push monitors keep in the database: each one's secret (`monitors.push_token`, the
last part of its URL), when its job last said it started (`monitors.push_started_at`), and,
read back from its latest stored verdict, when the job last called or was last reported
late. Nothing else is needed to resume exactly after a restart.

Each method is one transaction; the service calls them on its writer thread.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from ronda.storage.db import among
from ronda.storage.models import MonitorRow, ResultRow
from ronda.verdict import parse_iso

log = logging.getLogger("ronda")

TOKEN_BYTES = 24  # 32 URL-safe characters: guessing one is hopeless


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


@dataclass(frozen=True)
class LastHeard:
    """A push monitor's latest stored verdict and its job's latest /start."""

    verdict: dict[str, Any] | None  # the contract's JSON, with the `push` object push verdicts have
    started: datetime | None


class PushRecords:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def ensure_tokens(self, wanted: Mapping[str, str | None]) -> dict[str, str]:
        """Give each named monitor its secret: the one written in its definition, else the
        one it has, else a new one. A written secret another monitor held (one removed since,
        say: the active ones are checked to differ) moves to this one."""
        with self._sessions.begin() as session:
            rows = {row.name: row for row in session.scalars(select(MonitorRow).where(among(MonitorRow.name, wanted)))}
            tokens: dict[str, str] = {}
            for name, written in wanted.items():
                row = rows[name]
                token = written or row.push_token or new_token()
                if token != row.push_token:
                    holder = session.scalars(select(MonitorRow).where(MonitorRow.push_token == token)).one_or_none()
                    if holder is not None:
                        log.warning("the push token of %s is now %s's", holder.name, name)
                        holder.push_token = None
                        session.flush()  # the unique column must be free before it is taken
                    row.push_token = token
                tokens[name] = token
            return tokens

    def tokens(self, names: set[str]) -> dict[str, str]:
        """The secrets of these monitors (those that have one), by name."""
        with self._sessions() as session:
            rows = session.execute(
                select(MonitorRow.name, MonitorRow.push_token).where(
                    among(MonitorRow.name, names), MonitorRow.push_token.is_not(None)
                )
            )
            return {name: token for name, token in rows if token is not None}

    def started(self, name: str, at: datetime) -> None:
        with self._sessions.begin() as session:
            row = session.scalars(select(MonitorRow).where(MonitorRow.name == name)).one()
            row.push_started_at = at

    def last_heard(self, name: str) -> LastHeard:
        with self._sessions() as session:
            row = session.scalars(select(MonitorRow).where(MonitorRow.name == name)).one()
            latest = session.scalars(
                select(ResultRow.verdict)
                .where(ResultRow.monitor_id == row.id)
                .order_by(ResultRow.checked_at.desc(), ResultRow.id.desc())
                .limit(1)
            ).first()
            return LastHeard(latest, row.push_started_at)


def instant(record: Mapping[str, Any], key: str) -> datetime | None:
    """A time a stored verdict (or its `push` object) holds, or None."""
    value = record.get(key)
    return parse_iso(value) if isinstance(value, str) else None

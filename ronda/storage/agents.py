"""Probe agents as the hub knows them: added with a token of their own (shown once, kept as
its SHA-256), listed with when each was last heard from, revoked. An agent's name and region
are what it was added with; what it says about itself is never believed.

A name is unique among agents not revoked; adding a revoked agent's name again gives that
name a new token (the old one stays dead), so an agent rebuilt after a leak keeps its place
in the history (its verdicts' vantage point, "region/name")."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from ronda.clock import Clock, system_clock
from ronda.config.schema import LOCAL_REGION, REGION_PATTERN
from ronda.storage.accounts import digest
from ronda.storage.models import AgentRow

AGENT_TOKEN_PREFIX = "ronda_agent_"
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$"
# How often an agent's "last seen" is written at most: each batch it sends would be a write
# otherwise. The hub writes it more often where agents go silent sooner (seen_every).
SEEN_EVERY = timedelta(seconds=5)


def seen_every(silent_after: timedelta) -> timedelta:
    """Often enough that an agent that calls is never taken for silent between two writes."""
    return min(SEEN_EVERY, silent_after / 4)


class AgentError(ValueError):
    """An agent that cannot be added as asked; the message says why, for a person."""


@dataclass(frozen=True)
class Agent:
    id: int
    name: str
    region: str
    prefix: str
    created_at: datetime
    revoked_at: datetime | None
    last_seen_at: datetime | None
    address: str | None
    online: bool
    offline_since: datetime | None
    offline_detail: str | None
    version: str | None

    @property
    def vantage(self) -> str:
        """Its verdicts' vantage point: "eu-south/milan-1" (ronda/rules/scope.py reads the region)."""
        return f"{self.region}/{self.name}"

    def silent(self, now: datetime, after: timedelta) -> bool:
        """Not heard from within `after`: a lost vantage point (never heard from: silent too)."""
        return self.last_seen_at is None or now - self.last_seen_at > after


def _agent(row: AgentRow) -> Agent:
    return Agent(
        row.id,
        row.name,
        row.region,
        row.prefix,
        row.created_at,
        row.revoked_at,
        row.last_seen_at,
        row.address,
        row.online,
        row.offline_since,
        row.offline_detail,
        row.version,
    )


def check_agent(name: str, region: str) -> None:
    if not re.fullmatch(NAME_PATTERN, name):
        raise AgentError(f"{name!r} is not an agent name: up to 32 letters, digits, '.', '_' and '-'")
    if region == LOCAL_REGION:
        raise AgentError(f"{LOCAL_REGION!r} is the hub's own region; an agent's region is another")
    if not re.fullmatch(REGION_PATTERN, region):
        raise AgentError(f"{region!r} is not a region name: lower-case letters, digits and -, such as eu-south")


class Agents:
    def __init__(self, sessions: sessionmaker[Session], clock: Clock = system_clock) -> None:
        self._sessions = sessions
        self._now = clock

    def add(self, name: str, region: str) -> tuple[str, Agent]:
        """A new agent: its token (to show once, never stored) and its record."""
        check_agent(name, region)
        secret = AGENT_TOKEN_PREFIX + secrets.token_urlsafe(32)
        with self._sessions.begin() as session:
            row = session.scalar(select(AgentRow).where(AgentRow.name == name))
            if row is not None and row.revoked_at is None:
                raise AgentError(f"there is an agent called {name!r} already (revoke it first to give it a new token)")
            if row is None:
                row = AgentRow(name=name)
                session.add(row)
            row.region, row.token_hash, row.prefix = region, digest(secret), secret[:20]
            row.created_at, row.revoked_at, row.last_seen_at = self._now(), None, None
            row.online, row.offline_since, row.offline_detail = True, None, None
            session.flush()
            return secret, _agent(row)

    def all(self) -> list[Agent]:
        """Every agent, revoked ones too, by region and name."""
        with self._sessions() as session:
            return [_agent(row) for row in session.scalars(select(AgentRow).order_by(AgentRow.region, AgentRow.name))]

    def active(self) -> list[Agent]:
        """The agents not revoked, by region and name."""
        return [agent for agent in self.all() if agent.revoked_at is None]

    def revoke(self, name: str) -> Agent | None:
        """Revoke an agent's token (it is refused from its next call); None: no such agent.
        Revoking twice keeps the first time."""
        with self._sessions.begin() as session:
            row = session.scalar(select(AgentRow).where(AgentRow.name == name))
            if row is None:
                return None
            row.revoked_at = row.revoked_at or self._now()
            return _agent(row)

    def use(
        self, secret: str, address: str | None = None, version: str | None = None, touch_every: timedelta = SEEN_EVERY
    ) -> Agent | None:
        """The agent behind a token, now heard from (at most one write per `touch_every`),
        or None: unknown or revoked."""
        if not secret.startswith(AGENT_TOKEN_PREFIX):
            return None
        now = self._now()
        with self._sessions.begin() as session:
            row = session.scalar(select(AgentRow).where(AgentRow.token_hash == digest(secret)))
            if row is None or row.revoked_at is not None:
                return None
            if row.last_seen_at is None or now - row.last_seen_at >= touch_every or row.address != address:
                row.last_seen_at, row.address = now, address
                row.version = version[:32] if version else row.version
            return _agent(row)

    def set_online(self, agent_id: int, online: bool, detail: str | None, since: datetime | None) -> None:
        """What the agent says of its own network (its canaries); written only on a change."""
        with self._sessions.begin() as session:
            row = session.get(AgentRow, agent_id)
            if row is None or row.online == online:
                return
            row.online = online
            row.offline_since = None if online else (since or self._now())
            row.offline_detail = None if online else (detail or "")[:500]

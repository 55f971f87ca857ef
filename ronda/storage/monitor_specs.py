"""Monitors defined through the API: their definitions in `monitors.spec`, with
`source = "api"`, so they survive restarts beside the config file's monitors.

A monitor row is the monitor's whole life (state, verdicts, incidents) whoever defines it:
deleting an API monitor marks the row inactive, as removing a config monitor from the file
does, and defining the name again (in the API or in the file) carries on that history.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from ronda.clock import Clock, system_clock
from ronda.storage.incidents import REMOVED, resolve
from ronda.storage.models import IncidentRow, MonitorRow

API = "api"


class MonitorSpecs:
    """The stored definitions; each method is one transaction."""

    def __init__(self, sessions: sessionmaker[Session], clock: Clock = system_clock) -> None:
        self._sessions = sessions
        self._clock = clock

    def load(self) -> dict[str, dict[str, Any]]:
        """Every active API monitor's definition, by name, in name order."""
        with self._sessions() as session:
            rows = session.scalars(
                select(MonitorRow).where(MonitorRow.source == API, MonitorRow.active).order_by(MonitorRow.name)
            )
            return {row.name: dict(row.spec or {}) for row in rows}

    def save(self, name: str, target: str, spec: dict[str, Any]) -> None:
        """Define (or redefine) `name` as an active API monitor; an inactive row of that name
        comes back with its history."""
        with self._sessions.begin() as session:
            row = session.scalars(select(MonitorRow).where(MonitorRow.name == name)).one_or_none()
            if row is None:
                session.add(
                    MonitorRow(
                        name=name, target=target, source=API, active=True, status="unknown", failures=0, spec=spec
                    )
                )
            else:
                row.target, row.source, row.active, row.spec = target, API, True, spec

    def deactivate(self, name: str) -> None:
        """Stop showing `name` among the monitors; its verdicts and incidents stay. An
        incident it has open ends as removed: nothing would ever resolve it (no check of it
        comes again), and it would stay open on the dashboard and the status page for good.
        Nobody is notified: a person removed it, and "works again" would not be true."""
        with self._sessions.begin() as session:
            row = session.scalars(select(MonitorRow).where(MonitorRow.name == name)).one_or_none()
            if row is None:
                return
            row.active = False
            incident = session.get(IncidentRow, row.open_incident_id) if row.open_incident_id else None
            if incident is not None and incident.status == "open":
                resolve(session, row, incident, self._clock(), REMOVED, "no longer watched: the monitor was removed")

"""The database: one object per storage URL, built once, its repositories as attributes.

    db = Database("sqlite:///ronda.db", outbox=outbox.write)
    db.monitors.record(name, verdict, policy)
    db.incidents.recent(open_only=True)

The engine is made and the schema migrated here (ronda/storage/db.py says how), and one
sessionmaker is shared by every repository: one pool, one set of session settings.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.orm import Session, sessionmaker

from ronda.clock import Clock, system_clock
from ronda.storage.accounts import Accounts
from ronda.storage.agents import Agents
from ronda.storage.db import make_engine, migrate
from ronda.storage.gauges import Gauges
from ronda.storage.history import History
from ronda.storage.incidents import Incidents, Notice
from ronda.storage.inventory import Certificates
from ronda.storage.monitor_specs import MonitorSpecs
from ronda.storage.monitors import Monitors
from ronda.storage.outbox import Ledger
from ronda.storage.push_records import PushRecords
from ronda.storage.reports import Reports
from ronda.storage.screenshots import Screenshots
from ronda.storage.series import Series
from ronda.storage.subscribers import Subscribers


class Database:
    def __init__(
        self,
        url: str,
        outbox: Callable[[Session, list[Notice]], None] | None = None,
        clock: Clock = system_clock,
    ) -> None:
        """`outbox` writes notices for sending in the transaction that produced them (a
        verdict's, a surge's, a person's post); `clock` is the one accounts expire by."""
        self.engine = make_engine(url)
        migrate(self.engine)
        # expire_on_commit=False: rows read in a transaction stay readable after it.
        sessions = sessionmaker(self.engine, expire_on_commit=False)
        self.monitors = Monitors(sessions, outbox)
        self.incidents = Incidents(sessions, outbox)
        self.certificates = Certificates(sessions)
        self.specs = MonitorSpecs(sessions, clock)  # the API's monitor definitions
        self.push = PushRecords(sessions)
        self.reports = Reports(sessions, self.engine.dialect.name, outbox)
        self.outbox = Ledger(sessions)
        self.accounts = Accounts(sessions, clock=clock)
        self.gauges = Gauges(sessions)  # what /metrics reads
        self.history = History(sessions)  # rollups and retention
        self.series = Series(sessions, self.engine.dialect.name)  # a monitor's checks per slot, for its chart
        self.agents = Agents(sessions, clock=clock)  # probe agents and their tokens
        self.screenshots = Screenshots(sessions)  # failing browser checks' screenshots
        self.subscribers = Subscribers(sessions)  # status pages' subscribers

    def close(self) -> None:
        self.reports.write_pending()  # reports accepted and not yet written: a clean stop keeps them
        self.engine.dispose()

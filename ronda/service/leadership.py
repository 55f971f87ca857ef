"""Which of several hubs on one PostgreSQL leads: a session-level advisory lock, held on a
connection of its own for as long as the hub leads.

Every hub serves the API, the dashboard, the status pages and the agents, and stores what it
is sent; a verdict is judged in the transaction that stores it, under its monitor's row lock,
so two hubs never judge one monitor at once. What runs by the clock runs on the leader only:
the hub's own checks (the `local` vantage point), push monitors' deadlines, the report
watch, rollups and retention, and the sender of notices.

Why an advisory lock and no lease table: PostgreSQL ends a session whose process died (the
kernel closes its socket, even after SIGKILL) and its locks go with it, at once; the next
hub to ask gets it within one POLL. A lease would wait out its term. A leader that loses its
connection cannot know whether another took over, so it stops (`hold` returns) and its
supervisor starts it again, as a standby. (A leader whose machine freezes keeps the lock
until PostgreSQL notices the connection is gone: its `tcp_keepalives_*` settings.)

On SQLite there is one hub: it leads from the start.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import DBAPIError

from ronda.service.scheduler import Changes, Job, ProbedJobs, changes_between, changes_of_update

log = logging.getLogger("ronda")

POLL = 1.0  # seconds between a standby's tries, and between a leader's looks at its connection
# The lock's key: the same for every hub of one database, and unlikely to be anyone else's.
LOCK_KEY = int.from_bytes(hashlib.sha256(b"ronda: the hub that leads").digest()[:8], "big", signed=True)


class Leadership:
    def __init__(self, engine: Engine, poll: float = POLL) -> None:
        self.shared = engine.dialect.name == "postgresql"  # several hubs may share the store
        self.leading = not self.shared
        self._engine = engine
        self._poll = poll
        self._connection: Connection | None = None
        # Its own thread: the lock's connection is used from one thread, and never waits
        # behind the store's writer.
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ronda-leadership")

    @property
    def role(self) -> str:
        return "leader" if self.leading else "standby"

    async def acquire(self) -> None:
        """Return once this hub leads (at once on SQLite)."""
        said = False
        while not self.leading:
            self.leading = await self._in_thread(self._try)
            if not self.leading:
                if not said:
                    log.info("another hub leads: this one serves and stands by")
                    said = True
                await asyncio.sleep(self._poll)
        if self.shared:
            log.warning("this hub leads now: it checks, keeps time and sends notices")

    async def hold(self) -> None:
        """Return when this hub has lost the lead (its connection to PostgreSQL broke);
        never on SQLite."""
        while await self._in_thread(self._still_held):
            await asyncio.sleep(self._poll)
        self.leading = False

    def _try(self) -> bool:
        try:
            if self._connection is None:
                self._connection = self._engine.connect()
            taken = self._connection.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": LOCK_KEY}).scalar()
            self._connection.commit()  # the lock is the session's: no transaction stays open
            return bool(taken)
        except DBAPIError as exc:
            log.error("cannot ask PostgreSQL who leads: %s", exc.orig or exc)
            self._drop()
            return False

    def _still_held(self) -> bool:
        if not self.shared:
            return True
        try:
            assert self._connection is not None
            self._connection.execute(text("SELECT 1")).scalar()
            self._connection.commit()
            return True
        except DBAPIError as exc:
            log.error("lost the connection that holds the lead: %s", exc.orig or exc)
            self._drop()
            return False

    def _drop(self) -> None:
        if self._connection is not None:
            try:
                self._connection.invalidate()  # not back to the pool: its session (and lock) must end
                self._connection.close()
            except DBAPIError:
                pass
            self._connection = None

    async def _in_thread(self, call: object) -> bool:
        assert callable(call)
        return bool(await asyncio.get_running_loop().run_in_executor(self._thread, call))

    def close(self) -> None:
        """Give the lead up (the connection's end releases the lock)."""
        self._thread.submit(self._drop).result()
        self._thread.shutdown(wait=True)
        self.leading = False


class HeldUntilLeading:
    """The hub's own checks (the scheduler or probe worker `engine`), held while the hub
    stands by: what the monitor manager hands over is kept, and handed on when it leads."""

    def __init__(self, engine: ProbedJobs) -> None:
        self._engine = engine
        self._held: dict[str, Job] | None = {}  # None once leading: everything goes through

    @property
    def jobs(self) -> list[Job]:
        return self._engine.jobs if self._held is None else list(self._held.values())

    async def replace(self, jobs: Iterable[Job]) -> Changes:
        if self._held is None:
            return await self._engine.replace(jobs)
        wanted = {job.name: job for job in jobs}
        changes = changes_between(self._held, wanted)
        self._held = wanted
        return changes

    async def update(self, jobs: Iterable[Job]) -> Changes:
        if self._held is None:
            return await self._engine.update(jobs)
        wanted = {job.name: job for job in jobs}
        changes = changes_of_update(self._held, wanted)
        self._held |= wanted
        return changes

    async def remove(self, names: Iterable[str]) -> tuple[str, ...]:
        if self._held is None:
            return await self._engine.remove(names)
        return tuple(name for name in names if self._held.pop(name, None) is not None)

    async def lead(self) -> None:
        """Start checking what was held."""
        if self._held is not None:
            held, self._held = self._held, None
            await self._engine.replace(held.values())

"""What the report intake keeps in memory so that taking a report reads no database: who was
counted for which service lately (the dedupe), and which services take reports.

The dedupe was a look-up in the reports table per report. Memory answers it the same:
reporters are hashes under a salt that lives only in memory (ronda/web/reports.py), so a
report from before a restart could never match one after it anyway.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from ronda.config.schema import Config
from ronda.rules.public_status import public_monitors

MAX_REMEMBERED = 200_000  # (reporter, service) pairs; past this the oldest are forgotten early
KEY_CHARS = 32  # of a reporter's hex hash: 128 bits tell reporters apart as well as 256


class RecentReporters:
    """When each reporter was last counted for each service, for `window` seconds. Kept in
    the order counted, so the expired ones are dropped from the front, and at most
    MAX_REMEMBERED are kept: with the default limits (300 reports a minute, a window of an
    hour) at most 18,000 ever are."""

    def __init__(self, limit: int = MAX_REMEMBERED) -> None:
        self.limit = limit
        self._counted: dict[tuple[str, str], datetime] = {}

    def counted_since(self, reporters: Sequence[str], service: str, since: datetime) -> bool:
        """Whether one of `reporters` (a person's hashes) was counted for `service` after `since`."""
        for reporter in reporters:
            at = self._counted.get((reporter[:KEY_CHARS], service))
            if at is not None and at > since:
                return True
        return False

    def counted(self, reporter: str, service: str, at: datetime, window: float) -> None:
        key = (reporter[:KEY_CHARS], service)
        self._counted.pop(key, None)  # to the end: the order stays the order counted
        self._counted[key] = at
        self._forget(at - timedelta(seconds=window))

    def __len__(self) -> int:
        return len(self._counted)

    def _forget(self, before: datetime) -> None:
        while self._counted:
            key, at = next(iter(self._counted.items()))
            if at > before and len(self._counted) <= self.limit:
                return
            del self._counted[key]


class ReportableServices:
    """The services a status page offers for reports, worked out once per config (a reload
    replaces the config object): a report is checked against them without a database read."""

    def __init__(self) -> None:
        self._config: Config | None = None
        self._names: frozenset[str] = frozenset()

    def of(self, config: Config) -> frozenset[str]:
        if config is not self._config:
            self._names = frozenset(public_monitors(config, [monitor.name for monitor in config.monitors]))
            self._config = config
        return self._names

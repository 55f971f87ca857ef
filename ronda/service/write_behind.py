"""Work that gathers while ronda serves, written by the store's one writer thread: a call to
`wake` asks for one run of `write` there soon; calls while a run is already asked for add
nothing. What piles up while the writer is busy (a check's verdict, the last batch) goes in
the next run together, so a flood of reports makes a few large transactions, not one each,
and the event loop never waits for the database.

`wake` may be called from any thread; `write` runs on the executor.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Executor

log = logging.getLogger("ronda")


class WriteBehind:
    def __init__(self, write: Callable[[], object], executor: Executor, what: str = "pending work") -> None:
        self._write = write
        self._executor = executor
        self._what = what
        self._lock = threading.Lock()
        self._asked = False

    def wake(self) -> None:
        with self._lock:
            if self._asked:
                return
            self._asked = True
        try:
            self._executor.submit(self._run)
        except RuntimeError:  # the executor is shutting down: the stop writes what is left
            with self._lock:
                self._asked = False

    def _run(self) -> None:
        with self._lock:
            # Cleared before writing: whatever arrives during the write asks for one more run.
            self._asked = False
        try:
            self._write()
        except Exception:  # kept for the next run (the writer's job says how)
            log.exception("writing %s failed; it is tried again with the next", self._what)

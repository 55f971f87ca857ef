"""Memory a long `ronda run` gives back: what glibc's allocator keeps after a burst of work.

Measured with bench/soak.py (docs/benchmarks.md, "A bounded soak"): under floods of reports,
badges and status pages, ronda's RSS grew 31 MiB in six and a half minutes. Of it, 24 MiB
was memory malloc held free, in the arenas of the worker threads (those that make public
pages, answer the API, write batches; the main thread's arena stayed flat), and 4 MiB was
in use. glibc gives threads that allocate at once arenas of their own, up to eight per core,
and returns an arena's free memory to the system only from its top, so the holes a burst
leaves below stay resident.

Two settings of glibc's own, made through `mallopt` and `malloc_trim` (ctypes: the standard
library has no binding, and no kept package offers one):

- `limit_arenas`: at most ARENAS arenas, as `MALLOC_ARENA_MAX=2` would. ronda's threads
  spend their time waiting (on the database, on a lock, on the event loop), so they seldom
  contend for an arena; fewer arenas share their free memory.
- `Trimmer`: every TRIM_EVERY, `malloc_trim(0)` hands the free pages of every arena back
  to the system (glibc walks the free chunks and advises them away; a page still partly
  used stays).

Elsewhere (musl, macOS) neither exists and both do nothing. An environment that sets
MALLOC_ARENA_MAX or GLIBC_TUNABLES itself keeps its own choice.
"""

from __future__ import annotations

import ctypes
import logging
import os
import platform
import threading

log = logging.getLogger("ronda")

ARENAS = 2
# Seconds between trims. A trim walks each arena's free chunks under that arena's lock: 4 ms
# on a heap like ronda's, 60 ms after a burst left 30,000 holes, so not much more often.
TRIM_EVERY = 60.0
M_ARENA_MAX = -8  # glibc's malloc.h


def _glibc() -> ctypes.CDLL | None:
    """The C library of this process when it is glibc; None elsewhere."""
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return None
    try:
        libc = ctypes.CDLL(None)  # the process's own symbols: glibc is loaded already
    except OSError:
        return None
    if not (hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim")):
        return None
    libc.mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    libc.malloc_trim.argtypes = [ctypes.c_size_t]
    return libc


def limit_arenas(arenas: int = ARENAS) -> bool:
    """Have threads share at most `arenas` malloc arenas; call before threads start (arenas
    made already stay). False when not on glibc or the environment chose itself."""
    libc = _glibc()
    if libc is None or "MALLOC_ARENA_MAX" in os.environ or "GLIBC_TUNABLES" in os.environ:
        return False
    return bool(libc.mallopt(M_ARENA_MAX, arenas))


def trim() -> bool:
    """Return free malloc memory to the system now; True when some was returned."""
    libc = _glibc()
    return libc is not None and bool(libc.malloc_trim(0))


class Trimmer:
    """`trim` every `every` seconds on a daemon thread of its own, until `stop`."""

    def __init__(self, every: float = TRIM_EVERY) -> None:
        self.every = every
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="ronda-trim", daemon=True)

    def start(self) -> Trimmer:
        if _glibc() is not None:
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()

    def _run(self) -> None:
        while not self._stopping.wait(self.every):
            try:
                trim()
            except Exception:  # never worth stopping ronda for
                log.exception("returning free memory to the system failed")

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

import contextlib
import ctypes
import gc
import logging
import os
import pickle
import platform
import threading
from collections.abc import Callable, Iterator
from typing import Any, NoReturn, TypeVar, cast

log = logging.getLogger("ronda")

ARENAS = 2
# Seconds between trims. A trim walks each arena's free chunks under that arena's lock: 4 ms
# on a heap like ronda's, 60 ms after a burst left 30,000 holes, so not much more often.
TRIM_EVERY = 60.0
M_ARENA_MAX = -8  # glibc's malloc.h
T = TypeVar("T")


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


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """No cyclic garbage collection while a bulk of objects that live on is made (a config of
    100,000 monitors, their rows, their jobs). Each collection the allocations trigger walks
    every object made so far, none of them garbage: loading 100,000 monitors took 3.7 s with
    collections, 1.6 s without. What cycles the block leaves are collected after it. A block
    inside another, or in another thread, leaves collection to the outermost one."""
    global _pausing, _enabled_before
    with _pause_lock:
        _pausing += 1
        if _pausing == 1:
            _enabled_before = gc.isenabled()  # one who turned it off for good keeps it off
            gc.disable()
    try:
        yield
    finally:
        with _pause_lock:
            _pausing -= 1
            if _pausing == 0 and _enabled_before:
                gc.enable()


_pausing = 0  # blocks under gc_paused, in every thread
_enabled_before = True
_pause_lock = threading.Lock()


def made_apart(make: Callable[..., T], *args: Any) -> T:
    """`make(*args)`, made in a forked child and handed back pickled, so that this process
    holds what it made packed together, without the holes of what making it took.

    CPython's allocator gives memory back only in whole 1 MiB arenas, so a burst of objects
    that die (a config's YAML nodes and raw values) among others that live on (its monitors)
    keeps the burst's peak resident for good: 2.9 KB a monitor where the monitors need
    1.0 KB. Unpickling makes only what lives on (100,000 monitors: 0.5 s more).

    Only while this process has one thread (a fork copies only the caller's thread, and the
    locks others hold); without fork, or should the child die, it is made here. An exception
    `make` raises is raised here, if it pickles (else the making is done again, here)."""
    if not hasattr(os, "fork") or threading.active_count() > 1:
        return make(*args)
    read_end, write_end = os.pipe()
    child = os.fork()
    if child == 0:
        os.close(read_end)
        _make_and_hand_back(make, args, write_end)  # never returns
    os.close(write_end)
    with os.fdopen(read_end, "rb") as source:
        handed = source.read()
    os.waitpid(child, 0)
    if not handed:
        return make(*args)
    with gc_paused():
        made, value = pickle.loads(handed)
    if not made:
        raise value
    return cast(T, value)


def repacked(value: T) -> T:
    """`value` pickled and unpickled, for a process that cannot fork (it has threads): the
    same compact objects made_apart hands back (monitors keep their values beside the keys
    their kind shares: 600 bytes less each), though the making's garbage leaves its holes."""
    with gc_paused():
        return cast(T, pickle.loads(pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)))


def _make_and_hand_back(make: Callable[..., Any], args: tuple[Any, ...], write_end: int) -> NoReturn:
    try:
        try:
            outcome: tuple[bool, Any] = (True, make(*args))
        except Exception as exc:
            outcome = (False, exc)
        handed = pickle.dumps(outcome, protocol=pickle.HIGHEST_PROTOCOL)
        with os.fdopen(write_end, "wb") as out:
            out.write(handed)
    finally:
        os._exit(0)  # no atexit, no buffers of the parent's flushed twice

"""What a long `ronda run` holds stays bounded: glibc's allocator gives freed memory back
(ronda/memory.py), and the tables strangers fill in memory (per-address limits, the
reports' dedupe) keep at most their bound while still refusing what they exist to refuse."""

from __future__ import annotations

import gc
import hashlib
import os
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

from ronda.memory import gc_paused, made_apart, trim
from ronda.web.intake import RecentReporters
from ronda.web.ratelimit import SlidingWindowLimiter

ROOT = Path(__file__).resolve().parent.parent
MIB = 2**20


def resident_bytes() -> int:
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE")


def test_trim_gives_back_what_a_thread_freed_behind_one_block_it_kept():
    """The soak's case: a worker thread makes a burst of mid-sized buffers (a page, a batch)
    in its own arena and frees them, all but the last; glibc keeps the freed ones resident
    until it is asked to trim."""
    kept: list[bytes] = []

    def burst() -> None:
        buffers = [os.urandom(1) * 4000 + bytes(range(i % 200)) for i in range(16_000)]  # about 64 MiB
        kept.append(buffers[-1])  # the arena's top stays in use: freeing the rest returns nothing
        del buffers

    worker = threading.Thread(target=burst)
    worker.start()
    worker.join()
    before = resident_bytes()
    assert trim() is True
    assert before - resident_bytes() > 32 * MIB, "most of the 64 MiB freed went back to the system"
    assert len(kept[0]) >= 4000


def run_python(code: str, args: list[str] | None = None, **env: str) -> str:
    environment = {k: v for k, v in os.environ.items() if k not in ("MALLOC_ARENA_MAX", "GLIBC_TUNABLES")}
    environment |= {"PYTHONPATH": str(ROOT), **env}
    command = [sys.executable, "-c", code, *(args or [])]
    result = subprocess.run(command, env=environment, capture_output=True, text=True, check=True)
    return result.stdout.strip()


def test_ronda_limits_malloc_arenas_unless_the_environment_chose():
    code = "from ronda.memory import limit_arenas; print(limit_arenas())"
    assert run_python(code) == "True"
    assert run_python(code, MALLOC_ARENA_MAX="8") == "False", "an operator's own MALLOC_ARENA_MAX stands"
    assert run_python(code, GLIBC_TUNABLES="glibc.malloc.arena_max=4") == "False"


def test_a_flood_of_distinct_addresses_leaves_only_the_windows_keys():
    now = [0.0]
    limiter = SlidingWindowLimiter(limit=10, window=600.0, clock=lambda: now[0])
    for i in range(20_000):  # 5 a second from strangers, as in bench/soak.py, for 4000 s
        now[0] = i * 0.2
        limiter.record(f"198.51.{i // 250 % 250}.{i % 250}-{i}")
    assert len(limiter) == 3000, "the keys of the last 600 s, the others dropped as events came"


def test_a_limiter_keeps_at_most_its_bound_and_still_refuses_a_recent_flooder():
    now = [0.0]
    limiter = SlidingWindowLimiter(limit=3, window=600.0, clock=lambda: now[0], max_keys=1000)
    for _ in range(3):
        limiter.record("203.0.113.7")
    for i in range(5000):  # strangers spread over many addresses, all within the window
        now[0] = 1 + i * 0.01
        limiter.record(f"198.51.100.{i}")
        if i % 500 == 0:
            assert limiter.take("203.0.113.7") > 0, "the flooder is refused all along"
    assert len(limiter) == 1000
    assert limiter.retry_after("203.0.113.7") == 600 - int(now[0]), "its count was kept: it is seen lately"
    assert limiter.retry_after("198.51.100.0") == 0, "the least recently seen were forgotten"


def reporter(i: int) -> str:
    return hashlib.sha256(f"reporter {i}".encode()).hexdigest()


def test_the_dedupe_keeps_at_most_its_bound_and_still_refuses_a_repeat_within_the_window():
    start = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
    recent = RecentReporters(limit=1000)
    for i in range(5000):  # more reporters within the hour than the bound
        recent.counted(reporter(i), "shop", start + timedelta(seconds=i * 0.5), 3600)
    assert len(recent) == 1000
    window_start = start + timedelta(seconds=5000 * 0.5) - timedelta(hours=1)
    assert recent.counted_since([reporter(4999)], "shop", window_start), "the latest repeat is refused"
    assert recent.counted_since([reporter(4000)], "shop", window_start), "as is the oldest kept"
    assert not recent.counted_since([reporter(4999)], "api", window_start), "another service counts on its own"
    assert not recent.counted_since([reporter(3999)], "shop", window_start), "beyond the bound: forgotten early"


def test_the_dedupe_forgets_reporters_once_their_window_passed():
    start = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
    recent = RecentReporters()
    for i in range(3000):
        recent.counted(reporter(i), "shop", start + timedelta(seconds=i), 600)
    assert len(recent) == 600, "the reporters of the last ten minutes only"


def test_collection_is_paused_inside_the_outermost_block_only_and_an_operators_choice_stands():
    assert gc.isenabled()
    with gc_paused():
        with gc_paused():
            assert not gc.isenabled()
        assert not gc.isenabled(), "the inner block left collection to the outer one"
    assert gc.isenabled()
    gc.disable()  # someone turned it off for good
    try:
        with gc_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()


def _made_by() -> int:
    return os.getpid()


MADE_APART = """
import os, sys, threading
from ronda.config.load import load_config
from ronda.memory import made_apart
config = made_apart(load_config, sys.argv[1])
monitor = config.monitors[0]
print(monitor.name, monitor.timeout, monitor.tags, threading.active_count(), made_apart(os.getpid) != os.getpid())
try:
    made_apart(load_config, sys.argv[2])
except Exception as exc:
    print(type(exc).__name__, exc.problems, exc)
"""


def test_a_config_made_apart_comes_back_whole_from_a_child_and_so_does_its_error(tmp_path):
    """`ronda run` loads its config in a forked child (what the loading leaves behind stays
    there): the config the child made is the one the file says, and a wrong file is the same
    ConfigError, naming file, line and field, as loading it here."""
    good, bad = tmp_path / "good.yaml", tmp_path / "bad.yaml"
    good.write_text("defaults: {timeout: 3s}\nmonitors:\n  - {name: a, url: 'tcp://a.test:1', tags: [web]}\n")
    bad.write_text("monitors:\n  - name: a\n")
    made, failed = run_python(MADE_APART, args=[str(good), str(bad)]).splitlines()
    assert made == "a 3.0 ['web'] 1 True", "made in another process, and whole"
    expected = [(2, "monitors[0].url", "required but missing")]
    assert failed == f"ConfigError {expected} {bad}:2: monitors[0].url: required but missing"


def test_with_other_threads_running_a_config_is_made_here_not_in_a_fork():
    """A fork copies only the caller's thread (and the locks the others hold): with threads
    running, made_apart makes the value in this process."""
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:
        assert made_apart(_made_by) == os.getpid()
    finally:
        stop.set()
        other.join()

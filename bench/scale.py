"""How `ronda run` holds up as monitors grow: 1,000, 10,000, 100,000 cheap loopback targets.

For each size in `--sizes`, ronda runs as a user starts it (`python -m ronda run --config
FILE`, a fresh SQLite file), with that many `tcp://` monitors every `--interval` (60 s) on
one loopback listener in a process of its own (it accepts and closes: the cheapest target
there is, so what is measured is ronda). Measured per size:

- **start**: from launching ronda to the first check counted in `/metrics`;
- **lag**: how late checks started against their due time (p50, p99, max bucket), from
  the histogram `ronda_check_start_lag_seconds` scraped at the start and end of a window of
  `--minutes` after a warm-up of one interval (so every monitor had its first check);
- **checks/s** run in the window against those due (monitors / interval);
- **CPU** of ronda's process over the window (a share of one core) and **RSS** at its
  end, with **KiB per monitor** beyond the 1,000-monitor run's base;
- **rows/h** and **MB/h** the store grew by in the window, per hour;
- the time of one `GET /` (the dashboard's board, drawn afresh), one `GET /api/v1/monitors`
  (the whole list) and one page of it (`?limit=100`), and one `GET /metrics`, whole and with
  `?per_monitor=false`, at the end.

Run from the repository root (one size takes about `--minutes` plus an interval):

    python3 -m bench.scale [--sizes 1000,10000] [--interval 60] [--minutes 3]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
import os
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from bench.flood import free_port_range, http, rss_mib
from bench.https_throughput import machine, tree_cpu_seconds
from bench.soak import Buckets, lag_quantile, max_lag, read_metrics

TOKEN = "scale-bench-token-0123456789"
ADMIN_PASSWORD = "scale-bench-admin-password"


def serve_target(port: int) -> None:
    """The farm: one listener that accepts every connection and closes it."""

    async def main() -> None:
        async def closed(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writer.close()

        server = await asyncio.start_server(closed, "127.0.0.1", port, backlog=4096)
        await server.serve_forever()

    asyncio.run(main())


def config_text(monitors: int, interval: float, port: int, target: int, db: Path) -> str:
    lines = [
        f"server:\n  listen: 127.0.0.1:{port}\n  health_listen: 127.0.0.1:{port + 1}\n  token: {TOKEN}\n",
        f"storage: sqlite:///{db}\ncanaries: []\ngateway: none\n",
        f"defaults:\n  interval: {interval:g}s\n  timeout: 5s\n",
        "monitors:\n",
    ]
    lines += [f"  - {{name: m{i:06d}, url: 'tcp://127.0.0.1:{target}'}}\n" for i in range(monitors)]
    return "".join(lines)


@contextlib.contextmanager
def running(config: Path) -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "ronda", "run", "--config", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=open(config.with_suffix(".log"), "wb"),  # noqa: SIM115 (kept open for the process's life)
        env=os.environ | {"RONDA_ADMIN_PASSWORD": ADMIN_PASSWORD},
    )
    try:
        yield proc
    finally:
        proc.terminate()
        proc.wait(60)


def scrape(port: int) -> tuple[float, Buckets]:
    """Checks run and the lag histogram's cumulative buckets (nothing yet: 0 and none)."""
    status, body = asyncio.run(http(port, "GET", "/metrics", headers=f"Authorization: Bearer {TOKEN}\r\n"))
    if status != 200:
        return 0.0, []
    checks, _, lag = read_metrics(body.decode())
    return checks, lag


def timed(port: int, path: str) -> float:
    began = time.monotonic()
    status, _ = asyncio.run(http(port, "GET", path, headers=f"Authorization: Bearer {TOKEN}\r\n"))
    assert status == 200, (path, status)
    return time.monotonic() - began


@dataclass
class Size:
    monitors: int
    start_s: float
    checks_per_s: float
    due_per_s: float
    p50: float
    p99: float
    worst: str
    cpu: float
    rss_mib: float
    rows_per_h: float
    mb_per_h: float
    board_s: float
    api_s: float
    page_s: float
    metrics_s: float
    totals_s: float


def measure(monitors: int, args: argparse.Namespace, target: int, folder: Path) -> Size:
    port = free_port_range(2)
    db = folder / f"ronda-{monitors}.db"
    config = folder / f"ronda-{monitors}.yaml"
    config.write_text(config_text(monitors, args.interval, port, target, db))
    launched = time.monotonic()
    with running(config) as proc:
        while True:
            if proc.poll() is not None:
                raise SystemExit(config.with_suffix(".log").read_text()[-2000:])
            with contextlib.suppress(OSError, asyncio.IncompleteReadError):  # not listening yet
                if scrape(port)[0] > 0:
                    break
            time.sleep(0.2)
        start_s = time.monotonic() - launched
        time.sleep(max(args.interval - start_s, 0) + 5)  # every monitor checked once: on its grid
        checks0, lag0 = scrape(port)
        cpu0, rows0, bytes0, began = tree_cpu_seconds(proc.pid), rows(db), size_of(db), time.monotonic()
        time.sleep(args.minutes * 60)
        checks1, lag1 = scrape(port)
        cpu1, rows1, bytes1, wall = tree_cpu_seconds(proc.pid), rows(db), size_of(db), time.monotonic() - began
        rss = rss_mib(proc.pid)
        board_s, api_s = timed(port, "/"), timed(port, "/api/v1/monitors")
        page_s = timed(port, "/api/v1/monitors?limit=100")
        metrics_s, totals_s = timed(port, "/metrics"), timed(port, "/metrics?per_monitor=false")
    hour = 3600 / wall
    return Size(
        monitors,
        start_s,
        (checks1 - checks0) / wall,
        monitors / args.interval,
        lag_quantile(lag0, lag1, 0.5),
        lag_quantile(lag0, lag1, 0.99),
        max_lag(lag0, lag1),
        (cpu1 - cpu0) / wall,
        rss,
        (rows1 - rows0) * hour,
        (bytes1 - bytes0) * hour / 1e6,
        board_s,
        api_s,
        page_s,
        metrics_s,
        totals_s,
    )


def rows(db: Path) -> int:
    with contextlib.closing(sqlite3.connect(db)) as connection:
        return int(connection.execute("SELECT count(*) FROM results").fetchone()[0])


def size_of(db: Path) -> int:
    return sum(path.stat().st_size for path in db.parent.glob(db.name + "*"))


def print_table(sizes: list[Size]) -> None:
    base = sizes[0]
    print(
        f"{'monitors':>9}{'start s':>9}{'checks/s':>10}{'due/s':>8}{'lag p50':>9}{'lag p99':>9}{'worst':>7}"
        f"{'CPU':>6}{'RSS MiB':>9}{'KiB/mon':>9}{'rows/h':>10}{'MB/h':>8}{'board s':>8}{'API s':>7}{'page s':>7}"
        f"{'metrics s':>10}{'totals s':>9}"
    )
    for s in sizes:
        extra = (s.rss_mib - base.rss_mib) * 1024 / (s.monitors - base.monitors) if s is not base else float("nan")
        print(
            f"{s.monitors:>9,}{s.start_s:>9.1f}{s.checks_per_s:>10.1f}{s.due_per_s:>8.1f}{s.p50:>8.3f}s{s.p99:>8.3f}s"
            f"{s.worst:>7}{s.cpu:>6.0%}{s.rss_mib:>9.0f}{extra:>9.1f}{s.rows_per_h:>10,.0f}{s.mb_per_h:>8.0f}"
            f"{s.board_s:>8.2f}{s.api_s:>7.2f}{s.page_s:>7.2f}{s.metrics_s:>10.2f}{s.totals_s:>9.2f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000,10000")
    parser.add_argument("--interval", type=float, default=60.0)
    parser.add_argument("--minutes", type=float, default=3.0)
    args = parser.parse_args()
    print(f"machine: {machine()}; tcp:// monitors every {args.interval:g} s on one loopback listener, SQLite")
    target = free_port_range(1)
    farm = multiprocessing.Process(target=serve_target, args=(target,), daemon=True)
    farm.start()
    while True:  # listening before ronda's own ports are chosen
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", target), timeout=1):
            break
        time.sleep(0.1)
    try:
        with tempfile.TemporaryDirectory(prefix="ronda-scale-") as tmp:
            sizes = [measure(int(n), args, target, Path(tmp)) for n in args.sizes.split(",")]
    finally:
        farm.terminate()
    print_table(sizes)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONPATH", str(Path(__file__).resolve().parent.parent))
    main()

"""How `ronda run` holds up as monitors grow: 1,000, 10,000, 100,000 cheap loopback targets.

For each size in `--sizes`, ronda runs as a user starts it (`python -m ronda run --config
FILE`, a fresh SQLite file), with that many `tcp://` monitors every `--interval` (60 s) on
one loopback listener in a process of its own (it accepts and closes: the cheapest target
there is, so what is measured is ronda). Measured per size:

- **start**: from launching ronda to the first check counted in `/metrics`;
- **lag**: how late checks started against their due time (p50, p99, max bucket), from
  the histogram `ronda_check_start_lag_seconds` scraped at the start and end of a window of
  `--minutes` after a warm-up of one interval from the first check (so every monitor had its
  first check, which many monitors spread over up to an interval);
- **checks/s** run in the window against those due (monitors / interval);
- **CPU** of ronda's process over the window (a share of one core) and **RSS** at its
  end, with **KiB per monitor** beyond the 1,000-monitor run's base;
- **rows/h** and **MB/h** the store grew by in the window, per hour;
- **busy lag**: lag p99 over a further `--busy` seconds (30) while one client asks, over and
  over, for a board of its own (`/?status=up`, drawn afresh), a page of the API and a
  default scrape of `/metrics`: the checks must keep their time while people look;
- the time of one `GET /` (the dashboard's board, drawn afresh), one `GET /api/v1/monitors`
  (the whole list) and one page of it (`?limit=100`), and `GET /metrics` as a default
  scrape (each monitor's series up to `server.metrics_per_monitor_limit`, 5,000), with
  every monitor's series (`?per_monitor=true`) and with the totals only, at the end.

`--stores sqlite,postgresql` runs each size on each store: PostgreSQL is a throwaway
cluster on a loopback port (Debian's `postgresql`, as the tests start it), one fresh database
per size, its growth read from `pg_database_size`. `--plot FILE.png` draws how each figure
grows with the monitors, a line per store (matplotlib: `pip install .[bench]`).

Run from the repository root (one size takes about `--minutes` plus an interval):

    python3 -m bench.scale [--sizes 1000,10000] [--interval 60] [--minutes 3] [--busy 30]
                           [--stores sqlite] [--plot scale.png]
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
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy

from bench.flood import free_port_range, http, rss_mib
from bench.https_throughput import tree_cpu_seconds
from bench.probers import machine
from bench.soak import Buckets, lag_quantile, max_lag, read_metrics
from tests.postgres import Cluster

TOKEN = "scale-bench-token-0123456789"
ADMIN_PASSWORD = "scale-bench-admin-password"


def serve_target(port: int) -> None:
    """The farm: one listener that accepts every connection and closes it, in a plain
    blocking loop (a few microseconds of Python per connection: the cheapest target there
    is, so that the farm leaves the cores to what is measured)."""
    with socket.create_server(("127.0.0.1", port), backlog=4096) as listener:
        while True:
            conn, _ = listener.accept()
            conn.close()


def config_text(monitors: int, interval: float, port: int, target: int, storage: str) -> str:
    lines = [
        f"server:\n  listen: 127.0.0.1:{port}\n  health_listen: 127.0.0.1:{port + 1}\n  token: {TOKEN}\n",
        f"storage: {storage}\ncanaries: []\ngateway: none\n",
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
    """Seconds to answer GET `path`; NaN, said loudly, for an answer other than 200: one
    endpoint failing at one size must not lose the figures of every other."""
    began = time.monotonic()
    status, _ = asyncio.run(http(port, "GET", path, headers=f"Authorization: Bearer {TOKEN}\r\n"))
    if status != 200:
        print(f"FAILED: GET {path} answered {status}", file=sys.stderr, flush=True)
        return float("nan")
    return time.monotonic() - began


@dataclass
class Size:
    store: str
    monitors: int
    start_s: float
    checks_per_s: float
    due_per_s: float
    p50: float
    p99: float
    worst: str
    busy_p99: float  # lag p99 while the board, the API and /metrics are asked for
    cpu: float
    rss_mib: float
    rows_per_h: float
    mb_per_h: float
    board_s: float
    api_s: float
    page_s: float
    metrics_s: float  # a default scrape
    every_s: float  # ?per_monitor=true
    totals_s: float


class Store:
    """Where a size's verdicts go, and how much is there."""

    def __init__(self, kind: str, folder: Path, cluster: Cluster | None) -> None:
        self.kind, self.folder, self.cluster = kind, folder, cluster
        self.db, self.url = folder / "unused.db", ""

    def fresh(self, monitors: int) -> str:
        """A new, empty store for one size; its URL."""
        if self.cluster is None:
            self.db = self.folder / f"ronda-{monitors}.db"
            return f"sqlite:///{self.db}"
        self.url = self.cluster.url(self.cluster.new_database())
        return self.url

    def rows(self) -> int:
        if self.cluster is None:
            with contextlib.closing(sqlite3.connect(self.db)) as connection:
                return int(connection.execute("SELECT count(*) FROM results").fetchone()[0])
        return int(str(self._scalar("SELECT count(*) FROM results")))

    def bytes(self) -> int:
        if self.cluster is None:
            return sum(path.stat().st_size for path in self.db.parent.glob(self.db.name + "*"))
        return int(str(self._scalar("SELECT pg_database_size(current_database())")))

    def _scalar(self, query: str) -> object:
        engine = sqlalchemy.create_engine(self.url.replace("postgresql://", "postgresql+psycopg://", 1))
        try:
            with engine.connect() as connection:
                return connection.exec_driver_sql(query).scalar()
        finally:
            engine.dispose()


def measure(monitors: int, args: argparse.Namespace, target: int, store: Store) -> Size:
    port = free_port_range(2)
    config = store.folder / f"ronda-{store.kind}-{monitors}.yaml"
    config.write_text(config_text(monitors, args.interval, port, target, store.fresh(monitors)))
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
        time.sleep(args.interval + 5)  # the first round (spread over up to an interval) done: on the grid
        checks0, lag0 = scrape(port)
        cpu0, rows0, bytes0, began = tree_cpu_seconds(proc.pid), store.rows(), store.bytes(), time.monotonic()
        time.sleep(args.minutes * 60)
        checks1, lag1 = scrape(port)
        cpu1, rows1, bytes1, wall = tree_cpu_seconds(proc.pid), store.rows(), store.bytes(), time.monotonic() - began
        rss = rss_mib(proc.pid)
        busy_p99 = busy_lag(port, args.busy)
        board_s, api_s = timed(port, "/"), timed(port, "/api/v1/monitors")
        page_s = timed(port, "/api/v1/monitors?limit=100")
        metrics_s, every_s = timed(port, "/metrics"), timed(port, "/metrics?per_monitor=true")
        totals_s = timed(port, "/metrics?per_monitor=false")
    hour = 3600 / wall
    return Size(
        store.kind,
        monitors,
        start_s,
        (checks1 - checks0) / wall,
        monitors / args.interval,
        lag_quantile(lag0, lag1, 0.5),
        lag_quantile(lag0, lag1, 0.99),
        max_lag(lag0, lag1),
        busy_p99,
        (cpu1 - cpu0) / wall,
        rss,
        (rows1 - rows0) * hour,
        (bytes1 - bytes0) * hour / 1e6,
        board_s,
        api_s,
        page_s,
        metrics_s,
        every_s,
        totals_s,
    )


BUSY_PATHS = ("/?status=up", "/api/v1/monitors?limit=100", "/metrics")  # a person's look, over and over


def busy_lag(port: int, seconds: float) -> float:
    """Lag p99 of the checks over `seconds` in which one client asks for BUSY_PATHS in turn."""
    _, lag0 = scrape(port)
    ends = time.monotonic() + seconds
    while time.monotonic() < ends:
        for path in BUSY_PATHS:
            timed(port, path)
    _, lag1 = scrape(port)
    return lag_quantile(lag0, lag1, 0.99)


def kib_per_monitor(size: Size, base: Size) -> float:
    """Resident memory per monitor beyond the smallest size's (the fixed base)."""
    if size is base:
        return float("nan")
    return (size.rss_mib - base.rss_mib) * 1024 / (size.monitors - base.monitors)


def print_table(sizes: list[Size], among: list[Size], header: bool = True) -> None:
    """`sizes` as rows (KiB per monitor beyond the smallest size of `among` on its store)."""
    if header:
        print(
            f"{'store':>11}{'monitors':>9}{'start s':>9}{'checks/s':>10}{'due/s':>8}{'lag p50':>9}{'lag p99':>9}"
            f"{'worst':>7}{'busy p99':>9}{'CPU':>6}{'RSS MiB':>9}{'KiB/mon':>9}{'rows/h':>10}{'MB/h':>8}{'board s':>8}"
            f"{'API s':>7}{'page s':>7}{'metrics s':>10}{'every s':>8}{'totals s':>9}"
        )
    for s in sizes:
        base = next(b for b in among if b.store == s.store)
        print(
            f"{s.store:>11}{s.monitors:>9,}{s.start_s:>9.1f}{s.checks_per_s:>10.1f}{s.due_per_s:>8.1f}"
            f"{s.p50:>8.3f}s{s.p99:>8.3f}s{s.worst:>7}{s.busy_p99:>8.3f}s{s.cpu:>6.0%}{s.rss_mib:>9.0f}"
            f"{kib_per_monitor(s, base):>9.1f}{s.rows_per_h:>10,.0f}{s.mb_per_h:>8.0f}{s.board_s:>8.2f}{s.api_s:>7.2f}"
            f"{s.page_s:>7.2f}{s.metrics_s:>10.2f}{s.every_s:>8.2f}{s.totals_s:>9.2f}",
            flush=True,
        )


FIGURES: dict[str, Callable[[Size], float]] = {  # what the plot draws: a title, and the figure of a size
    "start to first check (s)": lambda s: s.start_s,
    "check lag p99 (s)": lambda s: s.p99,
    "check lag p99 while people look (s)": lambda s: s.busy_p99,
    "CPU (share of one core)": lambda s: s.cpu,
    "resident memory (MiB)": lambda s: s.rss_mib,
    "store growth (MB/h)": lambda s: s.mb_per_h,
    "dashboard board (s)": lambda s: s.board_s,
    "API page of 100 (s)": lambda s: s.page_s,
    "/metrics, a default scrape (s)": lambda s: s.metrics_s,
    "/metrics, every monitor's series (s)": lambda s: s.every_s,
}


def plot(sizes: list[Size], path: Path) -> None:
    """One panel per figure, monitors on a log axis, a line per store."""
    import matplotlib  # optional (the `bench` extra): imported only when a plot is asked for

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(2, 5, figsize=(20, 7), constrained_layout=True)
    for ax, (title, value) in zip(axes.flat, FIGURES.items(), strict=True):
        for store in dict.fromkeys(s.store for s in sizes):
            mine = [s for s in sizes if s.store == store]
            ax.plot([s.monitors for s in mine], [value(s) for s in mine], marker="o", label=store)
        ax.set_xscale("log")
        ax.set_ylim(bottom=0)
        ax.set_title(title)
        ax.set_xlabel("monitors")
        ax.grid(True, alpha=0.3)
    axes.flat[0].legend()
    figure.suptitle(f"ronda run as monitors grow ({machine()})")
    figure.savefig(path, dpi=100)
    print(f"plot: {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000,10000")
    parser.add_argument("--interval", type=float, default=60.0)
    parser.add_argument("--minutes", type=float, default=3.0)
    parser.add_argument("--busy", type=float, default=30.0, help="seconds of lag measured while people look")
    parser.add_argument("--stores", default="sqlite", help="sqlite, postgresql or both, comma-separated")
    parser.add_argument("--plot", type=Path, help="a PNG of each figure against the monitors")
    args = parser.parse_args()
    print(f"machine: {machine()}; tcp:// monitors every {args.interval:g} s on one loopback listener; {args.stores}")
    target = free_port_range(1)
    farm = multiprocessing.Process(target=serve_target, args=(target,), daemon=True)
    farm.start()
    while True:  # listening before ronda's own ports are chosen
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", target), timeout=1):
            break
        time.sleep(0.1)
    sizes: list[Size] = []
    try:
        with tempfile.TemporaryDirectory(prefix="ronda-scale-") as tmp, contextlib.ExitStack() as stack:
            folder = Path(tmp)
            for kind in args.stores.split(","):
                cluster = stack.enter_context(postgres(folder)) if kind == "postgresql" else None
                store = Store(kind, folder, cluster)
                for n in args.sizes.split(","):
                    sizes.append(measure(int(n), args, target, store))
                    print_table(sizes[-1:], sizes, header=len(sizes) == 1)  # as it comes: a run is long
    finally:
        farm.terminate()
    print()
    print_table(sizes, sizes)
    if args.plot:
        plot(sizes, args.plot)


@contextlib.contextmanager
def postgres(folder: Path) -> Iterator[Cluster]:
    """A throwaway PostgreSQL cluster, as the tests start one (tests/postgres.py)."""
    root = folder / "postgres"
    root.mkdir()
    folder.chmod(0o711)  # the server runs as the postgres user: it must reach its folder
    root.chmod(0o777)
    cluster = Cluster(root).start()
    try:
        yield cluster
    finally:
        cluster.stop()


if __name__ == "__main__":
    os.environ.setdefault("PYTHONPATH", str(Path(__file__).resolve().parent.parent))
    main()

"""How many verdicts a second the store takes: `Monitors.record_many`, as the service's
recorder calls it, in batches of `--batch`, for `--monitors` monitors each checked
`--rounds` times (all up: the common case, nothing but the verdict and the monitor's state
to write). The figure bounds how many monitors one node holds: 100,000 monitors each
minute write about 1,700 verdicts a second.

    python3 -m bench.verdict_writes [--monitors 2000] [--rounds 3] [--batch 500]
    python3 -m bench.verdict_writes --url postgresql+psycopg://USER@HOST/EMPTY_DB
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy

from bench.probers import machine
from ronda.rules.incidents import Policy
from ronda.storage.arrivals import Arrival
from ronda.storage.database import Database
from ronda.verdict import Verdict

START = datetime(2026, 12, 5, tzinfo=UTC)


def arrivals(monitors: int, round_number: int) -> list[Arrival]:
    at = START + timedelta(minutes=round_number)
    return [
        Arrival(
            f"m{i}",
            Verdict(f"tcp://127.0.0.1:{10_000 + i}", "up", None, "up: connected in 1 ms", at, 1.0, ("127.0.0.1",)),
            Policy(confirm=2),
        )
        for i in range(monitors)
    ]


def run(store: Database, args: argparse.Namespace) -> None:
    store.monitors.sync({f"m{i}": f"tcp://127.0.0.1:{10_000 + i}" for i in range(args.monitors)})
    store.monitors.record_many(arrivals(args.monitors, 0))  # every monitor's first verdict: not timed
    rates = []
    for round_number in range(1, args.rounds + 1):
        batch = arrivals(args.monitors, round_number)
        started = time.perf_counter()
        for i in range(0, len(batch), args.batch):
            outcomes = store.monitors.record_many(batch[i : i + args.batch])
            assert not any(isinstance(outcome, Exception) for outcome in outcomes), outcomes
        rates.append(len(batch) / (time.perf_counter() - started))
        print(f"  round {round_number}: {rates[-1]:,.0f} verdicts/s")
    rates.sort()
    print(f"median: {rates[len(rates) // 2]:,.0f} verdicts/s ({args.monitors} monitors, batches of {args.batch})")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--monitors", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--url", help="an empty database (default: a new SQLite file, removed afterwards)")
    args = parser.parse_args(argv)
    print(f"machine: {machine()}; Python {platform.python_version()}, SQLAlchemy {sqlalchemy.__version__}")
    with tempfile.TemporaryDirectory() as tmp:
        store = Database(args.url or f"sqlite:///{Path(tmp) / 'ronda.db'}")
        print(f"database: {store.engine.dialect.name} {store.engine.dialect.server_version_info}", flush=True)
        try:
            run(store, args)
        finally:
            store.close()


if __name__ == "__main__":
    main()

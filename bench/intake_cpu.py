"""CPU per problem report through ronda's web app in process: no socket, no HTTP parser,
so what is left is ronda's own part (middlewares, routing, the intake) and nothing else.

The app is `create_app` on an SQLite file of its own, with 1,000 monitors, 100 of them on
a status page, and the limits raised (`--limited`: the default limits, so nearly every
post is a 429). Posts come from 1,000 addresses (127.2.x.y) naming the 100 services in
turn, as bench/flood.py sends them; the queue of accepted reports is emptied now and then
without writing it (what the writer thread does is not measured here).

Printed: answers by status and the CPU (process time) per report; with `--profile`, the
functions that cost the most under cProfile (which slows small functions most: read its
shares, not its times). Run from the repository root:

    python3 -m bench.intake_cpu [--reports 20000] [--limited] [--profile]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import pstats
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from ronda.config.schema import Config
from ronda.storage.database import Database
from ronda.web.app import create_app
from ronda.web.context import WebContext

MONITORS = 1000
SERVICES = 100  # on the status page: the services reports name
SOURCES = 1000
TOKEN = "intake-bench-token-0123456789"
PATH = "/api/v1/reports"


def build(folder: Path, limited: bool) -> tuple[Any, Database]:
    reports: dict[str, int] = {} if limited else {"per_source": 10**9, "global_per_minute": 10**9}
    config = Config.model_validate(
        {
            "server": {"public_url": "http://127.0.0.1:8080", "token": TOKEN},
            "reports": reports,
            "status_pages": [{"slug": "public", "title": "Bench", "monitors": [f"m{i}" for i in range(SERVICES)]}],
            "monitors": [{"name": f"m{i}", "url": f"tcp://127.0.0.1:{30000 + i}"} for i in range(MONITORS)],
        }
    )
    db = Database(f"sqlite:///{folder / 'ronda.db'}")
    db.reports.pending_max = 10**9  # never "busy": the queue is emptied below, unwritten
    return create_app(WebContext(db, TOKEN, config=config)), db


def scope_for(n: int, body: bytes) -> dict[str, Any]:
    """The ASGI scope uvicorn would make for post number `n`."""
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "server": ("127.0.0.1", 8080),
        "client": (f"127.2.{(n // 250) % (SOURCES // 250)}.{n % 250 + 1}", 40000 + n % 1000),
        "scheme": "http",
        "method": "POST",
        "root_path": "",
        "path": PATH,
        "raw_path": PATH.encode(),
        "query_string": b"",
        "headers": [
            (b"host", b"ronda"),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ],
        "state": {},
    }


async def post_all(app: Any, db: Database, first: int, count: int, statuses: Counter[int]) -> None:
    bodies = [
        json.dumps({"service": f"m{i}", "problem": "cannot_connect", "region": "IT-MI"}).encode()
        for i in range(SERVICES)
    ]
    for n in range(first, first + count):
        body = bodies[n % SERVICES]
        messages = [{"type": "http.request", "body": body, "more_body": False}]

        async def receive(messages: list[dict[str, Any]] = messages) -> dict[str, Any]:
            if messages:
                return messages.pop()
            await asyncio.Event().wait()  # a disconnect never comes: the app has its answer first
            raise AssertionError

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                statuses[message["status"]] += 1

        await app(scope_for(n, body), receive, send)
        if n % 1000 == 999:
            db.reports._pending.clear()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reports", type=int, default=20000)
    parser.add_argument("--limited", action="store_true", help="the default limits: nearly all 429")
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ronda-intake-") as tmp:
        app, db = build(Path(tmp), args.limited)
        try:
            asyncio.run(post_all(app, db, 0, 2000, Counter()))  # warm: imports, caches, the limiter's keys
            statuses: Counter[int] = Counter()
            profile = cProfile.Profile() if args.profile else None
            began = time.process_time()
            if profile is not None:
                profile.enable()
            asyncio.run(post_all(app, db, 2000, args.reports, statuses))
            if profile is not None:
                profile.disable()
            cpu = time.process_time() - began
        finally:
            db.close()
    answered = " ".join(f"{code}:{n}" for code, n in sorted(statuses.items()))
    print(f"{args.reports} posts ({answered}): {cpu * 1000 / args.reports:.3f} ms of CPU per post")
    if profile is not None:
        pstats.Stats(profile).sort_stats("tottime").print_stats(25)


if __name__ == "__main__":
    main()

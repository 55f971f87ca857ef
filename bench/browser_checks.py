"""browser+http:// checks in a row, as `ronda run` makes them: what does one cost when the
browser closes after each check (as a one-shot `ronda check` does), and when it is kept open
between checks (as a long-lived process's scheduler keeps it, ronda/probes/browsers.py)?

    python3 -m bench.browser_checks [--checks 10] [--rounds 3]

A loopback page (one image, served from 127.0.0.2) is checked `--checks` times one after the
other in one event loop, first without then with `BROWSERS.kept_open()`; each round prints
both totals and the per-check mean, then the medians over the rounds. Every verdict must be
up, or the run stops saying why.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

from ronda.check import run_check
from ronda.probes.browsers import BROWSERS
from ronda.target import CheckOptions, parse_target
from ronda.world.background import BackgroundLoop
from ronda.world.web import Reply, WebServer

PAGE = b'<!doctype html><html><body><h1>Shop</h1><img src="/logo.png" alt="logo"></body></html>'


async def in_a_row(url: str, options: CheckOptions, checks: int, kept: bool) -> float:
    """Seconds for `checks` checks one after the other, the browser kept open or not."""
    target = parse_target(url)

    async def run() -> float:
        start = time.perf_counter()
        for _ in range(checks):
            verdict = await run_check(target, options)
            if verdict.status != "up":
                raise SystemExit(f"the page was not up: {verdict.summary}")
        return time.perf_counter() - start

    if not kept:
        return await run()
    async with BROWSERS.kept_open():
        return await run()


def _line(kept: bool, seconds: float, checks: int) -> str:
    words = "kept open " if kept else "closed each"
    return f"browser {words}: {seconds:6.2f} s for {checks}, {seconds / checks * 1000:6.0f} ms a check"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checks", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    loop = BackgroundLoop()
    shop = WebServer("127.0.0.2", 0, None)
    shop.default = Reply(body=PAGE)
    shop.routes["/logo.png"] = Reply(body=b"\x89PNG...", headers={"Content-Type": "image/png"})
    loop.run(shop.start())
    url = f"browser+http://shop.test:{shop.port}/"
    options = CheckOptions(resolve={("shop.test", shop.port): ("127.0.0.2",)})
    totals: dict[bool, list[float]] = {False: [], True: []}
    try:
        for round_ in range(1, args.rounds + 1):
            for kept in (False, True):
                seconds = asyncio.run(in_a_row(url, options, args.checks, kept))
                totals[kept].append(seconds)
                words = "kept open " if kept else "closed each"
                print(
                    f"round {round_}: browser {words}: {seconds:6.2f} s, {seconds / args.checks * 1000:6.0f} ms a check"
                )
    finally:
        loop.run(shop.stop())
        loop.close()
    for kept in (False, True):
        median = statistics.median(totals[kept])
        words = "kept open " if kept else "closed each"
        print(
            f"median: browser {words}: {median:6.2f} s for {args.checks}, {median / args.checks * 1000:6.0f} ms a check"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Every address behind a name, checked separately: one stale backend among healthy
ones is a finding that names its address, not a coin toss on which one we reached."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from ronda.probes.base import Observation
from ronda.probes.resolve import resolve_host
from ronda.target import CheckOptions


async def each_address(
    obs: Observation, options: CheckOptions, deadline: float, check: Callable[[str], Awaitable[None]]
) -> None:
    """Resolve the target's host, record its addresses, and run `check` on all of them at once."""
    target = obs.target
    resolution = await resolve_host(target.host, target.port, options, deadline)
    if resolution.error:
        obs.problem(resolution.error, resolution.detail)
        return
    obs.addresses = list(resolution.addresses)
    await asyncio.gather(*(check(address) for address in resolution.addresses))

"""One check, start to finish: target in, Verdict out, inside the time budget."""

from __future__ import annotations

import asyncio
from typing import Any

from ronda.assess import assess
from ronda.probes import PROBES
from ronda.probes.base import Observation, ProbeContext
from ronda.target import CheckOptions, Target
from ronda.verdict import Verdict

# Past the budget, a probe gets this long to record which phase ran out before it is
# cancelled outright; phases watch the deadline themselves, so this is a backstop.
_GRACE = 0.5


async def run_check(
    target: Target, options: CheckOptions, ctx: ProbeContext | None = None, known: dict[str, Any] | None = None
) -> Verdict:
    """`known`: what the monitor's earlier checks kept (Observation.known); the verdict's `kept`
    is what this one keeps for the next."""
    ctx = ctx or ProbeContext()
    obs = Observation(target, known=dict(known or {}))
    deadline = obs.started + options.timeout
    scheme = PROBES[target.scheme]
    try:
        async with asyncio.timeout(options.timeout + _GRACE):
            await scheme.probe(target, options, ctx, obs, deadline)
    except TimeoutError:
        obs.problem(scheme.timeout, f"the check did not finish within its {options.timeout:g}s budget")
    return assess(obs, ctx.clock())

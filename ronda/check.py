"""One check, start to finish: target in, Verdict out, inside the time budget."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from ronda.assess import assess
from ronda.errors import RondaError
from ronda.probes import PROBES
from ronda.probes.base import Observation, ProbeContext
from ronda.target import CheckOptions, Target
from ronda.verdict import Verdict

# Past the budget, a probe gets this long to record which phase ran out before it is
# cancelled outright; phases watch the deadline themselves, so this is a backstop.
_GRACE = 0.5

log = logging.getLogger("ronda")


async def run_check(
    target: Target, options: CheckOptions, ctx: ProbeContext | None = None, known: dict[str, Any] | None = None
) -> Verdict:
    """`known`: what the monitor's earlier checks kept (Observation.known); the verdict's `kept`
    is what this one keeps for the next."""
    ctx = ctx or ProbeContext()
    obs = Observation(target, known=dict(known or {}))
    if options.request is not None:
        obs.secrets.update(options.request.secrets())  # hidden whatever ends the check
    deadline = obs.started + options.timeout
    scheme = PROBES[target.scheme]
    try:
        async with asyncio.timeout(options.timeout + _GRACE):
            await scheme.probe(target, options, ctx, obs, deadline)
    except TimeoutError:
        obs.problem(scheme.timeout, f"the check did not finish within its {options.timeout:g}s budget")
    except RondaError:
        raise  # misuse (a parameter the probe refuses): no verdict on the target
    except Exception as exc:
        # A monitor must never go quiet: whatever the target sent that a probe could not
        # handle is this check's failure, said in words, and not a kept old state. The
        # traceback goes to the debug log for whoever fixes the probe.
        log.debug("checking %s raised", target.url, exc_info=True)
        obs.problem("protocol_error", f"ronda could not read what {target.url} answered ({_fault(exc)})")
    obs.hide_secrets()
    return assess(obs, ctx.clock())


def _fault(exc: Exception) -> str:
    words = str(exc).strip()
    return f"{type(exc).__name__}: {words}" if words else type(exc).__name__

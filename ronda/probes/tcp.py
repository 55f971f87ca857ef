"""tcp://host:port: does every address behind the name accept a connection?"""

from __future__ import annotations

from ronda.probes.addresses import each_address
from ronda.probes.base import Observation, ProbeContext, ProbeScheme
from ronda.probes.connect import Failure, open_tcp
from ronda.target import CheckOptions, Target


async def probe_tcp(
    target: Target, options: CheckOptions, ctx: ProbeContext, obs: Observation, deadline: float
) -> None:
    async def check(address: str) -> None:
        conn = await open_tcp(address, target.port, deadline)
        if isinstance(conn, Failure):
            obs.problem(conn.code, conn.detail, address=address)
        else:
            conn.close()

    await each_address(obs, options, deadline, check, ctx.dns)


SCHEME = ProbeScheme(probe_tcp)

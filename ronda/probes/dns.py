"""dns://name?type=A&server=ADDR:PORT: does the name resolve, and to what?"""

from __future__ import annotations

from typing import Any

import dns.rdatatype

from ronda.errors import UsageError
from ronda.probes.base import Observation, ProbeContext, ProbeScheme
from ronda.probes.resolve import NOT_ALLOWED, Resolution, query, resolve_host
from ronda.target import CheckOptions, Target, parse_nameserver


async def probe_dns(
    target: Target, options: CheckOptions, ctx: ProbeContext, obs: Observation, deadline: float
) -> None:
    rdtype = target.params.get("type", "A").upper()
    server_text = target.params.get("server")
    nameserver = parse_nameserver(server_text, f"{target.url!r}: server=") if server_text else options.nameserver
    if nameserver is None:
        # Without a server to ask, the system resolver gives addresses but not DNS's own words.
        if rdtype not in ("A", "AAAA"):
            raise UsageError(f"{target.url!r}: type={rdtype} needs a server (server=ADDR:PORT or --nameserver)")
        resolution = await resolve_host(target.host, target.port, options, deadline)
    else:
        try:
            dns.rdatatype.from_text(rdtype)
        except dns.rdatatype.UnknownRdatatype:
            raise UsageError(f"{target.url!r}: unknown record type {rdtype!r}") from None
        refused = options.reach.refused_address(nameserver[0]) if server_text else None
        if refused:  # the monitor's own server= is where the query goes (--nameserver is the operator's)
            resolution = Resolution(error=NOT_ALLOWED, detail=f"the DNS server {nameserver[0]}: {refused}")
        else:
            resolution = await query(target.host, rdtype, nameserver, deadline)
    server = f"{nameserver[0]}:{nameserver[1]}" if nameserver else "system resolver"
    obs.facts["dns"] = {
        "name": target.host,
        "type": rdtype,
        "server": server,
        "answers": list(resolution.records or resolution.addresses),
    }
    if resolution.error:
        obs.problem(resolution.error, resolution.detail, port=None)
    elif rdtype in ("A", "AAAA"):
        obs.addresses = list(resolution.records)


def _detail(dns: dict[str, Any]) -> list[str]:
    return [f"dns: {dns['name']} {dns['type']} via {dns['server']}: {', '.join(dns['answers']) or 'no answer'}"]


SCHEME = ProbeScheme(probe_dns, facts="dns", detail=_detail)

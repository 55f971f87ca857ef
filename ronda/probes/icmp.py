"""icmp://host[?count=N]: does every address behind the name answer ping?

The echoes go out through icmplib's `async_ping`. It waits on the loop's own `sock_recv`,
so it runs on asyncio's loop and on uvloop alike without a thread, and it speaks both kinds
of ICMP socket. ronda adds the choice between them, the budget and the findings:

- an unprivileged ICMP echo socket (SOCK_DGRAM) first: the kernel allows it when our group
  is inside `net.ipv4.ping_group_range` (which governs IPv6 too);
- else a raw socket, which needs root or CAP_NET_RAW;
- else `NotPermittedError`: a setting of this machine, not a verdict about the target.

No reply to any echo at an address is `icmp_no_reply` there (the target is down when every
address is silent); some echoes lost while others are answered is `icmp_packet_loss`, which
only degrades: the host is there and answering, the way to it drops packets.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from icmplib import SocketPermissionError, async_ping

from ronda.errors import NotPermittedError, UsageError
from ronda.probes.addresses import each_address
from ronda.probes.base import Observation, ProbeContext, ProbeScheme
from ronda.target import CheckOptions, Target
from ronda.verdict import Finding

COUNT = 3  # echoes per address: one lost packet is loss, not an outage
MAX_COUNT = 20
SPACING = 0.2  # seconds between echoes (ping's shortest interval for an unprivileged user)
PING_GROUP_RANGE = Path("/proc/sys/net/ipv4/ping_group_range")


async def probe_icmp(
    target: Target, options: CheckOptions, ctx: ProbeContext, obs: Observation, deadline: float
) -> None:
    count = echo_count(target)
    echoes: dict[str, tuple[int, list[float]]] = {}  # address -> (requests sent, round trips in ms)

    async def check(address: str) -> None:
        spacing, wait = timing(deadline - time.monotonic(), count)
        host = await _ping(target, address, count, spacing, wait)
        echoes[address] = (host.packets_sent, list(host.rtts))
        problem = echo_problem(address, host.packets_sent, len(host.rtts), wait)
        if problem is not None:
            # Ping has no port: the finding names the address only.
            obs.findings.append(Finding(problem[0], problem[1], target.host, address))

    await each_address(obs, options, deadline, check, ctx.dns)
    if echoes:  # none when the name did not resolve
        obs.facts["icmp"] = echo_report([(address, *echoes[address]) for address in obs.addresses])
        rtts = [rtt for _, round_trips in echoes.values() for rtt in round_trips]
        obs.latency_ms = statistics.fmean(rtts) if rtts else None


def echo_count(target: Target) -> int:
    text = target.params.get("count", str(COUNT))
    if not text.isdigit() or not 1 <= int(text) <= MAX_COUNT:
        raise UsageError(f"{target.url!r}: count={text!r}: expected a number of echoes from 1 to {MAX_COUNT}")
    return int(text)


def timing(remaining: float, count: int) -> tuple[float, float]:
    """(spacing, wait): echoes SPACING apart, each waiting an equal share of the budget for its
    reply (icmplib sends the next one only after that). A short budget shrinks the spacing
    first, so at least half of it is spent listening."""
    remaining = max(remaining, 0.002 * count)
    spacing = min(SPACING, remaining / (2 * count))
    wait = (remaining - (count - 1) * spacing) / count
    return spacing, wait


async def _ping(target: Target, address: str, count: int, spacing: float, wait: float) -> Any:
    """icmplib's Host for `address`: through an unprivileged echo socket where the kernel allows
    one, else a raw socket. The permission error comes when the socket is made, before
    anything is sent, so trying the second kind repeats nothing."""
    for privileged in (False, True):
        try:
            return await async_ping(address, count=count, interval=spacing, timeout=wait, privileged=privileged)
        except SocketPermissionError:
            continue
    raise NotPermittedError(f"{target.url}: {not_permitted(PING_GROUP_RANGE)}")


def not_permitted(range_file: Path) -> str:
    """Why ping is refused here, and the one command that allows it."""
    try:
        allowed = " ".join(range_file.read_text().split())
    except OSError:
        allowed = "unreadable"
    return (
        "this machine does not let ronda send ICMP echo requests: unprivileged ICMP sockets are "
        f"allowed only to the groups in net.ipv4.ping_group_range (now {allowed!r}; ronda runs as group "
        f"{os.getegid()}) and raw sockets need root or CAP_NET_RAW. Allow them with "
        'sysctl -w net.ipv4.ping_group_range="0 2147483647" (in /etc/sysctl.d/ to keep it), '
        "or give ronda CAP_NET_RAW"
    )


def echo_problem(address: str, sent: int, received: int, wait: float) -> tuple[str, str] | None:
    """The cause code and words for one address's echoes, or None when every one was answered."""
    if sent == 0:
        return "icmp_no_reply", f"the kernel sent no echo request to {address} (no route to it)"
    if received == 0:
        return "icmp_no_reply", f"{address} answered none of {sent} echo requests ({wait:.1f} s allowed for each)"
    if received < sent:
        lost = 1 - received / sent
        return "icmp_packet_loss", f"{address} answered {received} of {sent} echo requests ({lost:.0%} lost)"
    return None


def echo_report(per_address: Sequence[tuple[str, int, list[float]]]) -> dict[str, Any]:
    """The verdict's `icmp` object: totals over every address, then each address's own."""
    rtts = [rtt for _, _, round_trips in per_address for rtt in round_trips]
    total = _figures(sum(sent for _, sent, _ in per_address), rtts)
    return total | {"addresses": [{"address": a, **_figures(sent, trips)} for a, sent, trips in per_address]}


def _figures(sent: int, rtts: Sequence[float]) -> dict[str, Any]:
    received = len(rtts)
    return {
        "sent": sent,
        "received": received,
        "loss": round(1 - received / sent, 3) if sent else 1.0,
        "rtt_ms": {"min": round(min(rtts), 3), "avg": round(statistics.fmean(rtts), 3), "max": round(max(rtts), 3)}
        if rtts
        else None,
    }


def _words(icmp: dict[str, Any]) -> str:
    # Round trips are often well under a millisecond: "in 0 ms" would say nothing.
    return f"{icmp['received']} of {icmp['sent']} echoes answered, round trip {icmp['rtt_ms']['avg']:.2f} ms on average"


def _perfdata(icmp: dict[str, Any]) -> list[str]:
    """check_ping's labels: round-trip average (none without a reply) and packet loss in %,
    warning above 0% and critical at 100%, as the status has it."""
    items = [f"rta={icmp['rtt_ms']['avg']:.3f}ms;;;0"] if icmp["rtt_ms"] else []
    return [*items, f"pl={icmp['loss'] * 100:.0f}%;0;99;0;100"]


def _detail(icmp: dict[str, Any]) -> list[str]:
    return ["ping:", *(f"  - {echoes['address']}: {_echo_words(echoes)}" for echoes in icmp["addresses"])]


def _echo_words(echoes: dict[str, Any]) -> str:
    words = f"{echoes['received']} of {echoes['sent']} answered, {echoes['loss']:.0%} lost"
    rtt = echoes["rtt_ms"]
    return words + (f", round trip min/avg/max {rtt['min']:.3f}/{rtt['avg']:.3f}/{rtt['max']:.3f} ms" if rtt else "")


SCHEME = ProbeScheme(probe_icmp, facts="icmp", words=_words, timed=True, perfdata=_perfdata, detail=_detail)

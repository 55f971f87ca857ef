"""How far a failure reaches, from the latest verdict of each vantage point: pure.

`global`: every vantage point that reported recently sees it failing. `regional`: some
but not all, naming the regions they are in (a vantage point "eu-west/paris", an agent's, is
in region "eu-west"); probe agents check each monitor from one agent per region, so one
region's cut route is one failing vantage point, and that is regional. `local`: one vantage
point alone, where it cannot speak for a region: the hub's own (`local`), or one agent while
another of its region sees the target up. That is usually the point's own network, and is not
alerted by default. A single vantage point (a hub without agents) is all there is, so what it
sees is `global`. (An agent whose own network is cut off, as its canaries say, is not counted
at all: ronda/storage/arrivals.py leaves its verdicts out of the readings.)

A quorum decides when failures open an incident: an absolute number of vantage points
(`quorum: 2`) or a share of those reporting (`quorum: 50%`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

SEVERITY_ORDER = {"down": 2, "degraded": 1, "up": 0}
LOCAL = "local"  # the hub's own vantage point (config.schema.LOCAL_REGION)


@dataclass(frozen=True)
class Reading:
    vantage: str
    status: str
    cause: str | None


@dataclass(frozen=True)
class Scope:
    failing: bool  # enough vantage points fail to count as an outage
    status: str  # the worst status among the failing vantage points, or up
    cause: str | None
    scope: str  # global | regional | local | none
    regions: tuple[str, ...]  # where it fails
    working: tuple[str, ...] = ()  # the regions none of whose vantage points see it fail


def region_of(vantage: str) -> str:
    return vantage.split("/", 1)[0]


def needed(quorum: int | float, reporting: int) -> int:
    """Vantage points that must fail: an int is a count, a float in (0, 1] a share."""
    if isinstance(quorum, float):
        return max(1, math.ceil(quorum * reporting))
    return max(1, min(quorum, reporting))


def assess_scope(latest: list[Reading], quorum: int | float) -> Scope:
    failing = [r for r in latest if r.status != "up"]
    regions, working = _regions(failing), _working(failing, latest)
    if not failing or len(failing) < needed(quorum, len(latest)):
        return Scope(False, "up", None, _scope(failing, latest), regions, working)
    worst = max(failing, key=lambda r: SEVERITY_ORDER.get(r.status, 2))
    return Scope(True, worst.status, worst.cause, _scope(failing, latest), regions, working)


def _scope(failing: list[Reading], latest: list[Reading]) -> str:
    if not failing:
        return "none"
    if len(failing) == len(latest):
        return "global"
    if len(failing) > 1:
        return "regional"
    (alone,) = failing
    region = region_of(alone.vantage)
    neighbours_up = any(r.status == "up" and region_of(r.vantage) == region for r in latest)
    return "local" if region == LOCAL or neighbours_up else "regional"


def _regions(failing: list[Reading]) -> tuple[str, ...]:
    return tuple(sorted({region_of(r.vantage) for r in failing}))


def _working(failing: list[Reading], latest: list[Reading]) -> tuple[str, ...]:
    return tuple(sorted({region_of(r.vantage) for r in latest} - set(_regions(failing))))

"""Observation -> Verdict: status, the one most important cause, and a summary in plain words.

Pure: everything it needs is in the observation and the clock reading passed in.
"""

from __future__ import annotations

from datetime import datetime

from ronda import causes
from ronda.causes import Severity
from ronda.probes import FACTS, in_order
from ronda.probes.base import Observation
from ronda.verdict import Finding, Status, Verdict


def assess(obs: Observation, now: datetime) -> Verdict:
    findings = sorted(obs.findings, key=lambda f: causes.precedence(f.code))
    warnings = sorted(obs.warnings, key=lambda w: w.code)
    status = _status(findings, obs.addresses)
    cause = findings[0] if findings else None
    return Verdict(
        target=obs.target.url,
        status=status,
        cause=cause.code if cause else None,
        summary=_summary(obs, status, cause, warnings),
        checked_at=now,
        latency_ms=obs.latency_ms if obs.latency_ms is not None else obs.elapsed_ms(),
        addresses=tuple(obs.addresses),
        facts=in_order(obs.facts),
        findings=tuple(findings),
        warnings=tuple(warnings),
        certificates=tuple(obs.certificates),
        kept=obs.keep,
    )


def _status(findings: list[Finding], addresses: list[str]) -> Status:
    """Down when every address fails (or the failure is not tied to one address);
    degraded when some addresses work, or only degrading problems were found."""
    down = [f for f in findings if causes.severity_of(f) is Severity.DOWN]
    if not down:
        return "degraded" if findings else "up"
    if any(f.address is None for f in down) or not addresses:
        return "down"
    failing = {f.address for f in down}
    return "down" if failing >= set(addresses) else "degraded"


def _failing_addresses(findings: list[Finding]) -> set[str]:
    """Addresses where the target does not work; one that only degrades (it loses some pings,
    say) still works."""
    return {f.address for f in findings if f.address and causes.severity_of(f) is Severity.DOWN}


def _summary(obs: Observation, status: Status, cause: Finding | None, warnings: list[Finding]) -> str:
    if cause is not None:
        summary = cause.detail or causes.words(cause.code)
        failing = _failing_addresses(obs.findings)
        if status == "degraded" and cause.address in failing and len(obs.addresses) > 1:
            summary += f" ({len(obs.addresses) - len(failing)} of {len(obs.addresses)} addresses work)"
        return summary
    parts = [f"{obs.target.url} is up"]
    timed = False  # some protocol's words say how long it took
    for key, facts in in_order(obs.facts).items():
        scheme = FACTS.get(key)
        if facts and scheme is not None and scheme.words is not None:
            parts.append(scheme.words(facts))
            timed = timed or scheme.timed
    if not timed and obs.latency_ms is not None:
        parts.append(f"in {obs.latency_ms:.0f} ms")
    if warnings:
        parts.append(f"but {warnings[0].detail}")
    return ", ".join(parts[:1]) + (": " + ", ".join(parts[1:]) if len(parts) > 1 else "")

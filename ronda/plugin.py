"""The Nagios/Icinga plugin face of a verdict: exit code, first line, perfdata.

Plugin guidelines: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN; the first line is
`SERVICE STATE - text | perfdata`, perfdata being 'label'=value[UOM];warn;crit;min;max.
"""

from __future__ import annotations

from ronda.causes import Severity, severity
from ronda.certs.rules import warn_threshold_days
from ronda.probes import FACTS
from ronda.target import CheckOptions
from ronda.verdict import Verdict

OK, WARNING, CRITICAL, UNKNOWN = 0, 1, 2, 3
STATE_NAMES = {OK: "OK", WARNING: "WARNING", CRITICAL: "CRITICAL", UNKNOWN: "UNKNOWN"}


def exit_code(verdict: Verdict) -> int:
    if verdict.status == "down":
        return CRITICAL
    if verdict.status == "degraded" or verdict.warnings:
        return WARNING
    return OK


def perfdata(verdict: Verdict, options: CheckOptions) -> str:
    items = []
    if verdict.latency_ms is not None:
        warn = f"{options.expect.max_latency:g}" if options.expect.max_latency else ""
        items.append(f"time={verdict.latency_ms / 1000:.6f}s;{warn};;0")
    for key, facts in verdict.facts.items():  # each protocol's own figures
        if key in FACTS:
            items.extend(FACTS[key].perfdata(facts))
    if verdict.certificates:
        soonest = min(verdict.certificates, key=lambda c: c.days_left)
        # A bare number N is the Nagios range 0..N (alert when above N); days left must
        # alert when *below* the threshold, which is the range "N:". The threshold is the
        # one the rules applied to this certificate (capped at a quarter of its lifetime).
        lifetime = (soonest.not_after - soonest.not_before).total_seconds() / 86400
        threshold = warn_threshold_days(lifetime, options.warn_days)
        items.append(f"cert_days_left={soonest.days_left:.2f};{threshold:g}:;0:")
    if verdict.addresses:
        failing = {f.address for f in verdict.findings if f.address and severity(f.code) is Severity.DOWN}
        # As the status has it: any failing address warns (above 0), all of them is
        # critical (above n-1).
        total = len(verdict.addresses)
        items.append(f"addresses_failing={len(failing)};0;{total - 1};0;{total}")
    return " ".join(items)


def first_line(verdict: Verdict, options: CheckOptions) -> str:
    state = STATE_NAMES[exit_code(verdict)]
    summary = verdict.summary.replace("|", "/")  # '|' starts perfdata in the plugin format
    if verdict.cause:
        summary = f"{verdict.cause}: {summary}"
    elif verdict.warnings:
        summary = f"{verdict.warnings[0].code}: {summary}"
    data = perfdata(verdict, options)
    return f"RONDA {state} - {summary}" + (f" | {data}" if data else "")


def unknown_line(message: str) -> str:
    return f"RONDA UNKNOWN - {message.replace('|', '/')}"

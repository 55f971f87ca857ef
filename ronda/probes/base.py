"""The probe seam: one async function per scheme, declared by its module as `SCHEME` (a
ProbeScheme) and registered in `ronda.probes.PROBES` for the schemes ronda/schemes.py names.

A probe gets the target, the options and a context of collaborators, and fills an
Observation: what it saw at each address, as findings with cause codes. A down target
is data; a probe raises only for bugs and misuse.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ronda.clock import Clock, system_clock
from ronda.probes.dnscache import DnsCache
from ronda.probes.tokens import TokenCache
from ronda.target import CheckOptions, Target
from ronda.tlscontexts import TlsContexts
from ronda.verdict import CertificateInfo, Finding

Facts = dict[str, Any]  # one protocol's facts, as the verdict's JSON shows them


@dataclass
class ProbeContext:
    """Collaborators a probe needs, passed in so tests can hand real local parts."""

    tls: TlsContexts = field(default_factory=TlsContexts)
    clock: Clock = system_clock
    fetch_cache: dict[str, tuple[float, bytes]] = field(default_factory=dict)  # url -> (expires, body)
    dns: DnsCache = field(default_factory=DnsCache)  # address lookups kept for their TTL, shared
    tokens: TokenCache = field(default_factory=TokenCache)  # OAuth2 tokens kept until they expire, shared


@dataclass
class Observation:
    """What a probe saw. `assess` turns it into a Verdict."""

    target: Target
    started: float = field(default_factory=time.monotonic)
    addresses: list[str] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    warnings: list[Finding] = field(default_factory=list)
    certificates: list[CertificateInfo] = field(default_factory=list)
    # What the protocol said, by the key of its facts in the verdict (ProbeScheme.facts):
    # {"rtsp": {...}}. A probe may fill another's too: a status page's fetch fills "http".
    facts: dict[str, Facts] = field(default_factory=dict)
    # What this monitor's earlier checks kept for it (`keep`), which `ronda run` hands back
    # check after check, from the store across restarts: an SSH server's host key, trusted on
    # first use. Empty for `ronda check`, which has no earlier checks.
    known: dict[str, Any] = field(default_factory=dict)
    keep: dict[str, Any] | None = None  # what the monitor's next check should know; None: no change
    latency_ms: float | None = None
    # What the check sent that must never show (passwords, tokens): the check's findings,
    # warnings and facts have each replaced by *** before they become a verdict.
    secrets: set[str] = field(default_factory=set)

    def problem(
        self, code: str, detail: str, *, address: str | None = None, host: str | None = None, port: int | None = None
    ) -> None:
        self.findings.append(Finding(code, detail, host or self.target.host, address, port or self.target.port))

    def warn(
        self, code: str, detail: str, *, address: str | None = None, host: str | None = None, port: int | None = None
    ) -> None:
        self.warnings.append(Finding(code, detail, host or self.target.host, address, port or self.target.port))

    def elapsed_ms(self) -> float:
        return (time.monotonic() - self.started) * 1000

    def hide_secrets(self) -> None:
        """Every secret the check sent replaced by *** in its findings, warnings and facts:
        a server that echoes a token back, or an error that quotes it, shows none."""
        if not self.secrets:
            return
        secrets = sorted(self.secrets, key=len, reverse=True)  # a longer one first: it may hold a shorter
        self.findings = [dataclasses.replace(f, detail=_hidden(f.detail, secrets)) for f in self.findings]
        self.warnings = [dataclasses.replace(w, detail=_hidden(w.detail, secrets)) for w in self.warnings]
        self.facts = {key: _hidden(value, secrets) for key, value in self.facts.items()}


def _hidden(value: Any, secrets: list[str]) -> Any:
    if isinstance(value, str):
        for secret in secrets:
            value = value.replace(secret, "***")
        return value
    if isinstance(value, dict):
        return {key: _hidden(item, secrets) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_hidden(item, secrets) for item in value]
    return value


Probe = Callable[[Target, CheckOptions, ProbeContext, Observation, float], Awaitable[None]]
"""probe(target, options, context, observation, deadline): fill `observation` before
`deadline` (a `time.monotonic()` instant)."""


@dataclass(frozen=True)
class ProbeScheme:
    """What a probe module declares as its `SCHEME`: everything the rest of ronda needs to know
    of it, so that no other module names the protocol."""

    probe: Probe
    timeout: str = "tcp_timeout"  # the cause when the whole check runs out of its budget
    options: tuple[str, ...] = ()  # CheckOptions fields only this probe takes (ws://: send, subprotocol)
    facts: str | None = None  # the key of its facts in the verdict ("rtsp"); None: it has none
    # Its facts in a phrase, for the summary of a target that is up ("RTSP 200, 2 streams: ...").
    words: Callable[[Facts], str] | None = None
    timed: bool = False  # the phrase says how long things took (ping's round trips): no "in N ms"
    perfdata: Callable[[Facts], list[str]] = lambda facts: []  # Nagios items: 'label'=value[UOM];warn;crit;min;max
    # Its answer is an HTTP answer, judged by `expect`'s keys for one (headers, JSON, size...).
    http_answer: bool = False
    detail: Callable[[Facts], list[str]] = lambda facts: []  # lines under the plugin line of `ronda check`
    # The JSON Schema of those keys of its facts that readers rely on (docs/verdict.schema.json);
    # the others are described in its docs only.
    facts_schema: Mapping[str, Any] = field(default_factory=dict)

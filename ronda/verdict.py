"""Frozen records of what a check found, and their JSON shape (docs/verdict.md; its JSON Schema,
docs/verdict.schema.json, is made from these records by ronda/verdict_schema.py)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

Status = Literal["up", "degraded", "down"]


def iso(moment: datetime) -> str:
    """UTC ISO 8601 with `Z`, to the second, as the contract writes times."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def as_utc(moment: datetime) -> datetime:
    """The same instant in UTC; a time without a zone is taken as UTC (SQLite hands stored
    times back without one, and feeds that leave it out mostly mean it)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


@dataclass(frozen=True)
class Finding:
    """One problem or warning, with where it was seen."""

    code: str
    detail: str
    host: str | None = None
    address: str | None = None
    port: int | None = None
    # Where a code's meaning spans degraded and down (a vendor's own words, `vendor_reported`),
    # the finding says which; None: the code's severity (ronda/causes.py).
    severity: Literal["degraded", "down"] | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"code": self.code}
        for key in ("host", "address", "port", "severity"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        out["detail"] = self.detail
        return out


@dataclass(frozen=True)
class ChainEntry:
    subject: str
    issuer: str
    not_before: datetime
    not_after: datetime
    fetched: bool = False  # not sent by the server: fetched from the leaf's AIA address

    def to_json(self) -> dict[str, Any]:
        out = {
            "subject": self.subject,
            "issuer": self.issuer,
            "not_before": iso(self.not_before),
            "not_after": iso(self.not_after),
        }
        return out | ({"fetched": True} if self.fetched else {})


@dataclass(frozen=True)
class CertificateInfo:
    """Facts read from a served certificate, whether or not it verified."""

    host: str
    address: str
    port: int
    subject: str
    issuer: str
    serial: str
    sans: tuple[str, ...]
    not_before: datetime
    not_after: datetime
    days_left: float
    fingerprint_sha256: str
    chain: tuple[ChainEntry, ...] = ()
    problems: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "host": self.host,
            "address": self.address,
            "port": self.port,
            "subject": self.subject,
            "issuer": self.issuer,
            "serial": self.serial,
            "sans": list(self.sans),
            "not_before": iso(self.not_before),
            "not_after": iso(self.not_after),
            "days_left": round(self.days_left, 2),
            "fingerprint_sha256": self.fingerprint_sha256,
            "chain": [entry.to_json() for entry in self.chain],
            "problems": list(self.problems),
        }


@dataclass(frozen=True)
class Verdict:
    target: str
    status: Status
    cause: str | None
    summary: str
    checked_at: datetime
    latency_ms: float | None
    addresses: tuple[str, ...] = ()
    # What each protocol said, by the key its probe declares (ProbeScheme.facts), each a key of
    # the JSON: {"http": {"status": 200, ...}}; a status page's check has "http" and "statuspage".
    facts: dict[str, dict[str, Any]] = field(default_factory=dict)
    findings: tuple[Finding, ...] = ()
    warnings: tuple[Finding, ...] = ()
    certificates: tuple[CertificateInfo, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)
    vantage: str = "local"  # the vantage point that made the check
    # What the probe keeps for the monitor's next check (Observation.keep); None: no change. A
    # monitor's memory, not a finding: not in the JSON.
    kept: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "target": self.target,
            "status": self.status,
            "cause": self.cause,
            "summary": self.summary,
            "checked_at": iso(self.checked_at),
            "latency_ms": None if self.latency_ms is None else round(self.latency_ms, 1),
            "addresses": list(self.addresses),
            "vantage": self.vantage,
        }
        out.update(self.facts)
        out["findings"] = [f.to_json() for f in self.findings]
        out["warnings"] = [w.to_json() for w in self.warnings]
        out["certificates"] = [c.to_json() for c in self.certificates]
        out.update(self.extra)
        return out

    # Each protocol's facts by name, for readers written before `facts` (the store, the web
    # face, tests); a scheme added since is read from `facts` and needs no line here.

    @property
    def http(self) -> dict[str, Any] | None:
        return self.facts.get("http")

    @property
    def dns(self) -> dict[str, Any] | None:
        return self.facts.get("dns")

    @property
    def icmp(self) -> dict[str, Any] | None:
        return self.facts.get("icmp")  # echoes sent, received, loss, round trips (README, icmp://)

    @property
    def rtsp(self) -> dict[str, Any] | None:
        return self.facts.get("rtsp")  # status, server, methods, auth, media streams (docs/devices.md)

    @property
    def websocket(self) -> dict[str, Any] | None:
        return self.facts.get("websocket")  # handshake status, subprotocol, reply, close code (ws://)

    @property
    def onvif(self) -> dict[str, Any] | None:
        return self.facts.get("onvif")  # the device's time, skew, auth and facts (docs/devices.md)

    @property
    def statuspage(self) -> dict[str, Any] | None:
        return self.facts.get("statuspage")  # what a vendor's status page says (docs/vendor-status-pages.md)


# How far a stored verdict is cut when its JSON is over budget: each step allows at most this
# many items per list and characters per text, and the first step that fits is kept.
_CUTS = ((100, 2000), (50, 1000), (20, 500), (10, 300), (5, 200), (2, 120), (1, 80))
_KEYS = 50  # keys of one object below the top level (a vendor's components, say)
_FINDING_LISTS = ("findings", "warnings")


def compact(data: dict[str, Any], budget: int) -> dict[str, Any]:
    """A verdict's JSON cut to about `budget` bytes, for the store: whatever a target sends (a
    thousand addresses, certificates with thousands of names, a page of hundreds of asset hosts),
    a stored verdict stays small. A verdict within budget is returned as it is; else lists and
    texts are cut, a finding `… and N more` closes a cut `findings` or `warnings`, and `omitted`
    counts what was left out under each key ({"certificates": 984, "certificates.sans": 40})."""
    if _size(data) <= budget:
        return data
    cut: dict[str, Any] = data
    for items, chars in _CUTS:
        omitted: dict[str, int] = {}
        cut = {key: _cut(value, key, items, chars, omitted) for key, value in data.items()}
        for key in _FINDING_LISTS:
            if isinstance(data.get(key), list) and len(data[key]) > items:
                cut[key] = cut[key] + [_more(data[key][items:], key)]
        cut["omitted"] = omitted
        if _size(cut) <= budget:
            break
    return cut


def _cut(value: Any, path: str, items: int, chars: int, omitted: dict[str, int]) -> Any:
    if isinstance(value, str):
        return value if len(value) <= chars else value[: chars - 1] + "…"
    if isinstance(value, list):
        if len(value) > items:
            omitted[path] = omitted.get(path, 0) + len(value) - items
        return [_cut(item, path, items, chars, omitted) for item in value[:items]]
    if isinstance(value, dict):
        keys = list(value)
        if len(keys) > _KEYS:
            omitted[path] = omitted.get(path, 0) + len(keys) - _KEYS
        return {key: _cut(value[key], f"{path}.{key}", items, chars, omitted) for key in keys[:_KEYS]}
    return value


def _more(rest: list[Any], kind: str) -> dict[str, Any]:
    """One finding standing for those cut: how many, and of which codes."""
    codes: dict[str, int] = {}
    for finding in rest:
        code = str(finding.get("code")) if isinstance(finding, dict) else "?"
        codes[code] = codes.get(code, 0) + 1
    counted = ", ".join(f"{code} ×{count}" for code, count in sorted(codes.items(), key=lambda c: -c[1])[:5])
    first = next(iter(codes), "?")
    return {"code": first, "detail": f"… and {len(rest)} more {kind} not stored ({counted})"}


def _size(data: dict[str, Any]) -> int:
    return len(json.dumps(data, separators=(",", ":"), default=str))


# -- reading a verdict's JSON back: what a probe agent sends its hub (ronda/agent/) -----------

_VERDICT_KEYS = frozenset(
    {"target", "status", "cause", "summary", "checked_at", "latency_ms", "addresses", "vantage"}
    | {"findings", "warnings", "certificates"}
)
_STATUSES = ("up", "degraded", "down")


def verdict_from_json(data: dict[str, Any]) -> Verdict:
    """The Verdict `to_json` wrote (times to the second, as it writes them). Any other key
    holding an object is a protocol's facts, the rest extra. Raises ValueError naming the
    key that is missing or wrong."""
    try:
        status = data["status"]
        if status not in _STATUSES:
            raise ValueError(f"status: expected one of {', '.join(_STATUSES)}, got {status!r}")
        latency = data.get("latency_ms")
        rest = {key: value for key, value in data.items() if key not in _VERDICT_KEYS}
        return Verdict(
            target=str(data["target"]),
            status=status,
            cause=None if data.get("cause") is None else str(data["cause"]),
            summary=str(data.get("summary", "")),
            checked_at=as_utc(parse_iso(str(data["checked_at"]))),
            latency_ms=None if latency is None else float(latency),
            addresses=tuple(str(a) for a in data.get("addresses", ())),
            facts={key: value for key, value in rest.items() if isinstance(value, dict)},
            findings=tuple(_finding(f) for f in data.get("findings", ())),
            warnings=tuple(_finding(w) for w in data.get("warnings", ())),
            certificates=tuple(_certificate(c) for c in data.get("certificates", ())),
            extra={key: value for key, value in rest.items() if not isinstance(value, dict)},
            vantage=str(data.get("vantage", "local")),
        )
    except KeyError as exc:
        raise ValueError(f"{exc.args[0]}: missing") from None
    except (TypeError, AttributeError) as exc:
        raise ValueError(f"not a verdict: {exc}") from None


def _finding(data: dict[str, Any]) -> Finding:
    severity = data.get("severity")
    return Finding(
        code=str(data["code"]),
        detail=str(data.get("detail", "")),
        host=data.get("host"),
        address=data.get("address"),
        port=None if data.get("port") is None else int(data["port"]),
        severity=severity if severity in ("degraded", "down") else None,
    )


def _chain_entry(data: dict[str, Any]) -> ChainEntry:
    return ChainEntry(
        subject=str(data["subject"]),
        issuer=str(data["issuer"]),
        not_before=as_utc(parse_iso(data["not_before"])),
        not_after=as_utc(parse_iso(data["not_after"])),
        fetched=bool(data.get("fetched", False)),
    )


def _certificate(data: dict[str, Any]) -> CertificateInfo:
    return CertificateInfo(
        host=str(data["host"]),
        address=str(data["address"]),
        port=int(data["port"]),
        subject=str(data["subject"]),
        issuer=str(data["issuer"]),
        serial=str(data["serial"]),
        sans=tuple(str(name) for name in data.get("sans", ())),
        not_before=as_utc(parse_iso(data["not_before"])),
        not_after=as_utc(parse_iso(data["not_after"])),
        days_left=float(data["days_left"]),
        fingerprint_sha256=str(data["fingerprint_sha256"]),
        chain=tuple(_chain_entry(entry) for entry in data.get("chain", ())),
        problems=tuple(str(problem) for problem in data.get("problems", ())),
    )

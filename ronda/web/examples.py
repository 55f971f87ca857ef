"""Examples of the API's answers, for the OpenAPI schema (/api/docs shows them).

The verdict and certificate examples are built by ronda's own records, so they carry the
keys the API really sends; tests/test_openapi.py compares every example with a real answer.

FastAPI leaves every null out of the schema it generates (examples included), so each
example shows a state in which its keys have values: a resolved incident, a notice sent
after a failed attempt.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from ronda.verdict import CertificateInfo, ChainEntry, Finding, Verdict, iso

CHECKED = datetime(2026, 11, 23, 18, 0, tzinfo=UTC)
FINGERPRINT = "3f1d0c6a9b7e5d4c3b2a1908f7e6d5c4b3a29180f7e6d5c4b3a2918070605040"

CERTIFICATE = CertificateInfo(
    host="shop.example",
    address="127.0.0.2",
    port=443,
    subject="CN=shop.example",
    issuer="CN=Example CA",
    serial="0a1b2c3d",
    sans=("shop.example",),
    not_before=datetime(2026, 8, 23, tzinfo=UTC),
    not_after=datetime(2026, 11, 21, tzinfo=UTC),
    days_left=-2.75,
    fingerprint_sha256=FINGERPRINT,
    chain=(
        ChainEntry(
            "CN=Example Intermediate",
            "CN=Example Root",
            datetime(2025, 1, 1, tzinfo=UTC),
            datetime(2030, 1, 1, tzinfo=UTC),
        ),
    ),
    problems=("cert_expired",),
)

VERDICT: dict[str, Any] = Verdict(
    target="https://shop.example/",
    status="down",
    cause="cert_expired",
    summary="TLS certificate for shop.example expired 2 days ago (2026-11-21T00:00:00Z)",
    checked_at=CHECKED,
    latency_ms=41.7,
    addresses=("127.0.0.2",),
    facts={"http": {"status": 200}},
    findings=(Finding("cert_expired", "expired 2 days ago", "shop.example", "127.0.0.2", 443),),
    certificates=(CERTIFICATE,),
).to_json()

MONITOR: dict[str, Any] = {
    "name": "shop",
    "target": "https://shop.example/",
    "status": "down",
    "cause": "cert_expired",
    "warning": None,  # the first warning code of the latest verdict (cert_expiring, ...) when it warns
    "since": "2026-11-23T17:59:00Z",
    "open_incident": 7,
    "last_check": VERDICT,
    "source": "config",
    "editable": False,
}

# A camera's monitor: what the device said it is, from its last answer (ONVIF).
DEVICE: dict[str, Any] = {
    "manufacturer": "Ronda Optics",
    "model": "RC-100",
    "firmware": "1.4.2",
    "serial": "RC100-000042",
    "hardware_id": "rc100-hw2",
}

CAMERA_VERDICT: dict[str, Any] = Verdict(
    target="onvif://admin:***@192.0.2.10",
    status="up",
    cause=None,
    summary="onvif://admin:***@192.0.2.10 is up: Ronda Optics RC-100, firmware 1.4.2, in 38 ms",
    checked_at=CHECKED,
    latency_ms=38.2,
    addresses=("192.0.2.10",),
    facts={
        "onvif": {
            "device_time": iso(CHECKED),
            "skew_s": 0.4,
            "max_skew_s": 5.0,
            "auth": "username_token",
            "device": DEVICE,
        }
    },
).to_json()

CAMERA: dict[str, Any] = {
    "name": "garage-camera",
    "target": CAMERA_VERDICT["target"],
    "status": "up",
    "since": "2026-11-20T08:00:00Z",
    "last_check": CAMERA_VERDICT,
    "source": "config",
    "editable": False,
    "device": DEVICE,
}

WINDOW: dict[str, Any] = {
    "since": "2026-11-22T18:00:00Z",
    "checks": 2880,
    "up": 2860,
    "degraded": 10,
    "down": 10,
    "uptime": 99.65,
    "availability_strict": 99.31,
    "latency_ms": {"avg": 44.2, "min": 30.1, "max": 310.5, "p50": 41.0, "p95": 62.3},
}

UPTIME: dict[str, Any] = {
    "monitor": "shop",
    "at": iso(CHECKED),
    "windows": {"24h": WINDOW, "7d": WINDOW, "30d": WINDOW, "90d": WINDOW},
}

INCIDENT: dict[str, Any] = {
    "id": 7,
    "monitor": "shop",
    "cause": "cert_expired",
    "status": "resolved",
    "severity": "down",
    "scope": "global",
    "summary": VERDICT["summary"],
    "opened_at": "2026-11-23T17:59:30Z",
    "resolved_at": "2026-11-23T18:20:30Z",
    "duration_s": 1260.0,
    "regions": ["local"],
    "working_regions": [],
    "flapping": False,
    "planned": False,
    "signal": "probes",
    "updates": [
        {"at": "2026-11-23T17:59:00Z", "kind": "detected", "message": "first failed check", "author": "ronda"},
        {"at": "2026-11-23T17:59:30Z", "kind": "confirmed", "message": "confirmed after 2 checks", "author": "ronda"},
        {
            "at": "2026-11-23T18:05:00Z",
            "kind": "human",
            "message": "A certificate renewal failed; renewing by hand.",
            "author": "api",
            "status": "identified",
        },
        {
            "at": "2026-11-23T18:20:30Z",
            "kind": "resolved",
            "message": "resolved after 21 minutes",
            "author": "ronda",
        },
    ],
}

PLACE: dict[str, Any] = {
    "monitor": "shop",
    "host": "shop.example",
    "address": "127.0.0.2",
    "port": 443,
    "first_seen": "2026-08-23T06:00:00Z",
    "last_seen": iso(CHECKED),
}

CERTIFICATE_ENTRY: dict[str, Any] = {
    **CERTIFICATE.to_json(),
    "monitor": "shop",
    "first_seen": PLACE["first_seen"],
    "last_seen": PLACE["last_seen"],
    "places": [PLACE],
}

NOTIFICATION: dict[str, Any] = {
    "id": 12,
    "source": "incident:7:opened",
    "channel": "ops",
    "title": "[ronda] shop is failing: cert_expired",
    "status": "sent",
    "attempts": 2,
    "last_error": "connection refused by the webhook",
    "created_at": "2026-11-23T17:59:30Z",
    "next_attempt_at": "2026-11-23T17:59:35Z",
    "deadline_at": "2026-11-24T17:59:30Z",
    "sent_at": "2026-11-23T18:00:06Z",
}

OWN_STATUS: dict[str, Any] = {
    "online": True,
    "since": "2026-11-23T09:00:00Z",
    "canaries": [
        {"target": "dns://example.org", "status": "up"},
        {"target": "tcp://192.0.2.1:53", "status": "down", "cause": "tcp_timeout"},
    ],
    "history": [
        {"at": "2026-11-23T09:00:00Z", "online": True, "detail": "a canary answers again"},
        {"at": "2026-11-23T08:52:00Z", "online": False, "detail": "every canary failed"},
    ],
    "role": "leader",
}


REPORT: dict[str, Any] = {
    "id": 41,
    "service": "shop",
    "region": "US-CA",
    "problem": "app_error",
    "comment": "the app says &quot;error 503&quot; at checkout",
    "reporter_hash": "9f2c5e0d1b7a4c3e8f6a2d9b0c1e7f3a5b8d2c4e6f0a1b3c5d7e9f1a2b4c6d8e",
    "received_at": "2026-11-23T18:02:11Z",
}

SURGE: dict[str, Any] = {
    "id": 3,
    "service": "shop",
    "level": "likely",
    "peak": "likely",
    "scope": "regional",
    "regions": ["US-CA", "US-TX"],
    "reports": 48,
    "expected": 6.2,
    "started_at": "2026-11-23T18:01:00Z",
    "updated_at": "2026-11-23T18:09:30Z",
    "ended_at": None,
    "incident": 7,
}

REPORT_CHART: dict[str, Any] = {
    "service": "shop",
    "level": "likely",
    "scope": "regional",
    "regions": ["California, United States", "Texas, United States"],
    "bars": [{"start": "2026-11-23T18:00:00Z", "count": 71, "expected": 9.5, "low": 3, "high": 18}],
    "problems": [{"problem": "app_error", "reports": 60}, {"problem": "cannot_login", "reports": 11}],
    "places": [{"region": "US-CA", "name": "California, United States", "reports": 40}],
    "total": 71,
}


def answer(value: Any, status: int = 200, description: str = "Successful Response") -> dict[int | str, Any]:
    """A `responses=` entry that shows `value` as the example of a JSON answer."""
    return {status: {"description": description, "content": {"application/json": {"example": value}}}}


def refusal(status: int, description: str, detail: str) -> dict[int | str, Any]:
    """A `responses=` entry for an error answer, FastAPI's `{"detail": ...}`."""
    return answer({"detail": detail}, status, description)


NO_TOKEN = refusal(
    401, "No valid credentials", "a valid bearer token (Authorization: Bearer TOKEN) or a login is required"
)
NO_MONITOR = refusal(404, "No such monitor", "no monitor named 'shop'")
NO_INCIDENT = refusal(404, "No such incident", "no incident 7")


VANTAGE: dict[str, Any] = {
    "vantage": "eu-south/milan-1",
    "region": "eu-south",
    "status": "down",
    "cause": "tls_handshake_failed",
    "checked_at": "2026-12-05T10:41:07Z",
    "offline": False,
    "checks": 60,
    "failed": 12,
    "median_ms": 84.2,
}

# -- probe agents ------------------------------------------------------------------------------

AGENT: dict[str, Any] = {
    "name": "milan-1",
    "region": "eu-south",
    "vantage": "eu-south/milan-1",
    "state": "live",
    "token_prefix": "ronda_agent_k3Xz9Q4a",
    "created_at": "2026-12-01T09:00:00Z",
    "last_seen_at": "2026-12-05T10:41:07Z",
    "address": "198.51.100.20",
    "online": True,
    "offline_since": None,
    "offline_detail": None,
    "version": "0.1.0",
    "revoked_at": None,
    "monitors": 412,
}
ASSIGNMENT: dict[str, Any] = {
    "name": "milan-1",
    "region": "eu-south",
    "version": "5d0b6e1f9a2c4b7d8e0f1a2b",
    "ask_every": 10.0,
    "monitors": [{"name": "shop", "kind": "check", "url": "https://shop.example/", "interval": 60.0, "timeout": 10.0}],
}
BATCH_TAKEN: dict[str, Any] = {"taken": 120, "dropped": []}

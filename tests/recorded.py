"""A store with a few recorded verdicts, shared by the tests of what the web face reads:
shop up (its certificate renewed once), api down with an open incident, images degraded,
fresh never checked; notices for two channels in the outbox, one of them given up on."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from ronda.notify.channels import Channel
from ronda.notify.outbox import Outbox, OutboxSettings
from ronda.storage.database import Database
from ronda.verdict import CertificateInfo, Finding, Verdict

NOW = datetime.now(UTC).replace(microsecond=0)
OLD_CERT, NEW_CERT, API_CERT = "aa" * 32, "bb" * 32, "cc" * 32


def certificate(fingerprint: str, host: str, days_left: float) -> CertificateInfo:
    return CertificateInfo(
        host=host,
        address="127.0.0.2",
        port=443,
        subject=f"CN={host}",
        issuer="CN=Test CA",
        serial=fingerprint[:4],
        sans=(host,),
        not_before=NOW - timedelta(days=30),
        not_after=NOW + timedelta(days=days_left),
        days_left=days_left,
        fingerprint_sha256=fingerprint,
    )


def verdict(status: str, at: datetime, *certs: CertificateInfo, http: int | None = 200) -> Verdict:
    cause = {"up": None, "degraded": "slow_response", "down": "tcp_refused"}[status]
    findings = () if cause is None else (Finding(cause, "as the test says", "x.test", "127.0.0.2", 443),)
    return Verdict(
        "https://x.test/",
        status,  # type: ignore[arg-type]
        cause,
        f"{status} as the test says",
        at,
        None if status == "down" else 250.0,
        ("127.0.0.2",),
        facts={} if http is None else {"http": {"status": http}},
        findings=findings,
        certificates=certs,
    )


def recorded_store(tmp_path: Path, url: str | None = None) -> Database:
    """shop up (its certificate renewed once), api down with an open incident, images
    degraded, fresh never checked. Each of the three events (a renewal, two openings)
    is a notice for two channels: six rows, one of them given up on. In `url`'s store when
    given, else in SQLite in `tmp_path`."""
    channels = [Channel("ops", "json://127.0.0.1/ops"), Channel("pager", "json://127.0.0.1/pager")]
    url = url or f"sqlite:///{tmp_path / 'ronda.db'}"
    store = Database(url, outbox=Outbox(channels, {}, OutboxSettings()).write)
    store.monitors.sync({name: f"https://{name}.test/" for name in ("shop", "api", "images", "fresh")})
    earlier = NOW - timedelta(minutes=5)
    store.monitors.record("shop", verdict("up", earlier, certificate(OLD_CERT, "shop.test", 2.0)), 1)
    store.monitors.record("shop", verdict("up", NOW, certificate(NEW_CERT, "shop.test", 80.0)), 1)
    store.monitors.record("api", verdict("up", earlier, certificate(API_CERT, "api.test", 30.0)), 1)
    store.monitors.record("api", verdict("down", NOW, http=None), 1)
    store.monitors.record("images", verdict("degraded", NOW, http=503), 1)
    ledger = store.outbox
    ledger.abandon([ledger.pending()[0].id], "the test gave up on it")
    return store

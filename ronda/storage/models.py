"""Tables. Verdicts are stored whole (JSON) beside the columns queries need; monitor
state and incidents are derived from them and stored, so a restart resumes exactly."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy import false as sa_false
from sqlalchemy import true as sa_true
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

RESULT_ID = BigInteger().with_variant(Integer, "sqlite")


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every backend: SQLite forgets the zone, so store UTC and
    hand it back aware."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime, dict[str, Any]: JSON}


class MonitorRow(Base):
    __tablename__ = "monitors"
    __table_args__ = (Index("ix_monitors_push_token", "push_token", unique=True),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    target: Mapped[str] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(16), default="config")
    active: Mapped[bool] = mapped_column(default=True)
    status: Mapped[str] = mapped_column(String(16), default="unknown")
    cause: Mapped[str | None] = mapped_column(String(64))
    warning: Mapped[str | None] = mapped_column(String(64))  # its latest verdict's first warning code
    since: Mapped[datetime | None]
    failures: Mapped[int] = mapped_column(default=0)  # consecutive failed checks
    failing_since: Mapped[datetime | None]
    last_result_id: Mapped[int | None] = mapped_column(RESULT_ID)
    open_incident_id: Mapped[int | None] = mapped_column(Integer)
    successes: Mapped[int] = mapped_column(default=0, server_default="0")  # consecutive good checks
    changes: Mapped[list[str]] = mapped_column(JSON, default=list, server_default="[]")  # recent status changes
    # A monitor added through the API or the dashboard (source "api") keeps its definition
    # here; the config file's monitors (source "config") are defined by the file.
    spec: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # What a device says it is (an ONVIF camera's make, model, firmware), from its last answer.
    device: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # What the monitor's probe keeps from check to check (an SSH server's host key, trusted on
    # first use), with the URL it was kept for: {"target": URL, "kept": {...}}.
    known: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # A push monitor's secret (its URL is /push/{token}) and when its job last said it started.
    push_token: Mapped[str | None] = mapped_column(String(64))  # unique: ix_monitors_push_token
    push_started_at: Mapped[datetime | None]
    # Its first check ever: kept here because raw verdicts age out (retention.raw).
    first_checked_at: Mapped[datetime | None]


class ResultRow(Base):
    __tablename__ = "results"
    # Covering: the uptime figures read status and latency from the index alone, not from
    # rows that carry a whole verdict (halves GET .../uptime, bench/uptime_query.py).
    __table_args__ = (Index("ix_results_monitor_time", "monitor_id", "checked_at", "status", "latency_ms"),)

    # 64 bits: 100,000 monitors each minute pass 2^31 verdicts in 15 days. (SQLite's
    # integers are 64 bits already, and its row ids must be declared INTEGER.)
    id: Mapped[int] = mapped_column(RESULT_ID, primary_key=True)
    monitor_id: Mapped[int] = mapped_column(ForeignKey("monitors.id", ondelete="CASCADE"))
    checked_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(16))
    cause: Mapped[str | None] = mapped_column(String(64))
    latency_ms: Mapped[float | None] = mapped_column(Float)
    verdict: Mapped[dict[str, Any]]
    vantage: Mapped[str] = mapped_column(String(64), default="local", server_default="local")
    # Made while its vantage point's own network was cut off (its canaries failed): kept for
    # the record, never counted among the readings that decide an incident.
    offline: Mapped[bool] = mapped_column(default=False, server_default=sa_false())


class RollupRow(Base):
    """A monitor's verdicts of one hour or one UTC day, counted (ronda/storage/history.py):
    what uptime, the bars and the charts read once raw verdicts age out."""

    __tablename__ = "rollups"
    __table_args__ = (Index("ix_rollups_span_start", "span", "start"),)  # pruning by age

    monitor_id: Mapped[int] = mapped_column(ForeignKey("monitors.id", ondelete="CASCADE"), primary_key=True)
    span: Mapped[str] = mapped_column(String(8), primary_key=True)  # hour | day
    start: Mapped[datetime] = mapped_column(primary_key=True)
    checks: Mapped[int]
    up: Mapped[int]
    degraded: Mapped[int]
    down: Mapped[int]
    answered: Mapped[int]  # checks not down with a latency: what the latency figures cover
    latency_sum: Mapped[float] = mapped_column(Float)
    latency_min: Mapped[float | None] = mapped_column(Float)
    latency_max: Mapped[float | None] = mapped_column(Float)
    buckets: Mapped[dict[str, Any]]  # the answered latencies' histogram (ronda/storage/histogram.py)


class MarkRow(Base):
    """How far the rollups and the pruning of verdicts have come (ronda/storage/history.py)."""

    __tablename__ = "marks"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger)  # a result id, or a time in seconds since the epoch


class IncidentRow(Base):
    __tablename__ = "incidents"
    __table_args__ = (Index("ix_incidents_status", "status"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    monitor_id: Mapped[int] = mapped_column(ForeignKey("monitors.id", ondelete="CASCADE"))
    cause: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))  # open | resolved
    severity: Mapped[str] = mapped_column(String(16))  # down | degraded: the worst seen
    scope: Mapped[str] = mapped_column(String(16), default="local")
    summary: Mapped[str] = mapped_column(Text)
    opened_at: Mapped[datetime]
    resolved_at: Mapped[datetime | None]
    duration_s: Mapped[float | None] = mapped_column(Float)
    flapping: Mapped[bool] = mapped_column(default=False, server_default=sa_false())
    planned: Mapped[bool] = mapped_column(default=False, server_default=sa_false())  # inside maintenance
    regions: Mapped[list[str]] = mapped_column(JSON, default=list, server_default="[]")
    # The regions whose vantage points see it work meanwhile (probe agents'; "local" the hub's).
    working_regions: Mapped[list[str]] = mapped_column(JSON, default=list, server_default="[]")
    announced: Mapped[bool] = mapped_column(default=False, server_default=sa_false())  # people were told of it
    # Which signal opened it: probes (ronda's checks), reports (a surge of users' reports);
    # both once the other signal joined.
    signal: Mapped[str] = mapped_column(String(16), default="probes", server_default="probes")


class IncidentMonitorRow(Base):
    """A monitor whose failure joined an incident of another (its parent's, say)."""

    __tablename__ = "incident_monitors"
    __table_args__ = (UniqueConstraint("incident_id", "monitor_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"), index=True)
    monitor_id: Mapped[int] = mapped_column(ForeignKey("monitors.id", ondelete="CASCADE"))
    joined_at: Mapped[datetime]


class IncidentUpdateRow(Base):
    __tablename__ = "incident_updates"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime]
    kind: Mapped[str] = mapped_column(String(32))  # detected, confirmed, cause_changed, scope_changed, resolved, human
    message: Mapped[str] = mapped_column(Text)
    status: Mapped[str | None] = mapped_column(String(16))  # a human update's: investigating, identified, ...
    author: Mapped[str] = mapped_column(String(64), default="ronda", server_default="ronda")


class OutboxRow(Base):
    """A notice to deliver, written in the transaction of the event that caused it, so a
    crash cannot lose it; sent, retried with backoff, or given up on past its deadline."""

    __tablename__ = "outbox"
    __table_args__ = (
        UniqueConstraint("source", "channel"),
        Index("ix_outbox_due", "status", "next_attempt_at"),
        Index("ix_outbox_created", "created_at"),  # is a storm under way? (openings of the last minute)
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(String(128))  # what caused it, e.g. incident:7:opened
    channel: Mapped[str] = mapped_column(String(128))  # a configured channel's name, never its URL
    title: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(16))  # Apprise's notify type
    # pending | sent | failed; a public channel's post awaiting approval is a draft until a
    # person approves it (pending) or discards it (discarded).
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime]
    next_attempt_at: Mapped[datetime]
    deadline_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)


class SubscriberRow(Base):
    """A visitor who asked to hear of a status page's incidents: by e-mail or webhook, for
    some of its components (None: all), in a language. Nothing else about them is kept.
    `token` is the secret of their links (confirm, change, unsubscribe); until
    `confirmed_at` they get the confirmation message and nothing else."""

    __tablename__ = "subscribers"
    __table_args__ = (UniqueConstraint("page", "kind", "address"), Index("ix_subscribers_page", "page", "confirmed_at"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    page: Mapped[str] = mapped_column(String(64))  # the status page's slug
    kind: Mapped[str] = mapped_column(String(16))  # email | webhook
    address: Mapped[str] = mapped_column(String(512))
    components: Mapped[list[str] | None] = mapped_column(JSON)
    language: Mapped[str] = mapped_column(String(16))
    token: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]
    confirmed_at: Mapped[datetime | None]


class CertificateRow(Base):
    """One certificate, once, by fingerprint, wherever it was seen."""

    __tablename__ = "certificates"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    fingerprint_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    subject: Mapped[str] = mapped_column(Text)
    issuer: Mapped[str] = mapped_column(Text)
    not_before: Mapped[datetime]
    not_after: Mapped[datetime] = mapped_column(index=True)
    first_seen: Mapped[datetime]
    last_seen: Mapped[datetime]
    details: Mapped[dict[str, Any]]  # the latest CertificateInfo JSON
    warned: Mapped[str] = mapped_column(Text, default="")  # warning codes already announced, comma-separated


class CertificatePlaceRow(Base):
    """Where a certificate was served: monitor, host, address and port."""

    __tablename__ = "certificate_places"
    __table_args__ = (UniqueConstraint("certificate_id", "monitor_id", "host", "address", "port"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    certificate_id: Mapped[int] = mapped_column(ForeignKey("certificates.id", ondelete="CASCADE"), index=True)
    monitor_id: Mapped[int] = mapped_column(ForeignKey("monitors.id", ondelete="CASCADE"))
    host: Mapped[str] = mapped_column(String(255))
    address: Mapped[str] = mapped_column(String(255))
    port: Mapped[int]
    first_seen: Mapped[datetime]
    last_seen: Mapped[datetime]


class CertificateRotationRow(Base):
    """A new certificate served where another was: recorded, and announced once."""

    __tablename__ = "certificate_rotations"
    __table_args__ = (UniqueConstraint("old_fingerprint", "new_fingerprint"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    monitor_id: Mapped[int] = mapped_column(ForeignKey("monitors.id", ondelete="CASCADE"))
    host: Mapped[str] = mapped_column(String(255))
    address: Mapped[str] = mapped_column(String(255))
    port: Mapped[int]
    old_fingerprint: Mapped[str] = mapped_column(String(64))
    new_fingerprint: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime]


class ConnectivityRow(Base):
    """ronda's own connectivity changing: offline (no canary answers) or back online."""

    __tablename__ = "connectivity"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(index=True)
    online: Mapped[bool]
    detail: Mapped[str] = mapped_column(Text)


class UserRow(Base):
    """A person who may use the dashboard and the API."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(Text)  # argon2id, never the password
    # viewer, editor or admin (ronda/storage/accounts.py ROLES); 0007 replaced is_admin with it
    role: Mapped[str] = mapped_column(String(16), default="viewer", server_default="viewer")
    totp_secret: Mapped[str | None] = mapped_column(String(64))  # set once the second factor is confirmed
    created_at: Mapped[datetime]
    last_login_at: Mapped[datetime | None]


class WebSessionRow(Base):
    """A login: the browser holds the token, the database only its SHA-256, so a copy of
    the database cannot be used to log in."""

    __tablename__ = "web_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))  # every form and unsafe API call from the page carries it
    verified: Mapped[bool] = mapped_column(default=False, server_default=sa_false())  # second factor passed
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]


class ApiTokenRow(Base):
    """A bearer token for scripts; stored as its SHA-256, shown once when created."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))  # the first characters, to tell tokens apart
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    created_at: Mapped[datetime]
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    # What the token may do, at most its user's role (checked again at each use)
    role: Mapped[str] = mapped_column(String(16), default="viewer", server_default="viewer")


class ReportRow(Base):
    """A user's problem report. The reporter's address is kept only as a salted hash whose
    salt rotates daily, so reports can be counted once per person without tracking anyone."""

    __tablename__ = "reports"
    __table_args__ = (
        Index("ix_reports_service_time", "service", "received_at"),
        Index("ix_reports_reporter", "reporter_hash", "service", "received_at"),
        Index("ix_reports_time_service", "received_at", "service"),  # the services reported lately
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    service: Mapped[str] = mapped_column(String(128))
    region: Mapped[str] = mapped_column(String(64))
    problem: Mapped[str] = mapped_column(String(32))
    comment: Mapped[str | None] = mapped_column(Text)
    reporter_hash: Mapped[str] = mapped_column(String(64))
    received_at: Mapped[datetime]


class ReportSurgeRow(Base):
    """A surge of users' reports for a service: open while `ended_at` is null. `level` is the
    evidence now (possible | likely), `peak` the strongest seen; `incident_id` the incident it
    opened or joined."""

    __tablename__ = "report_surges"
    __table_args__ = (Index("ix_report_surges_service", "service", "ended_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    service: Mapped[str] = mapped_column(String(128))
    level: Mapped[str] = mapped_column(String(16))
    peak: Mapped[str] = mapped_column(String(16))
    scope: Mapped[str] = mapped_column(String(16))  # global | regional
    regions: Mapped[list[str]] = mapped_column(JSON, default=list, server_default="[]")
    reports: Mapped[int] = mapped_column(Integer)  # in the buckets that raised it, at its peak
    expected: Mapped[float] = mapped_column(Float)  # what the baseline expected in those buckets
    started_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]
    incident_id: Mapped[int | None] = mapped_column(Integer)


class AgentRow(Base):
    """A probe agent the hub accepts verdicts from (ronda/agent/): its name and region come
    from here, never from what it claims; its token is stored as its SHA-256, shown once."""

    __tablename__ = "agents"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(32), unique=True)
    region: Mapped[str] = mapped_column(String(32))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(20))  # the token's first characters, to tell tokens apart
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    last_seen_at: Mapped[datetime | None]  # its latest call: older than the silence limit, a lost vantage point
    address: Mapped[str | None] = mapped_column(String(64))  # where that call came from
    # Whether its connectivity canaries answer (its own network works), as it last said.
    online: Mapped[bool] = mapped_column(default=True, server_default=sa_true())
    offline_since: Mapped[datetime | None]
    offline_detail: Mapped[str | None] = mapped_column(Text)
    version: Mapped[str | None] = mapped_column(String(32))  # the ronda it runs


class ScreenshotRow(Base):
    """A failing browser check's screenshot (a JPEG), kept apart from its verdict: the stored
    verdict stays small and names this row by id (ronda/storage/screenshots.py). Only the last
    few of each monitor are kept."""

    __tablename__ = "screenshots"
    __table_args__ = (Index("ix_screenshots_monitor", "monitor_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    monitor_id: Mapped[int] = mapped_column(ForeignKey("monitors.id", ondelete="CASCADE"))
    checked_at: Mapped[datetime]  # its verdict's
    vantage: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))  # degraded | down
    cause: Mapped[str | None] = mapped_column(String(64))
    url: Mapped[str] = mapped_column(Text)  # the page it shows
    media_type: Mapped[str] = mapped_column(String(32))
    image: Mapped[bytes] = mapped_column(LargeBinary)

"""`POST /api/v1/reports` (CONTRACT.md section 4, no token): a visitor tells ronda a service
is failing for them. JSON from scripts and widgets, or the status page's form.

Nobody posting has a session, so the form is protected by a double-submit token
(ronda/web/formtokens.py). A JSON post must say
`Content-Type: application/json`, which a cross-site HTML form cannot send.

What is stored is made plain first: the region as an ISO 3166 code or normalised text
(ronda/regions.py), the comment without control characters, at most 500 characters,
HTML-escaped (whatever shows it raw cannot be attacked through it; templates show it with
the `report_comment` filter, which undoes the escaping for Jinja's own).

The reporter is stored as SHA-256(salt + source), the source being the client address (an
IPv6 address's /64), the salt random, kept in memory and replaced every UTC day: one
person's reports can be counted once per service per window (`reports.window`), nobody can
be followed from one day to the next, nor their address recovered from the database.

Floods are refused `429` with `Retry-After` before anything is written: per source
(`reports.per_source` in `reports.per_source_period`) and from everyone together
(`reports.global_per_minute`), counted in memory (ronda/web/ratelimit.py).

Taking a report reads and writes no database: the services that take reports and who was
counted lately are known in memory (ronda/web/intake.py), and the report joins the queue
the store's writer thread writes in batches (ronda/storage/reports.py); a full queue is
`503`. Reports older than `reports.keep` are deleted with a batch, at most once an hour.

JSON posts reach `ReportPosts.answer` in front of FastAPI's router (ronda/web/report_lane.py),
the form's through it: finding the route cost more than everything a report does.
"""

from __future__ import annotations

import functools
import hashlib
import html
import json
import secrets
from collections.abc import Callable, Set
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal
from urllib.parse import parse_qs, urlencode

from fastapi import APIRouter, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator

from ronda.clock import Clock, system_clock
from ronda.config.schema import ReportSettings
from ronda.durations import format_duration
from ronda.records import Report
from ronda.regions import MAX_LENGTH, normalise
from ronda.rules.public_status import find_page
from ronda.storage.reports import Reports
from ronda.textclean import plain
from ronda.web.auth import client_address
from ronda.web.clients import network_of
from ronda.web.context import WebContext
from ronda.web.formtokens import DoubleSubmit
from ronda.web.i18n import negotiate, templates_for
from ronda.web.intake import RecentReporters, ReportableServices
from ronda.web.ratelimit import SlidingWindowLimiter

Problem = Literal["cannot_connect", "cannot_login", "app_error", "slow", "notifications", "other"]
PROBLEMS: tuple[str, ...] = Problem.__args__  # type: ignore[attr-defined]
MAX_BODY = 4096  # bytes: a report is a few short fields
FORM = "application/x-www-form-urlencoded"
JSON = "application/json"
COMMENT_LENGTH = 500  # characters a visitor may write
PRUNE_EVERY = timedelta(hours=1)  # deleting old reports scans the table: not on every report
EVERYONE = "*"  # the key of the global cap
BUSY_RETRY = 2  # seconds: the writer stores thousands of reports a second


class ReportIn(BaseModel):
    """A visitor's report. `service` is one of the services shown on a status page."""

    model_config = ConfigDict(
        extra="forbid",
        str_strip_whitespace=True,
        json_schema_extra={"examples": [{"service": "shop", "region": "Milano", "problem": "cannot_connect"}]},
    )

    service: str = Field(min_length=1, max_length=128)
    region: str = Field(default="", max_length=MAX_LENGTH)
    problem: Problem
    comment: str | None = Field(default=None, max_length=COMMENT_LENGTH)

    @field_validator("service")
    @classmethod
    def _public(cls, value: str, info: ValidationInfo) -> str:
        services = (info.context or {}).get("services")
        if services is not None and value not in services:
            raise ValueError("no service of that name is on a status page")
        return value


@dataclass
class DailySalt:
    """A random salt per UTC day, in memory only (a restart starts a new one). Yesterday's
    is kept one more day, for the dedupe look-up only: a window reaching back over midnight
    still finds the same person, while the database never links one day to the next."""

    _day: date | None = None
    _salt: bytes = b""
    _yesterday: bytes | None = None

    def hash(self, address: str, now: datetime) -> str:
        return self.hashes(address, now)[0]

    def hashes(self, address: str, now: datetime) -> tuple[str, ...]:
        """Today's hash of `address`, then yesterday's when this process had that salt."""
        day = now.astimezone(UTC).date()
        if day != self._day:
            follows = self._day is not None and day - self._day == timedelta(days=1)
            self._yesterday = self._salt if follows else None
            self._day, self._salt = day, secrets.token_bytes(32)
        salts = (self._salt,) if self._yesterday is None else (self._salt, self._yesterday)
        return tuple(hashlib.sha256(salt + address.encode()).hexdigest() for salt in salts)


def stored_comment(comment: str | None) -> str | None:
    """The comment as stored: plain (line breaks kept), at most COMMENT_LENGTH characters,
    HTML-escaped; None when nothing is left."""
    text = plain(comment or "", lines=True)[:COMMENT_LENGTH].rstrip()
    return html.escape(text) if text else None


@dataclass(frozen=True)
class Outcome:
    """What became of a post: refused over a limit, or a valid report counted or not."""

    counted: bool  # stored, and counts
    detail: str = ""  # why not: a duplicate, or a limit
    retry_after: int = 0  # > 0: refused over a limit, try again in this many seconds
    busy: bool = False  # refused because the writer is behind (503), not over a limit (429)


@dataclass
class ReportIntake:
    """Valid reports to the `reports` table's queue: limited, deduplicated, reporters
    hashed, the old ones pruned. `settings` is called per report, so a reload's new limits
    apply."""

    reports: Reports
    settings: Callable[[], ReportSettings] = ReportSettings
    # One wall clock for everything here: the dedupe window is in stored wall times
    # already, and one clock lets tests drive it all (a clock stepped back only
    # lengthens a wait by the step).
    clock: Clock = system_clock
    salt: DailySalt = field(default_factory=DailySalt)

    def __post_init__(self) -> None:
        self.per_source = SlidingWindowLimiter(clock=self._seconds)
        self.everyone = SlidingWindowLimiter(window=60.0, clock=self._seconds)
        self.recent = RecentReporters()
        self.services = ReportableServices()
        self._next_prune: datetime | None = None

    def admit(self, address: str) -> Outcome | None:
        """Count one post from `address`; an Outcome refusing it when it is over a limit
        (then it is not counted: waiting out Retry-After is enough). Called before the
        post is parsed or the database read, so a flood costs no more than this."""
        settings, source = self.settings(), network_of(address)
        self.per_source.limit, self.per_source.window = settings.per_source, settings.per_source_period
        self.everyone.limit = settings.global_per_minute
        wait = self.per_source.take(source)
        if wait:
            return Outcome(False, _source_limit(settings.per_source, settings.per_source_period), wait)
        wait = self.everyone.take(EVERYONE)
        if wait:
            self.per_source.give_back(source)  # refused after all: it counts nowhere
            return Outcome(False, _global_limit(settings.global_per_minute), wait)
        return None

    def receive(self, report: ReportIn, address: str) -> Outcome:
        """Count the report unless its reporter's last one for the service is in the window.
        No database work here: the report joins the next batch the writer stores (a full
        queue sheds it, `busy`), and the dedupe is answered from memory."""
        settings, now = self.settings(), self.clock()
        reporters = self.salt.hashes(network_of(address), now)
        if self.recent.counted_since(reporters, report.service, now - timedelta(seconds=settings.window)):
            return Outcome(False, _already_counted(settings.window))
        stored = Report(
            report.service, normalise(report.region), report.problem, stored_comment(report.comment), reporters[0], now
        )
        if not self.reports.queue(stored):
            return Outcome(False, "ronda is busy storing reports: send it again in a moment", BUSY_RETRY, busy=True)
        self.recent.counted(reporters[0], report.service, now, settings.window)
        self._prune(settings, now)
        return Outcome(True)

    def _prune(self, settings: ReportSettings, now: datetime) -> None:
        if self._next_prune is None or now >= self._next_prune:
            self.reports.prune_later(now - timedelta(seconds=settings.keep))
            self._next_prune = now + PRUNE_EVERY

    def _seconds(self) -> float:
        return self.clock().timestamp()


# What a refusal says names only the settings: worded once per setting, not per post.
@functools.lru_cache(maxsize=16)
def _source_limit(limit: int, period: float) -> str:
    return f"too many reports from your address: at most {limit} in {format_duration(period)}"


@functools.lru_cache(maxsize=16)
def _global_limit(limit: int) -> str:
    return f"too many reports right now: at most {limit} a minute"


@functools.lru_cache(maxsize=16)
def _already_counted(window: float) -> str:
    return f"already counted: one report per service counts from each reporter in {format_duration(window)}"


def validate(data: Any, services: Set[str]) -> ReportIn:
    """The report, or a 422 naming each wrong field (`body.problem`, ...)."""
    try:
        return ReportIn.model_validate(data, context={"services": services})
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_context=False, include_input=False)
        raise RequestValidationError([{**e, "loc": ("body", *e["loc"])} for e in errors]) from None


_SCHEMA = ReportIn.model_json_schema()
_FORM_FIELDS = {
    "form_token": {"type": "string", "description": "the double-submit token of the page's form"},
    "page": {"type": "string", "description": "the status page to return to"},
}
REQUEST_BODY = {
    "required": True,
    "content": {
        JSON: {"schema": _SCHEMA},
        FORM: {"schema": _SCHEMA | {"properties": _SCHEMA["properties"] | _FORM_FIELDS}},
    },
}


def report_form_tokens() -> DoubleSubmit:
    """The report form's tokens: SameSite=Strict (the form posts to its own site), a day long."""
    return DoubleSubmit("ronda_report", 86400, "strict")


ACCEPTED = {"accepted": True, "counted": True}
DUPLICATE = {
    "accepted": True,
    "counted": False,
    "detail": "already counted: one report per service counts from each reporter in 1 h",
}
REFUSED = {"accepted": False, "counted": False, "detail": "too many reports from your address: at most 10 in 10 min"}
RETRY_AFTER = {"Retry-After": {"description": "seconds to wait", "schema": {"type": "integer"}}}


def report_intake(ctx: WebContext) -> ReportIntake:
    """The web face's intake: the running config's limits (a reload's apply), its clock."""
    return ReportIntake(ctx.db.reports, settings=lambda: ctx.config.reports, clock=ctx.clock)


@dataclass(frozen=True)
class ReportPosts:
    """What answers `POST /api/v1/reports`, whichever way a post comes in: through
    FastAPI's router (the status page's form, any other type, and the OpenAPI docs) or
    through the lane in front of it that takes JSON posts (ronda/web/report_lane.py). One
    intake for both, so both count against the same limits."""

    ctx: WebContext
    intake: ReportIntake
    tokens: DoubleSubmit = field(default_factory=report_form_tokens)

    async def answer(self, request: Request) -> Response:
        """The answer to one post; a bad one raises HTTPException or RequestValidationError,
        for FastAPI's handlers (or the lane's same ones) to answer."""
        body = await request.body()
        if len(body) > MAX_BODY:
            raise HTTPException(413, detail=f"a report is at most {MAX_BODY} bytes")
        kind = media_type(request.headers.get("content-type", ""))
        if kind not in (JSON, FORM):
            raise HTTPException(415, detail="send application/json (or the status page's form)")
        address = client_address(request)
        refused = self.intake.admit(address)
        if kind == FORM:
            return _form(self.ctx, self.intake, self.tokens, request, body, address, refused)
        if refused is not None:
            return _busy_json(refused)
        return _json(self.intake, validate(_json_body(body), self.intake.services.of(self.ctx.config)), address)


def media_type(content_type: str) -> str:
    """`application/json` of `Application/JSON; charset=utf-8`."""
    return content_type.split(";")[0].strip().lower()


def reports_router(posts: ReportPosts) -> APIRouter:
    router = APIRouter(prefix="/api/v1")

    @router.post(
        "/reports",
        status_code=202,
        summary="A visitor's problem report (no token): JSON, or the status page's form",
        openapi_extra={"requestBody": REQUEST_BODY},
        responses={
            202: {
                "description": "Taken; `counted` is false for a repeat within the window (not stored)",
                "content": {
                    "application/json": {"examples": {"counted": {"value": ACCEPTED}, "repeat": {"value": DUPLICATE}}}
                },
            },
            303: {"description": "A form post: back to the status page, with thanks"},
            403: {"description": "A form post without its page's token"},
            415: {"description": "Neither JSON nor a form"},
            429: {
                "description": "Too many reports from this address, or from everyone: nothing was stored",
                "headers": RETRY_AFTER,
                "content": {"application/json": {"example": REFUSED}, "text/html": {}},
            },
        },
    )
    async def receive(request: Request) -> Response:
        return await posts.answer(request)

    return router


def _json_body(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        raise RequestValidationError([{"loc": ("body",), "msg": "not valid JSON", "type": "json_invalid"}]) from None


def _json(intake: ReportIntake, report: ReportIn, address: str) -> Response:
    outcome = intake.receive(report, address)
    if outcome.busy:
        return _busy_json(outcome)
    return Response(_answer(True, outcome.counted, outcome.detail), 202, media_type=JSON)


def _busy_json(refused: Outcome) -> Response:
    code = 503 if refused.busy else 429
    headers = {"Retry-After": str(refused.retry_after)}
    return Response(_answer(False, False, refused.detail), code, headers, media_type=JSON)


@functools.lru_cache(maxsize=64)
def _answer(accepted: bool, counted: bool, detail: str) -> bytes:
    """An answer's JSON, written as JSONResponse writes it, once per distinct answer: there
    are a handful (the details name only the settings), and a flood asks for them
    thousands of times a second."""
    body: dict[str, Any] = {"accepted": accepted, "counted": counted}
    if detail:
        body["detail"] = detail
    return json.dumps(body, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()


def _busy_page(request: Request, refused: Outcome, back: str) -> Response:
    """A small page in the visitor's language (no database read: a flood meets this)."""
    locale = negotiate(request.headers.get("accept-language", ""))
    context = {"lang": locale, "wait": refused.retry_after, "back": back}
    code = 503 if refused.busy else 429
    response = templates_for(locale).TemplateResponse(request, "status_report_busy.html", context, status_code=code)
    response.headers.update(
        {"Retry-After": str(refused.retry_after), "Content-Language": locale, "Vary": "Accept-Language"}
    )
    return response


def _form(
    ctx: WebContext,
    intake: ReportIntake,
    tokens: DoubleSubmit,
    request: Request,
    body: bytes,
    address: str,
    refused: Outcome | None,
) -> Response:
    fields = {key: values[0] for key, values in parse_qs(body.decode("utf-8", "replace")).items()}
    page = find_page(ctx.config, fields.pop("page", None) or None) or find_page(ctx.config, None)
    back = f"/status/{page.slug}" if page is not None else "/status"
    if refused is not None:
        return _busy_page(request, refused, back)
    if not tokens.check(request, fields.pop("form_token", None)):
        return Response(
            "This form has expired or did not come from the status page: reload the page and send it again.\n",
            403,
            media_type="text/plain; charset=utf-8",
        )
    fields = {key: value for key, value in fields.items() if value.strip() or key not in ("comment", "region")}
    try:
        report = validate(fields, intake.services.of(ctx.config))
    except RequestValidationError as exc:
        field_name = str(exc.errors()[0]["loc"][-1])
        return RedirectResponse(f"{back}?{urlencode({'report': 'invalid', 'field': field_name})}#report", 303)
    outcome = intake.receive(report, address)
    if outcome.busy:
        return _busy_page(request, outcome, back)
    return RedirectResponse(f"{back}?report={'thanks' if outcome.counted else 'counted'}#report", 303)

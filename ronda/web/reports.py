"""`POST /api/v1/reports` (CONTRACT.md section 4, no token): a visitor tells ronda a service
is failing for them. JSON from scripts and widgets, or the status page's form.

Nobody posting has a session, so the form is protected by a double-submit token
(ronda/web/formtokens.py). A JSON post must say
`Content-Type: application/json`, which a cross-site HTML form cannot send.

The reporter is stored as SHA-256(salt + address), the salt random, kept in memory and
replaced every UTC day: one person's reports on one day can be counted once, and nobody can
be followed from one day to the next, nor their address recovered from the database.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, Literal
from urllib.parse import parse_qs, urlencode

from fastapi import APIRouter, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator

from ronda.storage.public import PublicRecords, Report
from ronda.web.auth import client_address
from ronda.web.context import WebContext
from ronda.web.formtokens import DoubleSubmit
from ronda.web.status_model import find_page, public_monitors

Problem = Literal["cannot_connect", "cannot_login", "app_error", "slow", "notifications", "other"]
PROBLEMS: tuple[str, ...] = Problem.__args__  # type: ignore[attr-defined]
MAX_BODY = 4096  # bytes: a report is a few short fields
FORM = "application/x-www-form-urlencoded"


class ReportIn(BaseModel):
    """A visitor's report. `service` is one of the services shown on a status page."""

    model_config = ConfigDict(
        extra="forbid",
        str_strip_whitespace=True,
        json_schema_extra={"examples": [{"service": "shop", "region": "Milano", "problem": "cannot_connect"}]},
    )

    service: str = Field(min_length=1, max_length=128)
    region: str = Field(default="", max_length=64)
    problem: Problem
    comment: str | None = Field(default=None, max_length=500)

    @field_validator("service")
    @classmethod
    def _public(cls, value: str, info: ValidationInfo) -> str:
        services = (info.context or {}).get("services")
        if services is not None and value not in services:
            raise ValueError("no service of that name is on a status page")
        return value


# The seam for the later issue's rate limits and surge detection: a gate sees each valid
# report (with its reporter's hash) before it is stored and may refuse it with a reason.
Gate = Callable[[ReportIn, str, datetime], str | None]


def admit_everyone(_report: ReportIn, _reporter: str, _now: datetime) -> str | None:
    return None


@dataclass
class DailySalt:
    """A random salt per UTC day, in memory only (a restart starts a new one)."""

    _day: date | None = None
    _salt: bytes = b""

    def hash(self, address: str, now: datetime) -> str:
        if now.date() != self._day:
            self._day, self._salt = now.date(), secrets.token_bytes(32)
        return hashlib.sha256(self._salt + address.encode()).hexdigest()


@dataclass
class ReportIntake:
    """Validated reports to the `reports` table, reporters hashed, through the gate."""

    records: PublicRecords
    gate: Gate = admit_everyone
    salt: DailySalt = field(default_factory=DailySalt)

    def receive(self, report: ReportIn, address: str, now: datetime) -> str | None:
        """Store the report; return why it was refused, or None once stored."""
        reporter = self.salt.hash(address, now)
        refused = self.gate(report, reporter, now)
        if refused is None:
            self.records.save_report(
                Report(report.service, report.region, report.problem, report.comment or None, reporter, now)
            )
        return refused


def validate(data: Any, services: set[str]) -> ReportIn:
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
        "application/json": {"schema": _SCHEMA},
        FORM: {"schema": _SCHEMA | {"properties": _SCHEMA["properties"] | _FORM_FIELDS}},
    },
}


def report_form_tokens() -> DoubleSubmit:
    """The report form's tokens: SameSite=Strict (the form posts to its own site), a day long."""
    return DoubleSubmit("ronda_report", 86400, "strict")


def reports_router(ctx: WebContext, intake: ReportIntake, tokens: DoubleSubmit) -> APIRouter:
    router = APIRouter(prefix="/api/v1")

    @router.post(
        "/reports",
        status_code=202,
        summary="A visitor's problem report (no token): JSON, or the status page's form",
        openapi_extra={"requestBody": REQUEST_BODY},
        responses={
            202: {"content": {"application/json": {"example": {"accepted": True}}}},
            303: {"description": "A form post: back to the status page, with thanks"},
            403: {"description": "A form post without its page's token"},
            415: {"description": "Neither JSON nor a form"},
        },
    )
    async def receive(request: Request) -> Response:
        body = await request.body()
        if len(body) > MAX_BODY:
            raise HTTPException(413, detail=f"a report is at most {MAX_BODY} bytes")
        kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
        services = public_monitors(ctx.config, [m["name"] for m in ctx.store.monitors()])
        address = client_address(request)
        now = datetime.now(UTC)
        if kind == "application/json":
            return _json(intake, validate(_json_body(body), services), address, now)
        if kind == FORM:
            return _form(ctx, intake, tokens, request, body, services, address, now)
        raise HTTPException(415, detail="send application/json (or the status page's form)")

    return router


def _json_body(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        raise RequestValidationError([{"loc": ("body",), "msg": "not valid JSON", "type": "json_invalid"}]) from None


def _json(intake: ReportIntake, report: ReportIn, address: str, now: datetime) -> Response:
    refused = intake.receive(report, address, now)
    if refused is not None:
        return JSONResponse({"accepted": False, "detail": refused}, 429)
    return JSONResponse({"accepted": True}, 202)


def _form(
    ctx: WebContext,
    intake: ReportIntake,
    tokens: DoubleSubmit,
    request: Request,
    body: bytes,
    services: set[str],
    address: str,
    now: datetime,
) -> Response:
    fields = {key: values[0] for key, values in parse_qs(body.decode("utf-8", "replace")).items()}
    page = find_page(ctx.config, fields.pop("page", None) or None) or find_page(ctx.config, None)
    back = f"/status/{page.slug}" if page is not None else "/status"
    if not tokens.check(request, fields.pop("form_token", None)):
        return Response(
            "This form has expired or did not come from the status page: reload the page and send it again.\n",
            403,
            media_type="text/plain; charset=utf-8",
        )
    fields = {key: value for key, value in fields.items() if value.strip() or key not in ("comment", "region")}
    try:
        report = validate(fields, services)
    except RequestValidationError as exc:
        field_name = str(exc.errors()[0]["loc"][-1])
        return RedirectResponse(f"{back}?{urlencode({'report': 'invalid', 'field': field_name})}#report", 303)
    refused = intake.receive(report, address, now)
    return RedirectResponse(f"{back}?report={'refused' if refused else 'thanks'}#report", 303)

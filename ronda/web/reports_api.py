"""Users' reports behind the token: the reports themselves (comments included, which the
status page never shows), the surges found in them, and each service's day of reports
against its baseline, as the status page charts it."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from fastapi import APIRouter, Depends, Query

from ronda.service.report_watch import watch_settings
from ronda.verdict import iso
from ronda.web import examples
from ronda.web.auth import Auth
from ronda.web.context import WebContext
from ronda.web.report_chart import report_chart
from ronda.web.shapes import report_json, surge_json


def reports_api_router(ctx: WebContext, auth: Auth) -> APIRouter:
    api = APIRouter(prefix="/api/v1", dependencies=[Depends(auth.api)], responses=examples.NO_TOKEN)
    reports = ctx.db.reports

    @api.get(
        "/reports",
        summary="The latest problem reports, newest first (comments are stored HTML-escaped)",
        responses=examples.answer([examples.REPORT]),
    )
    def latest(limit: int = Query(100, ge=1, le=1000)) -> list[dict[str, Any]]:
        return [report_json(report) for report in reports.latest(limit)]

    @api.get(
        "/surges",
        summary="Surges of reports, those under way first: level, scope, regions, the incident they joined",
        responses=examples.answer([examples.SURGE]),
    )
    def surge_list(service: str | None = None, limit: int = Query(50, ge=1, le=500)) -> list[dict[str, Any]]:
        return [surge_json(surge) for surge in reports.surges.recent([service] if service else None, limit)]

    @api.get(
        "/services/{name}/reports",
        summary="A service's last 24 hours of reports per quarter hour against its baseline band",
        responses=examples.answer(examples.REPORT_CHART),
    )
    def chart(name: str) -> dict[str, Any]:
        surge = reports.surges.under_way().get(name)
        drawn = report_chart(reports.counts, surge, name, ctx.clock(), watch_settings(ctx.config.reports).surge)
        body = asdict(drawn)
        body["bars"] = [bar | {"start": iso(bar["start"])} for bar in body["bars"]]
        body["problems"] = [{"problem": code, "reports": n} for code, n in drawn.problems]
        body["places"] = [{"region": code, "name": words, "reports": n} for code, words, n in drawn.places]
        return body | {"total": drawn.total}

    return api

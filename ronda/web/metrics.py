"""Prometheus exposition at /metrics, read from the store at scrape time.

A custom collector rather than module-level gauges: the store already holds the latest
state, so a scrape reflects it exactly, with no second copy to keep in step. It reads the
current state only (ronda/storage/gauges.py), so a scrape costs the same after years of
history. Names follow the field's conventions: base units (`_seconds`), `_total` on
counters, `_timestamp_seconds` for points in time, `_info` for constant facts as labels;
`ronda_probe_*` mirror blackbox_exporter's `probe_*` for people who know those.

Kept for compatibility, from before these conventions: `ronda_monitor_up` (1 up, 0.5
degraded, 0 down), `ronda_http_status_code`, and `ronda_incidents_open` without labels.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Depends, Header, Query
from fastapi.responses import PlainTextResponse, Response
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, InfoMetricFamily
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector, CollectorRegistry

from ronda import __version__
from ronda.service.scheduler import LagHistogram
from ronda.storage.database import Database
from ronda.storage.gauges import Gauges, MonitorReading
from ronda.web.auth import Auth
from ronda.web.context import WebContext

STATUSES = ("up", "degraded", "down", "unknown")
SEVERITIES = ("down", "degraded")
SCOPES = ("global", "regional", "local")

_UP_VALUE = {"up": 1.0, "degraded": 0.5, "down": 0.0}

# For the OpenAPI schema: what a scrape looks like (abridged).
EXAMPLE = """\
# HELP ronda_probe_success 1 if the latest check found the target working (up or degraded), 0 if down
# TYPE ronda_probe_success gauge
ronda_probe_success{monitor="shop"} 1.0
# HELP ronda_monitor_status 1 for the monitor's current status, 0 for the others
# TYPE ronda_monitor_status gauge
ronda_monitor_status{monitor="shop",status="up"} 1.0
ronda_monitor_status{monitor="shop",status="down"} 0.0
"""


@dataclass(frozen=True)
class Scope:
    """Which monitors a scrape has series of their own for: all (the default), those of a set
    of names (a tag's: `/metrics?tag=db`), or none (`/metrics?per_monitor=false`). At tens of
    thousands of monitors the per-monitor series are most of a scrape's size and time; the
    totals (`ronda_monitors`, incidents, the scheduler's) are always there. `left_out`: the
    monitors whose series a scrape past `server.metrics_per_monitor_limit` did without."""

    per_monitor: bool = True
    names: frozenset[str] | None = None  # None: every monitor
    left_out: int = 0

    def keeps(self, name: str) -> bool:
        return self.per_monitor and (self.names is None or name in self.names)


def scope_for(asked: bool | None, names: frozenset[str] | None, monitors: int, limit: int) -> Scope:
    """The scrape's scope: as asked (`per_monitor` true or false), or, asked nothing, series
    per monitor while the scrape covers at most `limit` monitors."""
    covered = len(names) if names is not None else monitors
    if asked is None and covered > limit:
        return Scope(False, names, left_out=covered)
    return Scope(asked is not False, names)


class StoreCollector(Collector):
    def __init__(
        self,
        gauges: Gauges,
        scheduler_stats: Callable[[], dict[str, float]],
        connectivity: Callable[[], dict[str, Any]],
        scheduler_lag: Callable[[], LagHistogram],
        scope: Scope,
        counts: Callable[[], dict[str, int]],  # monitors by status
    ) -> None:
        self.gauges = gauges
        self.counts = counts
        self.scheduler_stats = scheduler_stats
        self.connectivity = connectivity
        self.scheduler_lag = scheduler_lag
        self.scope = scope

    def collect(self) -> Iterator[Any]:
        yield InfoMetricFamily("ronda_build", "The running ronda's version", value={"version": __version__})
        yield GaugeMetricFamily(
            "ronda_online",
            "1 while ronda itself reaches the outside (its canaries answer), 0 while it is cut off",
            value=1.0 if self.connectivity()["online"] else 0.0,
        )
        # Only the monitors whose series are asked for are read: the totals are one count.
        monitors = self.gauges.monitors(self.scope.names) if self.scope.per_monitor else []
        yield _monitor_counts(self.counts())
        yield GaugeMetricFamily(
            "ronda_metrics_monitors_left_out",
            "Monitors without series of their own in this scrape, past server.metrics_per_monitor_limit",
            value=self.scope.left_out,
        )
        yield from _monitor_families(monitors)
        yield self._certificates()
        yield from self._incidents()
        yield from self._outbox()
        yield from self._scheduler()

    def _certificates(self) -> GaugeMetricFamily:
        expiry = GaugeMetricFamily(
            "ronda_certificate_expiry_timestamp_seconds",
            "When the certificate served at a place expires (Unix time); the latest one seen there",
            labels=["monitor", "host", "address", "port", "fingerprint_sha256"],
        )
        for cert in self.gauges.served_certificates() if self.scope.per_monitor else []:
            if not self.scope.keeps(cert.monitor):
                continue
            labels = [cert.monitor, cert.host, cert.address, str(cert.port), cert.fingerprint_sha256]
            expiry.add_metric(labels, cert.not_after.timestamp())
        return expiry

    def _incidents(self) -> Iterator[GaugeMetricFamily]:
        counts = self.gauges.open_incidents()
        yield GaugeMetricFamily("ronda_incidents_open", "Open incidents (all of them)", value=sum(counts.values()))
        by_kind = GaugeMetricFamily(
            "ronda_open_incidents",
            "Open incidents by severity (down, degraded) and scope (global, regional, local)",
            labels=["severity", "scope"],
        )
        # Every combination, zeros included, so sums and alerts see 0 rather than no data.
        for key in sorted({(s, c) for s in SEVERITIES for c in SCOPES} | counts.keys()):
            by_kind.add_metric(list(key), counts.get(key, 0))
        yield by_kind

    def _outbox(self) -> Iterator[GaugeMetricFamily]:
        counts = self.gauges.outbox()
        yield GaugeMetricFamily(
            "ronda_outbox_pending", "Notifications waiting to be delivered", value=counts["pending"]
        )
        yield GaugeMetricFamily(
            "ronda_outbox_failed",
            "Notifications given up on (past their deadline, or refused for good), kept in the outbox",
            value=counts["failed"],
        )

    def _scheduler(self) -> Iterator[Any]:
        stats = self.scheduler_stats()
        yield CounterMetricFamily("ronda_checks", "Checks run since start", value=stats["checks_run"])
        yield CounterMetricFamily(
            "ronda_scheduler_skipped_slots", "Check slots skipped because a check overran", value=stats["slots_skipped"]
        )
        yield GaugeMetricFamily(
            "ronda_scheduler_lag_seconds", "How late the latest check started", value=stats["lag_seconds"]
        )
        if "worker_restarts" in stats:  # the checks run in a probe worker (server.checks: process)
            restarts = stats["worker_restarts"]
            yield CounterMetricFamily("ronda_probe_worker_restarts", "Probe workers started anew", value=restarts)
        lag = self.scheduler_lag()
        yield HistogramMetricFamily(
            "ronda_check_start_lag_seconds",
            "How late checks started against their due time, since start",
            buckets=[(_bound(bound), count) for bound, count in lag.cumulative()],
            sum_value=lag.total,
        )


def _bound(seconds: float) -> str:
    return "+Inf" if seconds == math.inf else repr(seconds)


def _monitor_counts(by_status: dict[str, int]) -> GaugeMetricFamily:
    """How many monitors are in each status: the one series a large setup needs always."""
    counts = GaugeMetricFamily("ronda_monitors", "Monitors in each status", labels=["status"])
    for status in STATUSES:
        counts.add_metric([status], by_status.get(status, 0))
    return counts


def _monitor_families(monitors: list[MonitorReading]) -> Iterator[GaugeMetricFamily]:
    """Per monitor: its confirmed state (a state set: one series per status, 1 for the
    current one), and the facts of its latest check."""
    state = GaugeMetricFamily(
        "ronda_monitor_status", "1 for the monitor's current status, 0 for the others", labels=["monitor", "status"]
    )
    up = GaugeMetricFamily(
        "ronda_monitor_up", "1 up, 0.5 degraded, 0 down (kept; see ronda_monitor_status)", labels=["monitor"]
    )
    success = GaugeMetricFamily(
        "ronda_probe_success",
        "1 if the latest check found the target working (up or degraded), 0 if down",
        labels=["monitor"],
    )
    duration = GaugeMetricFamily("ronda_probe_duration_seconds", "Duration of the latest check", labels=["monitor"])
    code = GaugeMetricFamily("ronda_probe_http_status_code", "HTTP status of the latest check", labels=["monitor"])
    code_kept = GaugeMetricFamily(
        "ronda_http_status_code",
        "HTTP status of the latest check (kept; see ronda_probe_http_status_code)",
        labels=["monitor"],
    )
    checked = GaugeMetricFamily(
        "ronda_probe_timestamp_seconds", "When the latest check was made (Unix time)", labels=["monitor"]
    )
    for monitor in monitors:
        name = [monitor.name]
        for status in STATUSES:
            state.add_metric([monitor.name, status], 1.0 if monitor.status == status else 0.0)
        if monitor.last_status is None or monitor.checked_at is None:
            continue
        up.add_metric(name, _UP_VALUE.get(monitor.status, 0.0))
        success.add_metric(name, 0.0 if monitor.last_status == "down" else 1.0)
        checked.add_metric(name, monitor.checked_at.timestamp())
        if monitor.latency_ms is not None:
            duration.add_metric(name, monitor.latency_ms / 1000)
        if monitor.http_status is not None:
            code.add_metric(name, monitor.http_status)
            code_kept.add_metric(name, monitor.http_status)
    yield from (state, up, success, duration, code, code_kept, checked)


def _always_online() -> dict[str, Any]:
    return {"online": True}


def metrics_registry(
    store: Database,
    scheduler_stats: Callable[[], dict[str, float]],
    connectivity: Callable[[], dict[str, Any]] = _always_online,
    scheduler_lag: Callable[[], LagHistogram] = LagHistogram,
    scope: Scope = Scope(),
) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    collector = StoreCollector(
        store.gauges, scheduler_stats, connectivity, scheduler_lag, scope, store.monitors.count_by_status
    )
    registry.register(collector)
    return registry


def metrics_router(ctx: WebContext, auth: Auth) -> APIRouter:
    """GET /metrics behind the API's credentials. Prometheus asks for OpenMetrics in its
    Accept header and gets it; anything else gets the classic text format."""
    router = APIRouter()

    @router.get(
        "/metrics",
        summary="Prometheus exposition (bearer token): text format, or OpenMetrics when asked for",
        response_class=PlainTextResponse,
        responses={200: {"content": {"text/plain": {"example": EXAMPLE}}}},
        dependencies=[Depends(auth.api)],
    )
    def metrics(
        accept: str | None = Header(None, include_in_schema=False),
        tag: str | None = Query(None, max_length=200, description="per-monitor series only for this tag"),
        per_monitor: bool | None = Query(
            None,
            description="true: series for every monitor; false: only the totals; unset: series per monitor "
            "while the scrape covers at most server.metrics_per_monitor_limit monitors",
        ),
    ) -> Response:
        limit = ctx.config.server.metrics_per_monitor_limit
        scope = scope_for(per_monitor, ctx.tagged(tag), len(ctx.config.monitors), limit)
        registry = metrics_registry(ctx.db, ctx.scheduler_stats, ctx.connectivity, ctx.scheduler_lag, scope)
        encode, content_type = choose_encoder(accept or "")
        return Response(encode(registry), media_type=content_type)

    return router

"""Prometheus exposition at /metrics, read from the store at scrape time.

A custom collector rather than module-level gauges: the store already holds the latest
state, so a scrape reflects it exactly, with no second copy to keep in step.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector, CollectorRegistry

from ronda.notify.outbox import Ledger
from ronda.storage.store import Store
from ronda.verdict import parse_iso

_STATUS_VALUE = {"up": 1.0, "degraded": 0.5, "down": 0.0}


class StoreCollector(Collector):
    def __init__(self, store: Store, scheduler_stats: Callable[[], dict[str, float]]) -> None:
        self.store = store
        self.scheduler_stats = scheduler_stats
        self.outbox = Ledger(store.engine)

    def collect(self) -> Iterator[Any]:
        monitors = self.store.monitors()
        up = GaugeMetricFamily("ronda_monitor_up", "1 up, 0.5 degraded, 0 down", labels=["monitor"])
        duration = GaugeMetricFamily("ronda_probe_duration_seconds", "Duration of the latest check", labels=["monitor"])
        status = GaugeMetricFamily("ronda_http_status_code", "HTTP status of the latest check", labels=["monitor"])
        for monitor in monitors:
            last = monitor["last_check"]
            if last is None:
                continue
            up.add_metric([monitor["name"]], _STATUS_VALUE.get(monitor["status"], 0.0))
            if last.get("latency_ms") is not None:
                duration.add_metric([monitor["name"]], last["latency_ms"] / 1000)
            if last.get("http"):
                status.add_metric([monitor["name"]], last["http"]["status"])
        yield from (up, duration, status)
        yield self._certificates()
        incidents = GaugeMetricFamily("ronda_incidents_open", "Open incidents")
        incidents.add_metric([], sum(1 for m in monitors if m["open_incident"] is not None))
        yield incidents
        yield GaugeMetricFamily(
            "ronda_outbox_pending", "Notifications waiting to be delivered", value=self.outbox.count_pending()
        )
        stats = self.scheduler_stats()
        yield CounterMetricFamily("ronda_checks", "Checks run since start", value=stats["checks_run"])
        yield CounterMetricFamily(
            "ronda_scheduler_skipped_slots", "Check slots skipped because a check overran", value=stats["slots_skipped"]
        )
        yield GaugeMetricFamily(
            "ronda_scheduler_lag_seconds", "How late the latest check started", value=stats["lag_seconds"]
        )

    def _certificates(self) -> GaugeMetricFamily:
        expiry = GaugeMetricFamily(
            "ronda_certificate_expiry_timestamp_seconds",
            "When a served certificate expires (Unix time)",
            labels=["monitor", "host", "address", "port", "fingerprint_sha256"],
        )
        for cert in self.store.certificates(datetime.now(UTC)):
            expires = parse_iso(cert["not_after"]).timestamp()
            for place in cert["places"]:
                labels = [place["monitor"], place["host"], place["address"], str(place["port"])]
                expiry.add_metric([*labels, cert["fingerprint_sha256"]], expires)
        return expiry


def metrics_registry(store: Store, scheduler_stats: Callable[[], dict[str, float]]) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StoreCollector(store, scheduler_stats))
    return registry

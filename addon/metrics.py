"""Prometheus metrics.

Two kinds, because the work happens in two kinds of process:

* Request-side counters (``prometheus_client``): incremented by gunicorn workers. With
  ``PROMETHEUS_MULTIPROC_DIR`` set in the environment they are summed across workers at scrape.
* Shared metrics kept in Redis (``SharedCounter``, ``SharedHistogram``): incremented by RQ jobs,
  which run in forked horses, possibly on another dyno, where no scrape can reach them. The web
  process exports them at ``/metrics`` by reading Redis at scrape time.

Labels are from small fixed sets; never a workspace id, URL or token.
"""

from __future__ import annotations

import json
import logging
import os
from collections import defaultdict
from collections.abc import Iterable

from flask import Response, current_app
from prometheus_client import REGISTRY, CollectorRegistry, Counter, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_flask_exporter import PrometheusMetrics
from redis.exceptions import RedisError

from .queueing import get_redis

log = logging.getLogger(__name__)


def _ensure_multiprocess_dir() -> None:
    """Create ``PROMETHEUS_MULTIPROC_DIR`` when it is set but missing: every process writes its
    values there from its first label-less counter (defined below), and a CLI such as the
    release phase's ``flask db upgrade`` runs before gunicorn's config has created it."""
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if directory:
        os.makedirs(directory, exist_ok=True)


_ensure_multiprocess_dir()
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
EXTENSION_KEY = "addon.metrics"

WEBHOOK_DELIVERIES = Counter(
    "addon_webhook_deliveries_total", "Webhook deliveries by event type and outcome.", ["event", "outcome"])
LIFECYCLE_EVENTS = Counter(
    "addon_lifecycle_events_total", "Lifecycle callbacks by type and outcome.", ["type", "outcome"])
API_CALLS = Counter(
    "addon_api_calls_total", "API Studio calls by operation and Clockify status.", ["operation", "status"])
# Process-local on purpose: it counts the moments Redis (where the shared metrics live) was down.
RATE_LIMITER_FALLBACKS = Counter(
    "addon_rate_limiter_fallbacks_total", "Switches of the Clockify rate limiter to its per-process fallback.")

_SHARED: dict[str, _Shared] = {}


class _Shared:
    kind = ""

    def __init__(self, name: str, documentation: str, labelnames: tuple[str, ...]):
        self.name, self.documentation, self.labelnames = name, documentation, labelnames
        self.key = f"addon:metrics:{name}"
        _SHARED[name] = self

    def _labels(self, labels: dict) -> str:
        if set(labels) != set(self.labelnames):
            raise ValueError(f"{self.name} takes labels {self.labelnames}")
        return json.dumps([str(labels[n]) for n in self.labelnames])

    def _write(self, connection, updates) -> None:
        try:
            pipe = (connection or get_redis()).pipeline(transaction=False)
            for field, amount in updates:
                pipe.hincrbyfloat(self.key, field, amount)
            pipe.execute()
        except RedisError as exc:  # a lost sample must never fail the work being measured
            log.warning("metric %s not recorded: %s", self.name, type(exc).__name__)


class SharedCounter(_Shared):
    """A counter kept in a Redis hash, summed across every process and dyno."""

    kind = "counter"

    def inc(self, amount: float = 1, connection=None, **labels) -> None:
        self._write(connection, [(self._labels(labels), amount)])


class SharedHistogram(_Shared):
    """A histogram kept in a Redis hash (cumulative buckets, sum, count)."""

    kind = "histogram"

    def __init__(self, name, documentation, labelnames, buckets):
        super().__init__(name, documentation, labelnames)
        self.buckets = tuple(buckets)

    def observe(self, value: float, connection=None, **labels) -> None:
        self._write(connection, self._updates(value, labels))

    def observe_many(self, observations: Iterable[tuple[float, dict]], connection=None) -> None:
        """``observe`` each ``(value, labels)`` pair, in one Redis round trip (a batch of jobs'
        worth of samples)."""
        totals: defaultdict[str, float] = defaultdict(float)
        for value, labels in observations:
            for field, amount in self._updates(value, labels):
                totals[field] += amount
        if totals:
            self._write(connection, list(totals.items()))

    def _updates(self, value: float, labels: dict) -> list[tuple[str, float]]:
        key = self._labels(labels)
        updates = [(f"b|{le}|{key}", 1) for le in self.buckets if value <= le]
        return updates + [(f"b|+Inf|{key}", 1), (f"sum|{key}", value)]


JOBS = SharedCounter("addon_jobs", "RQ jobs by function and outcome.", ("job", "outcome"))
CLOCKIFY_REQUESTS = SharedCounter("addon_clockify_requests", "Requests sent to Clockify by status.", ("status",))
WEBHOOK_PROCESSING = SharedHistogram(
    "addon_webhook_processing_seconds", "Time spent running handlers for one webhook event.", ("event",),
    (0.01, 0.05, 0.1, 0.5, 1, 5, 30))
WEBHOOK_QUEUE_LAG = SharedHistogram(
    "addon_webhook_queue_lag_seconds", "Time from a delivery being stored to its processing start.", (),
    (0.05, 0.1, 0.5, 1, 5, 30, 120, 600))
JOB_DURATION = SharedHistogram(
    "addon_job_duration_seconds", "Run time of RQ jobs.", ("job",), (0.1, 0.5, 1, 5, 30, 120, 600))


class SharedMetricsCollector:
    """Reads the shared metrics from Redis at scrape time."""

    def __init__(self, connection):
        self.connection = connection

    def collect(self):
        for metric in _SHARED.values():
            try:
                raw = self.connection.hgetall(metric.key)
            except RedisError:
                continue
            fields = {k.decode(): float(v) for k, v in raw.items()}
            if metric.kind == "counter":
                family = CounterMetricFamily(metric.name, metric.documentation, labels=metric.labelnames)
                for key, value in sorted(fields.items()):
                    family.add_metric(json.loads(key), value)
            else:
                family = HistogramMetricFamily(metric.name, metric.documentation, labels=metric.labelnames)
                for key in sorted({f.split("|", 1)[1] for f in fields if f.startswith("sum|")}):
                    buckets = [(str(le), fields.get(f"b|{le}|{key}", 0.0)) for le in metric.buckets]
                    buckets.append(("+Inf", fields.get(f"b|+Inf|{key}", 0.0)))
                    family.add_metric(json.loads(key), buckets, fields[f"sum|{key}"])
            yield family


class JobsHealthCollector:
    """Worker liveness and backlog gauges, from ``addon.jobs_health`` (one measurement, at most a
    few seconds old, per scrape). Computed at scrape time by whichever process answers it, so the
    values are never summed or duplicated across gunicorn workers."""

    def collect(self):
        from . import jobs_health

        health = jobs_health.snapshot()
        workers = GaugeMetricFamily("addon_rq_workers", "Live RQ workers listening on the queue.", labels=["queue"])
        depth = GaugeMetricFamily("addon_rq_queue_depth", "Jobs waiting on the RQ queue.", labels=["queue"])
        for name, figures in health.queues.items():
            if figures.workers is not None:
                workers.add_metric([name], figures.workers)
                depth.add_metric([name], figures.depth)
        yield workers
        yield depth
        if health.database_error is None:
            yield GaugeMetricFamily(
                "addon_webhook_oldest_unprocessed_seconds",
                "Age of the oldest webhook event still received (0 when none is).",
                value=health.oldest_unprocessed_webhook_seconds or 0.0)


def init_app(app) -> None:
    """Track request durations per endpoint (never per raw path) on this app."""
    # A registry per app lets tests build many apps; under PROMETHEUS_MULTIPROC_DIR the values
    # go to the shared mmap files whatever the registry.
    exporter = PrometheusMetrics(
        app=None, path=None, group_by="endpoint", defaults_prefix="addon", registry=CollectorRegistry(),
        excluded_paths=["^/metrics$", "^/health$", "^/ready$"])
    exporter.init_app(app)
    app.extensions[EXTENSION_KEY] = exporter


def render() -> Response:
    """The Prometheus text of every metric: this app's, all gunicorn workers', and the shared ones."""
    parts = []
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
        parts.append(generate_latest(registry))
    else:
        parts.append(generate_latest(REGISTRY))
        parts.append(generate_latest(current_app.extensions[EXTENSION_KEY].registry))
    shared = CollectorRegistry()
    shared.register(SharedMetricsCollector(get_redis()))
    shared.register(JobsHealthCollector())
    parts.append(generate_latest(shared))
    return Response(b"".join(parts), content_type=CONTENT_TYPE)

"""Prometheus metrics of the feature server (``GET /metrics``), with prometheus_client.

* ``featurelake_online_request_seconds`` (histogram, label ``feature_service``: the service
  name, or ``(features)`` for a request listing features): the latency of
  ``/get-online-features``, successful or not.
* ``featurelake_online_feature_values_total`` (counter, labels ``view``, ``status``): values
  served per view and status: PRESENT, NULL_VALUE, NOT_FOUND, OUTSIDE_MAX_AGE.
* ``featurelake_online_requests_total`` (counter, labels ``feature_service``, ``code``): requests
  by HTTP status code.
* ``featurelake_online_errors_total`` (counter, label ``kind``): ``bad_request`` (400, 422), ``not_found`` (404),
  ``too_large``, ``unavailable`` (Redis), ``internal``.

Each app keeps its own counts in plain Python and exposes them through a custom collector in
its own collector registry. It does not use prometheus_client's metric objects: importing
``feast.metrics`` (Feast's SDK, our plugins) sets ``PROMETHEUS_MULTIPROC_DIR``, and from then on
prometheus_client keeps every metric's value in per-process files keyed by name and labels, so
two apps in one process (tests, an embedded server) would add into each other's counts.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class _Histogram:
    """One label set's histogram: counts per upper bound, sum and count."""

    __slots__ = ("buckets", "count", "total")

    def __init__(self) -> None:
        self.buckets = [0] * (len(LATENCY_BUCKETS) + 1)  # the last is +Inf
        self.count = 0
        self.total = 0.0

    def observe(self, value: float) -> None:
        for i, bound in enumerate(LATENCY_BUCKETS):
            if value <= bound:
                self.buckets[i] += 1
                break
        else:
            self.buckets[-1] += 1
        self.count += 1
        self.total += value

    def cumulative(self) -> list[tuple[str, float]]:
        out, running = [], 0
        for bound, n in zip((*LATENCY_BUCKETS, math.inf), self.buckets, strict=True):
            running += n
            out.append(("+Inf" if bound == math.inf else repr(float(bound)), running))
        return out


class _Collector(Collector):
    """Turns a :class:`ServingMetrics`' counts into metric families at scrape time."""

    def __init__(self, metrics: ServingMetrics) -> None:
        self._metrics = metrics

    def collect(self) -> Iterator[Metric]:
        m = self._metrics
        with m.lock:
            latency = {k: (h.cumulative(), h.total) for k, h in m.latency.items()}
            values, requests, errors = dict(m.values), dict(m.requests), dict(m.errors)
        family = HistogramMetricFamily(
            "featurelake_online_request_seconds",
            "Latency of /get-online-features per feature service",
            labels=["feature_service"],
        )
        for service, (buckets, total) in sorted(latency.items()):
            family.add_metric([service], buckets, total)
        yield family
        for name, doc, labels, counts in (
            (
                "featurelake_online_feature_values",
                "Feature values served per view and status",
                ["view", "status"],
                values,
            ),
            (
                "featurelake_online_requests",
                "Requests to /get-online-features by feature service and HTTP status code",
                ["feature_service", "code"],
                requests,
            ),
            ("featurelake_online_errors", "Failed requests by kind", ["kind"], errors),
        ):
            counter = CounterMetricFamily(name, doc, labels=labels)
            for key, n in sorted(counts.items()):
                counter.add_metric(list(key), n)
            yield counter


class ServingMetrics:
    """The feature server's metrics: its own counts, exposed from its own collector registry."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.latency: dict[str, _Histogram] = {}
        self.values: dict[tuple[str, str], int] = {}
        self.requests: dict[tuple[str, str], int] = {}
        self.errors: dict[tuple[str], int] = {}
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(_Collector(self))

    def record(
        self,
        *,
        service: str | None,
        seconds: float,
        code: int,
        error: str | None = None,
        refs: list[tuple[str, str]] | None = None,
        names: list[str] | None = None,
        statuses: list[list[Any]] | None = None,
        counts: dict[tuple[str, str], int] | None = None,
    ) -> None:
        """Record one request: its latency, code, error kind and the statuses of its values per view.

        Args:
            service: the feature service asked for (None: a feature list).
            seconds: the request's latency.
            code: the HTTP status code answered.
            error: the error kind, if it failed.
            refs: ``(view, feature)`` of each requested feature, in response column order.
            names: the response's column names (join keys first).
            statuses: the response's status columns.
            counts: ``(view, status) -> values`` already counted (instead of refs/names/statuses).
        """
        label = service or "(features)"
        per_view: dict[tuple[str, str], int] = dict(counts) if counts else {}
        if refs and names is not None and statuses is not None:
            first = len(names) - len(refs)
            for (view, _), column in zip(refs, statuses[first:], strict=False):
                for status in column:
                    key = (view, getattr(status, "value", str(status)))
                    per_view[key] = per_view.get(key, 0) + 1
        with self.lock:
            self.latency.setdefault(label, _Histogram()).observe(seconds)
            self.requests[(label, str(code))] = self.requests.get((label, str(code)), 0) + 1
            if error is not None:
                self.errors[(error,)] = self.errors.get((error,), 0) + 1
            for key, n in per_view.items():
                self.values[key] = self.values.get(key, 0) + n

    def exposition(self) -> bytes:
        """The Prometheus text exposition of every metric."""
        return generate_latest(self.registry)

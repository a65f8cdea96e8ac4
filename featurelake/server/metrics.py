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

Each app has its own collector registry, so several apps in one process (tests) do not mix.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class ServingMetrics:
    """The feature server's metrics in their own collector registry."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.latency = Histogram(
            "featurelake_online_request_seconds",
            "Latency of /get-online-features per feature service",
            ["feature_service"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.values = Counter(
            "featurelake_online_feature_values",
            "Feature values served per view and status",
            ["view", "status"],
            registry=self.registry,
        )
        self.requests = Counter(
            "featurelake_online_requests",
            "Requests to /get-online-features by feature service and HTTP status code",
            ["feature_service", "code"],
            registry=self.registry,
        )
        self.errors = Counter(
            "featurelake_online_errors", "Failed requests by kind", ["kind"], registry=self.registry
        )

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
        """
        label = service or "(features)"
        self.latency.labels(label).observe(seconds)
        self.requests.labels(label, str(code)).inc()
        if error is not None:
            self.errors.labels(error).inc()
        if refs and names is not None and statuses is not None:
            first = len(names) - len(refs)
            for (view, _), column in zip(refs, statuses[first:], strict=False):
                counts: dict[str, int] = {}
                for status in column:
                    key = getattr(status, "value", str(status))
                    counts[key] = counts.get(key, 0) + 1
                for key, n in counts.items():
                    self.values.labels(view, key).inc(n)

    def exposition(self) -> bytes:
        """The Prometheus text exposition of every metric."""
        return generate_latest(self.registry)

"""Compare online values with the offline latest values for a sample of entities."""

from __future__ import annotations

import math
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from featurelake.lakehouse.online.layout import OnlineView
from featurelake.lakehouse.online.reader import FeatureStatus, OnlineReader, ViewRequest


@dataclass
class CheckReport:
    """Result of a consistency check."""

    view: str
    sampled: int
    compared_values: int
    mismatches: int
    examples: list[dict[str, Any]] = field(default_factory=list)

    @property
    def mismatch_rate(self) -> float:
        return self.mismatches / self.compared_values if self.compared_values else 0.0


def _same(kind: str, offline: Any, online: Any) -> bool:
    if offline is None or (isinstance(offline, float) and math.isnan(offline)):
        return online is None
    if kind == "float":
        return online is not None and struct.pack("<f", offline) == struct.pack("<f", online)
    if kind == "unix_timestamp" and isinstance(offline, datetime):
        offline = int((offline if offline.tzinfo else offline.replace(tzinfo=UTC)).timestamp())
    return offline == online


def compare(
    reader: OnlineReader,
    view: OnlineView,
    offline_rows: Sequence[Mapping[str, Any]],
    *,
    now: datetime,
    max_examples: int = 5,
) -> CheckReport:
    """Compare each offline latest row (join keys, ``event_timestamp``, features) with Redis.

    A row older than the view's TTL is expected to read OUTSIDE_MAX_AGE; otherwise every
    feature must be PRESENT/NULL_VALUE with the same value.
    """
    cols = reader.read([ViewRequest(view, tuple(view.feature_names))], offline_rows, now=now)
    report = CheckReport(view.name, len(offline_rows), 0, 0)
    for i, row in enumerate(offline_rows):
        ts = row["event_timestamp"]
        ts = ts if ts.tzinfo else ts.replace(tzinfo=UTC)
        expired = view.ttl is not None and ts < now - view.ttl
        for col in cols:
            report.compared_values += 1
            status, value = col.statuses[i], col.values[i]
            if expired:
                ok = status is FeatureStatus.OUTSIDE_MAX_AGE
            else:
                ok = status in (FeatureStatus.PRESENT, FeatureStatus.NULL_VALUE) and _same(
                    view.kind_of(col.feature), row[col.feature], value
                )
            if not ok:
                report.mismatches += 1
                if len(report.examples) < max_examples:
                    report.examples.append(
                        {
                            "entity": {k: row[k] for k in view.join_key_names},
                            "feature": col.feature,
                            "offline": row[col.feature],
                            "online": value,
                            "status": status.value,
                        }
                    )
    return report

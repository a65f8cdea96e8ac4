"""Compare online values with the offline latest values for a sample of entities.

:func:`compare` measures skew (per feature: how many sampled values differ online, or are missing);
:func:`coverage` measures how many sampled entities have a value online at all.
"""

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
class FeatureSkew:
    """One feature's counts in a consistency check.

    Attributes:
        compared: sampled entities compared.
        mismatches: of those, values that differ online, or are missing or expired there.
        not_found: of the mismatches, values Redis does not hold (NOT_FOUND).
    """

    compared: int = 0
    mismatches: int = 0
    not_found: int = 0

    @property
    def mismatch_rate(self) -> float:
        return self.mismatches / self.compared if self.compared else 0.0


@dataclass
class CheckReport:
    """Result of a consistency check (``by_feature``: the same counts per feature)."""

    view: str
    sampled: int
    compared_values: int
    mismatches: int
    examples: list[dict[str, Any]] = field(default_factory=list)
    by_feature: dict[str, FeatureSkew] = field(default_factory=dict)

    @property
    def mismatch_rate(self) -> float:
        return self.mismatches / self.compared_values if self.compared_values else 0.0


@dataclass
class CoverageReport:
    """How many sampled entities have a value of the view online.

    Attributes:
        sampled: entities looked up.
        present: with a value Redis serves (PRESENT or NULL_VALUE).
        not_found: with no value of the view in Redis.
        outside_max_age: with a value older than the view's TTL (not served).
    """

    view: str
    sampled: int
    present: int
    not_found: int
    outside_max_age: int

    @property
    def coverage(self) -> float:
        return self.present / self.sampled if self.sampled else 1.0


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
    features: Sequence[str] | None = None,
) -> CheckReport:
    """Compare each offline latest row (join keys, ``event_timestamp``, features) with Redis.

    A row older than the view's TTL is expected to read OUTSIDE_MAX_AGE; otherwise every
    feature must be PRESENT/NULL_VALUE with the same value (floats as the float32 Feast stores).

    Args:
        reader: the online reader.
        view: the view as stored online.
        offline_rows: the expected rows.
        now: the time TTLs are measured from.
        max_examples: mismatches kept as examples.
        features: the features compared (default: every feature of the view).
    """
    names = tuple(features) if features is not None else tuple(view.feature_names)
    report = CheckReport(view.name, len(offline_rows), 0, 0, by_feature={f: FeatureSkew() for f in names})
    if not offline_rows or not names:
        return report
    cols = reader.read([ViewRequest(view, names)], offline_rows, now=now)
    for i, row in enumerate(offline_rows):
        ts = row["event_timestamp"]
        ts = ts if ts.tzinfo else ts.replace(tzinfo=UTC)
        expired = view.ttl is not None and ts < now - view.ttl
        for col in cols:
            report.compared_values += 1
            counts = report.by_feature[col.feature]
            counts.compared += 1
            status, value = col.statuses[i], col.values[i]
            if expired:
                ok = status is FeatureStatus.OUTSIDE_MAX_AGE
            else:
                ok = status in (FeatureStatus.PRESENT, FeatureStatus.NULL_VALUE) and _same(
                    view.kind_of(col.feature), row[col.feature], value
                )
            if not ok:
                report.mismatches += 1
                counts.mismatches += 1
                counts.not_found += status is FeatureStatus.NOT_FOUND
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


def coverage(
    reader: OnlineReader, view: OnlineView, entity_rows: Sequence[Mapping[str, Any]], *, now: datetime
) -> CoverageReport:
    """Count the sampled entities that have a value of ``view`` online (read as of ``now``).

    An entity is covered when Redis serves the view for it: the view's values are PRESENT or
    NULL_VALUE (not NOT_FOUND, and not older than the view's TTL).
    """
    report = CoverageReport(view.name, len(entity_rows), 0, 0, 0)
    if not entity_rows or not view.feature_names:
        return report
    (col,) = reader.read([ViewRequest(view, (view.feature_names[0],))], entity_rows, now=now)
    for status in col.statuses:
        if status in (FeatureStatus.PRESENT, FeatureStatus.NULL_VALUE):
            report.present += 1
        elif status is FeatureStatus.OUTSIDE_MAX_AGE:
            report.outside_max_age += 1
        else:
            report.not_found += 1
    return report

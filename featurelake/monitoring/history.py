"""The online checks of a view over time, one entry per monitor run (for ``monitor status`` and the report)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from featurelake.registry import MonitorCheck

ONLINE_METRICS = ("skew", "online_coverage")


def online_history(checks: Sequence[MonitorCheck], *, runs: int | None = None) -> list[dict[str, Any]]:
    """Per monitor run with online checks, oldest first: skew per feature and over all features, coverage.

    Args:
        checks: ``skew`` and ``online_coverage`` checks of one view (any order; others are ignored).
        runs: keep only the newest this many runs.

    Returns:
        One dict per run: ``run_id``, ``checked_at``, ``sampled`` (entities compared for skew),
        ``skew`` (feature -> mismatch rate), ``skew_rate`` (mismatches / compared over every feature),
        ``skew_status`` (the worst), ``coverage``, ``coverage_status``, ``warn`` / ``fail`` thresholds.
    """
    by_run: dict[str, list[MonitorCheck]] = defaultdict(list)
    for c in checks:
        if c.metric in ONLINE_METRICS and c.run_id:
            by_run[c.run_id].append(c)
    out = []
    for run_id, items in by_run.items():
        skew = [c for c in items if c.metric == "skew"]
        cover = next((c for c in items if c.metric == "online_coverage"), None)
        compared = sum((c.details or {}).get("compared", 0) for c in skew)
        mismatches = sum((c.details or {}).get("mismatches", 0) for c in skew)
        statuses = [c.status for c in skew]
        out.append(
            {
                "run_id": run_id,
                "checked_at": items[0].created_at,
                "sampled": max(((c.details or {}).get("sampled", 0) for c in skew), default=0),
                "skew": {c.feature: c.value for c in sorted(skew, key=lambda c: c.feature)},
                "skew_rate": mismatches / compared if compared else None,
                "skew_mismatches": mismatches,
                "skew_compared": compared,
                "skew_status": "fail" if "fail" in statuses else "warn" if "warn" in statuses else "ok",
                "skew_warn": skew[0].warn if skew else None,
                "skew_fail": skew[0].fail if skew else None,
                "coverage": cover.value if cover else None,
                "coverage_status": cover.status if cover else None,
                "coverage_present": (cover.details or {}).get("present") if cover else None,
                "coverage_sampled": (cover.details or {}).get("sampled") if cover else None,
                "coverage_warn": cover.warn if cover else None,
                "coverage_fail": cover.fail if cover else None,
            }
        )
    out.sort(key=lambda h: (h["checked_at"] is None, h["checked_at"]))
    return out[-runs:] if runs else out

"""The monitor's HTML report: one self-contained file, plots as inline SVG, no scripts, no network.

:func:`load_report` gathers what the report shows from the registry (each view's monitor checks)
and the project's metrics tables (daily profiles, reference profiles); :func:`render_html` turns
that into one HTML page with a strict Content-Security-Policy (no scripts, no external
requests). Plots, each a ``<figure class="plot" data-plot="...">`` holding an ``<svg>``:

* ``freshness``: the age of each view's newest partition and last materialization vs its SLA;
* ``histogram:VIEW:FEATURE``: reference vs detection-window shares per bin, for every feature
  whose latest run flagged a drift metric;
* ``drift:VIEW:METRIC``: the drift metric per day, one line per feature, with the thresholds;
* ``nulls:VIEW``: the null rate per day, one line per feature;
* ``skew:VIEW``: the online/offline mismatch rate per monitor run (over time), one line per
  feature and one over all features, with the thresholds;
* ``coverage:VIEW``: the share of sampled entities served by Redis per monitor run.
"""

from __future__ import annotations

import html
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from featurelake.config.settings import Settings
    from featurelake.registry import MonitorCheck

PALETTE = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
)
STATUS_COLOR = {"ok": "#2ca02c", "warn": "#ff9f1c", "fail": "#d62728"}
DRIFT_METRICS = ("psi", "js", "ks", "mean_shift", "null_rate")


@dataclass
class ViewReport:
    """What the report shows for one view.

    Attributes:
        view: the view.
        latest: the checks of its newest monitor run.
        history: every drift check with a day (for the over-time plots), newest first.
        profiles: stored daily profile rows (metrics table) against the latest run's reference.
        reference: feature -> (bin labels, reference counts) of the latest run's reference.
        online: the online checks per run, oldest first
            (:func:`featurelake.monitoring.history.online_history`).
    """

    view: str
    latest: list[MonitorCheck]
    history: list[MonitorCheck]
    profiles: list[dict[str, Any]] = field(default_factory=list)
    reference: dict[str, tuple[list[str], list[int]]] = field(default_factory=dict)
    online: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class ReportData:
    """Everything :func:`render_html` needs."""

    project: str
    generated_at: datetime
    views: list[ViewReport]


def _bin_labels(edges: list[float], categories: list[str], kind: str) -> list[str]:
    if kind == "categorical":
        return [*categories, "(other)"]
    if not edges:
        return ["all"]
    labels = [f"<= {edges[0]:.3g}"]
    labels += [f"{lo:.3g}..{hi:.3g}" for lo, hi in zip(edges, edges[1:], strict=False)]
    labels.append(f"> {edges[-1]:.3g}")
    return labels


def load_report(settings: Settings, *, view: str | None = None, history_limit: int = 20_000) -> ReportData:
    """Gather the report's data from the registry and the metrics tables.

    Args:
        settings: featurelake settings (registry, storage, project).
        view: one view (default: every view with a monitor run).
        history_limit: at most this many checks read per view.

    Raises:
        MonitorError: the view has no monitor run yet.
    """
    from featurelake.errors import MonitorError
    from featurelake.jobs.wiring import lakehouse_from_settings
    from featurelake.lakehouse.monitoring.metrics_table import read_all_profiles, read_reference
    from featurelake.monitoring.history import ONLINE_METRICS, online_history
    from featurelake.registry import open_registry

    registry = open_registry(settings.registry_url, create=False)
    try:
        project = settings.project
        latest = registry.monitor_checks(project, view=view, latest_run=True)
        if view is not None and not latest:
            raise MonitorError(
                f"view {view!r} has no monitor run in project {project!r}; run `featurelake monitor run --view {view}`"
            )
        by_view: dict[str, list[MonitorCheck]] = defaultdict(list)
        for c in latest:
            by_view[c.view].append(c)
        lakehouse = lakehouse_from_settings(settings)
        views = []
        for name in sorted(by_view):
            checks = by_view[name]
            history = [
                c
                for c in registry.monitor_checks(project, view=name, limit=history_limit)
                if c.day is not None
            ]
            reference = checks[0].reference
            rows = [
                r for r in read_all_profiles(lakehouse, project, view=name) if r["reference"] == reference
            ]
            ref_profiles = read_reference(lakehouse, project, view=name, reference=reference)
            ref = {
                f: (
                    _bin_labels(
                        list(p.bins.edges) if p.bins else [],
                        list(p.bins.categories) if p.bins else [],
                        p.kind,
                    ),
                    list(p.counts),
                )
                for f, p in ref_profiles.items()
            }
            online = online_history(
                [
                    c
                    for metric in ONLINE_METRICS
                    for c in registry.monitor_checks(project, view=name, metric=metric, limit=history_limit)
                ]
            )
            views.append(ViewReport(name, checks, history, rows, ref, online))
    finally:
        registry.dispose()
    return ReportData(project, datetime.now(UTC), views)


# --------------------------------------------------------------------------- SVG


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _figure(kind: str, title: str, svg: str, caption: str = "") -> str:
    cap = f"<figcaption>{_e(caption)}</figcaption>" if caption else ""
    return f'<figure class="plot" data-plot="{_e(kind)}"><h4>{_e(title)}</h4>{svg}{cap}</figure>'


def line_chart(
    series: dict[str, list[tuple[date, float]]],
    *,
    thresholds: dict[str, float] | None = None,
    width: int = 640,
    height: int = 240,
    y_label: str = "",
) -> str:
    """An SVG line chart: one line per series over dates, optional dashed threshold lines."""
    pad_l, pad_r, pad_t, pad_b = 52, 120, 12, 36
    xs = sorted({d for pts in series.values() for d, _ in pts})
    ys = [v for pts in series.values() for _, v in pts if v is not None]
    ys += list((thresholds or {}).values())
    if not xs or not ys:
        return f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="40"><text x="4" y="24">no data</text></svg>'
    y_max = max(ys) * 1.1 or 1.0
    plot_w, plot_h = width - pad_l - pad_r, height - pad_t - pad_b

    def x(d: date) -> float:
        return pad_l + (plot_w * xs.index(d) / max(1, len(xs) - 1))

    def y(v: float) -> float:
        return pad_t + plot_h * (1 - v / y_max)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img">',
        f'<line x1="{pad_l}" y1="{pad_t + plot_h}" x2="{pad_l + plot_w}" y2="{pad_t + plot_h}" stroke="#333"/>',
        f'<line x1="{pad_l}" y1="{pad_t}" x2="{pad_l}" y2="{pad_t + plot_h}" stroke="#333"/>',
        f'<text x="4" y="{pad_t + 10}" font-size="10">{_e(f"{y_max:.3g}")}</text>',
        f'<text x="4" y="{pad_t + plot_h}" font-size="10">0</text>',
        f'<text x="4" y="{height - 4}" font-size="10">{_e(y_label)}</text>',
    ]
    step = max(1, len(xs) // 6)
    for d in xs[::step]:
        label = d.strftime("%m-%d %H:%M") if isinstance(d, datetime) else d.isoformat()[5:]
        parts.append(f'<text x="{x(d) - 14:.1f}" y="{pad_t + plot_h + 14}" font-size="9">{_e(label)}</text>')
    for name, value in (thresholds or {}).items():
        color = STATUS_COLOR.get(name, "#999")
        parts.append(
            f'<line x1="{pad_l}" y1="{y(value):.1f}" x2="{pad_l + plot_w}" y2="{y(value):.1f}" '
            f'stroke="{color}" stroke-dasharray="4 3"/>'
            f'<text x="{pad_l + plot_w + 4}" y="{y(value) + 3:.1f}" font-size="9">{_e(name)} {value:g}</text>'
        )
    for i, (name, pts) in enumerate(sorted(series.items())):
        color = PALETTE[i % len(PALETTE)]
        pts = sorted((d, v) for d, v in pts if v is not None)
        path = " ".join(f"{x(d):.1f},{y(v):.1f}" for d, v in pts)
        parts.append(f'<polyline fill="none" stroke="{color}" stroke-width="1.6" points="{path}"/>')
        for d, v in pts:
            parts.append(
                f'<circle cx="{x(d):.1f}" cy="{y(v):.1f}" r="2.2" fill="{color}" data-series="{_e(name)}">'
                f"<title>{_e(name)} {d}: {v:.4g}</title></circle>"
            )
        parts.append(
            f'<text x="{pad_l + plot_w + 4}" y="{pad_t + 24 + 12 * i}" font-size="10" fill="{color}">{_e(name)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def bar_chart(
    labels: list[str], reference: list[float], current: list[float], *, width: int = 640, height: int = 220
) -> str:
    """An SVG grouped bar chart of reference vs current shares per bin."""
    pad_l, pad_b, pad_t = 40, 48, 16
    n = max(1, len(labels))
    top = max([*reference, *current, 1e-9]) * 1.1
    plot_w, plot_h = width - pad_l - 10, height - pad_t - pad_b
    group = plot_w / n
    bar = group * 0.4
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img">',
        f'<line x1="{pad_l}" y1="{pad_t + plot_h}" x2="{width - 10}" y2="{pad_t + plot_h}" stroke="#333"/>',
        f'<text x="2" y="{pad_t + 8}" font-size="10">{top:.2f}</text>',
        f'<rect x="{width - 190}" y="2" width="10" height="10" fill="#8fa9c7"/><text x="{width - 176}" y="11" font-size="10">reference</text>',
        f'<rect x="{width - 110}" y="2" width="10" height="10" fill="#d62728"/><text x="{width - 96}" y="11" font-size="10">current</text>',
    ]
    for i, label in enumerate(labels):
        x0 = pad_l + i * group + group * 0.1
        for j, (values, color) in enumerate(((reference, "#8fa9c7"), (current, "#d62728"))):
            v = values[i] if i < len(values) else 0.0
            h = plot_h * v / top
            parts.append(
                f'<rect x="{x0 + j * bar:.1f}" y="{pad_t + plot_h - h:.1f}" width="{bar:.1f}" height="{h:.1f}" '
                f'fill="{color}"><title>{_e(label)}: {v:.3f}</title></rect>'
            )
        parts.append(
            f'<text x="{x0:.1f}" y="{pad_t + plot_h + 12 + 10 * (i % 2)}" font-size="8">{_e(label[:14])}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _shares(counts: list[int]) -> list[float]:
    total = sum(counts)
    return [c / total if total else 0.0 for c in counts]


def _view_section(v: ViewReport) -> str:
    out = [f'<section class="view" id="view-{_e(v.view)}"><h2>{_e(v.view)}</h2>']
    window = next((c for c in v.latest), None)
    if window is not None:
        worst = (
            "fail"
            if any(c.status == "fail" for c in v.latest)
            else "warn"
            if any(c.status == "warn" for c in v.latest)
            else "ok"
        )
        out.append(
            f"<p>Latest run {_e(window.run_id)}: window {_e(window.window_start)}..{_e(window.window_end)} "
            f'vs reference <code>{_e(window.reference)}</code>: <b class="{worst}">{worst.upper()}</b></p>'
        )
    flagged = sorted(
        {c.feature for c in v.latest if c.day is None and c.metric in DRIFT_METRICS and c.status != "ok"}
    )
    window_rows: dict[str, list[dict[str, Any]]] = defaultdict(list)
    start, end = (window.window_start, window.window_end) if window else (None, None)
    for r in v.profiles:
        if start is not None and end is not None and start <= r["event_date"] <= end:
            window_rows[r["feature"]].append(r)
    for feature in flagged:
        labels, ref_counts = v.reference.get(feature, ([], []))
        cur = [0] * len(ref_counts)
        for r in window_rows.get(feature, []):
            for i, c in enumerate(r["counts"] or []):
                if i < len(cur):
                    cur[i] += int(c)
        svg = bar_chart(labels, _shares(ref_counts), _shares(cur))
        out.append(
            _figure(
                f"histogram:{v.view}:{feature}",
                f"{feature}: reference vs {start}..{end}",
                svg,
                "Share of values per bin; bins are the reference's deciles (numeric) or its top values (categorical).",
            )
        )
    latest_day: dict[tuple[str, str, date], MonitorCheck] = {}
    for c in (c for c in v.history if c.day is not None):  # newest first: keep the newest per day
        latest_day.setdefault((c.feature, c.metric, c.day), c)  # type: ignore[arg-type]
    metrics = sorted({m for _, m, _ in latest_day} & set(DRIFT_METRICS) - {"null_rate"})
    for metric in metrics:
        series: dict[str, list[tuple[date, float]]] = defaultdict(list)
        thresholds: dict[str, float] = {}
        for (feature, m, d), c in latest_day.items():
            if m == metric and c.value is not None:
                series[feature].append((d, c.value))
                if c.warn is not None:
                    thresholds["warn"] = c.warn
                if c.fail is not None:
                    thresholds["fail"] = c.fail
        out.append(
            _figure(
                f"drift:{v.view}:{metric}",
                f"{metric} per day",
                line_chart(series, thresholds=thresholds, y_label=metric),
            )
        )
    nulls: dict[str, list[tuple[date, float]]] = defaultdict(list)
    for r in v.profiles:
        if r["rows"]:
            nulls[r["feature"]].append((r["event_date"], r["nulls"] / r["rows"]))
    out.append(_figure(f"nulls:{v.view}", "null rate per day", line_chart(nulls, y_label="null rate")))
    out.extend(_online_figures(v))
    out.append(
        "<details><summary>Checks of the latest run</summary><table><tr><th>feature</th><th>metric</th><th>day</th><th>value</th><th>warn</th><th>fail</th><th>status</th></tr>"
    )
    for c in sorted(v.latest, key=lambda c: (c.feature, c.metric, c.day or date.max)):
        value = "" if c.value is None else f"{c.value:.4g}"
        out.append(
            f"<tr><td>{_e(c.feature or '(view)')}</td><td>{_e(c.metric)}</td><td>{_e(c.day or ('sample' if c.metric in ('skew', 'online_coverage') else 'window'))}</td>"
            f"<td>{value}</td><td>{_e('' if c.warn is None else c.warn)}</td><td>{_e('' if c.fail is None else c.fail)}</td>"
            f'<td class="{_e(c.status)}">{_e(c.status)}</td></tr>'
        )
    out.append("</table></details></section>")
    return "".join(out)


def _online_figures(v: ViewReport) -> list[str]:
    """The skew and coverage plots over the view's monitor runs (none before its first online check)."""
    runs = [h for h in v.online if h["checked_at"] is not None]
    if not runs:
        return []
    skew: dict[str, list[tuple[date, float]]] = defaultdict(list)
    for h in runs:
        if h["skew_rate"] is not None:
            skew["(all features)"].append((h["checked_at"], h["skew_rate"]))
        for feature, rate in h["skew"].items():
            if rate is not None:
                skew[feature].append((h["checked_at"], rate))
    last = runs[-1]
    limits = {k: last[f"skew_{k}"] for k in ("warn", "fail") if last[f"skew_{k}"] is not None}
    cover = {"coverage": [(h["checked_at"], h["coverage"]) for h in runs if h["coverage"] is not None]}
    cover_limits = {k: last[f"coverage_{k}"] for k in ("warn", "fail") if last[f"coverage_{k}"] is not None}
    return [
        _figure(
            f"skew:{v.view}",
            "online/offline skew per run: mismatch rate",
            line_chart(skew, thresholds=limits, y_label="mismatch rate"),
            f"Share of sampled entities whose Redis value differs from the latest materialization "
            f"(or is missing); latest run: {last['skew_mismatches']} of {last['skew_compared']} values.",
        ),
        _figure(
            f"coverage:{v.view}",
            "online coverage per run",
            line_chart(cover, thresholds=cover_limits, y_label="share served"),
            "Share of sampled entities within the TTL that Redis serves a value for (lower is worse).",
        ),
    ]


def _freshness(views: list[ViewReport]) -> str:
    rows = []
    for v in views:
        for c in v.latest:
            if c.metric.startswith("freshness") and c.value is not None:
                rows.append(
                    (f"{v.view} {c.metric.removeprefix('freshness_')}", c.value / 3600, c.fail, c.status)
                )
    if not rows:
        return _figure(
            "freshness",
            "Freshness",
            '<svg xmlns="http://www.w3.org/2000/svg" width="300" height="30"><text x="4" y="20">no freshness data</text></svg>',
        )
    width, bar_h = 640, 18
    top = max([abs(r[1]) for r in rows] + [(r[2] or 0) / 3600 for r in rows] + [1e-9]) * 1.1
    height = 20 + bar_h * 1.5 * len(rows)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height:.0f}" role="img">']
    for i, (label, hours, sla, status) in enumerate(rows):
        y0 = 10 + i * bar_h * 1.5
        w = max(0.0, 380 * hours / top)  # an age below 0 (clocks apart) draws no bar
        parts.append(f'<text x="2" y="{y0 + 13}" font-size="10">{_e(label)}</text>')
        parts.append(
            f'<rect x="200" y="{y0}" width="{w:.1f}" height="{bar_h}" fill="{STATUS_COLOR[status]}"><title>{hours:.1f} h</title></rect>'
        )
        parts.append(f'<text x="{204 + w:.1f}" y="{y0 + 13}" font-size="10">{hours:.1f} h</text>')
        if sla:
            sx = 200 + 380 * (sla / 3600) / top
            parts.append(
                f'<line x1="{sx:.1f}" y1="{y0 - 2}" x2="{sx:.1f}" y2="{y0 + bar_h + 2}" stroke="#000" stroke-dasharray="3 2"><title>SLA {sla / 3600:.1f} h</title></line>'
            )
    parts.append("</svg>")
    return _figure(
        "freshness",
        "Freshness: age of the newest partition (offline) and last materialization (online)",
        "".join(parts),
        "Dashed line: the view's freshness SLA.",
    )


_CSS = """
body{font-family:system-ui,sans-serif;margin:24px;color:#222;max-width:1000px}
h1{font-size:22px} h2{border-bottom:1px solid #ccc;padding-bottom:4px}
figure.plot{margin:16px 0;padding:8px;border:1px solid #eee} figcaption{font-size:12px;color:#555}
table{border-collapse:collapse;font-size:12px} td,th{border:1px solid #ddd;padding:2px 6px}
.ok{color:#2ca02c} .warn{color:#b36b00} .fail{color:#d62728}
"""


def render_html(data: ReportData) -> str:
    """The report as one self-contained HTML page (inline CSS and SVG; no scripts, no fetches)."""
    body = [
        f"<h1>Feature health: project {_e(data.project)}</h1>",
        f"<p>Generated {_e(data.generated_at.isoformat(timespec='seconds'))}. "
        "PSI / Jensen-Shannon compare each day with the reference bin for bin; "
        "a value at or above <b>warn</b> / <b>fail</b> marks the check.</p>",
        _freshness(data.views),
        *[_view_section(v) for v in data.views],
    ]
    csp = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{csp}">'
        f"<title>featurelake monitor report: {_e(data.project)}</title><style>{_CSS}</style></head>"
        f"<body>{''.join(body)}</body></html>"
    )

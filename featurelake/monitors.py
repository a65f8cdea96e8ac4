"""Monitor definitions of a feature view: drift thresholds and the freshness SLA (engine-free).

A view declares them on its :class:`featurelake.spec.ViewSpec`::

    ViewSpec(
        view="user_transaction_stats",
        transform=...,
        monitors=[Drift(metric="psi", warn=0.1, fail=0.25), Drift(metric="ks", warn=0.1, fail=0.2)],
        freshness_sla="2d",
    )

They are part of the view's registry definition (non-breaking: a threshold change is a minor
version). A view that declares no :class:`Drift` of a metric gets :data:`DEFAULT_MONITORS`.

Metrics (computed by ``featurelake.lakehouse.monitoring``, per feature, per day of the detection
window and over the whole window, against a reference):

* ``psi``: population stability index over the reference's decile bins (numeric features).
* ``ks``: the two-sample Kolmogorov-Smirnov statistic (numeric features only; its p-value is
  recorded alongside). Opt-in: declare it.
* ``js``: Jensen-Shannon distance (base 2, in [0, 1]) over the reference's top values plus an
  "other" bucket (string and boolean features).
* ``null_rate``: the absolute change of the null rate (any feature).
* ``mean_shift``: ``|mean - reference mean| / reference stddev`` (numeric features). Opt-in.

A value at or above ``fail`` is a failure, at or above ``warn`` a warning, else ok.

Online checks (run when the view has a successful materialization; they sample entities and read
Redis, see ``featurelake monitor run``):

* ``skew`` (:class:`Skew`): per feature, the share of sampled entities whose Redis value differs
  from the offline value as of the latest materialization (or is missing). Higher is worse, like
  the drift metrics. Default: warn 0.001, fail 0.01.
* ``online_coverage`` (:class:`OnlineCoverage`): the share of sampled entities of the latest
  offline snapshot (within the view's TTL) that have a value in Redis. LOWER is worse: a value
  below ``fail`` is a failure, below ``warn`` a warning. Default: warn 0.99, fail 0.95.

Both sample ``sample`` entities (default 1,000), chosen by a hash of the join keys seeded with
``seed``, so a re-run with the same seed over the same data samples the same entities.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, model_validator

DriftMetric = Literal["psi", "ks", "js", "null_rate", "mean_shift"]
OnlineMetric = Literal["skew", "online_coverage"]
DRIFT_METRICS: tuple[DriftMetric, ...] = ("psi", "ks", "js", "null_rate", "mean_shift")
Outcome = Literal["ok", "warn", "fail"]
OUTCOMES: tuple[Outcome, ...] = ("ok", "warn", "fail")

#: The largest meaningful threshold per metric (None: unbounded above).
METRIC_MAX: dict[str, float | None] = {
    "psi": None,
    "ks": 1.0,
    "js": 1.0,
    "null_rate": 1.0,
    "mean_shift": None,
}
#: Which feature kinds a metric applies to.
METRIC_KINDS: dict[str, tuple[str, ...]] = {
    "psi": ("numeric",),
    "ks": ("numeric",),
    "js": ("categorical",),
    "null_rate": ("numeric", "categorical"),
    "mean_shift": ("numeric",),
}
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
#: Largest online sample (entities read from Redis per check and run).
MAX_SAMPLE = 1_000_000
ONLINE_METRICS: tuple[OnlineMetric, ...] = ("skew", "online_coverage")


def higher_is_worse(value: float, *, warn: float, fail: float) -> Outcome:
    """ok / warn / fail for a metric whose larger values are worse (drift, skew)."""
    if value >= fail:
        return "fail"
    if value >= warn:
        return "warn"
    return "ok"


class Drift(BaseModel):
    """A drift check with its thresholds.

    Attributes:
        metric: ``psi``, ``ks``, ``js``, ``null_rate`` or ``mean_shift`` (see the module docstring).
        warn: a value at or above this is a warning.
        fail: a value at or above this is a failure (``fail >= warn``).
        features: the features it applies to (None: every feature the metric applies to).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    metric: DriftMetric
    warn: float
    fail: float
    features: tuple[str, ...] | None = None

    @model_validator(mode="after")
    def _check(self) -> Drift:
        problems = drift_problems(self.metric, self.warn, self.fail, self.features)
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def outcome(self, value: float) -> Outcome:
        """ok / warn / fail for one metric value."""
        return higher_is_worse(value, warn=self.warn, fail=self.fail)


def drift_problems(
    metric: str, warn: float, fail: float, features: tuple[str, ...] | None = None
) -> list[str]:
    """Every problem with one drift check's thresholds (empty when it is valid).

    Args:
        metric: the metric name.
        warn: the warning threshold.
        fail: the failure threshold.
        features: the features named, if any.

    Returns:
        One message per problem, each naming the value and the fix.
    """
    problems = []
    top = METRIC_MAX.get(metric)
    bound = f"[0, {top:g}]" if top is not None else "[0, inf)"
    for label, value in (("warn", warn), ("fail", fail)):
        if not isinstance(value, int | float) or value != value:
            problems.append(f"Drift({metric}) {label}={value!r} is not a number; give a number in {bound}")
        elif value < 0 or (top is not None and value > top):
            problems.append(
                f"Drift({metric}) {label}={value:g} is outside {bound}; give a threshold in {bound}"
            )
    if not problems and warn > fail:
        problems.append(f"Drift({metric}) warn={warn:g} is above fail={fail:g}; warn must be <= fail")
    for name in features or ():
        if not _NAME.match(name):
            problems.append(f"Drift({metric}) feature {name!r} is not a valid feature name")
    if features is not None and not features:
        problems.append(f"Drift({metric}) features=() names no feature; omit it to check every feature")
    return problems


def online_problems(
    metric: str, warn: Any, fail: Any, sample: Any, seed: Any, features: tuple[str, ...] | None = None
) -> list[str]:
    """Every problem with one online check's settings (empty when they are valid).

    Args:
        metric: ``skew`` or ``online_coverage``.
        warn: the warning threshold (a share in [0, 1]).
        fail: the failure threshold (a share in [0, 1]).
        sample: entities sampled per run.
        seed: the sampling seed.
        features: the features named (``skew`` only), if any.

    Returns:
        One message per problem, each naming the value and the fix.
    """
    name = "Skew" if metric == "skew" else "OnlineCoverage"
    problems = []
    for label, value in (("warn", warn), ("fail", fail)):
        if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
            problems.append(f"{name} {label}={value!r} is not a number; give a share in [0, 1]")
        elif not 0 <= value <= 1:
            problems.append(f"{name} {label}={value:g} is outside [0, 1]; give a share in [0, 1]")
    if not problems:
        if metric == "skew" and warn > fail:
            problems.append(f"Skew warn={warn:g} is above fail={fail:g}; warn must be <= fail")
        if metric == "online_coverage" and warn < fail:
            problems.append(
                f"OnlineCoverage warn={warn:g} is below fail={fail:g}; coverage warns below warn and fails "
                "below fail, so warn must be >= fail"
            )
    if isinstance(sample, bool) or not isinstance(sample, int) or not 1 <= sample <= MAX_SAMPLE:
        problems.append(
            f"{name} sample={sample!r} is not a whole number in 1..{MAX_SAMPLE:,}; e.g. sample=1000"
        )
    if isinstance(seed, bool) or not isinstance(seed, int):
        problems.append(f"{name} seed={seed!r} is not a whole number; e.g. seed=0")
    for feature in features or ():
        if not _NAME.match(feature):
            problems.append(f"{name} feature {feature!r} is not a valid feature name")
    if features is not None and not features:
        problems.append(f"{name} features=() names no feature; omit it to check every feature")
    return problems


class Skew(BaseModel):
    """Online/offline skew: the share of sampled entities whose Redis value differs from the offline
    value as of the view's latest materialization (higher is worse).

    Attributes:
        warn: a mismatch rate at or above this is a warning (default 0.001).
        fail: at or above this, a failure (default 0.01).
        sample: entities sampled per run (default 1,000).
        seed: the sampling seed (default 0).
        features: the features compared (None: every feature of the view).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    metric: Literal["skew"] = "skew"
    warn: float = 0.001
    fail: float = 0.01
    sample: int = 1000
    seed: int = 0
    features: tuple[str, ...] | None = None

    @model_validator(mode="after")
    def _check(self) -> Skew:
        problems = online_problems(self.metric, self.warn, self.fail, self.sample, self.seed, self.features)
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def outcome(self, value: float) -> Outcome:
        """ok / warn / fail for one mismatch rate."""
        return higher_is_worse(value, warn=self.warn, fail=self.fail)


class OnlineCoverage(BaseModel):
    """Online coverage: the share of sampled entities of the latest offline snapshot (within the
    view's TTL) that have a value in Redis (LOWER is worse).

    Attributes:
        warn: a share below this is a warning (default 0.99).
        fail: below this, a failure (default 0.95; ``fail <= warn``).
        sample: entities sampled per run (default 1,000).
        seed: the sampling seed (default 0).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    metric: Literal["online_coverage"] = "online_coverage"
    warn: float = 0.99
    fail: float = 0.95
    sample: int = 1000
    seed: int = 0

    @model_validator(mode="after")
    def _check(self) -> OnlineCoverage:
        problems = online_problems(self.metric, self.warn, self.fail, self.sample, self.seed)
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def outcome(self, value: float) -> Outcome:
        """ok / warn / fail for one coverage share."""
        if value < self.fail:
            return "fail"
        if value < self.warn:
            return "warn"
        return "ok"


Monitor = Drift | Skew | OnlineCoverage


#: What a view gets for each metric it does not declare (ks and mean_shift are opt-in).
DEFAULT_MONITORS: tuple[Monitor, ...] = (
    Drift(metric="psi", warn=0.1, fail=0.25),
    Drift(metric="js", warn=0.1, fail=0.2),
    Drift(metric="null_rate", warn=0.05, fail=0.2),
    Skew(),
    OnlineCoverage(),
)


def effective_monitors(declared: tuple[Monitor, ...]) -> tuple[Monitor, ...]:
    """The declared checks plus the defaults of every metric the view does not declare."""
    metrics = {d.metric for d in declared}
    return tuple(declared) + tuple(d for d in DEFAULT_MONITORS if d.metric not in metrics)


def monitors_definition(monitors: tuple[Monitor, ...], freshness_sla: timedelta | None) -> dict[str, Any]:
    """The JSON form stored in a view's definition (sorted, so the hash is order-independent)."""
    out: dict[str, Any] = {}
    if monitors:
        out["monitors"] = sorted(
            (m.model_dump(mode="json") for m in monitors),
            key=lambda d: (d["metric"], d.get("features") or []),
        )
    if freshness_sla is not None:
        out["freshness_sla_seconds"] = int(freshness_sla.total_seconds())
    return out


def monitors_from_definition(definition: Mapping[str, Any]) -> tuple[tuple[Monitor, ...], timedelta | None]:
    """A view's declared drift and online checks and freshness SLA, from its registry definition.

    Args:
        definition: the view version's stored definition (``ViewVersion.definition``: the output
            of :func:`featurelake.spec.view_definition` under ``"spec"``), or that output itself.

    Returns:
        (declared checks, freshness SLA or None).

    Raises:
        ValueError: every problem with the stored thresholds, in one message.
    """
    view_def = (
        definition.get("spec") if "spec" in definition and "non_breaking" not in definition else definition
    )
    spec = ((view_def or {}).get("non_breaking") or {}).get("spec") or {}
    raw = list(spec.get("monitors") or ())
    problems: list[str] = []
    monitors: list[Monitor] = []
    for m in raw:
        metric = m.get("metric")
        features = m.get("features")
        feats = None if features is None else tuple(features)
        if metric in ONLINE_METRICS:
            cls = Skew if metric == "skew" else OnlineCoverage
            if metric == "online_coverage" and features is not None:
                problems.append("OnlineCoverage takes no features: coverage is per view; remove features=")
                continue
            defaults = cls()
            found = online_problems(
                metric,
                m.get("warn", defaults.warn),
                m.get("fail", defaults.fail),
                m.get("sample", defaults.sample),
                m.get("seed", defaults.seed),
                feats,
            )
            problems += found
            if not found:
                monitors.append(cls(**m))
            continue
        if metric not in DRIFT_METRICS:
            problems.append(
                f"monitor metric {metric!r} is not one of {', '.join(DRIFT_METRICS + ONLINE_METRICS)}"
            )
            continue
        found = drift_problems(metric, m.get("warn"), m.get("fail"), feats)
        problems += found
        if not found:
            monitors.append(Drift(**m))
    if problems:
        raise ValueError("; ".join(problems))
    sla = spec.get("freshness_sla_seconds")
    return tuple(monitors), None if sla is None else timedelta(seconds=int(sla))


def worst(outcomes: list[str] | tuple[str, ...]) -> Outcome:
    """The worst of some outcomes (ok when empty)."""
    if "fail" in outcomes:
        return "fail"
    if "warn" in outcomes:
        return "warn"
    return "ok"

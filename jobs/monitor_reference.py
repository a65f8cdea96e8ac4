"""Where a monitor run's reference rows are: a registered training set or a window of the view's table.

``--reference training-set:NAME[:VERSION] | window:START..END | previous`` is parsed and checked
here, before the monitor records anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

from featurelake.errors import MonitorError, RegistryError

if TYPE_CHECKING:
    from featurelake.lakehouse.tables import Lakehouse
    from featurelake.registry import Registry, ViewVersion


@dataclass(frozen=True)
class Reference:
    """A resolved reference: where its rows are and how its profile is keyed."""

    id: str
    table: str
    version: int
    columns: dict[str, str]  # feature -> column in the reference table
    date_range: tuple[date, date] | None = None
    training_set: tuple[str, int] | None = None


def parse_reference(text: str | None, start: date, end: date) -> tuple[str, Any]:
    """``training-set:NAME[:VERSION]`` / ``window:A..B`` / ``previous`` -> (kind, details).

    Raises:
        MonitorError: naming the value and the accepted forms.
    """
    forms = "training-set:NAME[:VERSION], window:YYYY-MM-DD..YYYY-MM-DD or previous"
    if text is None or text == "previous":
        length = (end - start).days + 1
        return "window", (start - timedelta(days=length), start - timedelta(days=1))
    kind, _, rest = text.partition(":")
    if kind == "training-set" and rest:
        name, _, version = rest.partition(":")
        digits = version[1:] if version[:1] in ("v", "V") else version
        if version and not digits.isdigit():
            raise MonitorError(f"--reference {text!r}: version {version!r} is not a number; use {forms}")
        return "training-set", (name, int(digits) if version else None)
    if kind == "window" and ".." in rest:
        a, _, b = rest.partition("..")
        try:
            lo, hi = date.fromisoformat(a), date.fromisoformat(b)
        except ValueError:
            raise MonitorError(f"--reference {text!r}: dates must be YYYY-MM-DD; use {forms}") from None
        if lo > hi:
            raise MonitorError(f"--reference {text!r}: {lo} is after {hi}; swap them")
        return "window", (lo, hi)
    raise MonitorError(f"--reference {text!r} is not a reference; use {forms}")


def resolve_reference(
    registry: Registry,
    lakehouse: Lakehouse,
    project: str,
    vv: ViewVersion,
    text: str | None,
    start: date,
    end: date,
) -> Reference:
    """The reference of a monitor run, checked (see the module doc).

    Raises:
        MonitorError: an unknown or archived training set, a window that overlaps the detection
            window or holds no rows, or a reference that is not one of the accepted forms.
    """
    kind, details = parse_reference(text, start, end)
    if kind == "window":
        lo, hi = details
        if hi >= start:
            raise MonitorError(
                f"reference window {lo}..{hi} overlaps the detection window {start}..{end}; "
                "pick an earlier reference window"
            )
        files = lakehouse.files(vv.table_name, date_range=(lo, hi))
        if not any((f.num_records or 0) > 0 for f in files):
            raise MonitorError(
                f"reference window {lo}..{hi} of view {vv.name!r} holds no rows (table {vv.table_name}); "
                "backfill those days or pass --reference training-set:NAME"
            )
        return Reference(
            id=f"window:{lo}..{hi}",
            table=vv.table_name,
            version=lakehouse.version(vv.table_name),
            columns={f: f for f in vv.feature_names},
            date_range=(lo, hi),
        )
    name, version = details
    try:
        ts = registry.get_training_set(project, name, version)
    except RegistryError:
        raise MonitorError(
            f"reference training set {name!r}"
            + (f" version {version}" if version else "")
            + f" does not exist in project {project!r}; see `featurelake training-set list`"
        ) from None
    try:
        service = registry.get_service_version(project, ts.service, ts.service_version)
    except RegistryError:
        service = None
    if service is not None and service.status == "archived":
        raise MonitorError(
            f"reference training set {name} v{ts.version} was built for feature service "
            f"{ts.service} v{ts.service_version}, which is archived; use a training set of an active service"
        )
    features = [ref.split(":", 1)[1] for ref in ts.features if ref.split(":", 1)[0] == vv.name]
    if not features:
        raise MonitorError(
            f"reference training set {name} v{ts.version} has no feature of view {vv.name!r} "
            f"(it has {', '.join(ts.features)}); pick a training set built with this view"
        )
    if ts.output.version is None:
        raise MonitorError(f"reference training set {name} v{ts.version} has no pinned Delta version")
    names = {c for c, _ in lakehouse.describe(ts.output.table).schema}
    columns = {}
    for f in features:
        full = f"{vv.name}__{f}"
        columns[f] = full if full in names else f
    return Reference(
        id=f"training-set:{name}:{ts.version}",
        table=ts.output.table,
        version=ts.output.version,
        columns=columns,
        training_set=(name, ts.version),
    )

"""Online reads with a status per value, one pipelined round trip per cluster node.

Unlike Feast's Redis store, reads enforce the view's TTL: a value whose event time is older
than ``now - ttl`` reads as ``OUTSIDE_MAX_AGE`` (value None), a missing key or view as
``NOT_FOUND`` (value None), and a stored null as ``NULL_VALUE``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from featurelake.errors import DefinitionError
from featurelake.lakehouse.online.cluster import ClusterClient, Command
from featurelake.lakehouse.online.encoding import (
    decode_timestamp,
    decode_value,
    serialize_entity_key,
    timestamp_to_datetime,
)
from featurelake.lakehouse.online.layout import OnlineView


class FeatureStatus(StrEnum):
    """Status of one returned value (names as Feast's ``FieldStatus``)."""

    PRESENT = "PRESENT"
    NULL_VALUE = "NULL_VALUE"
    NOT_FOUND = "NOT_FOUND"
    OUTSIDE_MAX_AGE = "OUTSIDE_MAX_AGE"


class InvalidRequestError(DefinitionError):
    """An online request names unknown entity keys or passes values of the wrong type."""


@dataclass
class FeatureColumn:
    """The values of one requested feature, one per entity row."""

    view: str
    feature: str
    values: list[Any] = field(default_factory=list)
    statuses: list[FeatureStatus] = field(default_factory=list)
    event_timestamps: list[datetime | None] = field(default_factory=list)

    @property
    def ref(self) -> str:
        return f"{self.view}:{self.feature}"


@dataclass(frozen=True)
class ViewRequest:
    """Features to read from one view."""

    view: OnlineView
    features: tuple[str, ...]


def entity_key_values(view: OnlineView, row: Mapping[str, Any], index: int) -> list[Any]:
    """The join key values of ``view`` in ``row``.

    Raises:
        InvalidRequestError: a join key is missing from the row.
    """
    try:
        return [row[k] for k in view.join_key_names]
    except KeyError as err:
        raise InvalidRequestError(
            f"entity row {index} has no value for join key {err.args[0]!r} needed by view {view.name!r} "
            f"(row keys: {sorted(row)}); add it to every entity row"
        ) from None


class OnlineReader:
    """Reads feature values for entity rows.

    Args:
        client: the cluster client.
        project: the Feast project name.
    """

    def __init__(self, client: ClusterClient, *, project: str):
        self.client = client
        self.project = project.encode("utf8")

    def read(
        self,
        requests: Sequence[ViewRequest],
        entity_rows: Sequence[Mapping[str, Any]],
        *,
        now: datetime | None = None,
    ) -> list[FeatureColumn]:
        """Read the requested features for every entity row in one round trip per node.

        Args:
            requests: the views and features to read.
            entity_rows: one mapping of join key -> value per row.
            now: the time TTLs are measured from (default: the current UTC time).

        Returns:
            One column per requested feature, in request order.

        Raises:
            InvalidRequestError: a join key is missing or has a value of the wrong type (all
                problems are listed).
            ServiceUnavailableError: the cluster did not answer within the retry policy.
        """
        now = now or datetime.now(UTC)
        problems: list[str] = []
        commands: list[Command] = []
        plan: list[tuple[ViewRequest, list[int]]] = []  # per request: command index per row
        for req in requests:
            fields = [req.view.field(f) for f in req.features] + [req.view.ts_field]
            index_of_key: dict[bytes, int] = {}
            row_cmd: list[int] = []
            for i, row in enumerate(entity_rows):
                try:
                    key = (
                        serialize_entity_key(req.view.join_keys, entity_key_values(req.view, row, i))
                        + self.project
                    )
                except InvalidRequestError as err:
                    problems.extend(err.problems)
                    row_cmd.append(-1)
                    continue
                except TypeError as err:
                    problems.append(f"entity row {i}: {err}; pass values of the join key's type")
                    row_cmd.append(-1)
                    continue
                idx = index_of_key.get(key)
                if idx is None:
                    idx = index_of_key[key] = len(commands)
                    commands.append(Command(key=key, args=("HMGET", key, *fields)))
                row_cmd.append(idx)
            plan.append((req, row_cmd))
        if problems:
            raise InvalidRequestError(list(dict.fromkeys(problems)))
        replies = self.client.execute(commands) if commands else []
        out: list[FeatureColumn] = []
        for req, row_cmd in plan:
            cols = [FeatureColumn(req.view.name, f) for f in req.features]
            ttl = req.view.ttl
            for idx in row_cmd:
                reply = replies[idx]
                if isinstance(reply, Exception):
                    raise reply
                ts = decode_timestamp(reply[-1])
                when = timestamp_to_datetime(*ts) if ts else None
                stale = when is not None and ttl is not None and ttl.total_seconds() > 0 and when < now - ttl
                for col, raw in zip(cols, reply[:-1], strict=True):
                    col.event_timestamps.append(when)
                    if when is None or raw is None:
                        col.values.append(None)
                        col.statuses.append(FeatureStatus.NOT_FOUND)
                    elif stale:
                        col.values.append(None)
                        col.statuses.append(FeatureStatus.OUTSIDE_MAX_AGE)
                    else:
                        _, value = decode_value(raw)
                        col.values.append(value)
                        col.statuses.append(
                            FeatureStatus.PRESENT if value is not None else FeatureStatus.NULL_VALUE
                        )
            out.extend(cols)
        return out

"""What the online store needs to know about a feature view: names, join keys, kinds, TTL."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from featurelake.errors import DefinitionError
from featurelake.lakehouse.online.encoding import ENTITY_KEY_KINDS, VALUE_KINDS, feature_field, ts_field


@dataclass(frozen=True)
class OnlineView:
    """A feature view as stored online (Feast's layout).

    Attributes:
        name: the view name used in Redis field names (Feast's feature view name).
        join_keys: ``(column, kind)`` per join key; kinds from ``ENTITY_KEY_KINDS``.
        features: ``(column, kind)`` per feature; kinds from ``VALUE_KINDS``.
        ttl: values older than this (by event time) read as OUTSIDE_MAX_AGE; None = forever.
        entity_names: join key -> entity name, for error messages (optional).
    """

    name: str
    join_keys: tuple[tuple[str, str], ...]
    features: tuple[tuple[str, str], ...]
    ttl: timedelta | None = None
    entity_names: dict[str, str] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        problems = []
        if not self.join_keys:
            problems.append(f"online view {self.name!r} has no join keys; give it at least one entity")
        for col, kind in self.join_keys:
            if kind not in ENTITY_KEY_KINDS:
                problems.append(
                    f"join key {col!r} of view {self.name!r} has kind {kind!r}; entity keys must be one of {sorted(ENTITY_KEY_KINDS)}"
                )
        for col, kind in self.features:
            if kind not in VALUE_KINDS:
                problems.append(
                    f"feature {col!r} of view {self.name!r} has kind {kind!r}; use one of {list(VALUE_KINDS)}"
                )
        if problems:
            raise DefinitionError(problems)

    @property
    def feature_names(self) -> list[str]:
        return [f for f, _ in self.features]

    @property
    def join_key_names(self) -> list[str]:
        return [k for k, _ in self.join_keys]

    def kind_of(self, feature: str) -> str:
        """The kind of ``feature``.

        Raises:
            DefinitionError: the view has no such feature.
        """
        for name, kind in self.features:
            if name == feature:
                return kind
        raise DefinitionError(
            f"view {self.name!r} has no feature {feature!r}; its features are {self.feature_names}"
        )

    def field(self, feature: str) -> bytes:
        """The Redis hash field of ``feature``."""
        return feature_field(self.name, feature)

    @property
    def ts_field(self) -> bytes:
        return ts_field(self.name)

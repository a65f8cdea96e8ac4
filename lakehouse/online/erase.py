"""Deleting entities from the Redis cluster online store (right to erasure).

In Feast's layout every view of an entity shares one hash per project, keyed by the serialized
entity key plus the project name (:func:`featurelake.lakehouse.online.encoding.redis_key`). An
entity is erased by deleting that hash: the cluster client sends each ``DEL`` to the master
that owns the key's slot (every master of the cluster takes part when the keys spread over
it) and, with ``replica_acks``, waits until a replica confirmed it, so a failover right after
the delete cannot bring the key back.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from featurelake.lakehouse.online.cluster import ClusterClient, Command
from featurelake.lakehouse.online.encoding import redis_key

from featurelake.errors import DefinitionError

#: Keys per pipelined round.
BATCH = 500


@dataclass(frozen=True)
class OnlineErasure:
    """What an online erasure found and deleted, per project."""

    project: str
    keys: int  # keys asked for
    present: int  # keys that existed (EXISTS before the delete, or DEL's count)
    deleted: int
    masters: list[str]  # the masters that held at least one of the keys


def entity_keys(
    project: str, join_keys: Sequence[tuple[str, str]], values: Sequence[Sequence[Any]]
) -> list[bytes]:
    """The Redis keys of entities in a project.

    Args:
        project: the Feast project.
        join_keys: ``(name, kind)`` per join key (kind as :mod:`encoding` names it, e.g. ``int64``).
        values: one tuple of values per entity, in the order of ``join_keys``.

    Raises:
        DefinitionError: a value does not match its join key's kind.
    """
    out = []
    for row in values:
        try:
            out.append(redis_key(project, join_keys, row))
        except TypeError as err:
            raise DefinitionError(str(err)) from None
    return out


def count_keys(client: ClusterClient, keys: Sequence[bytes]) -> tuple[int, list[str]]:
    """How many of ``keys`` exist, and on which masters (a dry run)."""
    present = 0
    masters: set[str] = set()
    for start in range(0, len(keys), BATCH):
        chunk = keys[start : start + BATCH]
        replies = client.execute([Command(k, ("EXISTS", k)) for k in chunk])
        for key, reply in zip(chunk, replies, strict=True):
            _raise_error(reply)
            if int(reply):
                present += 1
                masters.add(client.node_for(key))
    return present, sorted(masters)


def delete_entities(
    client: ClusterClient, project: str, keys: Sequence[bytes], *, replica_acks: int = 1
) -> OnlineErasure:
    """Delete the hashes of ``keys`` on the masters that own them; idempotent.

    Args:
        client: the cluster client.
        project: the project the keys belong to (for the report).
        keys: from :func:`entity_keys`.
        replica_acks: wait for this many replicas of each master to confirm (0: do not wait).

    Raises:
        ServiceUnavailableError: the cluster did not take the deletes within the retry policy.
    """
    deleted = 0
    masters: set[str] = set()
    for start in range(0, len(keys), BATCH):
        chunk = keys[start : start + BATCH]
        replies = client.execute([Command(k, ("DEL", k)) for k in chunk], replica_acks=replica_acks)
        for key, reply in zip(chunk, replies, strict=True):
            _raise_error(reply)
            if int(reply):
                deleted += 1
                masters.add(client.node_for(key))
    return OnlineErasure(
        project=project, keys=len(keys), present=deleted, deleted=deleted, masters=sorted(masters)
    )


def _raise_error(reply: Any) -> None:
    if isinstance(reply, Exception):
        raise reply

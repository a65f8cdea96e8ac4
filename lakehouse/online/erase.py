"""Deleting entities from the Redis cluster online store (right to erasure).

In Feast's layout every view of an entity shares one hash per project, keyed by the serialized
entity key plus the project name (:func:`featurelake.lakehouse.online.encoding.redis_key`). An
entity is erased by deleting that hash: the cluster client sends each ``DEL`` to the master
that owns the key's slot (every master of the cluster takes part when the keys spread over
it) and, with ``replica_acks``, waits until a replica confirmed it, so a failover right after
the delete cannot bring the key back.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from featurelake.errors import DefinitionError
from featurelake.lakehouse.online.cluster import ClusterClient, Command
from featurelake.lakehouse.online.encoding import redis_key

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


_VALUE_TYPES = {1: "bytes", 2: "string", 3: "int32", 4: "int64", 8: "unix_timestamp"}


def parse_entity_key(raw: bytes) -> dict[str, Any] | None:
    """The join keys and values of a serialized entity key (Feast v3), or None if it is not one.

    The inverse of :func:`featurelake.lakehouse.online.encoding.serialize_entity_key`; trailing
    bytes (the project name of a Redis key) are ignored.
    """
    try:
        (count,) = struct.unpack_from("<I", raw, 0)
        if not 0 < count < 64:
            return None
        pos = 4
        names = []
        for _ in range(count):
            _vtype, length = struct.unpack_from("<II", raw, pos)
            pos += 8
            names.append(raw[pos : pos + length].decode("utf8"))
            pos += length
        values: list[Any] = []
        for _ in range(count):
            vtype, length = struct.unpack_from("<II", raw, pos)
            pos += 8
            chunk = raw[pos : pos + length]
            pos += length
            kind = _VALUE_TYPES.get(vtype)
            if kind == "string":
                values.append(chunk.decode("utf8"))
            elif kind == "bytes":
                values.append(bytes(chunk))
            elif kind == "int32":
                values.append(struct.unpack("<i", chunk)[0])
            elif kind in ("int64", "unix_timestamp"):
                values.append(struct.unpack("<q", chunk)[0])
            else:
                return None
    except (struct.error, UnicodeDecodeError):
        return None
    if pos != len(raw):  # another project's key that merely ends like this one, or not a key
        return None
    return dict(zip(names, values, strict=True))


def _glob_escape(text: bytes) -> bytes:
    return b"".join(b"\\" + bytes([c]) if c in b"*?[]\\" else bytes([c]) for c in text)


def find_compound_keys(
    client: ClusterClient, project: str, join_key: str, values: Sequence[Any]
) -> list[bytes]:
    """Keys of ``project`` whose entity key has ``join_key`` among several join keys and one of ``values``.

    Views keyed on several entities (user x merchant) store one hash per combination, which
    cannot be derived from the erased id alone: every master is scanned (``SCAN MATCH
    *<project>``) and each key's entity part decoded.
    """
    wanted = set(values)
    suffix = project.encode("utf8")
    found = []
    for node in client.masters():
        for key in client.scan_node(node, match=b"*" + _glob_escape(suffix)):
            if not key.endswith(suffix):
                continue
            parsed = parse_entity_key(key[: -len(suffix)])
            if parsed and len(parsed) > 1 and parsed.get(join_key) in wanted:
                found.append(key)
    return sorted(set(found))

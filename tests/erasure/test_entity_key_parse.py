"""Decoding Feast's serialized entity keys (to find user x merchant hashes of an erased user)."""

from __future__ import annotations

import pytest

from featurelake.lakehouse.online.encoding import redis_key, serialize_entity_key
from featurelake.lakehouse.online.erase import parse_entity_key


@pytest.mark.parametrize(
    ("join_keys", "values"),
    [
        ([("user_id", "int64")], [42]),
        ([("user_id", "int64"), ("merchant_id", "string")], [-7, "m'ü"]),
        ([("a", "int32"), ("b", "bytes")], [2**31 - 1, b"\x00\xff"]),
    ],
)
def test_parse_is_the_inverse_of_feast_serialization(join_keys, values) -> None:  # type: ignore[no-untyped-def]
    raw = serialize_entity_key(join_keys, values)
    assert parse_entity_key(raw) == {name: v for (name, _), v in zip(join_keys, values, strict=True)}


def test_a_key_of_another_project_or_garbage_is_not_parsed() -> None:
    key = redis_key("xproj", [("user_id", "int64")], [42])
    # Stripping "proj" from a key of project "xproj" leaves a trailing "x": not an entity key.
    assert parse_entity_key(key[: -len(b"proj")]) is None
    assert parse_entity_key(key[: -len(b"xproj")]) == {"user_id": 42}
    assert parse_entity_key(b"") is None and parse_entity_key(b"\xff\xff\xff\xff") is None

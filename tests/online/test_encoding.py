"""Byte-level checks of our hand-written Feast encoding against Feast's own code (no Redis)."""

from __future__ import annotations

import random
import string
from datetime import UTC, datetime

import pytest
from feast.infra.key_encoding_utils import serialize_entity_key as feast_serialize_entity_key
from feast.infra.online_stores.helpers import _mmh3, _redis_key
from feast.protos.feast.types.EntityKey_pb2 import EntityKey
from feast.protos.feast.types.Value_pb2 import (
    BoolList,
    BytesList,
    DoubleList,
    FloatList,
    Int32List,
    Int64List,
    StringList,
    Value,
)
from google.protobuf.timestamp_pb2 import Timestamp

from featurelake.lakehouse.online import encoding as enc

_rng = random.Random(7)


def _feast_value(kind: str, v):
    if v is None:
        return Value()
    lists = {
        "string_list": ("string_list_val", StringList),
        "bytes_list": ("bytes_list_val", BytesList),
        "int32_list": ("int32_list_val", Int32List),
        "int64_list": ("int64_list_val", Int64List),
        "double_list": ("double_list_val", DoubleList),
        "float_list": ("float_list_val", FloatList),
        "bool_list": ("bool_list_val", BoolList),
        "unix_timestamp_list": ("unix_timestamp_list_val", Int64List),
    }
    if kind in lists:
        name, cls = lists[kind]
        return Value(**{name: cls(val=v)})
    return Value(**{f"{kind}_val": v})


SAMPLES = {
    "string": ["", "abc", "ünïcode ✓", "x" * 300],
    "bytes": [b"", b"\x00\xff", bytes(range(200))],
    "int32": [0, 1, -1, 2**31 - 1, -(2**31)],
    "int64": [0, 1, -1, 2**63 - 1, -(2**63), 1_700_000_000_000],
    "double": [0.0, -0.0, 1.5, -3.25e300, float("inf")],
    "float": [0.0, 1.5, -2.25],
    "bool": [True, False],
    "unix_timestamp": [0, 1_700_000_000, -5],
    "string_list": [[], ["a", "bc", ""], ["ü"] * 5],
    "bytes_list": [[], [b"a", b""]],
    "int32_list": [[], [1, -1, 2**31 - 1]],
    "int64_list": [[], [0, -(2**63), 2**40]],
    "double_list": [[], [1.5, -2.0, 0.0]],
    "float_list": [[], [1.5, -2.0]],
    "bool_list": [[], [True, False, True]],
    "unix_timestamp_list": [[], [1_700_000_000, 0]],
}


@pytest.mark.parametrize("kind", enc.VALUE_KINDS)
def test_value_bytes_equal_feast_protobuf(kind: str) -> None:
    for v in [*SAMPLES[kind], None]:
        ours = enc.encode_value(kind, v)
        theirs = _feast_value(kind, v).SerializeToString()
        assert ours == theirs, (kind, v)
        decoded_kind, decoded = enc.decode_value(ours)
        if v is None:
            assert decoded is None
        else:
            assert decoded_kind == kind
            assert decoded == v


def test_nan_is_stored_as_null_like_feast() -> None:
    assert enc.encode_value("double", float("nan")) == b""


def test_timestamp_bytes_equal_protobuf() -> None:
    for when in [
        datetime(2024, 5, 1, 12, 30, 15, 123456, tzinfo=UTC),
        datetime(1970, 1, 1, tzinfo=UTC),
        datetime(2030, 1, 1, 0, 0, 0, 1, tzinfo=UTC),
        datetime(1969, 12, 31, 23, 59, 59, tzinfo=UTC),
    ]:
        ts = Timestamp()
        ts.FromDatetime(when)
        ours = enc.encode_timestamp_micros(enc.to_epoch_micros(when))
        assert ours == ts.SerializeToString()
        assert enc.decode_timestamp(ours) == (ts.seconds, ts.nanos)
        assert enc.timestamp_to_datetime(*enc.decode_timestamp(ours)) == when


def test_field_names_equal_feast_mmh3() -> None:
    for _ in range(50):
        name = "".join(_rng.choices(string.ascii_letters + "_:ü", k=_rng.randint(1, 30)))
        assert enc.feature_field("view", name) == _mmh3(f"view:{name}")


def test_entity_keys_equal_feast_serialization() -> None:
    cases = [
        ([("driver_id", "int64")], [1001]),
        ([("user", "string")], ["ünï"]),
        ([("zeta", "int32"), ("alpha", "string")], [-4, "a"]),  # Feast sorts by name
        ([("b", "bytes"), ("a", "int64"), ("c", "unix_timestamp")], [b"\x00\x01", 2**62, 1_700_000_000]),
    ]
    for join_keys, values in cases:
        proto = EntityKey(
            join_keys=[k for k, _ in join_keys],
            entity_values=[_feast_value(kind, v) for (_, kind), v in zip(join_keys, values, strict=True)],
        )
        assert enc.serialize_entity_key(join_keys, values) == feast_serialize_entity_key(proto, 3)
        assert enc.redis_key("proj_1", join_keys, values) == _redis_key("proj_1", proto, 3)


def test_wrong_entity_key_type_names_key_and_value() -> None:
    with pytest.raises(TypeError, match=r"'driver_id'.*'1001'"):
        enc.serialize_entity_key([("driver_id", "int64")], ["1001"])
    with pytest.raises(TypeError, match="int32"):
        enc.serialize_entity_key([("k", "int32")], [2**40])

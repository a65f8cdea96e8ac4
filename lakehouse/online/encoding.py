"""Feast's Redis online-store byte format, encoded by hand (no Feast import on executors).

Layout (Feast ``infra/online_stores/redis.py`` and ``docs/specs/online_store_format.md``):

* key: entity key serialization v3 (``key_encoding_utils.serialize_entity_key``) + project name;
* one Redis hash per entity key, shared by every view with the same join keys;
* field: the 4-byte little-endian murmur3_32 of ``"<view>:<feature>"``;
* ``_ts:<view>``: a serialized ``google.protobuf.Timestamp`` of the row's event time;
* value: a serialized ``feast.types.Value`` protobuf (an empty message for null).

Importing Feast costs ~4 s per Python worker, so this module writes and reads the protobuf
wire format directly. ``tests/online/test_encoding.py`` checks every kind byte for byte
against Feast's own protobuf classes and ``serialize_entity_key``.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from typing import Any, Literal, get_args

import mmh3

ValueKind = Literal[
    "bytes",
    "string",
    "int32",
    "int64",
    "double",
    "float",
    "bool",
    "unix_timestamp",
    "bytes_list",
    "string_list",
    "int32_list",
    "int64_list",
    "double_list",
    "float_list",
    "bool_list",
    "unix_timestamp_list",
]
"""The Feast ``Value`` kinds featurelake reads and writes (Feast's ``ValueType`` names, lower case)."""

VALUE_KINDS: tuple[str, ...] = get_args(ValueKind)
ENTITY_KEY_KINDS: frozenset[str] = frozenset({"string", "bytes", "int32", "int64", "unix_timestamp"})

# Feast ValueType enum numbers (feast/protos/feast/types/Value.proto); also the Value field numbers.
_FIELD_NUMBER: dict[str, int] = {
    "bytes": 1,
    "string": 2,
    "int32": 3,
    "int64": 4,
    "double": 5,
    "float": 6,
    "bool": 7,
    "unix_timestamp": 8,
    "bytes_list": 11,
    "string_list": 12,
    "int32_list": 13,
    "int64_list": 14,
    "double_list": 15,
    "float_list": 16,
    "bool_list": 17,
    "unix_timestamp_list": 18,
}
_KIND_OF_FIELD: dict[int, str] = {n: k for k, n in _FIELD_NUMBER.items()}
_VT_STRING = 2
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


# --------------------------------------------------------------------------- varints
def _varint(value: int) -> bytes:
    if value < 0:
        value += 1 << 64  # protobuf int32/int64: two's complement, 10 bytes
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _read_varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result, pos
        shift += 7


def _signed64(value: int) -> int:
    return value - (1 << 64) if value >= 1 << 63 else value


def _signed32(value: int) -> int:
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value >= 1 << 31 else value


# --------------------------------------------------------------------------- timestamps
def to_epoch_micros(value: datetime | date | int) -> int:
    """Microseconds since the Unix epoch; naive datetimes are taken as UTC."""
    if isinstance(value, int):
        return value
    if not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    delta = value - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def encode_timestamp_micros(micros: int) -> bytes:
    """Serialize a ``google.protobuf.Timestamp`` (as Feast stores in ``_ts:<view>``)."""
    seconds, rem = divmod(micros, 1_000_000)
    nanos = rem * 1000
    out = b""
    if seconds:
        out += b"\x08" + _varint(seconds)
    if nanos:
        out += b"\x10" + _varint(nanos)
    return out


def decode_timestamp(buf: bytes | None) -> tuple[int, int] | None:
    """Parse a serialized ``google.protobuf.Timestamp`` into ``(seconds, nanos)``; None if absent."""
    if buf is None:
        return None
    seconds = nanos = 0
    pos = 0
    while pos < len(buf):
        tag, pos = _read_varint(buf, pos)
        value, pos = _read_varint(buf, pos)
        if tag == 0x08:
            seconds = _signed64(value)
        elif tag == 0x10:
            nanos = _signed32(value)
    return seconds, nanos


def timestamp_to_datetime(seconds: int, nanos: int) -> datetime:
    """A UTC datetime from protobuf Timestamp parts (microsecond precision)."""
    from datetime import timedelta

    return _EPOCH + timedelta(seconds=seconds, microseconds=nanos // 1000)


# --------------------------------------------------------------------------- field names
def feature_field(view: str, feature: str) -> bytes:
    """The hash field of a feature: 4-byte little-endian murmur3_32 of ``view:feature``."""
    return struct.pack("<I", mmh3.hash(f"{view}:{feature}", signed=False))


def ts_field(view: str) -> bytes:
    """The hash field holding a view's event timestamp."""
    return f"_ts:{view}".encode()


# --------------------------------------------------------------------------- entity keys
def _entity_value_bytes(kind: str, value: Any, name: str) -> tuple[int, bytes]:
    if kind == "string":
        if not isinstance(value, str):
            raise TypeError(f"entity key {name!r} must be a string, got {value!r} ({type(value).__name__})")
        return 2, value.encode("utf8")
    if kind == "bytes":
        if not isinstance(value, bytes | bytearray):
            raise TypeError(f"entity key {name!r} must be bytes, got {value!r} ({type(value).__name__})")
        return 1, bytes(value)
    if kind == "unix_timestamp" and isinstance(value, datetime | date):
        value = to_epoch_micros(value) // 1_000_000
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(
            f"entity key {name!r} must be an integer ({kind}), got {value!r} ({type(value).__name__})"
        )
    if kind == "int32":
        if not -(1 << 31) <= value < 1 << 31:
            raise TypeError(f"entity key {name!r} value {value} does not fit int32")
        return 3, struct.pack("<i", value)
    if kind in ("int64", "unix_timestamp"):
        if not -(1 << 63) <= value < 1 << 63:
            raise TypeError(
                f"entity key {name!r} value {value} does not fit int64 (from {-(1 << 63)} to {(1 << 63) - 1}); "
                "no entity can have it"
            )
        return (4 if kind == "int64" else 8), struct.pack("<q", value)
    raise TypeError(
        f"entity key {name!r} has kind {kind!r}; Feast entity keys are {sorted(ENTITY_KEY_KINDS)}"
    )


def serialize_entity_key(join_keys: Sequence[tuple[str, str]], values: Sequence[Any]) -> bytes:
    """Feast's entity key serialization v3 (``key_encoding_utils.serialize_entity_key``).

    Args:
        join_keys: ``(name, kind)`` per join key, in any order (Feast sorts by name).
        values: the values, in the order of ``join_keys``.

    Returns:
        The serialized key (without the project suffix).

    Raises:
        TypeError: a value does not match its join key's kind.
    """
    pairs = sorted(zip(join_keys, values, strict=True), key=lambda p: p[0][0])
    out = [struct.pack("<I", len(pairs))]
    for (name, _), _v in pairs:
        encoded = name.encode("utf8")
        out.append(struct.pack("<II", _VT_STRING, len(encoded)))
        out.append(encoded)
    for (name, kind), value in pairs:
        vtype, raw = _entity_value_bytes(kind, value, name)
        out.append(struct.pack("<II", vtype, len(raw)))
        out.append(raw)
    return b"".join(out)


def redis_key(project: str, join_keys: Sequence[tuple[str, str]], values: Sequence[Any]) -> bytes:
    """The Redis key of an entity: serialized entity key + project name."""
    return serialize_entity_key(join_keys, values) + project.encode("utf8")


# --------------------------------------------------------------------------- values
def _len_delimited(field: int, payload: bytes) -> bytes:
    return _varint((field << 3) | 2) + _varint(len(payload)) + payload


def _encode_scalar(kind: str, value: Any) -> bytes:
    n = _FIELD_NUMBER[kind]
    if kind == "string":
        return _len_delimited(n, str(value).encode("utf8"))
    if kind == "bytes":
        return _len_delimited(n, bytes(value))
    if kind == "double":
        return bytes([(n << 3) | 1]) + struct.pack("<d", value)
    if kind == "float":
        return bytes([(n << 3) | 5]) + struct.pack("<f", value)
    if kind == "bool":
        return bytes([n << 3, 1 if value else 0])
    if kind == "unix_timestamp" and isinstance(value, datetime | date):
        value = to_epoch_micros(value) // 1_000_000
    return bytes([n << 3]) + _varint(int(value))


def _encode_list(kind: str, values: Sequence[Any]) -> bytes:
    base = kind[: -len("_list")]
    if base in ("string", "bytes"):
        inner = b"".join(
            _len_delimited(1, v.encode("utf8") if base == "string" else bytes(v)) for v in values
        )
    elif base == "double":
        inner = _len_delimited(1, struct.pack(f"<{len(values)}d", *values)) if values else b""
    elif base == "float":
        inner = _len_delimited(1, struct.pack(f"<{len(values)}f", *values)) if values else b""
    else:
        if base == "unix_timestamp":
            values = [
                to_epoch_micros(v) // 1_000_000 if isinstance(v, datetime | date) else v for v in values
            ]
        packed = b"".join(_varint(int(v)) for v in values)
        inner = _len_delimited(1, packed) if values else b""
    return _len_delimited(_FIELD_NUMBER[kind], inner)


def _is_null(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def value_encoder(kind: str) -> Callable[[Any], bytes]:
    """A function that serializes one Python value of ``kind`` as a Feast ``Value`` (null -> b"")."""
    if kind not in _FIELD_NUMBER:
        raise ValueError(f"value kind {kind!r} is not supported; use one of {list(VALUE_KINDS)}")
    if kind.endswith("_list"):
        return lambda v: b"" if v is None else _encode_list(kind, list(v))
    if kind in ("double", "float"):
        # Feast stores NaN as an empty Value (pd.isnull).
        return lambda v: b"" if _is_null(v) else _encode_scalar(kind, v)
    return lambda v: b"" if v is None else _encode_scalar(kind, v)


def encode_value(kind: str, value: Any) -> bytes:
    """Serialize one value as a Feast ``Value`` protobuf."""
    return value_encoder(kind)(value)


def _decode_list(base: str, payload: bytes) -> list[Any]:
    out: list[Any] = []
    pos = 0
    while pos < len(payload):
        tag, pos = _read_varint(payload, pos)
        wire = tag & 7
        if wire == 2:
            length, pos = _read_varint(payload, pos)
            chunk = payload[pos : pos + length]
            pos += length
            if base == "string":
                out.append(chunk.decode("utf8"))
            elif base == "bytes":
                out.append(bytes(chunk))
            elif base == "double":
                out.extend(struct.unpack(f"<{len(chunk) // 8}d", chunk))
            elif base == "float":
                out.extend(struct.unpack(f"<{len(chunk) // 4}f", chunk))
            else:
                p = 0
                while p < len(chunk):
                    v, p = _read_varint(chunk, p)
                    out.append(_convert_int(base, v))
        elif wire == 0:  # unpacked repeated varint
            v, pos = _read_varint(payload, pos)
            out.append(_convert_int(base, v))
        elif wire == 1:
            out.append(struct.unpack_from("<d", payload, pos)[0])
            pos += 8
        elif wire == 5:
            out.append(struct.unpack_from("<f", payload, pos)[0])
            pos += 4
    return out


def _convert_int(base: str, raw: int) -> Any:
    if base == "bool":
        return bool(raw)
    if base == "int32":
        return _signed32(raw)
    return _signed64(raw)


def decode_value(buf: bytes | None) -> tuple[str | None, Any]:
    """Parse a serialized Feast ``Value`` into ``(kind, python value)``.

    Returns ``(None, None)`` for a missing field, an empty message (null) or a kind featurelake
    does not model (maps, sets, JSON...).
    """
    if not buf:
        return None, None
    tag, pos = _read_varint(buf, 0)
    field, wire = tag >> 3, tag & 7
    kind = _KIND_OF_FIELD.get(field)
    if kind is None:
        return None, None
    if wire == 2:
        length, pos = _read_varint(buf, pos)
        payload = buf[pos : pos + length]
        if kind == "string":
            return kind, payload.decode("utf8")
        if kind == "bytes":
            return kind, bytes(payload)
        return kind, _decode_list(kind[: -len("_list")], payload)
    if wire == 1:
        return kind, struct.unpack_from("<d", buf, pos)[0]
    if wire == 5:
        return kind, struct.unpack_from("<f", buf, pos)[0]
    raw, _ = _read_varint(buf, pos)
    return kind, _convert_int(kind, raw)


# --------------------------------------------------------------------------- column encoders (fast path)
def _varint_matrix(values: Any) -> tuple[Any, Any]:
    """Varint bytes of uint64 values as an (n, 10) uint8 matrix and the byte length of each."""
    import numpy as np

    v = values.astype(np.uint64)
    groups = np.empty((len(v), 10), dtype=np.uint8)
    lengths = np.ones(len(v), dtype=np.int64)
    rest = v.copy()
    for g in range(10):
        groups[:, g] = (rest & np.uint64(0x7F)).astype(np.uint8)
        rest = rest >> np.uint64(7)
        more = rest > 0
        lengths += more
        groups[:, g] |= np.where(more, 0x80, 0).astype(np.uint8)
    return groups, lengths


def _split(buf: bytes, lengths: Any) -> list[bytes]:
    import numpy as np

    ends = np.cumsum(lengths).tolist()
    starts = [0, *ends[:-1]]
    return [buf[s:e] for s, e in zip(starts, ends, strict=True)]


def _tagged_varints(tag: int, values: Any) -> list[bytes]:
    """``tag`` + varint for each int64 value (two's complement for negatives), vectorized."""
    import numpy as np

    if len(values) == 0:
        return []
    groups, lengths = _varint_matrix(values)
    width = 11
    mat = np.zeros((len(values), width), dtype=np.uint8)
    mat[:, 0] = tag
    mat[:, 1:] = groups
    keep = np.arange(width)[None, :] < (lengths + 1)[:, None]
    return _split(mat[keep].tobytes(), lengths + 1)


def _fixed(tag: int, values: Any, dtype: str) -> list[bytes]:
    import numpy as np

    rec = np.empty(len(values), dtype=[("t", "u1"), ("v", dtype)])
    rec["t"] = tag
    rec["v"] = values
    buf = rec.tobytes()
    size = rec.dtype.itemsize
    return [buf[i : i + size] for i in range(0, len(buf), size)]


def encode_column(kind: str, column: Any) -> list[bytes]:
    """Encode an Arrow array (or a list) of ``kind`` values as Feast ``Value`` bytes, null -> b"".

    Scalar numeric kinds are encoded with numpy; other kinds fall back to :func:`value_encoder`.
    The output equals ``[encode_value(kind, v) for v in column]`` byte for byte.
    """
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    if not isinstance(column, pa.Array | pa.ChunkedArray):
        enc = value_encoder(kind)
        return [enc(v) for v in column]
    n = len(column)
    nulls = column.is_null().to_numpy(zero_copy_only=False) if column.null_count else None
    if kind in ("double", "float"):
        arr = column.to_numpy(zero_copy_only=False).astype("<f8" if kind == "double" else "<f4")
        out = _fixed((_FIELD_NUMBER[kind] << 3) | (1 if kind == "double" else 5), arr, arr.dtype.str)
        isnan = np.isnan(arr)
        nulls = isnan if nulls is None else (nulls | isnan)
    elif kind in ("int64", "int32", "bool") or (
        kind == "unix_timestamp" and pa.types.is_integer(column.type)
    ):
        filled = pc.fill_null(column, False if kind == "bool" else 0)
        arr = filled.to_numpy(zero_copy_only=False).astype(np.int64)
        out = _tagged_varints(_FIELD_NUMBER[kind] << 3, arr)
    elif kind == "string":
        values = column.to_pylist()
        out = [b"" if s is None else _len_delimited(2, s.encode("utf8")) for s in values]
        return out
    else:
        enc = value_encoder(kind)
        return [enc(v) for v in column.to_pylist()]
    if nulls is not None and nulls.any():
        for i in np.flatnonzero(nulls).tolist():
            out[i] = b""
    assert len(out) == n  # noqa: S101 - internal invariant
    return out


def encode_timestamp_column(micros: Any) -> list[bytes]:
    """:func:`encode_timestamp_micros` for an int64 numpy array of epoch microseconds."""
    import numpy as np

    seconds, rem = np.divmod(micros.astype(np.int64), 1_000_000)
    nanos = rem * 1000
    secs = _tagged_varints(0x08, seconds)
    out = []
    nano_parts = _tagged_varints(0x10, nanos)
    for s, ns, sv, nv in zip(secs, nano_parts, seconds.tolist(), nanos.tolist(), strict=True):
        out.append((s if sv else b"") + (ns if nv else b""))
    return out


def entity_key_column(join_keys: Sequence[tuple[str, str]], columns: Sequence[list[Any]]) -> list[bytes]:
    """Serialized entity keys for rows given as one value list per join key (in ``join_keys`` order)."""
    if len(join_keys) == 1 and join_keys[0][1] == "int64":
        name = join_keys[0][0].encode("utf8")
        prefix = struct.pack("<III", 1, _VT_STRING, len(name)) + name + struct.pack("<II", 4, 8)
        pack = struct.Struct("<q").pack
        out = []
        for v in columns[0]:
            if isinstance(v, bool) or not isinstance(v, int):
                return [
                    serialize_entity_key(join_keys, [v]) for v in columns[0]
                ]  # raises the named TypeError
            out.append(prefix + pack(v))
        return out
    return [serialize_entity_key(join_keys, list(vals)) for vals in zip(*columns, strict=True)]

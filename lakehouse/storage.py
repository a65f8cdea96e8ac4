"""Where tables live: a storage root (local folder or ``s3://bucket/prefix``) and how to reach it.

One :class:`StorageRoot` is shared by the driver (delta-rs commits, snapshot listing) and by
Spark executors (parquet files written and read through pyarrow's filesystem for the root).
It is a small, picklable value: executors rebuild their filesystem from it.

delta-rs' object_store options and pyarrow's S3 options are derived from the same
``storage_options`` mapping, the keys delta-rs takes (``AWS_ENDPOINT_URL``,
``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_REGION``, ``AWS_ALLOW_HTTP``).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from featurelake.errors import ConfigError

if TYPE_CHECKING:
    import pyarrow.fs as pafs

# Safe concurrent commits on S3: delta-rs 1.x writes each commit file with a conditional PUT
# (If-None-Match: *), so two writers racing for version N cannot both win. Set explicitly so a
# library default change cannot silently undo it.
#
# An endpoint that is down must fail in seconds. object_store has ONE per-request timeout
# (`timeout`) covering the whole request, body included, and no separate read timeout, so
# there are two profiles: metadata (log reads, listing, commits: small objects) gets a short
# `timeout`, and data (delta-rs reading or rewriting data files: optimize, snapshot reads) keeps
# a long one. A silent endpoint then fails after one retry, at `retry_timeout`.
_S3_DEFAULTS: dict[str, str] = {
    "conditional_put": "etag",
    "connect_timeout": "3s",
    "timeout": "5s",
    "max_retries": "2",
    "retry_timeout": "10s",
}
_DATA_TIMEOUT_S = 120.0
# pyarrow (executors' parquet files, driver listing) uses the AWS SDK: on Linux its
# request_timeout is a stall timeout (abort below 1 byte/s for that long), not a total, so the
# short metadata value also suits large transfers.
_PYARROW_ATTEMPTS = 3

_DURATION_RE = re.compile(
    r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|sec|secs|second|seconds|m|min|mins|minute|minutes)?\s*$"
)
_UNIT_S = {"ms": 0.001, "m": 60.0, "min": 60.0, "mins": 60.0, "minute": 60.0, "minutes": 60.0}


def _seconds(key: str, value: str) -> float:
    """Seconds in an object_store duration such as ``5s``, ``500ms`` or ``2min``.

    Raises:
        ConfigError: the value is not a positive duration in that form.
    """
    match = _DURATION_RE.match(str(value))
    seconds = float(match.group(1)) * _UNIT_S.get(match.group(2) or "s", 1.0) if match else 0.0
    if seconds <= 0:
        raise ConfigError(
            f"storage option {key}={value!r} is not a positive duration; use e.g. '5s', '500ms' or '2min'"
        )
    return seconds


def _duration(seconds: float) -> str:
    return f"{round(seconds * 1000)}ms"


def _opt(options: dict[str, str], *names: str) -> str | None:
    lowered = {k.lower(): v for k, v in options.items()}
    for name in names:
        if name.lower() in lowered:
            return lowered[name.lower()]
    return None


@dataclass(frozen=True)
class StorageRoot:
    """A storage root and its credentials.

    Attributes:
        root: a local folder (absolute) or ``s3://bucket/prefix`` (``s3a://`` is accepted).
        storage_options: delta-rs storage options (empty for local folders).
    """

    root: str
    storage_options: dict[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, root: str, storage_options: dict[str, str] | None = None) -> StorageRoot:
        """Validate and normalise a root.

        Raises:
            ConfigError: the root is empty or uses a scheme other than a local path or s3.
        """
        if not root or not root.strip():
            raise ConfigError("the lakehouse root is empty; give a local folder or s3://bucket/prefix")
        parsed = urlparse(root)
        if parsed.scheme in ("s3", "s3a"):
            if not parsed.netloc:
                raise ConfigError(f"lakehouse root {root!r} has no bucket; use s3://bucket/prefix")
            norm = f"s3://{parsed.netloc}/{parsed.path.strip('/')}".rstrip("/")
            return cls(norm, dict(storage_options or {}))
        if parsed.scheme in ("", "file"):
            path = parsed.path if parsed.scheme == "file" else root
            return cls(os.path.abspath(os.path.expanduser(path)), dict(storage_options or {}))
        raise ConfigError(
            f"lakehouse root {root!r} uses the unsupported scheme {parsed.scheme!r}; "
            "use a local folder or s3://bucket/prefix"
        )

    @property
    def is_s3(self) -> bool:
        return self.root.startswith("s3://")

    def table_uri(self, name: str) -> str:
        """The URI delta-rs uses for table ``name``."""
        return f"{self.root}/{name}"

    def table_path(self, name: str) -> str:
        """The table's path for pyarrow's filesystem (``bucket/prefix/name`` on S3)."""
        if self.is_s3:
            return self.table_uri(name)[len("s3://") :]
        return os.path.join(self.root, name)

    def delta_options(self, *, data: bool = False) -> dict[str, str]:
        """Options for delta-rs: the caller's, plus safe-concurrency and timeout defaults on S3.

        Args:
            data: options for reading or rewriting data files (optimize, snapshot reads): the
                per-request ``timeout`` is raised to at least 120 s, since object_store's timeout
                covers a whole transfer. The default (metadata) profile keeps it short so an
                endpoint that is down fails within seconds.

        Raises:
            ConfigError: a ``timeout`` or ``connect_timeout`` option is not a duration.
        """
        if not self.is_s3:
            return dict(self.storage_options)
        opts = dict(_S3_DEFAULTS)
        opts.update(self.storage_options)
        endpoint = _opt(opts, "AWS_ENDPOINT_URL", "endpoint_url", "aws_endpoint")
        if endpoint and endpoint.startswith("http://") and _opt(opts, "AWS_ALLOW_HTTP", "allow_http") is None:
            opts["AWS_ALLOW_HTTP"] = "true"
        request = _seconds("timeout", _opt(opts, "timeout") or "")
        _seconds("connect_timeout", _opt(opts, "connect_timeout") or "")
        if data:
            opts = {k: v for k, v in opts.items() if k.lower() != "timeout"}
            opts["timeout"] = _duration(max(request, _DATA_TIMEOUT_S))
        return opts

    def _timeouts(self) -> tuple[float, float]:
        """(connect, request) timeouts in seconds: the caller's options or the defaults."""
        merged = {**_S3_DEFAULTS, **self.storage_options}
        return (
            _seconds("connect_timeout", _opt(merged, "connect_timeout") or ""),
            _seconds("timeout", _opt(merged, "timeout") or ""),
        )

    def filesystem(self, *, max_attempts: int = _PYARROW_ATTEMPTS) -> pafs.FileSystem:
        """A pyarrow filesystem for this root (built in executors as well as the driver).

        Args:
            max_attempts: attempts per S3 request (fewer for quick driver-side listings).

        Raises:
            ConfigError: a ``timeout`` or ``connect_timeout`` option is not a duration.
        """
        import pyarrow.fs as pafs

        if not self.is_s3:
            return pafs.LocalFileSystem()
        opts = self.storage_options
        endpoint = _opt(opts, "AWS_ENDPOINT_URL", "endpoint_url", "aws_endpoint")
        connect, request = self._timeouts()
        kwargs: dict[str, Any] = {
            "region": _opt(opts, "AWS_REGION", "AWS_DEFAULT_REGION", "region") or "us-east-1",
            "connect_timeout": connect,
            "request_timeout": request,
            "retry_strategy": pafs.AwsStandardS3RetryStrategy(max_attempts=max_attempts),
        }
        access_key = _opt(opts, "AWS_ACCESS_KEY_ID", "access_key_id")
        secret_key = _opt(opts, "AWS_SECRET_ACCESS_KEY", "secret_access_key")
        if access_key and secret_key:
            kwargs["access_key"] = access_key
            kwargs["secret_key"] = secret_key
            token = _opt(opts, "AWS_SESSION_TOKEN", "session_token")
            if token:
                kwargs["session_token"] = token
        if endpoint:
            parsed = urlparse(endpoint)
            kwargs["endpoint_override"] = parsed.netloc or parsed.path
            kwargs["scheme"] = parsed.scheme or "https"
        return pafs.S3FileSystem(**kwargs)

    def describe(self) -> str:
        """The root and, for S3, its endpoint (never credentials) for error messages."""
        endpoint = _opt(self.storage_options, "AWS_ENDPOINT_URL", "endpoint_url", "aws_endpoint")
        return f"{self.root} (endpoint {endpoint})" if endpoint else self.root

    def reach_hint(self, err: BaseException) -> str:
        """How to fix a storage error: names the endpoint, the network cause if any, and the setting.

        Args:
            err: the error delta-rs or pyarrow raised.

        Returns:
            A clause to append after ``"; "`` in an error message.
        """
        cause = network_cause(err)
        if not self.is_s3:
            return "check that the folder exists and is readable and writable"
        endpoint = _opt(self.storage_options, "AWS_ENDPOINT_URL", "endpoint_url", "aws_endpoint") or "AWS S3"
        if cause is None:
            return f"check that the S3 endpoint {endpoint} is up, the bucket exists and the credentials are right"
        return (
            f"the S3 endpoint {endpoint} did not answer ({cause}): check storage.s3.endpoint_url "
            "($FEATURELAKE_S3_ENDPOINT_URL) and that the server is running (`featurelake services up` "
            "starts the local one)"
        )

    def network_hint(self, err: BaseException) -> str:
        """``"; " + reach_hint(err)`` when ``err`` has a network cause, else an empty string."""
        return f"; {self.reach_hint(err)}" if network_cause(err) else ""


_ANSI_RE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
# Root causes of "the endpoint did not answer", as reqwest/hyper (delta-rs) and curl (pyarrow's
# AWS SDK) word them; the first match wins, so specific causes come before generic ones.
_NETWORK_CAUSES = (
    re.compile(r"connection refused(?: \(os error \d+\))?", re.IGNORECASE),
    re.compile(r"couldn't connect to server", re.IGNORECASE),
    re.compile(r"connection reset by peer(?: \(os error \d+\))?", re.IGNORECASE),
    re.compile(r"dns error[^\n]*|could not resolve host[^\n;]*", re.IGNORECASE),
    re.compile(r"operation too slow[^\n;]*", re.IGNORECASE),
    re.compile(r"(?:operation )?timed out|timeout was reached", re.IGNORECASE),
)


def _segments(err: BaseException) -> list[str]:
    """The error's text as clean segments: no ANSI colours, one segment per line or ``↳`` cause."""
    text = _ANSI_RE.sub("", str(err))
    parts = re.split(r"[\r\n]+|\s*\u21b3\s*", text)
    return [" ".join(p.split()) for p in parts if p.strip()]


def network_cause(err: BaseException) -> str | None:
    """The network root cause in a storage error ("Connection refused", "timed out"), if any."""
    text = " ".join(_segments(err))
    for pattern in _NETWORK_CAUSES:
        match = pattern.search(text)
        if match:
            cause = match.group(0).strip().rstrip(".")
            slow = re.search(r"the last (\d+) seconds", cause)
            if slow:  # curl's stall timeout, as pyarrow's AWS SDK reports it
                return f"timed out: nothing received for {slow.group(1)} s"
            return "timed out" if cause.lower() in ("operation timed out", "timeout was reached") else cause
    return None


def short_error(err: BaseException, *, limit: int = 600) -> str:
    """One line for an error message: the error's first lines plus its root cause, no colours.

    delta-rs chains causes with ``↳`` on separate lines ("Generic S3 error ↳ error sending request
    ↳ Connection refused"): the last one is the root cause and is always kept.

    Args:
        err: any exception (delta-rs, pyarrow, Py4J).
        limit: maximum length; the head is cut, never the root cause.
    """
    segments = _segments(err)
    if not segments:
        return type(err).__name__
    if "\u21b3" in str(err):
        head, cause = " ".join(segments[:-1]) or segments[-1], segments[-1]
    else:
        head, cause = " ".join(segments[:3]), network_cause(err)
    tail = f" (cause: {cause})" if cause and cause.lower() not in head.lower() else ""
    room = max(limit - len(tail), 80)
    return (head if len(head) <= room else head[: room - 3] + "...") + tail


def is_not_found(err: BaseException) -> bool:
    """True if a delta-rs error means "there is no Delta table here"."""
    from deltalake.exceptions import TableNotFoundError

    return isinstance(err, TableNotFoundError) or "no files in log segment" in str(err).lower()

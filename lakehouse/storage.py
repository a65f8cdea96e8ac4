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
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from featurelake.errors import ConfigError

if TYPE_CHECKING:
    import pyarrow.fs as pafs

# Safe concurrent commits on S3: delta-rs 1.x writes each commit file with a conditional PUT
# (If-None-Match: *), so two writers racing for version N cannot both win. Set explicitly so a
# library default change cannot silently undo it. An endpoint that is down must fail in
# seconds, not after object_store's default 10 retries with backoff.
_S3_DEFAULTS: dict[str, str] = {
    "conditional_put": "etag",
    "connect_timeout": "3s",
    "timeout": "120s",
    "max_retries": "2",
    "retry_timeout": "10s",
}

_CONNECT_TIMEOUT_S = 3.0
_REQUEST_TIMEOUT_S = 120.0


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

    def delta_options(self) -> dict[str, str]:
        """Options for delta-rs: the caller's, plus safe-concurrency and timeout defaults on S3."""
        if not self.is_s3:
            return dict(self.storage_options)
        opts = dict(_S3_DEFAULTS)
        opts.update(self.storage_options)
        endpoint = _opt(opts, "AWS_ENDPOINT_URL", "endpoint_url", "aws_endpoint")
        if endpoint and endpoint.startswith("http://") and _opt(opts, "AWS_ALLOW_HTTP", "allow_http") is None:
            opts["AWS_ALLOW_HTTP"] = "true"
        return opts

    def filesystem(self) -> pafs.FileSystem:
        """A pyarrow filesystem for this root (built in executors as well as the driver)."""
        import pyarrow.fs as pafs

        if not self.is_s3:
            return pafs.LocalFileSystem()
        opts = self.storage_options
        endpoint = _opt(opts, "AWS_ENDPOINT_URL", "endpoint_url", "aws_endpoint")
        kwargs: dict[str, Any] = {
            "region": _opt(opts, "AWS_REGION", "AWS_DEFAULT_REGION", "region") or "us-east-1",
            "connect_timeout": _CONNECT_TIMEOUT_S,
            "request_timeout": _REQUEST_TIMEOUT_S,
            "retry_strategy": pafs.AwsStandardS3RetryStrategy(max_attempts=3),
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


def is_not_found(err: BaseException) -> bool:
    """True if a delta-rs error means "there is no Delta table here"."""
    from deltalake.exceptions import TableNotFoundError

    return isinstance(err, TableNotFoundError) or "no files in log segment" in str(err).lower()

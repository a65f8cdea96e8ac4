"""Where the local stack lives and which ports it uses.

Everything is bound to 127.0.0.1. Ports come from environment variables so a second,
throwaway stack (or a machine where a port is taken) can move them:

    FEATURELAKE_PG_PORT          PostgreSQL (default 55432)
    FEATURELAKE_REDIS_BASE_PORT  first of the 6 Redis cluster nodes (default 7101 -> 7101..7106)
    FEATURELAKE_S3_PORT          moto_server S3 (default 59000)
    FEATURELAKE_SPARK_PORT       Spark standalone master (default 57077)
    FEATURELAKE_SPARK_WEB_PORT   Spark master web UI (default 58080; the worker's is this + 1)

State, data, logs and pid files live under ``<settings.home>/stack/``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, get_args

from featurelake.errors import ConfigError

ServiceName = Literal["postgres", "redis", "s3", "spark"]
SERVICE_NAMES: tuple[ServiceName, ...] = get_args(ServiceName)

HOST = "127.0.0.1"
REDIS_NODE_COUNT = 6

# Credentials of the local stack only: nothing here protects real data.
PG_USER = "featurelake"
PG_PASSWORD = "featurelake"  # noqa: S105 - fixed local-stack credential, documented in infra/local/README.md
PG_DATABASE = "featurelake"
S3_BUCKET = "featurelake"
S3_ACCESS_KEY = "testing"
S3_SECRET_KEY = "testing"  # noqa: S105 - moto_server accepts any key; documented
S3_REGION = "us-east-1"

_PORT_ENV: dict[str, int] = {
    "FEATURELAKE_PG_PORT": 55432,
    "FEATURELAKE_REDIS_BASE_PORT": 7101,
    "FEATURELAKE_S3_PORT": 59000,
    "FEATURELAKE_SPARK_PORT": 57077,
    "FEATURELAKE_SPARK_WEB_PORT": 58080,
}


def _port(environ: Mapping[str, str], var: str) -> int:
    raw = environ.get(var)
    if raw is None or raw == "":
        return _PORT_ENV[var]
    if not raw.isdigit() or not 1024 <= int(raw) <= 65535 - REDIS_NODE_COUNT:
        raise ConfigError(f"{var}={raw!r} is not a port number between 1024 and 65529; set it to a free port")
    return int(raw)


@dataclass(frozen=True)
class StackConfig:
    """Paths and ports of one local stack instance."""

    root: Path
    pg_port: int
    redis_base_port: int
    s3_port: int
    spark_port: int
    spark_web_port: int

    @classmethod
    def from_home(cls, home: Path, *, environ: Mapping[str, str] | None = None) -> StackConfig:
        """Build the config for the stack under ``<home>/stack`` with ports from the environment.

        Args:
            home: featurelake's state folder (``Settings.home``).
            environ: environment to read port overrides from (default ``os.environ``).

        Returns:
            The stack configuration.

        Raises:
            ConfigError: a port variable is not a valid port.
        """
        env = os.environ if environ is None else environ
        return cls(
            root=(Path(home) / "stack").resolve(),
            pg_port=_port(env, "FEATURELAKE_PG_PORT"),
            redis_base_port=_port(env, "FEATURELAKE_REDIS_BASE_PORT"),
            s3_port=_port(env, "FEATURELAKE_S3_PORT"),
            spark_port=_port(env, "FEATURELAKE_SPARK_PORT"),
            spark_web_port=_port(env, "FEATURELAKE_SPARK_WEB_PORT"),
        )

    @property
    def state_file(self) -> Path:
        return self.root / "stack.json"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def pids(self) -> Path:
        return self.root / "pids"

    def service_dir(self, name: ServiceName) -> Path:
        return self.root / name

    @property
    def redis_ports(self) -> list[int]:
        return [self.redis_base_port + i for i in range(REDIS_NODE_COUNT)]

    @property
    def spark_worker_web_port(self) -> int:
        return self.spark_web_port + 1


def parse_services(value: str | None) -> tuple[ServiceName, ...]:
    """Parse ``--only postgres,redis`` into service names, in start order.

    Args:
        value: comma-separated names, or None/empty for every service.

    Returns:
        The selected services, in the stack's canonical order.

    Raises:
        ConfigError: an unknown service name (the message lists the valid ones).
    """
    if not value:
        return SERVICE_NAMES
    wanted = {v.strip() for v in value.split(",") if v.strip()}
    unknown = sorted(wanted - set(SERVICE_NAMES))
    if unknown:
        raise ConfigError(
            f"unknown service(s) {', '.join(map(repr, unknown))} in --only; choose from {', '.join(SERVICE_NAMES)}"
        )
    return tuple(s for s in SERVICE_NAMES if s in wanted)

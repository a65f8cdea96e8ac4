"""Start, stop and inspect the local stack's services in order, under one lock."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from types import ModuleType
from typing import Any

from featurelake.config.settings import Settings

from . import postgres, redis_cluster, s3, spark
from .config import SERVICE_NAMES, ServiceName, StackConfig
from .state import read_state, remove_entry, set_entry, stack_lock

_MODULES: dict[ServiceName, ModuleType] = {
    "postgres": postgres,
    "redis": redis_cluster,
    "s3": s3,
    "spark": spark,
}


def config_for(settings: Settings) -> StackConfig:
    """The stack configuration for ``settings.home`` and the port variables in the environment."""
    return StackConfig.from_home(Path(settings.home))


def _selected(services: Iterable[ServiceName] | None) -> list[ServiceName]:
    chosen = set(SERVICE_NAMES if services is None else services)
    return [s for s in SERVICE_NAMES if s in chosen]


def up(
    settings: Settings, *, services: Iterable[ServiceName] | None = None, echo: Callable[[str], None] = print
) -> dict[str, Any]:
    """Start the selected services (all by default), waiting until each one really answers.

    Idempotent: a service that already runs is reported and left alone. Each service's entry is
    written to ``<home>/stack/stack.json`` as soon as it is ready.

    Args:
        settings: featurelake settings (only ``home`` is used).
        services: which services to start, e.g. ``("postgres", "redis")``.
        echo: receives one line per step.

    Returns:
        The contents of ``stack.json`` after the start.

    Raises:
        ConfigError: a port is taken by another process (the message names the env var to move it).
        NotInstalledError: a binary is missing and could not be installed.
        ServiceUnavailableError: a service did not answer in time (the message names its log).
    """
    cfg = config_for(settings)
    with stack_lock(cfg):
        for subdir in (cfg.logs, cfg.pids):
            subdir.mkdir(parents=True, exist_ok=True)
        for name in _selected(services):
            entry = _MODULES[name].up(cfg, echo)
            set_entry(cfg, name, entry)
        echo(f"stack: state written to {cfg.state_file}")
        return read_state(cfg)


def down(
    settings: Settings,
    *,
    services: Iterable[ServiceName] | None = None,
    purge: bool = False,
    echo: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Stop the selected services (all by default) in reverse start order; fine if already down.

    Args:
        settings: featurelake settings (only ``home`` is used).
        services: which services to stop.
        purge: also delete their data folders (Postgres data, Redis cluster config, Spark work dir).
        echo: receives one line per step.

    Returns:
        The contents of ``stack.json`` after the stop (the remaining services).
    """
    cfg = config_for(settings)
    with stack_lock(cfg):
        for name in reversed(_selected(services)):
            _MODULES[name].down(cfg, echo, purge=purge)
            remove_entry(cfg, name)
        return read_state(cfg)


def status(settings: Settings, *, services: Iterable[ServiceName] | None = None) -> dict[str, Any]:
    """Health of the selected services; never raises for a service that is down.

    Returns:
        ``{"state_file": ..., "healthy": bool, "services": {name: {address, pid, running, healthy, detail, log, ...}}}``
    """
    cfg = config_for(settings)
    report = {name: _MODULES[name].status(cfg) for name in _selected(services)}
    return {
        "state_file": str(cfg.state_file),
        "healthy": all(s["healthy"] for s in report.values()),
        "services": report,
    }

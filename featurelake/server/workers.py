"""``featurelake serve --workers N``: the feature server as N uvicorn worker processes.

One Python process serves on one core at a time (the GIL). With ``--workers N`` uvicorn's
supervisor binds the port once and starts N worker processes that accept on it; each builds
its own app with :func:`app_from_environment` (the feature repo, the registry and the Redis
connections are per process) from the settings file and limits the CLI passes in the
environment. A worker that dies is replaced by the supervisor.

Each worker keeps its own ``/metrics`` counts, and a scrape reads the worker that answers it:
with ``--workers`` above 1 the counts are one worker's share. Where exact metrics matter, run
``--workers 1`` per container and scale containers (Prometheus then scrapes each one).
"""

from __future__ import annotations

import os
from typing import Any

from featurelake.errors import ConfigError

ENV_CONFIG = "FEATURELAKE_SERVE_CONFIG"
ENV_MAX_REQUEST_BYTES = "FEATURELAKE_SERVE_MAX_REQUEST_BYTES"
MAX_WORKERS = 64


def default_workers() -> int:
    """The default worker count: one per two cores, leaving the rest to Redis, clients and the kernel.

    On the 2-core benchmark machine (Redis and the load generator on the same cores) one worker
    served more than two (BENCHMARKS.md); where Redis runs elsewhere, give ``--workers`` = cores.
    """
    return max(1, (os.cpu_count() or 2) // 2)


def access_mode(settings: Any) -> str:
    """Which endpoints check roles: ``off`` without identities or JWTs, else ``console.server_access``."""
    return settings.console.server_access if settings.console.access_configured else "off"


def build_app(settings: Any, *, max_request_bytes: int) -> tuple[Any, Any]:
    """The feature server app for ``settings``, and the registry it holds (dispose it when done).

    Every worker builds its app here, role checks included (``console.server_access``).

    Raises:
        ConfigError, DefinitionError, RegistryError, ServiceUnavailableError: as the server's
            start-up does (bad settings, a feature repo that does not load, no registry, Redis down).
    """
    from featurelake.jobs.online import connect, load_catalog
    from featurelake.jobs.push import Pusher
    from featurelake.registry.writer import open_registry
    from featurelake.server.app import create_app

    guard = access_mode(settings)
    access = None
    if guard != "off":
        from featurelake.access_control.credentials import CredentialChecker

        access = CredentialChecker(settings.console)  # a bad JWKS file fails here, before binding
    registry = open_registry(settings.registry_url, create=False)
    try:
        catalog = load_catalog(settings, registry=registry)
        sdk = connect(settings, catalog)
        app = create_app(
            sdk,
            registry=registry,
            max_request_bytes=max_request_bytes,
            pusher=Pusher(settings, registry),
            access=access,
            access_mode=guard,
        )
    except BaseException:
        registry.dispose()
        raise
    return app, registry


def app_from_environment() -> Any:
    """uvicorn's app factory in each worker: the settings file and limits the CLI put in the environment."""
    from featurelake.config.settings import load_settings

    config = os.environ.get(ENV_CONFIG) or None
    app, _ = build_app(load_settings(config), max_request_bytes=int(os.environ[ENV_MAX_REQUEST_BYTES]))
    return app


def run_workers(
    *, config_path: str | None, max_request_bytes: int, host: str, port: int, workers: int
) -> None:
    """Serve with ``workers`` uvicorn worker processes until interrupted.

    Raises:
        ConfigError: ``workers`` is out of range, or the address cannot be bound.
    """
    import uvicorn

    from featurelake.server.app import check_bind

    if not 1 <= workers <= MAX_WORKERS:
        raise ConfigError(f"--workers {workers} is out of range; give 1..{MAX_WORKERS} (about one per core)")
    check_bind(host, port)
    os.environ[ENV_CONFIG] = str(config_path or "")
    os.environ[ENV_MAX_REQUEST_BYTES] = str(max_request_bytes)
    uvicorn.run(
        "featurelake.server.workers:app_from_environment",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="warning",
        access_log=False,
    )

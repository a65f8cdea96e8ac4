"""A job run's heartbeat: extends its lease in the registry while the job works.

Shared by backfill, materialize and training-set builds, so a live run never shows
``abandoned`` (which lets other runs sweep what it staged) and a killed one does once its lease ends.
"""

from __future__ import annotations

import logging
import threading
from datetime import timedelta
from typing import Any

log = logging.getLogger("featurelake.heartbeat")

DEFAULT_LEASE = timedelta(minutes=10)  # the registry's default lease of a run


class Heartbeat:
    """Beats every third of ``lease`` from a daemon thread (``with Heartbeat(...):``).

    A missed beat is logged, never raised: the lease tolerates two of them.
    """

    def __init__(self, registry: Any, run_id: str, lease: timedelta = DEFAULT_LEASE):
        self._registry, self._run_id, self._lease = registry, run_id, lease
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"heartbeat-{run_id[:8]}", daemon=True)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _loop(self) -> None:
        interval = max(0.5, self._lease.total_seconds() / 3)
        while not self._stop.wait(interval):
            try:
                self._registry.heartbeat(self._run_id, lease=self._lease)
            except Exception as err:  # noqa: BLE001 - a missed beat must not kill the job; the lease tolerates it
                log.warning("heartbeat for run %s failed: %s", self._run_id, err)

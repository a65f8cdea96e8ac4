"""The stack's state file (``stack.json``) and the lock that serialises up/down."""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .config import StackConfig


@contextmanager
def stack_lock(cfg: StackConfig) -> Iterator[None]:
    """Hold an exclusive lock on the stack while starting or stopping services.

    Several engineers (or ``make test`` runs) may call ``services up`` at once: the second
    waits for the first and then finds everything running.
    """
    cfg.root.mkdir(parents=True, exist_ok=True)
    with open(cfg.root / ".lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def read_state(cfg: StackConfig) -> dict[str, Any]:
    """The current contents of ``stack.json`` ({} if missing or unreadable)."""
    try:
        data = json.loads(cfg.state_file.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write_state(cfg: StackConfig, data: dict[str, Any]) -> None:
    cfg.root.mkdir(parents=True, exist_ok=True)
    if not data:
        cfg.state_file.unlink(missing_ok=True)
        return
    tmp = cfg.state_file.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    os.replace(tmp, cfg.state_file)  # readers never see a half-written file


def set_entry(cfg: StackConfig, name: str, entry: dict[str, Any]) -> None:
    """Record a running service's addresses in ``stack.json``."""
    data = read_state(cfg)
    data[name] = entry
    _write_state(cfg, data)


def remove_entry(cfg: StackConfig, name: str) -> None:
    """Forget a stopped service (the file is removed when no service is left)."""
    data = read_state(cfg)
    if data.pop(name, None) is not None or not data:
        _write_state(cfg, data)


def ensure_dir(path: Path, mode: int = 0o755) -> Path:
    """Create ``path`` (and parents) if needed and return it."""
    path.mkdir(parents=True, exist_ok=True, mode=mode)
    return path

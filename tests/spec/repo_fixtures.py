"""Helpers building feature repos in temporary folders (also usable by other test packages)."""

from __future__ import annotations

import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FEATURE_REPO = ROOT / "feature_repo"
FRAUD_V1_SERVICES = Path(__file__).resolve().parent / "fixtures" / "fraud_v1" / "services.py"


def copy_feature_repo(dest: Path, *, service_version: int = 2) -> Path:
    """Copy ``feature_repo/`` to ``dest`` (definitions only); ``service_version=1`` swaps in v1.

    The copy's file registry is ``dest/data/registry.db``, so ``feast plan`` run in the copy
    never touches the checkout's state.
    """
    shutil.copytree(FEATURE_REPO, dest, ignore=shutil.ignore_patterns("__pycache__", "data", "*.db"))
    if service_version == 1:
        shutil.copy(FRAUD_V1_SERVICES, dest / "services.py")
    elif service_version != 2:
        raise ValueError(f"service_version must be 1 or 2, got {service_version}")
    return dest


def write_repo(dest: Path, files: dict[str, str], *, feastignore: str = "") -> Path:
    """A repo of the given ``{relative path: source}`` files plus a minimal feature_store.yaml."""
    dest.mkdir(parents=True, exist_ok=True)
    (dest / "feature_store.yaml").write_text(
        "project: t\nprovider: local\nregistry: data/registry.db\nentity_key_serialization_version: 3\n"
    )
    if feastignore:
        (dest / ".feastignore").write_text(feastignore)
    for rel, text in files.items():
        path = dest / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return dest

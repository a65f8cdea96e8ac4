"""Bad input to `materialize` and `online get` is one red line naming the value, before Spark or Redis."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _cli(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FEATURELAKE_")}
    env |= {"FEATURELAKE_HOME": str(home), "FEATURELAKE_ONLINE_NODES": "127.0.0.1:7299"}
    return subprocess.run(
        [sys.executable, "-m", "featurelake.cli.main", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=home,
        timeout=120,
    )


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["materialize", "--view", "nope", "--start", "2026-01-01"], "feature view 'nope' is not in project"),
        (["materialize", "--view", "v", "--start", "2026-13-01"], "--start '2026-13-01' is not an ISO date"),
        (
            ["materialize", "--view", "v", "--incremental", "--start", "2026-01-01"],
            "--incremental or --start",
        ),
        (
            ["materialize", "--view", "v", "--all", "--incremental"],
            "--view NAME (repeatable) or --all, not both",
        ),
        (
            ["materialize", "--all", "--incremental"],
            "has no active feature view with entities to materialize",
        ),
        (
            ["online", "get", "--entity", "user_id=1"],
            "give --feature VIEW:FEATURE (repeatable) or --service NAME",
        ),
        (
            ["online", "get", "--entity", "user_id=1", "--service", "s", "--feature", "v:f"],
            "not both or neither",
        ),
        (["online", "get", "--entity", "user_id", "--service", "s"], "--entity 'user_id' is not KEY=VALUE"),
    ],
)
def test_bad_input_is_one_red_line_before_any_engine_starts(
    tmp_path: Path, args: list[str], expected: str
) -> None:
    from featurelake.registry import open_registry

    open_registry(
        f"sqlite:///{tmp_path / 'registry.db'}"
    ).dispose()  # an empty registry (as after `registry init`)
    result = _cli(tmp_path, *args)
    assert result.returncode == 2, result.stdout + result.stderr  # bad input
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr  # no Spark start-up banner, no traceback
    assert lines[0].startswith("Error: ") and expected in lines[0], lines[0]

"""The CLI's error handler and help, run as a real process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run_cli(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "featurelake.cli.main", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


def test_help_lists_every_command() -> None:
    from featurelake.cli.main import _COMMANDS

    out = run_cli("--help")
    assert out.returncode == 0, out.stderr
    for name in _COMMANDS:
        assert name in out.stdout


def test_every_command_has_help() -> None:
    from featurelake.cli.main import _COMMANDS

    for name in _COMMANDS:
        out = run_cli(name, "--help")
        assert out.returncode == 0, f"{name} --help failed: {out.stderr}"
        assert "Usage:" in out.stdout


def test_malformed_settings_is_one_red_line_and_exit_2(tmp_path: Path) -> None:
    cfg = tmp_path / "featurelake.yaml"
    cfg.write_text("project: p\nbogus_key: 1\n")
    out = run_cli("--config", str(cfg), "table", "describe", "anything")
    assert out.returncode == 2  # bad input
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, out.stderr
    assert "bogus_key" in lines[0] and str(cfg) in lines[0]
    assert "Traceback" not in out.stderr


def test_debug_shows_traceback(tmp_path: Path) -> None:
    cfg = tmp_path / "featurelake.yaml"
    cfg.write_text("project: p\nbogus_key: 1\n")
    out = run_cli("--debug", "--config", str(cfg), "table", "describe", "anything")
    assert out.returncode == 2
    assert "Traceback" in out.stderr


def test_error_text_with_brackets_prints_verbatim(tmp_path: Path) -> None:
    """Messages quote user values; rich markup in them must neither vanish nor crash the handler."""
    cfg = tmp_path / "featurelake.yaml"
    cfg.write_text('project: p\n"[/oops] [bold]k[/bold]": 1\n')
    out = run_cli("--config", str(cfg), "table", "list")
    assert out.returncode == 2
    assert "Traceback" not in out.stderr
    assert "[/oops] [bold]k[/bold]" in out.stderr

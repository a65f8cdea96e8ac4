"""The CLI's access policy: $FEATURELAKE_TOKEN names the identity; lifecycle changes need the
approver role, a reason and the four-eyes rule; without a token, local developer mode."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from featurelake.cli.main import main
from featurelake.console.access import token_hash
from featurelake.registry import open_registry
from tests.console import world as w


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    try:
        main(list(args))
        code = 0
    except SystemExit as done:
        code = int(done.code or 0)
    captured = capsys.readouterr()
    return code, captured.out + captured.err


@pytest.fixture
def setup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    url = f"sqlite:///{tmp_path / 'registry.db'}"
    reg = open_registry(url)
    w.build(reg, tmp_path / "lake")  # user_stats 1.0 active (by carol), 1.1 draft (by alice)
    settings = {
        "project": w.PROJECT,
        "home": str(tmp_path / "home"),
        "registry": {"url": url},
        "console": {
            "four_eyes": True,
            "identities": [
                {"name": n, "role": w.ROLES[n], "token_sha256": token_hash(t)} for n, t in w.TOKENS.items()
            ],
        },
    }
    cfg = tmp_path / "featurelake.yaml"
    cfg.write_text(yaml.safe_dump(settings))
    monkeypatch.setenv("FEATURELAKE_ACTOR", "someone-else")
    monkeypatch.delenv("FEATURELAKE_TOKEN", raising=False)
    yield reg, cfg, settings
    reg.dispose()


def test_token_identity_roles_four_eyes_and_audit(setup, capsys, monkeypatch) -> None:
    reg, cfg, _ = setup
    activate = ("--config", str(cfg), "registry", "status", "set", "user_stats:1.1", "active")

    monkeypatch.setenv("FEATURELAKE_TOKEN", w.TOKENS["vera"])
    code, out = run(capsys, *activate, "--reason", "looks fine")
    assert code == 2 and "needs the approver role" in out and "'vera' has the viewer role" in out
    monkeypatch.setenv("FEATURELAKE_TOKEN", w.TOKENS["alice"])  # alice applied 1.1
    code, out = run(capsys, *activate, "--reason", "mine")
    assert code == 2 and "four-eyes rule: 'alice' created feature view 'user_stats' version 1.1" in out
    monkeypatch.setenv("FEATURELAKE_TOKEN", "not-a-token")
    code, out = run(capsys, *activate, "--reason", "x")
    assert code == 2 and "matches no identity" in out and "not-a-token" not in out
    monkeypatch.setenv("FEATURELAKE_TOKEN", w.TOKENS["bob"])
    code, out = run(capsys, "--actor", "mallory", *activate, "--reason", "x")
    assert code == 2 and "--actor 'mallory' differs from 'bob'" in out
    assert reg.get_view_version(w.PROJECT, "user_stats", "1.1").status == "draft"

    code, out = run(capsys, *activate, "--reason", "reviewed the EUR change")
    assert code == 0, out
    (entry,) = reg.audit(project=w.PROJECT, action="status.set")
    assert (entry.actor, entry.object_key, entry.after["reason"]) == (
        "bob",
        "user_stats@1.1",
        "reviewed the EUR change",
    )

    # apply --status active would approve one's own versions: refused under four-eyes
    code, out = run(capsys, "--config", str(cfg), "apply", "--status", "active")
    assert code == 2 and "four-eyes rule: 'bob' cannot create versions as active" in out
    monkeypatch.setenv("FEATURELAKE_TOKEN", w.TOKENS["vera"])
    code, out = run(capsys, "--config", str(cfg), "registry", "cancel-run", "0123abcd")
    assert code == 2 and "cancelling a run needs the editor role" in out


def test_without_a_token_local_developer_mode_unless_required(setup, capsys, tmp_path) -> None:
    reg, cfg, settings = setup
    deprecate = ("registry", "status", "set", "user_stats:1.1", "deprecated", "--reason", "dev", "--force")
    code, out = run(
        capsys,
        "--config",
        str(cfg),
        "registry",
        "status",
        "set",
        "user_stats:1.1",
        "active",
        "--reason",
        "dev",
    )
    assert code == 0, out  # no identity: as before, the author may activate and the actor is the env's
    assert reg.audit(project=w.PROJECT, action="status.set")[0].actor == "someone-else"

    strict = tmp_path / "strict.yaml"
    strict.write_text(
        yaml.safe_dump({**settings, "console": {**settings["console"], "cli_identity_required": True}})
    )
    code, out = run(capsys, "--config", str(strict), *deprecate)
    assert code == 2 and "needs an identity" in out and "FEATURELAKE_TOKEN" in out
    assert reg.get_view_version(w.PROJECT, "user_stats", "1.1").status == "active"

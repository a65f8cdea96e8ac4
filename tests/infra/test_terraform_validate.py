"""infra/terraform/check.sh: fmt + offline init/validate of every module and environment."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TF_ROOT = REPO / "infra" / "terraform"
CHECK = TF_ROOT / "check.sh"


def run_check(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(CHECK), *args],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=600,
        check=False,
    )


def test_check_script_passes_on_the_repository() -> None:
    result = run_check()
    assert result.returncode == 0, f"check.sh failed:\n{result.stdout}\n{result.stderr}"
    assert "terraform fmt -check -recursive" in result.stdout
    assert "environments/example: ok" in result.stdout
    for module in sorted(p.name for p in (TF_ROOT / "modules").iterdir() if p.is_dir()):
        assert f"modules/{module}: ok" in result.stdout
    # Validation ran in a scratch copy: nothing Terraform writes may appear in the tree.
    leftovers = [
        p for p in TF_ROOT.rglob("*") if p.name in (".terraform", ".terraform.lock.hcl", "terraform.tfstate")
    ]
    assert leftovers == []


def test_check_script_fails_loudly_without_provider_mirror(tmp_path: Path) -> None:
    result = run_check(TF_PLUGIN_DIR=str(tmp_path / "no-mirror"))
    assert result.returncode == 2
    assert "provider mirror not found" in result.stderr
    assert "not a skip" in result.stderr


def test_check_script_fails_loudly_without_terraform(tmp_path: Path) -> None:
    result = run_check(TERRAFORM=str(tmp_path / "terraform"))
    assert result.returncode == 2
    assert "terraform not found" in result.stderr


def test_check_script_fails_on_an_invalid_module(tmp_path: Path) -> None:
    broken = tmp_path / "modules" / "broken"
    broken.mkdir(parents=True)
    (broken / "main.tf").write_text(
        "terraform {\n"
        "  required_providers {\n"
        "    aws = {\n"
        '      source  = "hashicorp/aws"\n'
        '      version = ">= 5.100.0, < 6.0.0"\n'
        "    }\n"
        "  }\n"
        "}\n"
        "\n"
        'resource "aws_s3_bucket" "x" {\n'
        "  bucket = var.undeclared\n"
        "}\n"
    )
    result = run_check(str(tmp_path))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "modules/broken: FAILED" in result.stderr
    assert "undeclared" in result.stderr


def test_check_script_fails_on_unformatted_files(tmp_path: Path) -> None:
    module = tmp_path / "modules" / "ugly"
    module.mkdir(parents=True)
    (module / "main.tf").write_text("locals {\n  a=1\n  bb = 2\n}\n")
    result = run_check(str(tmp_path))
    assert result.returncode == 1
    assert "not formatted" in result.stderr


def test_terraform_working_files_are_git_ignored() -> None:
    ignored = [
        "infra/terraform/environments/example/.terraform/providers/x",
        "infra/terraform/modules/spark/.terraform.lock.hcl",
        "infra/terraform/environments/example/terraform.tfstate",
        "infra/terraform/environments/example/terraform.tfvars",
    ]
    result = subprocess.run(
        ["git", "check-ignore", "--no-index", *ignored], cwd=REPO, capture_output=True, text=True, check=False
    )
    assert sorted(result.stdout.split()) == sorted(ignored), result.stderr
    kept = subprocess.run(
        [
            "git",
            "check-ignore",
            "--no-index",
            "infra/terraform/environments/example/terraform.tfvars.example",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert kept.returncode == 1, "the committed tfvars example must not be ignored"

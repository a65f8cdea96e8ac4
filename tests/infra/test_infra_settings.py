"""Terraform outputs -> featurelake.yaml: the Python mapping, the generated file and the loader agree."""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import hcl2
import pytest
import yaml

from featurelake.config.deploy import SETTINGS_OUTPUTS, infra_outputs_to_settings
from featurelake.config.settings import load_settings_from_dict
from featurelake.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "infra" / "terraform" / "environments" / "example"
OUTPUTS_FIXTURE = Path(__file__).resolve().parent / "fixtures" / "terraform_outputs.json"
HCL_OPTIONS = hcl2.SerializationOptions(strip_string_quotes=True, explicit_blocks=False)


@pytest.fixture(scope="module")
def outputs() -> dict[str, Any]:
    return json.loads(OUTPUTS_FIXTURE.read_text())


def test_settings_from_terraform_outputs_load(outputs: dict[str, Any]) -> None:
    settings = load_settings_from_dict(
        infra_outputs_to_settings(outputs), where="terraform outputs", environ={}
    )
    assert settings.project == "fraud"
    assert settings.storage.is_s3
    assert settings.storage.root == outputs["settings_storage_root"]["value"]
    assert settings.storage.s3.region == "eu-west-1"
    assert settings.storage.s3.endpoint_url is None
    assert settings.storage.s3.access_key_id_env is None  # the job role's credentials
    assert settings.registry.url is None and settings.registry.url_env == "FEATURELAKE_REGISTRY_URL"
    assert settings.online.nodes == outputs["settings_online_nodes"]["value"]
    assert settings.online.ssl is True
    assert settings.online.password_env == "FEATURELAKE_REDIS_PASSWORD"
    assert settings.spark.master is None


def test_secrets_arrive_through_the_named_environment_variables(
    outputs: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """What EMR Serverless does at job start: the env vars named in the settings get the secrets."""
    env = {
        "FEATURELAKE_REGISTRY_URL": "postgresql+psycopg://featurelake:pw@db.internal:5432/featurelake?sslmode=require",
        "FEATURELAKE_REDIS_PASSWORD": "token",
    }
    settings = load_settings_from_dict(infra_outputs_to_settings(outputs), environ={})
    for name, value in env.items():
        monkeypatch.setenv(name, value)  # secrets are read lazily, from os.environ
    assert settings.registry_url == env["FEATURELAKE_REGISTRY_URL"]
    assert settings.online.password() == "token"


def test_generated_featurelake_yaml_matches_the_mapping(outputs: dict[str, Any]) -> None:
    text = outputs["featurelake_yaml"]["value"]
    assert yaml.safe_load(text) == infra_outputs_to_settings(outputs)
    load_settings_from_dict(yaml.safe_load(text), where="featurelake_yaml output", environ={})


def test_example_exposes_one_output_per_settings_key() -> None:
    outputs_tf = hcl2.loads((EXAMPLE / "outputs.tf").read_text(), serialization_options=HCL_OPTIONS)
    names = {name for entry in outputs_tf["output"] for name in entry}
    assert set(SETTINGS_OUTPUTS) <= names
    main_tf = hcl2.loads((EXAMPLE / "main.tf").read_text(), serialization_options=HCL_OPTIONS)
    settings_local = next(entry["settings"] for entry in main_tf["locals"] if "settings" in entry)
    assert {f"settings_{key}" for key in settings_local} == set(SETTINGS_OUTPUTS)
    template_vars = set(re.findall(r"jsonencode\((\w+)\)", (EXAMPLE / "featurelake.yaml.tftpl").read_text()))
    assert template_vars == set(settings_local)


def test_template_renders_the_fixture_yaml(outputs: dict[str, Any], tmp_path: Path) -> None:
    """Render featurelake.yaml.tftpl with real Terraform (offline: no provider involved)."""
    terraform = shutil.which("terraform") or "/usr/local/bin/terraform"
    assert Path(terraform).is_file(), "terraform is required for this test (see infra/terraform/check.sh)"
    shutil.copy(EXAMPLE / "featurelake.yaml.tftpl", tmp_path)
    values = {name.removeprefix("settings_"): outputs[name]["value"] for name in SETTINGS_OUTPUTS}
    (tmp_path / "main.tf.json").write_text(
        json.dumps(
            {
                "output": {
                    "featurelake_yaml": {
                        "value": '${templatefile("featurelake.yaml.tftpl", ' + json.dumps(values) + ")}"
                    }
                }
            }
        )
    )
    env = {
        **os.environ,
        "TF_CLI_CONFIG_FILE": "/dev/null",
        "CHECKPOINT_DISABLE": "1",
        "TF_IN_AUTOMATION": "1",
    }
    for args in (["init", "-input=false"], ["apply", "-auto-approve", "-input=false"]):
        done = subprocess.run(
            [terraform, f"-chdir={tmp_path}", *args], env=env, capture_output=True, text=True, check=False
        )
        assert done.returncode == 0, done.stdout + done.stderr
    rendered = subprocess.run(
        [terraform, f"-chdir={tmp_path}", "output", "-raw", "featurelake_yaml"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert rendered == outputs["featurelake_yaml"]["value"]


def test_all_missing_outputs_are_reported_at_once(outputs: dict[str, Any]) -> None:
    partial = {
        k: v for k, v in outputs.items() if k not in ("settings_storage_root", "settings_online_nodes")
    }
    with pytest.raises(ConfigError) as err:
        infra_outputs_to_settings(partial)
    assert "settings_storage_root" in str(err.value) and "settings_online_nodes" in str(err.value)
    assert "terraform output -json" in str(err.value)


def test_bare_values_and_sensitive_outputs_are_refused(outputs: dict[str, Any]) -> None:
    broken = copy.deepcopy(outputs)
    broken["settings_project"] = "fraud"
    broken["settings_online_password_env"]["sensitive"] = True
    with pytest.raises(ConfigError) as err:
        infra_outputs_to_settings(broken)
    assert "'settings_project' is not in the `terraform output -json` shape" in str(err.value)
    assert "'settings_online_password_env' is sensitive" in str(err.value)


def test_backfill_job_run_request_is_complete_and_secret_free(outputs: dict[str, Any]) -> None:
    request = json.loads(outputs["backfill_job_run_request"]["value"])
    submit = request["jobDriver"]["sparkSubmit"]
    assert submit["entryPoint"].endswith("/artifacts/jobs/backfill.py")
    assert submit["entryPointArguments"] == [
        "--view",
        "{{VIEW}}",
        "--start",
        "{{START_DATE}}",
        "--end",
        "{{END_DATE}}",
    ]
    props = request["configurationOverrides"]["applicationConfiguration"][0]["properties"]
    for env in ("FEATURELAKE_REGISTRY_URL", "FEATURELAKE_REDIS_PASSWORD"):
        assert props[f"spark.emr-serverless.driverEnv.{env}"].startswith("EMR.secret@")
        assert props[f"spark.executorEnv.{env}"].startswith("EMR.secret@")
    assert props["spark.emr-serverless.driverEnv.FEATURELAKE_CONFIG"] == "./conf/featurelake.yaml"
    # The settings file and the request agree on where the environment and the settings live.
    assert request["executionRoleArn"] == outputs["spark_job_role_arn"]["value"]
    assert request["applicationId"] == outputs["spark_application_id"]["value"]

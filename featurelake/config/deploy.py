"""Turn the Terraform outputs of a deployment into a ``featurelake.yaml`` settings mapping.

``infra/terraform/environments/example`` exposes one ``settings_*`` output per settings key
(and the whole file as ``featurelake_yaml``). This module is the Python side of that
contract, so a deployment pipeline can write the settings file from
``terraform output -json`` without hand-editing, and the tests can prove the two agree.
"""

from __future__ import annotations

from typing import Any

from featurelake.errors import ConfigError

# Terraform output name -> path of the settings key it fills, one to one.
SETTINGS_OUTPUTS: dict[str, tuple[str, ...]] = {
    "settings_project": ("project",),
    "settings_storage_root": ("storage", "root"),
    "settings_storage_s3_region": ("storage", "s3", "region"),
    "settings_registry_url_env": ("registry", "url_env"),
    "settings_online_nodes": ("online", "nodes"),
    "settings_online_ssl": ("online", "ssl"),
    "settings_online_password_env": ("online", "password_env"),
}


def _base_settings() -> dict[str, Any]:
    """The keys Terraform does not decide: AWS itself, credentials from the IAM role."""
    return {
        "storage": {
            "s3": {
                "endpoint_url": None,  # AWS
                "access_key_id_env": None,  # default credential chain: the job role
                "secret_access_key_env": None,
                "allow_http": False,
            }
        },
        "registry": {},
        "online": {},
        "spark": {"master": None, "conf": {}},  # spark-submit / EMR Serverless decides
    }


def infra_outputs_to_settings(outputs: dict[str, Any]) -> dict[str, Any]:
    """Map ``terraform output -json`` of a featurelake environment onto a settings mapping.

    Args:
        outputs: the parsed JSON of ``terraform output -json``: output name to
            ``{"value": ..., "type": ..., "sensitive": ...}``.

    Returns:
        A mapping with the shape of ``featurelake.yaml``, ready for
        ``featurelake.config.settings.load_settings_from_dict`` or ``yaml.safe_dump``.

    Raises:
        ConfigError: naming every ``settings_*`` output that is missing, not in the
            ``terraform output -json`` shape, or marked sensitive.
    """
    if not isinstance(outputs, dict):
        raise ConfigError(
            f"terraform outputs must be the JSON object printed by `terraform output -json`, "
            f"got {type(outputs).__name__}"
        )
    problems: list[str] = []
    settings = _base_settings()
    for name, path in SETTINGS_OUTPUTS.items():
        entry = outputs.get(name)
        if entry is None:
            problems.append(f"output {name!r} (for {'.'.join(path)}) is missing")
            continue
        if not isinstance(entry, dict) or "value" not in entry:
            problems.append(
                f"output {name!r} is not in the `terraform output -json` shape "
                "({'value': ..., 'type': ..., 'sensitive': ...})"
            )
            continue
        if entry.get("sensitive"):
            problems.append(f"output {name!r} is sensitive; settings outputs must never carry secrets")
            continue
        node = settings
        for key in path[:-1]:
            node = node.setdefault(key, {})
        node[path[-1]] = entry["value"]
    if problems:
        raise ConfigError(
            "cannot build featurelake settings from the terraform outputs: "
            + "; ".join(problems)
            + "; run `terraform output -json` in an applied infra/terraform/environments/* folder"
        )
    return settings

"""Security policies over the HCL of infra/terraform, each proven able to fail on a bad fixture."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
import terraform_policies as tp

REPO = Path(__file__).resolve().parents[2]
TF_ROOT = REPO / "infra" / "terraform"
BAD = Path(__file__).resolve().parent / "fixtures" / "bad"


@pytest.fixture(scope="module")
def infra() -> tp.Config:
    return tp.load_config([TF_ROOT], root=TF_ROOT)


def bad(name: str) -> tp.Config:
    return tp.load_config([BAD / f"{name}.tf"], root=BAD)


def test_policies_have_something_to_check(infra: tp.Config) -> None:
    """A parse that silently found nothing would make every policy pass."""
    counts = Counter(b.type for b in infra.blocks)
    for type_ in (
        "aws_s3_bucket",
        "aws_s3_bucket_server_side_encryption_configuration",
        "aws_s3_bucket_public_access_block",
        "aws_security_group",
        "aws_vpc_security_group_ingress_rule",
        "aws_elasticache_replication_group",
        "aws_db_instance",
        "aws_iam_policy_document",
        "aws_iam_role",
    ):
        assert counts[type_] >= 1, f"no {type_} found under {TF_ROOT}"


@pytest.mark.parametrize("policy", sorted(tp.ALL_CHECKS))
def test_infra_satisfies_policy(infra: tp.Config, policy: str) -> None:
    violations = tp.ALL_CHECKS[policy](infra)
    assert violations == [], "\n".join(map(str, violations))


# Every address each bad fixture must be caught at (and nothing else).
EXPECTED_BAD = {
    "bucket": {
        ("aws_s3_bucket.naked", "no default encryption"),
        ("aws_s3_bucket.naked", "no aws_s3_bucket_public_access_block"),
        ("aws_s3_bucket.half", "no default encryption"),
        ("aws_s3_bucket.half", "block_public_policy, restrict_public_buckets"),
    },
    "ingress": {
        ("aws_security_group.inline_open", "0.0.0.0/0"),
        ("aws_security_group_rule.ipv6_open", "::/0"),
        ("aws_vpc_security_group_ingress_rule.vpc_rule_open", "0.0.0.0/0"),
        ("aws_vpc_security_group_ingress_rule.via_variable", "0.0.0.0/0"),
    },
    "redis": {
        ("aws_elasticache_replication_group.plain", "transit_encryption_enabled"),
        ("aws_elasticache_replication_group.plain", "at_rest_encryption_enabled"),
        ("aws_elasticache_replication_group.plain", "no AUTH"),
        ("aws_elasticache_replication_group.preferred", "transit_encryption_mode"),
        ("aws_elasticache_cluster.single", "stand-alone"),
    },
    "rds": {
        ("aws_db_instance.public_plain", "storage_encrypted"),
        ("aws_db_instance.public_plain", "publicly_accessible"),
        ("aws_db_instance.by_variable", "storage_encrypted"),
        ("aws_db_instance.by_variable", "publicly_accessible"),
    },
    "iam": {
        ("data.aws_iam_policy_document.admin statement Everything", "action '*'"),
        ("data.aws_iam_policy_document.admin statement Everything", 'resource "*"'),
        ("data.aws_iam_policy_document.admin statement AllOfS3", "action 's3:*'"),
        ("data.aws_iam_policy_document.admin statement NotAction", "not_actions"),
        ("data.aws_iam_policy_document.admin statement DynamicWildcard", 'resource "*"'),
        ("data.aws_iam_policy_document.key statement EnableIAMPolicies", "action 'kms:*'"),
        ("data.aws_iam_policy_document.key statement EnableIAMPolicies", 'resource "*"'),
        ("data.aws_iam_policy_document.key statement EnableIAMPolicies", 'principal "*"'),
        ("aws_iam_role.inline_json", "assume_role_policy"),
        ("aws_iam_role_policy.inline_json", "policy is not"),
        ("aws_iam_role_policy_attachment.admin", "AdministratorAccess"),
    },
}


@pytest.mark.parametrize("policy", sorted(tp.ALL_CHECKS))
def test_policy_catches_its_bad_fixture(policy: str) -> None:
    violations = tp.ALL_CHECKS[policy](bad(policy))
    unmatched = [
        (address, fragment)
        for address, fragment in EXPECTED_BAD[policy]
        if not any(v.address == address and fragment in v.message for v in violations)
    ]
    assert unmatched == [], (
        "not caught:\n" + "\n".join(map(str, unmatched)) + "\nfound:\n" + "\n".join(map(str, violations))
    )
    # No false positives: egress rules, Deny statements, SG-referencing ingress stay clean.
    assert len(violations) == len(EXPECTED_BAD[policy]), "\n".join(map(str, violations))


def test_iam_exceptions_are_explained_and_still_needed(infra: tp.Config) -> None:
    for exception in tp.IAM_EXCEPTIONS:
        assert len(exception.reason) > 40, f"exception {exception} needs a real reason"
        assert (TF_ROOT / exception.path).is_file(), f"exception names a missing file: {exception.path}"
    assert tp.unused_exceptions(infra) == [], "stale IAM exceptions: remove them"
    # Without the exceptions the KMS key policy is exactly what they cover.
    strict = tp.check_iam(infra, exceptions=())
    assert {v.address for v in strict} == {"data.aws_iam_policy_document.key statement EnableIAMPolicies"}


# --- Requirements of issue 7 specific to this deployment (beyond the generic policies) -------


def one(infra: tp.Config, kind: str, type_: str) -> tp.Block:
    blocks = list(infra.of_type(kind, type_))
    assert len(blocks) == 1, f"expected one {type_}, found {[b.address for b in blocks]}"
    return blocks[0]


def test_datastores_admit_only_security_groups_never_cidrs(infra: tp.Config) -> None:
    rules = list(infra.of_type("resource", "aws_vpc_security_group_ingress_rule"))
    for rule in rules:
        assert "referenced_security_group_id" in rule.body, f"{rule.address} admits a CIDR"
        assert not any(k in rule.body for k in ("cidr_ipv4", "cidr_ipv6", "prefix_list_id")), rule.address
    assert not list(infra.of_type("resource", "aws_security_group_rule"))
    for sg in infra.of_type("resource", "aws_security_group"):
        assert "ingress" not in sg.body and "egress" not in sg.body, (
            f"{sg.address}: use separate rule resources"
        )


def test_example_admits_the_spark_group_to_redis_and_registry(infra: tp.Config) -> None:
    import hcl2

    doc = hcl2.loads(
        (TF_ROOT / "environments" / "example" / "main.tf").read_text(), serialization_options=tp.HCL_OPTIONS
    )
    modules = {name: body for entry in doc["module"] for name, body in entry.items()}
    for name in ("online_store", "registry"):
        assert "module.network.spark_security_group_id" in modules[name]["client_security_groups"]
    assert modules["spark"]["security_group_ids"] == ["${module.network.spark_security_group_id}"]


def test_online_store_is_a_multi_az_cluster_with_failover(infra: tp.Config) -> None:
    rg = one(infra, "resource", "aws_elasticache_replication_group").body
    assert rg["cluster_mode"] == "enabled"
    assert rg["automatic_failover_enabled"] is True
    assert rg["multi_az_enabled"] is True
    assert rg["num_node_groups"] == "${var.shard_count}"
    assert rg["replicas_per_node_group"] == "${var.replicas_per_shard}"
    assert "aws_secretsmanager_secret_version.auth_token" in rg["auth_token"]
    defaults = infra.variables[TF_ROOT / "modules" / "online_store"]
    assert defaults["shard_count"] >= 2 and defaults["replicas_per_shard"] >= 1


def test_registry_is_multi_az_private_and_protected(infra: tp.Config) -> None:
    db = one(infra, "resource", "aws_db_instance").body
    assert db["engine"] == "postgres"
    assert db["multi_az"] is True
    assert db["deletion_protection"] is True
    assert db["publicly_accessible"] is False
    assert db["skip_final_snapshot"] is False
    # The password is write-only (never in state) and lives in Secrets Manager.
    assert "password" not in db and db["password_wo"].startswith("${ephemeral.")
    urls = [
        v.body["secret_string_wo"]
        for v in infra.of_type("resource", "aws_secretsmanager_secret_version")
        if "secret_string_wo" in v.body
    ]
    assert len(urls) == 1 and urls[0].startswith("postgresql+psycopg://")
    assert "ephemeral.aws_secretsmanager_random_password.master" in urls[0]


def test_bucket_is_versioned_tls_only_and_expires_old_versions(infra: tp.Config) -> None:
    versioning = one(infra, "resource", "aws_s3_bucket_versioning").body
    assert versioning["versioning_configuration"][0]["status"] == "Enabled"
    policy = next(d for d in infra.of_type("data", "aws_iam_policy_document") if d.name == "tls_only")
    conditions = [c for st in policy.body["statement"] for c in st["condition"]]
    assert {"test": "Bool", "variable": "aws:SecureTransport", "values": ["false"]} in conditions
    lifecycle = one(infra, "resource", "aws_s3_bucket_lifecycle_configuration").body
    assert any("noncurrent_version_expiration" in rule for rule in lifecycle["rule"])


def test_job_role_is_confined_to_the_deployment_prefix(infra: tp.Config) -> None:
    doc = next(d for d in infra.of_type("data", "aws_iam_policy_document") if d.name == "job")
    for st in doc.body["statement"]:
        for resource in st["resources"]:
            if "bucket_arn" in resource and resource != "${var.bucket_arn}":
                assert resource.startswith("${var.bucket_arn}/${var.prefix}/"), resource
            if resource == "${var.bucket_arn}" and "s3:ListBucket" in st["actions"]:
                values = st["condition"][0]["values"]
                assert values == ["${var.prefix}", "${var.prefix}/*"]

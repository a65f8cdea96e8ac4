"""Security policies for infra/terraform, checked on the HCL source (no plan, no AWS account).

Each ``check_*`` function takes a parsed :class:`Config` and returns the violations it finds.
They are deliberately strict about what the code *proves*: a security flag must be a literal
``true`` / ``false`` in the resource, not an expression or a variable a caller could
override, and every IAM policy must be written as an ``aws_iam_policy_document`` data source
so its statements can be read here.

Wildcards in IAM are refused outside :data:`IAM_EXCEPTIONS`, each of which carries its reason.
Deny statements are not checked for wildcards: a wildcard in a Deny only narrows access.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hcl2

HCL_OPTIONS = hcl2.SerializationOptions(strip_string_quotes=True, explicit_blocks=False)

_REF = re.compile(r"^\$\{(.*)\}$", re.S)
_VAR_REF = re.compile(r"^\$\{var\.([A-Za-z0-9_-]+)\}$")


@dataclass(frozen=True)
class Block:
    """One ``resource`` or ``data`` block."""

    kind: str  # "resource" | "data"
    type: str
    name: str
    body: dict[str, Any]
    file: Path

    @property
    def address(self) -> str:
        prefix = "data." if self.kind == "data" else ""
        return f"{prefix}{self.type}.{self.name}"


@dataclass(frozen=True)
class Violation:
    policy: str
    file: Path
    address: str
    message: str

    def __str__(self) -> str:
        return f"[{self.policy}] {self.file}: {self.address}: {self.message}"


@dataclass
class Config:
    """Every block of a set of .tf files, with each folder's variable defaults."""

    blocks: list[Block]
    variables: dict[Path, dict[str, Any]]  # folder -> variable name -> default (if any)
    root: Path

    def of_type(self, kind: str, type_: str) -> Iterator[Block]:
        return (b for b in self.blocks if b.kind == kind and b.type == type_)

    def rel(self, path: Path) -> str:
        try:
            return path.relative_to(self.root).as_posix()
        except ValueError:
            return path.as_posix()

    def resolve(self, block: Block, value: Any) -> Any:
        """Replace a bare ``var.x`` reference by the variable's default in the same folder."""
        if isinstance(value, str):
            m = _VAR_REF.match(value)
            if m:
                return self.variables.get(block.file.parent, {}).get(m.group(1), value)
        return value


def load_config(paths: Iterable[Path], root: Path) -> Config:
    """Parse .tf files (files, or folders searched recursively, skipping .terraform/)."""
    files: list[Path] = []
    for p in paths:
        if p.is_dir():
            files.extend(f for f in sorted(p.rglob("*.tf")) if ".terraform" not in f.parts)
        else:
            files.append(p)
    blocks: list[Block] = []
    variables: dict[Path, dict[str, Any]] = {}
    for f in files:
        doc = hcl2.loads(f.read_text(), serialization_options=HCL_OPTIONS)
        for kind in ("resource", "data"):
            for entry in doc.get(kind, []):
                for type_, named in entry.items():
                    for name, body in named.items():
                        blocks.append(Block(kind, type_, name, body, f))
        for entry in doc.get("variable", []):
            for name, body in entry.items():
                if "default" in body:
                    variables.setdefault(f.parent, {})[name] = body["default"]
    return Config(blocks=blocks, variables=variables, root=root)


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _blocks(body: dict[str, Any], name: str) -> list[dict[str, Any]]:
    """Nested blocks called ``name``, including the content of ``dynamic "name"`` blocks."""
    found = [b for b in _as_list(body.get(name)) if isinstance(b, dict)]
    for dyn in _as_list(body.get("dynamic")):
        if isinstance(dyn, dict) and name in dyn:
            for content in _as_list(dyn[name].get("content")):
                if isinstance(content, dict):
                    found.append(content)
    return found


def _references(value: Any, address: str) -> bool:
    """Whether an attribute value is an expression referencing ``address`` (e.g. aws_s3_bucket.x)."""
    return isinstance(value, str) and bool(re.search(rf"\b{re.escape(address)}\b", value))


# --- buckets --------------------------------------------------------------------------------

_KMS_ALGORITHMS = {"aws:kms", "aws:kms:dsse"}
_PAB_FLAGS = ("block_public_acls", "block_public_policy", "ignore_public_acls", "restrict_public_buckets")


def check_buckets(cfg: Config) -> list[Violation]:
    """Every S3 bucket has SSE-KMS default encryption and a full public access block."""
    out: list[Violation] = []
    for bucket in cfg.of_type("resource", "aws_s3_bucket"):
        same_dir = [b for b in cfg.blocks if b.file.parent == bucket.file.parent and b.kind == "resource"]

        def v(msg: str, bucket: Block = bucket) -> None:
            out.append(Violation("bucket", bucket.file, bucket.address, msg))

        sse_blocks = [
            b
            for b in same_dir
            if b.type == "aws_s3_bucket_server_side_encryption_configuration"
            and _references(b.body.get("bucket"), bucket.address)
        ]
        rules = [r for b in sse_blocks for r in _blocks(b.body, "rule")]
        rules += [  # legacy inline form
            r
            for c in _blocks(bucket.body, "server_side_encryption_configuration")
            for r in _blocks(c, "rule")
        ]
        kms_rules = [
            r
            for r in rules
            for d in _blocks(r, "apply_server_side_encryption_by_default")
            if d.get("sse_algorithm") in _KMS_ALGORITHMS and d.get("kms_master_key_id")
        ]
        if not kms_rules:
            v(
                "no default encryption with a KMS key (aws_s3_bucket_server_side_encryption_configuration "
                'with sse_algorithm = "aws:kms" and kms_master_key_id)'
            )

        pabs = [
            b
            for b in same_dir
            if b.type == "aws_s3_bucket_public_access_block"
            and _references(b.body.get("bucket"), bucket.address)
        ]
        if not pabs:
            v("no aws_s3_bucket_public_access_block")
        for pab in pabs:
            missing = [flag for flag in _PAB_FLAGS if pab.body.get(flag) is not True]
            if missing:
                v(f"{pab.address} does not set {', '.join(missing)} to literal true")
    return out


# --- security groups ------------------------------------------------------------------------


def _is_open_cidr(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        return ipaddress.ip_network(value, strict=False).prefixlen == 0
    except ValueError:
        return False


def _open_cidrs(cfg: Config, block: Block, value: Any) -> list[str]:
    found = []
    for item in _as_list(cfg.resolve(block, value)):
        for leaf in _as_list(cfg.resolve(block, item)):
            if _is_open_cidr(leaf):
                found.append(leaf)
    return found


def check_ingress(cfg: Config) -> list[Violation]:
    """No security group admits 0.0.0.0/0 or ::/0 (inline, rule resources, variable defaults)."""
    out: list[Violation] = []
    for type_ in ("aws_security_group", "aws_default_security_group"):
        for sg in cfg.of_type("resource", type_):
            for i, rule in enumerate(_blocks(sg.body, "ingress")):
                open_ = _open_cidrs(cfg, sg, rule.get("cidr_blocks")) + _open_cidrs(
                    cfg, sg, rule.get("ipv6_cidr_blocks")
                )
                if open_:
                    out.append(
                        Violation(
                            "ingress", sg.file, sg.address, f"inline ingress #{i} admits {', '.join(open_)}"
                        )
                    )
    for rule in cfg.of_type("resource", "aws_security_group_rule"):
        if cfg.resolve(rule, rule.body.get("type")) != "ingress":
            continue
        open_ = _open_cidrs(cfg, rule, rule.body.get("cidr_blocks")) + _open_cidrs(
            cfg, rule, rule.body.get("ipv6_cidr_blocks")
        )
        if open_:
            out.append(
                Violation("ingress", rule.file, rule.address, f"ingress rule admits {', '.join(open_)}")
            )
    for rule in cfg.of_type("resource", "aws_vpc_security_group_ingress_rule"):
        open_ = _open_cidrs(cfg, rule, rule.body.get("cidr_ipv4")) + _open_cidrs(
            cfg, rule, rule.body.get("cidr_ipv6")
        )
        if open_:
            out.append(
                Violation("ingress", rule.file, rule.address, f"ingress rule admits {', '.join(open_)}")
            )
    return out


# --- Redis ----------------------------------------------------------------------------------


def check_redis(cfg: Config) -> list[Violation]:
    """Redis replication groups encrypt in transit (required mode) and at rest, and need AUTH."""
    out: list[Violation] = []
    for rg in cfg.of_type("resource", "aws_elasticache_replication_group"):

        def v(msg: str, rg: Block = rg) -> None:
            out.append(Violation("redis", rg.file, rg.address, msg))

        if rg.body.get("transit_encryption_enabled") is not True:
            v("transit_encryption_enabled is not literal true")
        mode = rg.body.get("transit_encryption_mode")
        if mode is not None and mode != "required":
            v(
                f'transit_encryption_mode is {mode!r}: "preferred" still accepts plain-text clients; use "required"'
            )
        if rg.body.get("at_rest_encryption_enabled") is not True:
            v("at_rest_encryption_enabled is not literal true")
        if not rg.body.get("auth_token") and not rg.body.get("user_group_ids"):
            v("no AUTH: set auth_token (from Secrets Manager) or user_group_ids (RBAC)")
    for cluster in cfg.of_type("resource", "aws_elasticache_cluster"):
        if cluster.body.get("engine") in ("redis", "valkey") and not cluster.body.get("replication_group_id"):
            out.append(
                Violation(
                    "redis",
                    cluster.file,
                    cluster.address,
                    "stand-alone Redis cluster without AUTH support: use aws_elasticache_replication_group",
                )
            )
    return out


# --- RDS ------------------------------------------------------------------------------------


def check_rds(cfg: Config) -> list[Violation]:
    """Databases are encrypted and not publicly accessible (both as literals)."""
    out: list[Violation] = []
    for type_ in ("aws_db_instance", "aws_rds_cluster"):
        for db in cfg.of_type("resource", type_):
            if db.body.get("storage_encrypted") is not True and not db.body.get("replicate_source_db"):
                out.append(Violation("rds", db.file, db.address, "storage_encrypted is not literal true"))
    for type_ in ("aws_db_instance", "aws_rds_cluster_instance"):
        for db in cfg.of_type("resource", type_):
            if db.body.get("publicly_accessible", False) is not False:
                out.append(
                    Violation(
                        "rds",
                        db.file,
                        db.address,
                        f"publicly_accessible is {db.body.get('publicly_accessible')!r}; it must be false",
                    )
                )
    return out


# --- IAM ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class IamException:
    """A wildcard allowed in one statement, with the reason it is safe."""

    path: str  # file, relative to the checked root
    document: str  # aws_iam_policy_document name
    sid: str
    field: str  # "actions" | "resources" | "principals"
    value: str
    reason: str


IAM_EXCEPTIONS: tuple[IamException, ...] = (
    IamException(
        path="modules/kms_key/main.tf",
        document="key",
        sid="EnableIAMPolicies",
        field="actions",
        value="kms:*",
        reason="AWS's default key policy statement: grants the account root, which delegates key use to IAM "
        "policies; without it a bad key policy locks the key out permanently",
    ),
    IamException(
        path="modules/kms_key/main.tf",
        document="key",
        sid="EnableIAMPolicies",
        field="resources",
        value="*",
        reason='in a KMS key policy, Resource "*" means the key the policy is attached to, nothing else',
    ),
)

# Resource attributes that hold an IAM policy JSON document (plus inline_policy blocks of roles).
_POLICY_ATTRIBUTES = ("policy", "assume_role_policy")


def _is_wildcard_action(action: str) -> bool:
    return action == "*" or action.endswith(":*")


def _policy_doc_ref(value: Any) -> bool:
    return isinstance(value, str) and bool(
        re.fullmatch(r"\$\{data\.aws_iam_policy_document\.[A-Za-z0-9_-]+(\[[^\]]+\])?\.json\}", value)
    )


def check_iam(cfg: Config, exceptions: Iterable[IamException] = IAM_EXCEPTIONS) -> list[Violation]:
    """No "*" (or service-wide "svc:*") in Allow statements outside the documented exceptions,
    no NotAction/NotResource in Allow statements, no public principals, and every policy
    attached to a resource is an auditable aws_iam_policy_document."""
    allowed = {(e.path, e.document, e.sid, e.field, e.value) for e in exceptions}
    out: list[Violation] = []

    for doc in cfg.of_type("data", "aws_iam_policy_document"):
        rel = cfg.rel(doc.file)
        for i, st in enumerate(_blocks(doc.body, "statement")):
            effect = st.get("effect", "Allow")
            if effect == "Deny":
                continue
            sid = st.get("sid", f"#{i}")

            def v(msg: str, doc: Block = doc, sid: str = sid) -> None:
                out.append(Violation("iam", doc.file, f"{doc.address} statement {sid}", msg))

            def excepted(field: str, value: str, rel: str = rel, doc: Block = doc, sid: str = sid) -> bool:
                return (rel, doc.name, sid, field, value) in allowed

            if effect != "Allow":
                v(f"effect {effect!r} is not a literal Allow/Deny; cannot be audited")
            for key in ("not_actions", "not_resources"):
                if st.get(key):
                    v(
                        f"{key} in an Allow statement grants everything not listed; list what is allowed instead"
                    )
            for action in _as_list(st.get("actions")):
                if (
                    isinstance(action, str)
                    and _is_wildcard_action(action)
                    and not excepted("actions", action)
                ):
                    v(f"action {action!r} is a wildcard; list the actions needed")
            for resource in _as_list(st.get("resources")):
                if resource == "*" and not excepted("resources", resource):
                    v('resource "*"; name the resources (ARNs)')
            for principal in _blocks(st, "principals"):
                for ident in _as_list(principal.get("identifiers")):
                    if ident == "*" and not excepted("principals", ident):
                        v('principal "*" in an Allow statement makes the grant public')

    for block in cfg.blocks:
        if block.kind != "resource":
            continue
        candidates = [(a, block.body.get(a)) for a in _POLICY_ATTRIBUTES if a in block.body]
        candidates += [
            ("inline_policy.policy", p.get("policy"))
            for p in _blocks(block.body, "inline_policy")
            if "policy" in p
        ]
        for attr, value in candidates:
            if not _policy_doc_ref(value):
                out.append(
                    Violation(
                        "iam",
                        block.file,
                        block.address,
                        f"{attr} is not data.aws_iam_policy_document.<name>.json; inline JSON cannot be audited",
                    )
                )
        arn = block.body.get("policy_arn")
        if isinstance(arn, str) and re.match(r"^arn:aws[a-z-]*:iam::aws:policy/", arn):
            out.append(
                Violation(
                    "iam",
                    block.file,
                    block.address,
                    f"AWS managed policy {arn} is not least-privilege; write an aws_iam_policy_document",
                )
            )
    return out


def unused_exceptions(cfg: Config, exceptions: Iterable[IamException] = IAM_EXCEPTIONS) -> list[IamException]:
    """Exceptions that match no statement: stale entries hide nothing and must be removed."""
    exceptions = list(exceptions)
    baseline = len(check_iam(cfg, exceptions=exceptions))
    # An exception is used if removing it adds a violation.
    return [
        e for e in exceptions if len(check_iam(cfg, exceptions=[x for x in exceptions if x != e])) == baseline
    ]


ALL_CHECKS = {
    "bucket": check_buckets,
    "ingress": check_ingress,
    "redis": check_redis,
    "rds": check_rds,
    "iam": check_iam,
}

"""Settings: one ``featurelake.yaml``, overridable by environment variables.

Embedded defaults need no file at all: Delta tables under ``.featurelake/data``, a SQLite
registry at ``.featurelake/registry.db``, Spark ``local[*]``. Secrets are never written in the
file: it names the environment variables that hold them (``*_env`` keys).

Precedence (highest first): environment variables, the settings file, the defaults. With no
Redis configured, ``online.nodes`` defaults to the local stack's Redis cluster when
``featurelake services up`` (or ``featurelake demo run``) recorded one under ``home``.

Environment variables:
    FEATURELAKE_CONFIG        path of the settings file (default: ./featurelake.yaml if present)
    FEATURELAKE_HOME          state folder (default: ./.featurelake)
    FEATURELAKE_PROJECT       project name
    FEATURELAKE_STORAGE_ROOT  storage root (local folder or s3://bucket/prefix)
    FEATURELAKE_S3_ENDPOINT_URL  S3-compatible endpoint (MinIO, moto_server); unset = AWS
    FEATURELAKE_REGISTRY_URL  SQLAlchemy URL of the registry database
    FEATURELAKE_ONLINE_NODES  comma-separated host:port list of Redis cluster nodes
    FEATURELAKE_SPARK_MASTER  Spark master URL
"""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from featurelake.errors import ConfigError

DEFAULT_FILE = "featurelake.yaml"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class S3Settings(_Strict):
    """How to reach an S3-compatible object store."""

    endpoint_url: str | None = None
    region: str = "us-east-1"
    access_key_id_env: str | None = None
    secret_access_key_env: str | None = None
    allow_http: bool = False
    # None keeps the library defaults (lakehouse/storage.py: connect 3 s, request 5 s). The request
    # timeout bounds metadata requests (log reads, listings, commits); delta-rs data transfers
    # (optimize, snapshot reads) get at least 120 s.
    connect_timeout_s: float | None = Field(default=None, gt=0)
    request_timeout_s: float | None = Field(default=None, gt=0)


class StorageSettings(_Strict):
    """Where Delta tables live."""

    root: str = ""  # empty: <home>/data
    s3: S3Settings = S3Settings()

    @property
    def is_s3(self) -> bool:
        return self.root.startswith(("s3://", "s3a://"))

    def storage_options(self) -> dict[str, str]:
        """delta-rs/object_store options for this root (empty for local storage).

        Raises:
            ConfigError: if a named credential environment variable is not set.
        """
        if not self.is_s3:
            return {}
        opts: dict[str, str] = {"AWS_REGION": self.s3.region}
        if self.s3.endpoint_url:
            opts["AWS_ENDPOINT_URL"] = self.s3.endpoint_url
        if self.s3.allow_http or (self.s3.endpoint_url or "").startswith("http://"):
            opts["AWS_ALLOW_HTTP"] = "true"
        if self.s3.connect_timeout_s is not None:
            opts["connect_timeout"] = f"{round(self.s3.connect_timeout_s * 1000)}ms"
        if self.s3.request_timeout_s is not None:
            opts["timeout"] = f"{round(self.s3.request_timeout_s * 1000)}ms"
        for key, env in (
            ("AWS_ACCESS_KEY_ID", self.s3.access_key_id_env),
            ("AWS_SECRET_ACCESS_KEY", self.s3.secret_access_key_env),
        ):
            if env:
                value = os.environ.get(env)
                if value is None:
                    raise ConfigError(
                        f"storage.s3 names the environment variable {env!r} for {key}, but it is not set; "
                        f"export {env}=... or remove the key to use the default AWS credential chain"
                    )
                opts[key] = value
        return opts


class RegistrySettings(_Strict):
    """The registry database: give ``url`` or ``url_env`` (the variable holding the URL)."""

    url: str | None = None
    url_env: str | None = None

    @model_validator(mode="after")
    def _one_of(self) -> RegistrySettings:
        if self.url and self.url_env:
            raise ValueError("give either registry.url or registry.url_env, not both")
        return self


class OnlineSettings(_Strict):
    """The Redis cluster online store."""

    nodes: list[str] = Field(default_factory=list)
    ssl: bool = False
    # A PEM CA bundle to trust instead of the system store (a private CA); None: system CAs,
    # which already trust ElastiCache's certificates.
    ssl_ca_file: Path | None = None
    # Redis 6+ ACL user (ElastiCache RBAC); None: the default user (a plain AUTH token).
    username_env: str | None = None
    password_env: str | None = None
    key_ttl_seconds: int | None = Field(default=None, gt=0)
    # Replicas of each master that must confirm a materialization round (Redis WAIT); 0 trusts
    # the master alone and can lose its last writes if it dies before replicating them.
    replica_acks: int = Field(default=1, ge=0)
    # Materializations that read at most this many rows skip Spark: the driver reads the changed
    # files with pyarrow and writes them with the same newer-wins writer (0: always Spark).
    local_max_rows: int = Field(default=250_000, ge=0)

    @field_validator("nodes")
    @classmethod
    def _host_port(cls, nodes: list[str]) -> list[str]:
        for node in nodes:
            host, _, port = node.rpartition(":")
            if not host or not port.isdigit():
                raise ValueError(f"online node {node!r} is not host:port (e.g. 127.0.0.1:7101)")
        return nodes

    @model_validator(mode="after")
    def _tls_and_auth(self) -> OnlineSettings:
        problems = []
        if self.ssl_ca_file is not None:
            if not self.ssl:
                problems.append(
                    f"online.ssl_ca_file is {str(self.ssl_ca_file)!r} but online.ssl is false; set online.ssl: "
                    "true to connect with TLS, or remove online.ssl_ca_file"
                )
            if not self.ssl_ca_file.is_file():
                problems.append(
                    f"online.ssl_ca_file {str(self.ssl_ca_file)!r} is not a file (relative paths start at the "
                    f"working directory {os.getcwd()!r}); give the path of the PEM CA bundle, or remove the key "
                    "to trust the system CAs"
                )
        if self.username_env and not self.password_env:
            problems.append(
                f"online.username_env is {self.username_env!r} but online.password_env is not set; a Redis ACL "
                "user needs a password: set online.password_env too"
            )
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def password(self) -> str | None:
        """The AUTH password from the variable ``password_env`` names (None if no key).

        Raises:
            ConfigError: the variable is not set.
        """
        return self._secret("password_env", self.password_env)

    def username(self) -> str | None:
        """The ACL user name from the variable ``username_env`` names (None: the default user).

        Raises:
            ConfigError: the variable is not set.
        """
        return self._secret("username_env", self.username_env)

    def credentials_from(self) -> str | None:
        """Where the password and user name come from, for error messages (None: these keys)."""
        return None

    def ca_file(self) -> str | None:
        """``ssl_ca_file`` as a string for the Redis client (None: the system CAs)."""
        return None if self.ssl_ca_file is None else str(self.ssl_ca_file)

    @staticmethod
    def _secret(key: str, env: str | None) -> str | None:
        if not env:
            return None
        value = os.environ.get(env)
        if value is None:
            raise ConfigError(f"online.{key} names {env!r}, which is not set; export it or remove the key")
        return value


class SparkSettings(_Strict):
    """The Spark session jobs create (spark-submit's own --master wins when given)."""

    master: str | None = "local[*]"
    conf: dict[str, str] = Field(default_factory=dict)


class OpenLineageHttp(_Strict):
    """OpenLineage events POSTed to an HTTP endpoint (Marquez: ``http://host:5000``)."""

    type: Literal["http"]
    url: str = Field(pattern=r"^https?://[^/\s]+")
    endpoint: str = "api/v1/lineage"
    # each POST gives up after this; with ``retries`` the worst case per event is
    # (retries + 1) * timeout_s, and the job goes on either way
    timeout_s: float = Field(default=5.0, gt=0)
    retries: int = Field(default=2, ge=0)
    # the variable holding a bearer token (never the token itself); None: no Authorization header
    api_key_env: str | None = None


class OpenLineageFile(_Strict):
    """OpenLineage events appended to a file, one JSON event per line."""

    type: Literal["file"]
    path: Path


class OpenLineageSettings(_Strict):
    """OpenLineage run events for job runs (off unless a ``transport`` is given)."""

    transport: OpenLineageHttp | OpenLineageFile | None = Field(default=None, discriminator="type")
    # the OpenLineage job namespace; job names are ``<project>.<run kind>.<target>``
    namespace: str = Field(default="featurelake", min_length=1)
    # read each Delta table's schema at its version for the ``schema`` facet (one log read per dataset)
    schema_facets: bool = True


ConsoleRole = Literal["viewer", "editor", "approver", "admin"]
#: Console roles, weakest first: each role may do everything the roles before it may.
CONSOLE_ROLES: tuple[ConsoleRole, ...] = ("viewer", "editor", "approver", "admin")


class ConsoleIdentity(_Strict):
    """One person or service allowed into the governance console.

    The token itself is never stored: ``token_sha256`` is the hex SHA-256 of the bearer token
    (``featurelake console --new-token`` prints a fresh token and its hash).
    """

    name: str = Field(min_length=1)
    role: ConsoleRole
    token_sha256: str

    @field_validator("token_sha256")
    @classmethod
    def _sha256_hex(cls, value: str) -> str:
        value = value.strip().lower()
        if len(value) != 64 or any(c not in "0123456789abcdef" for c in value):
            raise ValueError(
                "token_sha256 must be the 64 hex digits of the token's SHA-256 "
                "(`featurelake console --new-token` prints one), not the token itself"
            )
        return value


JwtAlgorithm = Literal["RS256", "ES256"]


class JwtSettings(_Strict):
    """Signed JWTs (e.g. from an OIDC provider) checked offline against a JWKS file.

    Only asymmetric signatures are accepted (``RS256``, ``ES256``): ``none`` and the HMAC family
    (``HS*``) are refused, so a token can never be signed with a public key or not at all.
    ``identity_claim`` and ``role_claim`` may be dotted paths into nested claims (Keycloak's
    ``realm_access.roles``). The role claim holds a role name or a list of names; with
    ``role_map`` its values are group names mapped to roles. The highest role found wins.
    """

    jwks_file: Path
    issuer: str = Field(min_length=1)
    audience: str = Field(min_length=1)
    identity_claim: str = Field(default="sub", min_length=1)
    role_claim: str = Field(default="role", min_length=1)
    role_map: dict[str, ConsoleRole] = Field(default_factory=dict)
    algorithms: list[JwtAlgorithm] = Field(default_factory=lambda: ["RS256", "ES256"], min_length=1)
    # clock skew tolerated on exp / nbf / iat, in seconds
    leeway_seconds: int = Field(default=30, ge=0, le=300)


class ConsoleSettings(_Strict):
    """Access control of the console, the feature server's registry endpoints and the CLI.

    Who may sign in (token hashes and/or JWTs), with which role, and the approval rules.
    """

    identities: list[ConsoleIdentity] = Field(default_factory=list)
    # four eyes: the author of a version may not approve (activate) it themselves
    four_eyes: bool = False
    session_minutes: int = Field(default=480, gt=0)
    jwt: JwtSettings | None = None
    # the feature server, once identities or jwt are configured: "registry" guards its /registry
    # endpoints (viewer reads); "all" also the online lookup (viewer) and POST /push (editor);
    # "off" leaves every endpoint open
    server_access: Literal["off", "registry", "all"] = "registry"
    # the CLI: true refuses lifecycle changes (status set, apply --status active, cancel-run)
    # unless $FEATURELAKE_TOKEN names an identity; false keeps local developer mode without one
    cli_identity_required: bool = False

    @property
    def access_configured(self) -> bool:
        """Whether any credential (a token hash or a JWT issuer) is configured."""
        return bool(self.identities) or self.jwt is not None

    @model_validator(mode="after")
    def _unique(self) -> ConsoleSettings:
        problems = []
        names = [i.name for i in self.identities]
        for name in sorted({n for n in names if names.count(n) > 1}):
            problems.append(f"console identity {name!r} is listed more than once; keep one entry per name")
        hashes = [i.token_sha256 for i in self.identities]
        if len(set(hashes)) != len(hashes):
            problems.append("two console identities share one token_sha256; give each identity its own token")
        if problems:
            raise ValueError("; ".join(problems))
        return self


class Settings(_Strict):
    """All of featurelake's settings."""

    project: str = "fraud"
    home: Path = Path(".featurelake")
    feature_repo: Path = Path("feature_repo")
    storage: StorageSettings = StorageSettings()
    registry: RegistrySettings = RegistrySettings()
    online: OnlineSettings = OnlineSettings()
    spark: SparkSettings = SparkSettings()
    openlineage: OpenLineageSettings = OpenLineageSettings()
    console: ConsoleSettings = ConsoleSettings()
    source_file: Path | None = None  # set by the loader, not by the file

    @field_validator("project")
    @classmethod
    def _project_name(cls, value: str) -> str:
        if not value or not all(c.isalnum() or c == "_" for c in value):
            raise ValueError(f"project {value!r} must be letters, digits and underscores")
        return value

    @property
    def storage_root(self) -> str:
        """The storage root, defaulting to ``<home>/data`` as an absolute path."""
        if self.storage.root:
            return self.storage.root
        return str((self.home / "data").resolve())

    @property
    def registry_url(self) -> str:
        """The registry's SQLAlchemy URL, defaulting to SQLite under ``home``."""
        if self.registry.url:
            return self.registry.url
        if self.registry.url_env:
            value = os.environ.get(self.registry.url_env)
            if not value:
                raise ConfigError(
                    f"registry.url_env names {self.registry.url_env!r}, which is not set; "
                    f"export {self.registry.url_env}=postgresql+psycopg://... or use registry.url"
                )
            return value
        return f"sqlite:///{(self.home / 'registry.db').resolve()}"


_ENV_OVERRIDES: dict[str, tuple[str, ...]] = {
    "FEATURELAKE_PROJECT": ("project",),
    "FEATURELAKE_HOME": ("home",),
    "FEATURELAKE_STORAGE_ROOT": ("storage", "root"),
    "FEATURELAKE_S3_ENDPOINT_URL": ("storage", "s3", "endpoint_url"),
    "FEATURELAKE_REGISTRY_URL": ("registry", "url"),
    "FEATURELAKE_ONLINE_NODES": ("online", "nodes"),
    "FEATURELAKE_SPARK_MASTER": ("spark", "master"),
}


def _apply_env(data: dict[str, Any], environ: dict[str, str]) -> dict[str, Any]:
    data = copy.deepcopy(data)
    for var, path in _ENV_OVERRIDES.items():
        if var not in environ:
            continue
        value: Any = environ[var]
        if path == ("online", "nodes"):
            value = [n.strip() for n in value.split(",") if n.strip()]
        node = data
        for key in path[:-1]:
            child = node.setdefault(key, {})
            if not isinstance(child, dict):
                break  # the file's own value is malformed: validation reports it
            node = child
        else:
            if path == ("registry", "url"):
                node.pop("url_env", None)
            node[path[-1]] = value
    return data


def _format_validation_error(err: ValidationError, where: str, environ: dict[str, str] | None = None) -> str:
    problems = []
    for e in err.errors():
        loc = ".".join(str(p) for p in e["loc"]) or "(top level)"
        # a value set by an environment variable is named by that variable, not by the file
        var = next(
            (
                v
                for v, path in _ENV_OVERRIDES.items()
                if v in (environ or {}) and tuple(e["loc"][: len(path)]) == path
            ),
            None,
        )
        source = f"${var}" if var else where
        if e["type"] == "extra_forbidden":
            problems.append(f"unknown key {loc!r} in {source}; remove it or check its spelling")
        else:
            problems.append(f"{loc!r} in {source}: {e['msg']}")
    return "; ".join(problems)


def load_settings_from_dict(
    data: dict[str, Any], *, where: str = "settings", environ: dict[str, str] | None = None
) -> Settings:
    """Validate a settings mapping (as read from YAML) and apply environment overrides.

    Args:
        data: the parsed file contents.
        where: how to name the source in error messages (usually the file path).
        environ: environment to read overrides from (default: ``os.environ``).

    Returns:
        The validated settings.

    Raises:
        ConfigError: naming every bad or unknown key and the file.
    """
    if not isinstance(data, dict):
        raise ConfigError(f"{where} must be a YAML mapping of settings, got {type(data).__name__}")
    env = dict(os.environ if environ is None else environ)
    merged = _apply_env(data, env)
    try:
        return Settings.model_validate(merged)
    except ValidationError as err:
        raise ConfigError(_format_validation_error(err, where, env)) from None


def load_settings(path: str | Path | None = None, *, environ: dict[str, str] | None = None) -> Settings:
    """Load settings from ``path``, ``$FEATURELAKE_CONFIG`` or ``./featurelake.yaml``, else defaults.

    Raises:
        ConfigError: the file named explicitly does not exist, is not valid YAML, or has bad keys.
    """
    env = dict(os.environ if environ is None else environ)
    explicit = path or env.get("FEATURELAKE_CONFIG")
    file = Path(explicit) if explicit else Path(DEFAULT_FILE)
    if not file.exists():
        if explicit:
            raise ConfigError(
                f"settings file {str(file)!r} does not exist; check --config / FEATURELAKE_CONFIG"
            )
        return with_local_stack_defaults(load_settings_from_dict({}, where="defaults", environ=env))
    try:
        data = yaml.safe_load(file.read_text()) or {}
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(
            f"{file} is not valid YAML{at}: {getattr(err, 'problem', err)}; fix the syntax"
        ) from None
    settings = load_settings_from_dict(data, where=str(file), environ=env)
    return with_local_stack_defaults(settings.model_copy(update={"source_file": file}))


def with_local_stack_defaults(settings: Settings) -> Settings:
    """Fill ``online.nodes`` from the local stack when none are configured and its Redis runs.

    ``featurelake services up`` (and ``featurelake demo run``) record the stack's addresses in
    ``<home>/stack/stack.json``; with no Redis configured, commands then use that cluster, the
    same way the embedded defaults use a local folder and SQLite.
    """
    if settings.online.nodes:
        return settings
    state = Path(settings.home) / "stack" / "stack.json"
    try:
        nodes = json.loads(state.read_text())["redis"]["nodes"]
    except (OSError, ValueError, KeyError, TypeError):
        return settings
    if not isinstance(nodes, list) or not nodes:
        return settings
    online = settings.online.model_copy(update={"nodes": [str(n) for n in nodes]})
    return settings.model_copy(update={"online": online})


OutputFormat = Literal["text", "json"]

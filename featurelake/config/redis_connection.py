"""Feast's Redis ``connection_string``: the one place featurelake reads and writes it.

Feast (0.67, ``infra/online_stores/redis.py``) reads ``online_store.connection_string`` as
``host:port,host:port,key=value,...``: it splits on EVERY comma, a part without ``=`` is a node,
and each value is JSON-decoded first (``true`` becomes a boolean, ``007`` becomes the number 7);
the options go to redis-py's ``RedisCluster``. Feast expands ``$VAR``/``${VAR}`` in
feature_store.yaml with ``os.path.expandvars`` and leaves unset variables as literal text.

featurelake must reach the store exactly as Feast's SDK does, so:

- :func:`parse_connection_string` reads the string the way Feast does and refuses the shapes
  Feast would misread (a comma inside a value, a password that JSON turns into a number,
  ``ssl=False``, which Feast passes on as a truthy string);
- :func:`expand_connection_string` expands ``${VAR}`` like Feast, but an unset variable is an
  error instead of literal text (``FEATURELAKE_ONLINE_NODES`` alone falls back to featurelake's
  own ``online.nodes``), so TLS or AUTH options are never silently lost;
- :func:`format_connection_string` writes featurelake's ``online`` settings as a string Feast
  parses back to the same values (used when feature_store.yaml delegates to featurelake);
- :func:`online_settings_from_feast` turns Feast's string into featurelake's online settings
  and lists every option featurelake.yaml sets differently.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import PrivateAttr

from featurelake.config.settings import OnlineSettings
from featurelake.errors import ConfigError

NODES_ENV = "FEATURELAKE_ONLINE_NODES"
# The variable reference syntax of os.path.expandvars on POSIX (what Feast uses).
_VAR = re.compile(r"\$(\w+|\{[^}]*\})", re.ASCII)
# Options featurelake's own clients honour (the rest cannot change what is read or written
# without featurelake knowing, except the harmless ones below).
_TEXT_OPTIONS = ("password", "username", "ssl_ca_certs")
_HARMLESS_OPTIONS = frozenset(
    {
        "skip_full_coverage_check",
        "socket_timeout",
        "socket_connect_timeout",
        "socket_keepalive",
        "health_check_interval",
        "max_connections",
        "retry_on_timeout",
        "client_name",
        "decode_responses",
    }
)


@dataclass(frozen=True)
class RedisConnection:
    """A parsed Feast connection string (the values Feast hands to redis-py)."""

    nodes: tuple[str, ...]
    ssl: bool = False
    password: str | None = field(default=None, repr=False)
    username: str | None = None
    ssl_ca_certs: str | None = None
    other: Mapping[str, Any] = field(default_factory=dict)


def referenced_variables(text: str) -> list[str]:
    """Names of the environment variables ``text`` references (``$NAME`` or ``${NAME}``)."""
    return [m.group(1).strip("{}") for m in _VAR.finditer(text)]


def _expand(text: str, environ: Mapping[str, str]) -> str:
    # os.path.expandvars with an explicit mapping: set variables replaced, others left as-is.
    def sub(m: re.Match[str]) -> str:
        name = m.group(1).strip("{}")
        return environ[name] if name in environ else m.group(0)

    return _VAR.sub(sub, text)


def parse_connection_string(text: str, *, source: str) -> RedisConnection:
    """Parse a Feast Redis connection string exactly as Feast does, refusing what it misreads.

    Args:
        text: ``host:port,...,key=value,...`` (environment variables already expanded).
        source: where the string comes from, for error messages.

    Returns:
        The nodes and options, with the types Feast passes to redis-py.

    Raises:
        ConfigError: every problem found (one message): an empty part, a part that is neither
            ``host:port`` nor ``key=value`` (a comma inside a value, an unset ``${VAR}``), an
            option given twice, ``ssl`` that is not ``true``/``false``, or a password, user name
            or CA path that Feast's JSON decoding would change.
    """
    problems: list[str] = []
    nodes: list[str] = []
    options: dict[str, Any] = {}
    for part in text.split(","):
        if "=" not in part:
            host, _, port = part.rpartition(":")
            if host and port.isdigit() and ":" not in host:
                nodes.append(part)
            elif _VAR.search(part):
                names = ", ".join(referenced_variables(part))
                problems.append(f"{part!r} references the unset environment variable {names}; export it")
            elif not part.strip():
                problems.append("it has an empty part (two commas in a row, or a trailing comma); remove it")
            else:
                problems.append(
                    f"{part!r} is neither host:port nor key=value; Feast splits the string at every comma, "
                    "so a value containing a comma is cut in two: use a value without commas"
                )
            continue
        key, raw = part.split("=", 1)
        key = key.strip()
        if key in options:
            problems.append(f"option {key!r} is given twice (Feast keeps the last); give it once")
        try:
            value: Any = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        options[key] = value
        if key == "ssl" and not isinstance(value, bool):
            problems.append(
                f"ssl={raw} is not true or false; Feast passes {value!r} to redis-py as is (a non-empty "
                "string means TLS on): write ssl=true or ssl=false"
            )
        elif key in _TEXT_OPTIONS and not isinstance(value, str):
            problems.append(
                f"{key}={'***' if key == 'password' else raw} is JSON-decoded by Feast into the {type(value).__name__} "
                f"{'***' if key == 'password' else repr(value)}, so Feast's SDK would send a different value; "
                f'quote it as a JSON string ({key}="...") or choose one that is not a JSON literal'
            )
    if not nodes and not problems:
        problems.append("it names no host:port node; start it with the cluster's nodes")
    if problems:
        raise ConfigError(f"{source} is not a usable Redis connection string: " + "; ".join(problems))
    text_opts = {k: options.pop(k) for k in _TEXT_OPTIONS if k in options}
    return RedisConnection(
        nodes=tuple(nodes),
        ssl=bool(options.pop("ssl", False)),
        password=text_opts.get("password"),
        username=text_opts.get("username"),
        ssl_ca_certs=text_opts.get("ssl_ca_certs"),
        other=options,
    )


def _quote(key: str, value: str, where: str) -> str:
    if "," in value:
        raise ConfigError(
            f"{where} contains a comma, which Feast's connection_string cannot carry (it splits at every "
            "comma); choose a value without commas"
        )
    try:
        json.loads(value)
    except json.JSONDecodeError:
        return f"{key}={value}"
    return f"{key}={json.dumps(value)}"  # a JSON literal: quote it so Feast decodes it back to text


def format_connection_string(online: OnlineSettings) -> str:
    """featurelake's online settings as a Feast connection string that parses back to them.

    Raises:
        ConfigError: a ``*_env`` variable is unset, or a value contains a comma.
    """
    parts = list(online.nodes)
    if online.ssl:
        parts.append("ssl=true")
    password = online.password()
    if password is not None:
        parts.append(_quote("password", password, f"the password in ${online.password_env}"))
    username = online.username()
    if username is not None:
        parts.append(_quote("username", username, f"the user name in ${online.username_env}"))
    ca = online.ca_file()
    if ca is not None:
        parts.append(_quote("ssl_ca_certs", ca, f"online.ssl_ca_file {ca!r}"))
    return ",".join(parts)


def expand_connection_string(
    template: str, *, online: OnlineSettings, source: str, environ: Mapping[str, str]
) -> str:
    """Expand ``${VAR}`` in a connection string like Feast, refusing unset variables.

    ``FEATURELAKE_ONLINE_NODES`` is featurelake's own variable: when it is unset, featurelake's
    ``online.nodes`` stand in for it, and a string that is nothing but that reference delegates
    the whole connection (nodes, TLS, AUTH) to featurelake's ``online`` settings.

    Args:
        template: the value in feature_store.yaml (Feast may already have expanded set variables).
        online: featurelake's online settings.
        source: the file and key, for error messages.
        environ: the environment to expand from.

    Returns:
        The connection string featurelake and Feast's SDK both use.

    Raises:
        ConfigError: a referenced variable other than ``FEATURELAKE_ONLINE_NODES`` is unset, or
            ``online.nodes`` is empty where it must stand in.
    """
    env = dict(environ)
    if NODES_ENV not in env and NODES_ENV in referenced_variables(template):
        if not online.nodes:
            raise ConfigError(
                f"{source} uses ${{{NODES_ENV}}}, which is unset, and featurelake's online.nodes is empty; "
                f"export {NODES_ENV}=host:port,... or set online.nodes in featurelake.yaml"
            )
        if template.strip() in (f"${NODES_ENV}", f"${{{NODES_ENV}}}"):
            return format_connection_string(online)
        env[NODES_ENV] = ",".join(online.nodes)
    missing = sorted({name for name in referenced_variables(template) if name not in env})
    if missing:
        raise ConfigError(
            f"{source} references the environment variable(s) {', '.join(missing)}, which are not set; "
            "export them (Feast would keep the literal text and lose the options that use them)"
        )
    return _expand(template, env)


class FeastOnlineSettings(OnlineSettings):
    """Online settings whose password and user name come from Feast's connection string."""

    _password: str | None = PrivateAttr(default=None)
    _username: str | None = PrivateAttr(default=None)

    def password(self) -> str | None:
        """The AUTH password from feature_store.yaml's connection string."""
        return self._password

    def username(self) -> str | None:
        """The ACL user from feature_store.yaml's connection string."""
        return self._username

    def credentials_from(self) -> str | None:
        """Where the password and user name come from, for error messages."""
        return "online_store.connection_string in feature_store.yaml"


def _same_path(a: str | Path, b: str | Path) -> bool:
    return Path(a).expanduser().resolve() == Path(b).expanduser().resolve()


def online_settings_from_feast(
    conn: RedisConnection, online: OnlineSettings, *, source: str
) -> OnlineSettings:
    """featurelake's online settings taken from Feast's connection string.

    Nodes, TLS, CA bundle, password and user name come from ``conn``; the key TTL and replica
    acks from ``online``. Any of the former that featurelake.yaml ALSO sets must agree.

    Raises:
        ConfigError: every disagreement (one message), an option featurelake cannot honour, or
            an ``ssl_ca_certs`` that is not a file.
    """
    problems: list[str] = []
    if online.ssl and not conn.ssl:
        problems.append("online.ssl is true in featurelake.yaml but the connection string has no ssl=true")
    if online.ssl_ca_file is not None and (
        conn.ssl_ca_certs is None or not _same_path(online.ssl_ca_file, conn.ssl_ca_certs)
    ):
        problems.append(
            f"online.ssl_ca_file is {str(online.ssl_ca_file)!r} in featurelake.yaml but the connection string has "
            f"ssl_ca_certs={conn.ssl_ca_certs or '(none)'}"
        )
    for key, env, theirs in (
        ("password", online.password_env, conn.password),
        ("username", online.username_env, conn.username),
    ):
        if env is None:
            continue
        ours = online.password() if key == "password" else online.username()
        if theirs is None:
            problems.append(
                f"online.{key}_env is {env!r} in featurelake.yaml but the connection string has no {key}="
            )
        elif ours != theirs:
            shown = "a different password than" if key == "password" else f"{ours!r}, not {theirs!r} as in"
            problems.append(
                f"online.{key}_env ({env}) in featurelake.yaml holds {shown} {key}= in the connection string"
            )
    unsupported = sorted(set(conn.other) - _HARMLESS_OPTIONS)
    if unsupported:
        problems.append(
            f"option(s) {', '.join(unsupported)} in the connection string are not honoured by featurelake's "
            "materializer; remove them (supported: ssl, password, username, ssl_ca_certs)"
        )
    if conn.ssl_ca_certs is not None and not Path(conn.ssl_ca_certs).is_file():
        problems.append(f"ssl_ca_certs={conn.ssl_ca_certs} is not a file; give the path of the PEM CA bundle")
    if problems:
        raise ConfigError(
            f"featurelake.yaml and {source} disagree about the Redis connection: "
            + "; ".join(problems)
            + "; "
            "fix: keep TLS/AUTH options only in the connection string (featurelake uses them too) and remove "
            "the online.ssl/ssl_ca_file/password_env/username_env keys from featurelake.yaml, or make them equal"
        )
    settings = FeastOnlineSettings(
        nodes=list(conn.nodes),
        ssl=conn.ssl,
        ssl_ca_file=conn.ssl_ca_certs,
        key_ttl_seconds=online.key_ttl_seconds,
        replica_acks=online.replica_acks,
    )
    settings._password = conn.password
    settings._username = conn.username
    return settings


def check_agrees(conn: RedisConnection, online: OnlineSettings, *, source: str) -> None:
    """Raise the same ConfigError as :func:`online_settings_from_feast` if the two disagree.

    Options featurelake does not use itself are allowed here: only Feast's SDK reads them.
    """
    online_settings_from_feast(
        RedisConnection(conn.nodes, conn.ssl, conn.password, conn.username, conn.ssl_ca_certs),
        online,
        source=source,
    )

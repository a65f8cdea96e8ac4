"""Feast's Redis connection_string as featurelake reads, expands, writes and checks it.

Fast tests (no Redis server): every parse is compared with Feast's own parser
(``RedisOnlineStore._parse_connection_string``), and the apply/engine paths use Feast's real
``RepoConfig``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from feast.infra.online_stores.redis import RedisOnlineStore

from featurelake.config.redis_connection import (
    expand_connection_string,
    format_connection_string,
    online_settings_from_feast,
    parse_connection_string,
)
from featurelake.config.settings import OnlineSettings
from featurelake.errors import ConfigError
from featurelake.feast_plugins.materialization_engine import FeaturelakeSparkEngine
from featurelake.jobs.apply import feast_repo_config
from featurelake.jobs.materialize import redis_target

SRC = "online_store.connection_string in feature_store.yaml"
NODES = ["127.0.0.1:7201", "127.0.0.1:7202"]


def _feast(text: str) -> tuple[list[str], dict[str, Any]]:
    nodes, params = RedisOnlineStore._parse_connection_string(text)
    return [f"{n['host']}:{n['port']}" for n in nodes], params


@pytest.mark.parametrize(
    ("text", "nodes", "ssl", "password", "username", "ca", "other"),
    [
        ("h1:6379", ("h1:6379",), False, None, None, None, {}),
        ("h1:1,h2:2,ssl=true,password=tok-1", ("h1:1", "h2:2"), True, "tok-1", None, None, {}),
        ("h1:1,ssl=false", ("h1:1",), False, None, None, None, {}),
        ("h1:1,password=ab==", ("h1:1",), False, "ab==", None, None, {}),  # base64 '=' survives split("=", 1)
        ('h1:1,password="123"', ("h1:1",), False, "123", None, None, {}),  # JSON-quoted: text, not a number
        ("h1:1,password=007", ("h1:1",), False, "007", None, None, {}),  # not valid JSON: stays text
        ("h1:1,username=app,password=pw", ("h1:1",), False, "pw", "app", None, {}),
        ("h1:1,ssl=true,ssl_ca_certs=/etc/ca.pem", ("h1:1",), True, None, None, "/etc/ca.pem", {}),
        (
            "h1:1,skip_full_coverage_check=true",
            ("h1:1",),
            False,
            None,
            None,
            None,
            {"skip_full_coverage_check": True},
        ),
    ],
)
def test_parse_matches_feast(text, nodes, ssl, password, username, ca, other) -> None:
    conn = parse_connection_string(text, source=SRC)
    assert (conn.nodes, conn.ssl, conn.password, conn.username, conn.ssl_ca_certs) == (
        nodes,
        ssl,
        password,
        username,
        ca,
    )
    assert dict(conn.other) == other
    feast_nodes, params = _feast(text)  # what Feast's SDK hands to redis-py
    assert tuple(feast_nodes) == conn.nodes
    assert params.get("ssl", False) == conn.ssl
    assert params.get("password") == conn.password
    assert params.get("ssl_ca_certs") == conn.ssl_ca_certs


@pytest.mark.parametrize(
    ("text", "expect"),
    [
        # Feast splits at every comma: the password's tail becomes a "node".
        ("h1:1,password=ab,cd", ["'cd' is neither host:port nor key=value", "comma"]),
        ("h1:1,password=123", ["password=*** is JSON-decoded", "int", 'password="..."']),
        ("h1:1,password=true", ["JSON-decoded by Feast into the bool"]),
        ("h1:1,username=42", ["username=42 is JSON-decoded", "int 42"]),
        ("h1:1,ssl=False", ["ssl=False is not true or false", "ssl=true or ssl=false"]),
        ("h1:1,ssl=1", ["ssl=1 is not true or false"]),
        ("h1:1,,h2:2", ["empty part"]),
        ("h1:1,", ["empty part"]),
        ("${FL_T_NODES},ssl=true", ["unset environment variable FL_T_NODES", "export it"]),
        ("ssl=true", ["names no host:port node"]),
        ("h1,ssl=true", ["'h1' is neither host:port"]),
        ("h1:1,password=a,password=b", ["'password' is given twice"]),
    ],
)
def test_parse_refuses_what_feast_misreads(text: str, expect: list[str]) -> None:
    with pytest.raises(ConfigError) as err:
        parse_connection_string(text, source=SRC)
    message = str(err.value)
    assert message.startswith(f"{SRC} is not a usable Redis connection string: "), message
    for part in expect:
        assert part in message, message
    assert "\n" not in message


def test_parse_collects_every_problem() -> None:
    with pytest.raises(ConfigError) as err:
        parse_connection_string("h1:1,ssl=yes,password=12,x", source=SRC)
    assert all(p in str(err.value) for p in ("ssl=yes", "password=***", "'x'")), str(err.value)
    assert "12" not in str(err.value).split("password=")[1].split(";")[0]  # the secret is not echoed


def test_format_round_trips_through_feasts_parser(tmp_path: Path, monkeypatch) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("pem")
    for pw in ("tok-9f3", "123", "true", "null", "a=b", '"q"'):
        monkeypatch.setenv("FL_T_PW", pw)
        monkeypatch.setenv("FL_T_USER", "42")
        online = OnlineSettings(
            nodes=NODES, ssl=True, ssl_ca_file=ca, password_env="FL_T_PW", username_env="FL_T_USER"
        )
        text = format_connection_string(online)
        nodes, params = _feast(text)
        assert nodes == NODES
        assert params == {"ssl": True, "password": pw, "username": "42", "ssl_ca_certs": str(ca)}, text
        assert parse_connection_string(text, source=SRC).password == pw
    assert format_connection_string(OnlineSettings(nodes=NODES)) == ",".join(NODES)


def test_format_refuses_a_comma_in_the_password(monkeypatch) -> None:
    monkeypatch.setenv("FL_T_PW", "ab,cd")
    with pytest.raises(ConfigError, match=r"password in \$FL_T_PW contains a comma"):
        format_connection_string(OnlineSettings(nodes=NODES, password_env="FL_T_PW"))


def test_expand_like_feast_and_refuse_unset() -> None:
    online = OnlineSettings(nodes=NODES)
    env = {"FL_T_PW": "tok", "FL_T_HOST": "10.0.0.1"}
    got = expand_connection_string(
        "$FL_T_HOST:6379,ssl=true,password=${FL_T_PW}", online=online, source=SRC, environ=env
    )
    assert got == "10.0.0.1:6379,ssl=true,password=tok"
    with pytest.raises(ConfigError) as err:
        expand_connection_string(
            "h:1,ssl=true,password=${FL_T_MISSING}", online=online, source=SRC, environ=env
        )
    assert "FL_T_MISSING" in str(err.value) and SRC in str(err.value) and "export" in str(err.value)
    # featurelake's own nodes variable falls back to online.nodes; the options stay.
    got = expand_connection_string(
        "${FEATURELAKE_ONLINE_NODES},ssl=true,password=${FL_T_PW}", online=online, source=SRC, environ=env
    )
    assert got == ",".join(NODES) + ",ssl=true,password=tok"
    with pytest.raises(ConfigError, match="online.nodes is empty"):
        expand_connection_string(
            "${FEATURELAKE_ONLINE_NODES}", online=OnlineSettings(), source=SRC, environ={}
        )


# ------------------------------------------------------------------ apply (feast_repo_config)


def _repo(tmp_path: Path, connection_string: str) -> Path:
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "feature_store.yaml").write_text(
        yaml.safe_dump(
            {
                "project": "p",
                "provider": "local",
                "registry": {"registry_type": "file", "path": "data/registry.db"},
                "online_store": {
                    "type": "redis",
                    "redis_type": "redis_cluster",
                    "connection_string": connection_string,
                },
                "entity_key_serialization_version": 3,
            }
        )
    )
    return repo


def _config(repo: Path, online: OnlineSettings) -> Any:
    return feast_repo_config(repo, project="p", registry_url="sqlite:///x.db", online=online)


def test_apply_keeps_tls_and_auth_when_nodes_come_from_settings(tmp_path: Path, monkeypatch) -> None:
    # Bug: an unexpanded ${VAR} made apply replace the WHOLE string with bare nodes.
    monkeypatch.delenv("FEATURELAKE_ONLINE_NODES", raising=False)
    monkeypatch.setenv("FL_T_PW", "tok-1")
    repo = _repo(tmp_path, "${FEATURELAKE_ONLINE_NODES},ssl=true,password=${FL_T_PW}")
    config = _config(repo, OnlineSettings(nodes=NODES))
    assert config.online_store.connection_string == ",".join(NODES) + ",ssl=true,password=tok-1"


def test_apply_names_an_unset_variable_and_the_file(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("FL_T_MISSING", raising=False)
    repo = _repo(tmp_path, "127.0.0.1:7101,ssl=true,password=${FL_T_MISSING}")
    with pytest.raises(ConfigError) as err:
        _config(repo, OnlineSettings(nodes=NODES))
    assert "FL_T_MISSING" in str(err.value) and str(repo / "feature_store.yaml") in str(err.value)


def test_apply_delegated_string_carries_settings_tls_auth_ca(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("FEATURELAKE_ONLINE_NODES", raising=False)
    monkeypatch.setenv("FL_T_PW", "123")  # a JSON literal: must reach Feast as the text "123"
    ca = tmp_path / "ca.pem"
    ca.write_text("pem")
    repo = _repo(tmp_path, "${FEATURELAKE_ONLINE_NODES}")
    config = _config(repo, OnlineSettings(nodes=NODES, ssl=True, ssl_ca_file=ca, password_env="FL_T_PW"))
    nodes, params = _feast(config.online_store.connection_string)
    assert nodes == NODES
    assert params == {"ssl": True, "password": "123", "ssl_ca_certs": str(ca)}


def test_apply_refuses_a_string_that_disagrees_with_settings(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("FL_T_PW", "tok-1")
    repo = _repo(tmp_path, ",".join(NODES))  # plaintext, no password
    with pytest.raises(ConfigError) as err:
        _config(repo, OnlineSettings(nodes=NODES, ssl=True, password_env="FL_T_PW"))
    message = str(err.value)
    assert "online.ssl is true in featurelake.yaml but the connection string has no ssl=true" in message
    assert "online.password_env is 'FL_T_PW'" in message and "has no password=" in message
    assert "tok-1" not in message


# ------------------------------------------------------------------ the materialization engine


def _engine(
    tmp_path: Path, connection_string: str, featurelake_online: dict[str, Any]
) -> FeaturelakeSparkEngine:
    from feast import RepoConfig
    from feast.repo_config import RegistryConfig

    cfg = tmp_path / "featurelake.yaml"
    cfg.write_text(
        yaml.safe_dump({"project": "ignored", "home": str(tmp_path), "online": featurelake_online})
    )
    config = RepoConfig(
        project="p",
        provider="local",
        registry=RegistryConfig(path=str(tmp_path / "feast.db")),
        online_store={"type": "redis", "redis_type": "redis_cluster", "connection_string": connection_string},
        batch_engine={
            "type": "featurelake.feast_plugins.materialization_engine.FeaturelakeSparkEngine",
            "featurelake_config": str(cfg),
        },
        entity_key_serialization_version=3,
    )
    return FeaturelakeSparkEngine(repo_config=config, offline_store=None, online_store=None)


def test_engine_takes_the_whole_connection_from_feast(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("FEATURELAKE_ONLINE_NODES", raising=False)
    ca = tmp_path / "ca.pem"
    ca.write_text("pem")
    engine = _engine(
        tmp_path,
        f"{','.join(NODES)},ssl=true,username=app,password=tok-1,ssl_ca_certs={ca}",
        {"nodes": ["127.0.0.1:7101"], "key_ttl_seconds": 60, "replica_acks": 0},
    )
    settings = engine._settings()
    assert settings.project == "p"
    target = redis_target(settings)  # what the Spark executors receive
    assert (target.nodes, target.ssl, target.password, target.username, target.ssl_ca_file) == (
        tuple(NODES),
        True,
        "tok-1",
        "app",
        str(ca),
    )
    assert (target.key_ttl_seconds, target.replica_acks) == (60, 0)


def test_engine_lists_every_disagreement(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("FEATURELAKE_ONLINE_NODES", raising=False)
    monkeypatch.setenv("FL_T_PW", "other-token")
    monkeypatch.setenv("FL_T_USER", "bob")
    ca = tmp_path / "ca.pem"
    ca.write_text("pem")
    engine = _engine(
        tmp_path,
        f"{','.join(NODES)},username=app,password=tok-1",
        {"ssl": True, "ssl_ca_file": str(ca), "password_env": "FL_T_PW", "username_env": "FL_T_USER"},
    )
    with pytest.raises(ConfigError) as err:
        engine._settings()
    message = str(err.value)
    for part in (
        "featurelake.yaml and online_store.connection_string in feature_store.yaml disagree",
        "online.ssl is true in featurelake.yaml but the connection string has no ssl=true",
        f"online.ssl_ca_file is {str(ca)!r} in featurelake.yaml but the connection string has ssl_ca_certs=(none)",
        "online.password_env (FL_T_PW) in featurelake.yaml holds a different password than password=",
        "online.username_env (FL_T_USER) in featurelake.yaml holds 'bob', not 'app'",
        "fix: keep TLS/AUTH options only in the connection string",
    ):
        assert part in message, message
    assert "tok-1" not in message and "other-token" not in message and "\n" not in message


def test_engine_refuses_options_it_cannot_honour(tmp_path: Path) -> None:
    engine = _engine(tmp_path, f"{NODES[0]},ssl=true,ssl_certfile=/c.pem,skip_full_coverage_check=true", {})
    with pytest.raises(
        ConfigError, match="option\\(s\\) ssl_certfile in the connection string are not honoured"
    ):
        engine._settings()


def test_engine_names_an_unset_variable(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("FL_T_MISSING", raising=False)
    engine = _engine(tmp_path, f"{NODES[0]},password=${{FL_T_MISSING}}", {})
    with pytest.raises(ConfigError, match="FL_T_MISSING, which are not set"):
        engine._settings()


def test_online_settings_from_feast_agreeing_keys_are_fine(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("FL_T_PW", "tok-1")
    conn = parse_connection_string(f"{NODES[0]},ssl=true,password=tok-1", source=SRC)
    online = online_settings_from_feast(conn, OnlineSettings(ssl=True, password_env="FL_T_PW"), source=SRC)
    assert (online.nodes, online.ssl, online.password()) == ([NODES[0]], True, "tok-1")

"""Settings: defaults, file, environment overrides and errors that name the key and file."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from featurelake.config.settings import load_settings, load_settings_from_dict
from featurelake.errors import ConfigError


def test_embedded_defaults_need_no_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    s = load_settings(environ={})
    assert s.storage_root == str(tmp_path / ".featurelake" / "data")
    assert s.registry_url == f"sqlite:///{tmp_path / '.featurelake' / 'registry.db'}"
    assert s.spark.master == "local[*]"
    assert s.storage.storage_options() == {}
    assert s.source_file is None


def test_file_is_read_and_env_overrides_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "featurelake.yaml"
    cfg.write_text(
        "project: shop\n"
        "storage:\n  root: s3://bucket/prefix\n  s3:\n    endpoint_url: http://127.0.0.1:59000\n"
        "    access_key_id_env: MY_KEY\n    secret_access_key_env: MY_SECRET\n"
        "registry:\n  url_env: MY_DB\n"
        "online:\n  nodes: ['127.0.0.1:7101']\n"
        "spark:\n  master: spark://127.0.0.1:57077\n  conf: {spark.sql.shuffle.partitions: '8'}\n"
    )
    env = {
        "MY_KEY": "k",
        "MY_SECRET": "s",
        "MY_DB": "postgresql+psycopg://u:p@h/db",
        "FEATURELAKE_ONLINE_NODES": "10.0.0.1:7000, 10.0.0.2:7000",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    s = load_settings(cfg)
    assert s.project == "shop"
    assert s.source_file == cfg
    assert s.registry_url == "postgresql+psycopg://u:p@h/db"
    assert s.online.nodes == ["10.0.0.1:7000", "10.0.0.2:7000"]
    assert s.spark.conf == {"spark.sql.shuffle.partitions": "8"}
    assert s.storage.storage_options() == {
        "AWS_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": "http://127.0.0.1:59000",
        "AWS_ALLOW_HTTP": "true",
        "AWS_ACCESS_KEY_ID": "k",
        "AWS_SECRET_ACCESS_KEY": "s",
    }


def test_env_registry_url_replaces_url_env(tmp_path: Path) -> None:
    s = load_settings_from_dict(
        {"registry": {"url_env": "NOPE"}}, environ={"FEATURELAKE_REGISTRY_URL": "sqlite:///x.db"}
    )
    assert s.registry_url == "sqlite:///x.db"


def test_unknown_key_names_key_and_file(tmp_path: Path) -> None:
    cfg = tmp_path / "featurelake.yaml"
    cfg.write_text("project: p\nstorage:\n  rooot: /tmp/x\n")
    with pytest.raises(ConfigError) as err:
        load_settings(cfg, environ={})
    assert "storage.rooot" in str(err.value)
    assert str(cfg) in str(err.value)


def test_malformed_yaml_names_line(tmp_path: Path) -> None:
    cfg = tmp_path / "featurelake.yaml"
    cfg.write_text("project: p\nstorage: [unclosed\n")
    with pytest.raises(ConfigError, match=r"not valid YAML at line \d+"):
        load_settings(cfg, environ={})


def test_missing_explicit_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "nope.yaml", environ={})


def test_bad_values_are_all_reported() -> None:
    with pytest.raises(ConfigError) as err:
        load_settings_from_dict({"project": "bad name!", "online": {"nodes": ["nohost"]}}, environ={})
    msg = str(err.value)
    assert "'project'" in msg and "bad name!" in msg
    assert "nohost" in msg


def test_unset_credential_env_is_named() -> None:
    s = load_settings_from_dict(
        {"storage": {"root": "s3://b/p", "s3": {"access_key_id_env": "FL_TEST_UNSET_VAR"}}}, environ={}
    )
    with pytest.raises(ConfigError, match="FL_TEST_UNSET_VAR"):
        s.storage.storage_options()


def test_registry_url_and_url_env_are_exclusive() -> None:
    with pytest.raises(ConfigError, match="either registry.url or registry.url_env"):
        load_settings_from_dict({"registry": {"url": "sqlite://", "url_env": "X"}}, environ={})


def test_a_bad_value_from_the_environment_names_the_variable(tmp_path: Path) -> None:
    cfg = tmp_path / "featurelake.yaml"
    cfg.write_text("online:\n  nodes: ['127.0.0.1:7101']\n")
    with pytest.raises(
        ConfigError, match=r"'online\.nodes' in \$FEATURELAKE_ONLINE_NODES: .*'junk' is not host:port"
    ):
        load_settings(cfg, environ={"FEATURELAKE_ONLINE_NODES": "junk"})
    cfg.write_text("online:\n  nodes: ['junk']\n")
    with pytest.raises(ConfigError, match=rf"'online\.nodes' in {re.escape(str(cfg))}: "):
        load_settings(cfg, environ={})


def test_online_nodes_default_to_the_running_local_stack(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert load_settings(environ={}).online.nodes == []  # no stack state: nothing invented
    state = tmp_path / ".featurelake" / "stack" / "stack.json"
    state.parent.mkdir(parents=True)
    state.write_text('{"redis": {"nodes": ["127.0.0.1:7101", "127.0.0.1:7102"]}}')
    assert load_settings(environ={}).online.nodes == ["127.0.0.1:7101", "127.0.0.1:7102"]
    explicit = load_settings(environ={"FEATURELAKE_ONLINE_NODES": "10.1.1.1:7000"})
    assert explicit.online.nodes == ["10.1.1.1:7000"]  # configured nodes always win
    state.write_text('{"postgres": {"url": "x"}}')  # stack without redis
    assert load_settings(environ={}).online.nodes == []


def test_online_tls_and_acl_keys_are_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    monkeypatch.setenv("FL_TEST_REDIS_USER", "app")
    monkeypatch.setenv("FL_TEST_REDIS_PASS", "s3cret")
    s = load_settings_from_dict(
        {
            "online": {
                "ssl": True,
                "ssl_ca_file": str(ca),
                "username_env": "FL_TEST_REDIS_USER",
                "password_env": "FL_TEST_REDIS_PASS",
            }
        },
        environ={},
    )
    assert (s.online.ca_file(), s.online.username(), s.online.password()) == (str(ca), "app", "s3cret")
    plain = load_settings_from_dict({}, environ={}).online
    assert (plain.ssl, plain.ca_file(), plain.username(), plain.password()) == (False, None, None, None)


def test_ssl_ca_file_without_ssl_names_both_keys_and_the_fix(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("pem")
    with pytest.raises(ConfigError) as err:
        load_settings_from_dict({"online": {"ssl_ca_file": str(ca)}}, environ={}, where="my.yaml")
    msg = str(err.value)
    assert "online.ssl_ca_file" in msg and "online.ssl is false" in msg and "set online.ssl: true" in msg
    assert "my.yaml" in msg


def test_missing_ssl_ca_file_names_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "ca.pem"
    with pytest.raises(ConfigError) as err:
        load_settings_from_dict({"online": {"ssl": True, "ssl_ca_file": str(missing)}}, environ={})
    assert f"online.ssl_ca_file {str(missing)!r} is not a file" in str(err.value)
    # Both problems at once are both reported.
    with pytest.raises(ConfigError) as err:
        load_settings_from_dict({"online": {"ssl_ca_file": str(missing)}}, environ={})
    assert "online.ssl is false" in str(err.value) and "is not a file" in str(err.value)


def test_online_username_env_needs_password_env_and_unset_vars_are_named() -> None:
    with pytest.raises(ConfigError, match="online.username_env .* online.password_env is not set"):
        load_settings_from_dict({"online": {"username_env": "U"}}, environ={})
    s = load_settings_from_dict(
        {"online": {"username_env": "FL_TEST_UNSET_USER", "password_env": "FL_TEST_UNSET_PASS"}}, environ={}
    )
    with pytest.raises(ConfigError, match="online.username_env names 'FL_TEST_UNSET_USER', which is not set"):
        s.online.username()
    with pytest.raises(ConfigError, match="online.password_env names 'FL_TEST_UNSET_PASS', which is not set"):
        s.online.password()


def test_unknown_online_key_is_still_refused() -> None:
    with pytest.raises(ConfigError, match="unknown key 'online.ssl_ca_cert'"):
        load_settings_from_dict({"online": {"ssl_ca_cert": "x"}}, environ={})


def test_s3_timeouts_become_object_store_durations() -> None:
    s = load_settings_from_dict(
        {"storage": {"root": "s3://b/p", "s3": {"connect_timeout_s": 1.5, "request_timeout_s": 20}}},
        environ={},
    )
    opts = s.storage.storage_options()
    assert opts["connect_timeout"] == "1500ms" and opts["timeout"] == "20000ms"


def test_s3_timeouts_must_be_positive() -> None:
    with pytest.raises(ConfigError, match="request_timeout_s"):
        load_settings_from_dict({"storage": {"s3": {"request_timeout_s": 0}}}, environ={})

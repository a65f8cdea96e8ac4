"""The bad-input catalogue: what users really send, across the CLI, the Python API and HTTP.

Every case asserts the exit code (CLI), the exception class (API) or the HTTP status; that the
message names the bad value; and that nothing changed: no Delta table version, no registry run
or audit row, no Redis key of the project. CLI cases run ``featurelake`` in this process through
its real entry point (the same error handler and exit codes as the installed command).
Exit codes: 2 bad input, 4 a failed check, 5 a conflict (jobs/entrypoint.py).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.backfill.lakes import Lake, make_lake

pytestmark = pytest.mark.redis

INT64_OVERFLOW = "99999999999999999999999"
TOMORROW = (datetime.now(UTC).date() + timedelta(days=1)).isoformat()


@dataclass
class World:
    lake: Lake
    config: Path
    project: str
    http: Any
    sdk: Any
    redis: Any
    tmp: Path

    def redis_keys(self) -> int:
        return sum(1 for _ in self.redis.scan_iter(match=f"*{self.project}".encode(), count=1000))

    def snapshot(self) -> tuple[Any, ...]:
        lh, reg, project = self.lake.lakehouse, self.lake.registry, self.lake.settings.project
        tables = tuple((t, lh.version(t)) for t in lh.list_tables())
        runs = len(reg.list_runs(project, limit=10_000))
        audit = len(reg.audit(project=project, limit=10_000))
        return tables, runs, audit, self.redis_keys()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, redis_nodes: list[str]) -> Any:
    from fastapi.testclient import TestClient
    from redis.cluster import ClusterNode, RedisCluster

    from featurelake.jobs.online import FeatureCatalog, OnlineFeatureClient
    from featurelake.lakehouse.online import ClusterClient, OnlineView, OnlineWriter
    from featurelake.lakehouse.online.encoding import to_epoch_micros
    from featurelake.server.app import create_app
    from tests.online.helpers import unique_project

    tmp = tmp_path_factory.mktemp("catalogue")
    project = unique_project()
    lake = make_lake(tmp, project=project)
    data = yaml.safe_load(lake.config.read_text())
    data["online"] = {"nodes": list(redis_nodes)}
    config = tmp / "with_online.yaml"
    config.write_text(yaml.safe_dump(data))
    view = OnlineView("merchant", (("merchant_id", "int64"),), (("risk", "double"),), ttl=timedelta(days=1))
    OnlineWriter(ClusterClient(redis_nodes), project=project, view=view).write_rows(
        [([1], to_epoch_micros(datetime.now(UTC)), [0.25])]
    )
    catalog = FeatureCatalog(
        project=project, views={"merchant": view}, services={"risk_svc": [("merchant", ("risk",))]}
    )
    sdk = OnlineFeatureClient.connect(catalog, redis_nodes)
    http = TestClient(create_app(sdk, max_request_bytes=4000))
    host, port = redis_nodes[0].split(":")
    redis = RedisCluster(startup_nodes=[ClusterNode(host, int(port))])
    yield World(lake, config, project, http, sdk, redis, tmp)
    redis.close()
    lake.registry.dispose()


def _cli(
    world: World, capsys: pytest.CaptureFixture[str], *args: str, config: Path | None = None
) -> tuple[int, str]:
    from featurelake.cli.main import main

    capsys.readouterr()
    code = 0
    try:
        main(["--config", str(config or world.config), *args])
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
    out = capsys.readouterr()
    return code, out.err + out.out


@dataclass(frozen=True)
class Case:
    id: str
    args: tuple[str, ...]
    code: int
    names: tuple[str, ...]


BF = ("backfill", "--view", "user_counts")
CLI_CASES = [
    Case(
        "backfill end before start", (*BF, "--start", "2024-01-10", "--end", "2024-01-05"), 2, ("2024-01-05",)
    ),
    Case(
        "backfill chunk-days 0",
        (*BF, "--start", "2024-01-10", "--end", "2024-01-12", "--chunk-days", "0"),
        2,
        ("--chunk-days 0",),
    ),
    Case(
        "backfill negative file size",
        (*BF, "--start", "2024-01-10", "--end", "2024-01-12", "--target-file-mb", "-3"),
        2,
        ("-3",),
    ),
    Case(
        "backfill unknown view",
        ("backfill", "--view", "no_such_view", "--start", "2024-01-10", "--end", "2024-01-12"),
        2,
        ("no_such_view",),
    ),
    Case(
        "backfill unknown version",
        (*BF, "--version", "9", "--start", "2024-01-10", "--end", "2024-01-12"),
        2,
        ("9",),
    ),
    Case(
        "backfill version not a number",
        (*BF, "--version", "two", "--start", "2024-01-10", "--end", "2024-01-12"),
        2,
        ("two",),
    ),
    Case(
        "backfill year 2099",
        (*BF, "--start", "2099-01-01", "--end", "2099-01-03"),
        2,
        ("2099-01-01", "--allow-future"),
    ),
    Case("backfill ends tomorrow", (*BF, "--start", "2024-01-10", "--end", TOMORROW), 2, (TOMORROW,)),
    Case("backfill month 13", (*BF, "--start", "2024-13-01", "--end", "2024-01-12"), 2, ("2024-13-01",)),
    Case(
        "backfill date with slashes",
        (*BF, "--start", "01/10/2024", "--end", "2024-01-12"),
        2,
        ("01/10/2024", "YYYY-MM-DD"),
    ),
    Case(
        "backfill no source data",
        ("backfill", "--view", "user_counts_nosource", "--start", "2024-01-10", "--end", "2024-01-12"),
        2,
        ("raw_nope",),
    ),
    Case("materialize nothing named", ("materialize", "--incremental"), 2, ("--view",)),
    Case(
        "materialize view and all",
        ("materialize", "--view", "user_counts", "--all", "--incremental"),
        2,
        ("--all",),
    ),
    Case(
        "materialize incremental and window",
        ("materialize", "--view", "user_counts", "--incremental", "--start", "2024-01-01"),
        2,
        ("--incremental",),
    ),
    Case(
        "materialize unknown view", ("materialize", "--view", "nope_view", "--incremental"), 2, ("nope_view",)
    ),
    Case(
        "materialize window backwards",
        ("materialize", "--view", "user_counts", "--start", "2024-02-01", "--end", "2024-01-01"),
        2,
        ("2024-02-01",),
    ),
    Case(
        "materialize bad timestamp",
        ("materialize", "--view", "user_counts", "--start", "yesterday"),
        2,
        ("yesterday",),
    ),
    Case(
        "materialize no table yet",
        ("materialize", "--view", "user_counts_strict", "--incremental"),
        2,
        ("user_counts_strict",),
    ),
    Case(
        "training-set unknown service",
        ("training-set", "create", "--service", "no_service", "--entities", "raw_users", "--name", "ts"),
        2,
        ("no_service",),
    ),
    Case(
        "training-set missing file",
        (
            "training-set",
            "create",
            "--service",
            "no_service",
            "--entities",
            "/nonexistent/e.parquet",
            "--name",
            "ts",
        ),
        2,
        ("/nonexistent/e.parquet",),
    ),
    Case(
        "training-set missing table",
        ("training-set", "create", "--service", "no_service", "--entities", "no_table", "--name", "ts"),
        2,
        ("no_table",),
    ),
    Case(
        "training-set service version",
        ("training-set", "create", "--service", "no_service:vx", "--entities", "raw_users", "--name", "ts"),
        2,
        ("vx",),
    ),
    Case(
        "training-set bad name",
        ("training-set", "create", "--service", "no_service", "--entities", "raw_users", "--name", "my set!"),
        2,
        ("my set!",),
    ),
    Case("training-set show unknown", ("training-set", "show", "nope_set"), 2, ("nope_set",)),
    Case("training-set reproduce unknown", ("training-set", "reproduce", "nope_set"), 2, ("nope_set",)),
    Case("registry show unknown", ("registry", "show", "ghost_view"), 2, ("ghost_view",)),
    Case("registry show bad version", ("registry", "show", "user_counts:x"), 2, ("user_counts:x",)),
    Case("registry show missing version", ("registry", "show", "user_counts:9"), 2, ("9",)),
    Case(
        "registry show service v-syntax unknown",
        ("registry", "show", "ghost_svc:v1", "--kind", "service"),
        2,
        ("ghost_svc",),
    ),
    Case(
        "registry show service dotted",
        ("registry", "show", "ghost_svc:1.0", "--kind", "service"),
        2,
        ("ghost_svc",),
    ),
    Case(
        "registry status unknown view",
        ("registry", "status", "set", "ghost_view:1", "deprecated", "--reason", "r"),
        2,
        ("ghost_view",),
    ),
    Case(
        "registry status bad status",
        ("registry", "status", "set", "user_counts:1", "retired", "--reason", "r"),
        2,
        ("retired",),
    ),
    Case("registry runs bad kind", ("registry", "runs", "--kind", "bake"), 2, ("bake",)),
    Case("registry cancel unknown run", ("registry", "cancel-run", "deadbeef"), 2, ("deadbeef",)),
    Case("registry cancel short id", ("registry", "cancel-run", "ab"), 2, ("'ab'",)),
    Case("registry lineage bad depth", ("registry", "lineage", "user_counts", "--depth", "0"), 2, ("0",)),
    Case("table history unknown", ("table", "history", "no_such_table"), 2, ("no_such_table",)),
    Case("table describe unknown", ("table", "describe", "no_such_table"), 2, ("no_such_table",)),
    Case(
        "table vacuum negative retention",
        ("table", "vacuum", "raw_users", "--retention-hours", "-1"),
        2,
        ("-1",),
    ),
    Case(
        "online get unknown feature",
        ("online", "get", "--feature", "ghost:f", "--entity", "user_id=1"),
        2,
        ("ghost",),
    ),
    Case(
        "online get int64 overflow",
        ("online", "get", "--feature", "user_counts:txn_count_1d", "--entity", f"user_id={INT64_OVERFLOW}"),
        2,
        (INT64_OVERFLOW, "int64"),
    ),
    Case(
        "online get entity without =",
        ("online", "get", "--feature", "user_counts:txn_count_1d", "--entity", "user_id"),
        2,
        ("'user_id'",),
    ),
    Case(
        "online get wrong key name",
        ("online", "get", "--feature", "user_counts:txn_count_1d", "--entity", "usr=1"),
        2,
        ("usr",),
    ),
    Case(
        "online get string for int key",
        ("online", "get", "--feature", "user_counts:txn_count_1d", "--entity", "user_id=abc"),
        2,
        ("abc",),
    ),
    Case(
        "online get feature and service",
        ("online", "get", "--feature", "user_counts:txn_count_1d", "--service", "s", "--entity", "user_id=1"),
        2,
        ("--service",),
    ),
    Case("online check unknown view", ("online", "check", "--view", "ghost_view"), 2, ("ghost_view",)),
    Case("serve port out of range", ("serve", "--port", "70000"), 2, ("70000",)),
    Case("demo generate negative rows", ("demo", "generate", "--rows", "-5"), 2, ("-5",)),
    Case("apply missing repo", ("apply", "--repo", "/nonexistent/repo"), 2, ("/nonexistent/repo",)),
    Case("plan missing repo", ("plan", "--repo", "/nonexistent/repo"), 2, ("/nonexistent/repo",)),
]


@pytest.mark.parametrize("case", CLI_CASES, ids=[c.id for c in CLI_CASES])
def test_cli(world: World, capsys: pytest.CaptureFixture[str], case: Case) -> None:
    before = world.snapshot()
    code, text = _cli(world, capsys, *case.args)
    assert code == case.code, text
    for name in case.names:
        assert name in text, f"{name!r} not named in: {text}"
    assert "Traceback" not in text and "Caused by" not in text, text
    assert world.snapshot() == before


def test_cli_settings_file_problems(world: World, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    before = world.snapshot()
    missing = tmp_path / "nope.yaml"
    code, text = _cli(world, capsys, "registry", "list", config=missing)
    assert code == 2 and str(missing) in text
    unknown_key = tmp_path / "bad.yaml"
    unknown_key.write_text("projct: x\n")
    code, text = _cli(world, capsys, "registry", "list", config=unknown_key)
    assert code == 2 and "projct" in text
    typo = tmp_path / "typo.yaml"
    data = yaml.safe_load(world.config.read_text())
    data["registry"] = {"url": f"sqlite:///{tmp_path}/typo/registry.db"}
    typo.write_text(yaml.safe_dump(data))
    for args in (
        ("registry", "list"),
        ("monitor", "status"),
        ("erase", "status"),
        ("table", "expire", "--dry-run"),
        ("training-set", "list"),
    ):  # only apply / registry init create a registry: every other command names the path
        code, text = _cli(world, capsys, *args, config=typo)
        assert code == 2 and f"{tmp_path}/typo/registry.db" in text, (args, text)
        assert not (tmp_path / "typo").exists(), args
    assert world.snapshot() == before


def test_cli_non_delta_folder_and_corrupt_log(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    import shutil

    lh = world.lake.lakehouse
    root = Path(world.lake.settings.storage_root)
    (root / "not_delta").mkdir(exist_ok=True)
    (root / "not_delta" / "data.parquet").write_bytes(b"PAR1")
    code, text = _cli(world, capsys, "table", "history", "not_delta")
    assert code == 2 and "not a Delta table" in text and "not_delta" in text
    shutil.copytree(root / "raw_users", root / "raw_users_copy")
    logs = sorted((root / "raw_users_copy" / "_delta_log").glob("*.json"))
    logs[-1].write_text(logs[-1].read_text()[:25])  # a commit file cut off mid-write
    try:
        code, text = _cli(world, capsys, "table", "history", "raw_users_copy")
    finally:
        shutil.rmtree(root / "raw_users_copy")
        shutil.rmtree(root / "not_delta")
    assert code == 1, text
    assert logs[-1].name in text and "corrupt" in text and "Traceback" not in text
    assert lh.exists("raw_users")


# --------------------------------------------------------------------------- API


def _api(fn: Callable[[], Any]) -> tuple[str, str]:
    try:
        fn()
    except Exception as err:  # noqa: BLE001 - the class and message are what is checked
        return type(err).__name__, str(err)
    return "no error", ""


def _api_cases(world: World) -> list[tuple[str, Callable[[], Any], str, tuple[str, ...]]]:
    from featurelake.jobs.backfill import BackfillOptions, prepare_backfill
    from featurelake.jobs.training_set import read_training_set
    from featurelake.lakehouse.tables import Lakehouse
    from featurelake.registry import open_registry

    sdk, reg, lh, settings = world.sdk, world.lake.registry, world.lake.lakehouse, world.lake.settings
    project = settings.project
    far = date(2099, 1, 1)
    return [
        (
            "int64 overflow",
            lambda: sdk.get_online_features(
                features=["merchant:risk"], entity_rows=[{"merchant_id": int(INT64_OVERFLOW)}]
            ),
            "InvalidRequestError",
            (INT64_OVERFLOW, "int64"),
        ),
        (
            "no entity rows",
            lambda: sdk.get_online_features(features=["merchant:risk"], entity_rows=[]),
            "InvalidRequestError",
            ("merchant_id",),
        ),
        (
            "empty entity columns",
            lambda: sdk.get_online_features(features=["merchant:risk"], entity_rows={}),
            "InvalidRequestError",
            ("merchant_id",),
        ),
        (
            "unknown view",
            lambda: sdk.get_online_features(features=["ghost:risk"], entity_rows=[{"merchant_id": 1}]),
            "InvalidRequestError",
            ("ghost",),
        ),
        (
            "unknown feature",
            lambda: sdk.get_online_features(features=["merchant:nope"], entity_rows=[{"merchant_id": 1}]),
            "InvalidRequestError",
            ("nope",),
        ),
        (
            "not view:feature",
            lambda: sdk.get_online_features(features=["merchant.risk"], entity_rows=[{"merchant_id": 1}]),
            "InvalidRequestError",
            ("merchant.risk",),
        ),
        (
            "wrong key type",
            lambda: sdk.get_online_features(features=["merchant:risk"], entity_rows=[{"merchant_id": "one"}]),
            "InvalidRequestError",
            ("one",),
        ),
        (
            "unknown key",
            lambda: sdk.get_online_features(features=["merchant:risk"], entity_rows=[{"merchant": 1}]),
            "InvalidRequestError",
            ("merchant",),
        ),
        (
            "unequal columns",
            lambda: sdk.get_online_features(
                features=["merchant:risk"], entity_rows={"merchant_id": [1, 2], "x": [1]}
            ),
            "InvalidRequestError",
            ("different lengths",),
        ),
        (
            "unknown service",
            lambda: sdk.get_online_features(feature_service="ghost_svc", entity_rows=[{"merchant_id": 1}]),
            "InvalidRequestError",
            ("ghost_svc",),
        ),
        (
            "features and service",
            lambda: sdk.get_online_features(
                features=["merchant:risk"], feature_service="risk_svc", entity_rows=[{"merchant_id": 1}]
            ),
            "InvalidRequestError",
            ("not both",),
        ),
        (
            "assert_usable purpose",
            lambda: reg.assert_usable(project, "user_counts", None, "eat"),
            "RegistryError",
            ("'eat'",),
        ),
        (
            "unknown view version",
            lambda: reg.get_view_version(project, "user_counts", "7"),
            "RegistryError",
            ("7",),
        ),
        ("run kind", lambda: reg.start_run(project, "bake", {}, "t"), "RegistryError", ("'bake'",)),
        ("registry url scheme", lambda: open_registry("mysql://u@h/db"), "RegistryError", ("mysql",)),
        ("registry url garbage", lambda: open_registry("not a url"), "RegistryError", ("not a url",)),
        ("table name", lambda: lh.exists("bad/../name"), "LakehouseError", ("bad/../name",)),
        (
            "date range type",
            lambda: lh.files("raw_users", date_range=("2024-01-01", "2024-01-02")),
            "LakehouseError",
            ("2024-01-01",),
        ),
        (
            "date range backwards",
            lambda: lh.files("raw_users", date_range=(date(2024, 2, 1), date(2024, 1, 1))),
            "LakehouseError",
            ("2024-02-01",),
        ),
        ("missing version", lambda: lh.files("raw_users", version=999), "LakehouseError", ("999",)),
        ("vacuum missing table", lambda: lh.vacuum("ghost_table"), "TableNotFoundError", ("ghost_table",)),
        (
            "lakehouse missing root",
            lambda: Lakehouse(root="s3://").version("x"),
            "ConfigError",
            ("s3://",),
        ),
        (
            "future backfill",
            lambda: prepare_backfill(settings, BackfillOptions(view="user_counts", start=far, end=far)),
            "DefinitionError",
            ("2099-01-01",),
        ),
        (
            "unknown training set",
            lambda: read_training_set(registry=reg, lakehouse=lh, project=project, name="ghost_ts"),
            "RegistryError",
            ("ghost_ts",),
        ),
    ]


API_IDS = [
    "int64 overflow",
    "no entity rows",
    "empty entity columns",
    "unknown view",
    "unknown feature",
    "not view:feature",
    "wrong key type",
    "unknown key",
    "unequal columns",
    "unknown service",
    "features and service",
    "assert_usable purpose",
    "unknown view version",
    "run kind",
    "registry url scheme",
    "registry url garbage",
    "table name",
    "date range type",
    "date range backwards",
    "missing version",
    "vacuum missing table",
    "lakehouse missing root",
    "future backfill",
    "unknown training set",
]


@pytest.mark.parametrize("case_id", API_IDS)
def test_api(world: World, case_id: str) -> None:
    case = {c[0]: c for c in _api_cases(world)}[case_id]
    _, fn, cls, names = case
    before = world.snapshot()
    got, message = _api(fn)
    assert got == cls, message
    for name in names:
        assert name in message, f"{name!r} not named in: {message}"
    assert world.snapshot() == before


def test_api_single_feature_string_is_one_reference(world: World) -> None:
    resp = world.sdk.get_online_features(features="merchant:risk", entity_rows=[{"merchant_id": 1}])
    assert resp.names == ["merchant_id", "risk"]
    assert resp.values[1] == [0.25]


# --------------------------------------------------------------------------- HTTP

HTTP_CASES = [
    ("empty entities", {"features": ["merchant:risk"], "entities": {}}, 400, ("merchant_id",)),
    ("empty rows", {"features": ["merchant:risk"], "entities": {"merchant_id": []}}, 400, ("merchant_id",)),
    (
        "int64 overflow",
        {"features": ["merchant:risk"], "entities": {"merchant_id": [int(INT64_OVERFLOW)]}},
        400,
        (INT64_OVERFLOW, "int64"),
    ),
    ("unknown view", {"features": ["ghost:risk"], "entities": {"merchant_id": [1]}}, 404, ("ghost",)),
    ("unknown feature", {"features": ["merchant:nope"], "entities": {"merchant_id": [1]}}, 400, ("nope",)),
    ("wrong type", {"features": ["merchant:risk"], "entities": {"merchant_id": ["x"]}}, 400, ("x",)),
    ("unknown key", {"features": ["merchant:risk"], "entities": {"merchant": [1]}}, 400, ("merchant",)),
    ("no entities field", {"features": ["merchant:risk"]}, 422, ("entities",)),
    (
        "unknown service",
        {"feature_service": "ghost_svc", "entities": {"merchant_id": [1]}},
        404,
        ("ghost_svc",),
    ),
    (
        "features and service",
        {"features": ["merchant:risk"], "feature_service": "risk_svc", "entities": {"merchant_id": [1]}},
        400,
        ("not both",),
    ),
    (
        "extra field",
        {"features": ["merchant:risk"], "entities": {"merchant_id": [1]}, "fetures": []},
        422,
        ("fetures",),
    ),
    (
        "unequal columns",
        {"features": ["merchant:risk"], "entities": {"merchant_id": [1, 2], "other": [1]}},
        400,
        ("different lengths",),
    ),
    ("entities not a dict", {"features": ["merchant:risk"], "entities": [1, 2]}, 422, ("entities",)),
    (
        "too large",
        {"features": ["merchant:risk"], "entities": {"merchant_id": list(range(2000))}},
        413,
        ("4000",),
    ),
]


@pytest.mark.parametrize(
    ("body", "status", "names"), [c[1:] for c in HTTP_CASES], ids=[c[0] for c in HTTP_CASES]
)
def test_http(world: World, body: dict[str, Any], status: int, names: tuple[str, ...]) -> None:
    before = world.snapshot()
    resp = world.http.post(
        "/get-online-features", content=json.dumps(body), headers={"content-type": "application/json"}
    )
    assert resp.status_code == status, resp.text
    for name in names:
        assert name in resp.text, f"{name!r} not named in: {resp.text}"
    assert "Traceback" not in resp.text
    assert world.snapshot() == before


def test_http_malformed_json_and_wrong_method(world: World) -> None:
    bad = world.http.post(
        "/get-online-features", content=b'{"features": [', headers={"content-type": "application/json"}
    )
    assert bad.status_code == 422 and "JSON" in bad.text
    assert world.http.get("/get-online-features").status_code == 405


def test_catalogue_has_at_least_sixty_cases() -> None:
    assert len(CLI_CASES) + len(API_IDS) + len(HTTP_CASES) >= 60

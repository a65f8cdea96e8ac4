"""``featurelake serve`` against ``feast serve`` (Feast 0.67's own feature server) on the demo repo.

Both servers run as real processes on free ports, started the way a Feast user starts them
(inside ``feature_repo/``), over the SAME Redis data: a copy of ``feature_repo/`` under a unique
project, applied with ``featurelake apply`` (which writes Feast's registry too), and rows written
by our online writer in Feast's layout. Every request of :data:`CASES` goes to both; the answers
must be JSON-equal (key order included) except in the deliberate differences the README's
compatibility table lists, each of which is one rule of :func:`_compare` here. The test prints
every difference it allowed.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.online.helpers import unique_project

pytestmark = [pytest.mark.redis, pytest.mark.slow]

REPO_ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
NOW = datetime.now(UTC).replace(microsecond=654321)

# The fixed set of requests (name, body); bytes are sent as they are.
CASES: list[tuple[str, Any]] = [
    (
        "valid",
        {
            "features": [
                "user_profile:home_country",
                "user_transaction_stats:txn_count_7d",
                "user_profile:account_age_days",
            ],
            "entities": {"user_id": [1, 2, 3, 99]},
        },
    ),
    (
        "two entities",
        {
            "features": ["merchant_risk_stats:refund_rate_30d", "user_profile:home_country"],
            "entities": {"user_id": [1, 2], "merchant_id": [2, 1]},
        },
    ),
    (
        "full_feature_names",
        {
            "features": ["user_profile:home_country", "user_transaction_stats:txn_count_7d"],
            "entities": {"user_id": [1, 2]},
            "full_feature_names": True,
        },
    ),
    (
        "service",
        {"feature_service": "fraud_detection", "entities": {"user_id": [1, 2, 99], "merchant_id": [1, 3, 2]}},
    ),
    (
        "service full_feature_names",
        {
            "feature_service": "fraud_detection",
            "entities": {"merchant_id": [2], "user_id": [1]},
            "full_feature_names": True,
        },
    ),
    (
        "on-demand",
        {
            "features": [
                "transaction_vs_history:amount_above_max_30d",
                "transaction_vs_history:amount_to_mean_ticket_30d",
            ],
            "entities": {"user_id": [1, 2, 99], "amount": [10.0, 2.0, 5.0]},
        },
    ),
    (
        "on-demand among views",
        {
            "features": [
                "transaction_vs_history:amount_to_mean_ticket_30d",
                "user_profile:home_country",
                "user_transaction_stats:txn_count_7d",
            ],
            "entities": {"amount": [3.0], "user_id": [1]},
        },
    ),
    (
        "version metadata",
        {
            "features": ["user_profile:home_country", "transaction_vs_history:amount_above_max_30d"],
            "entities": {"user_id": [1], "amount": [1.0]},
            "include_feature_view_version_metadata": True,
        },
    ),
    (
        "unused join key and extra column",
        {
            "features": ["user_profile:home_country"],
            "entities": {"merchant_id": [5], "user_id": [1], "note": ["x"]},
        },
    ),
    ("unknown view", {"features": ["nope:x"], "entities": {"user_id": [1]}}),
    ("unknown service", {"feature_service": "nope", "entities": {"user_id": [1]}}),
    ("unknown feature", {"features": ["user_profile:nope"], "entities": {"user_id": [1]}}),
    ("missing key", {"features": ["user_profile:home_country"], "entities": {"merchant_id": [1]}}),
    (
        "missing one of two keys",
        {
            "features": ["user_profile:home_country", "merchant_risk_stats:refund_rate_30d"],
            "entities": {"user_id": [1]},
        },
    ),
    ("wrong type", {"features": ["user_profile:home_country"], "entities": {"user_id": ["x"]}}),
    (
        "wrong type Feast truncates",
        {"features": ["user_profile:home_country"], "entities": {"user_id": [1.5]}},
    ),
    ("join key as a string", {"features": ["user_profile:home_country"], "entities": {"user_id": ["1"]}}),
    ("entity name for its join key", {"features": ["user_profile:home_country"], "entities": {"user": [1]}}),
    (
        "features and service",
        {
            "features": ["user_profile:home_country"],
            "feature_service": "fraud_detection",
            "entities": {"user_id": [1], "merchant_id": [1]},
        },
    ),
    (
        "on-demand without request data",
        {"features": ["transaction_vs_history:amount_to_mean_ticket_30d"], "entities": {"user_id": [1]}},
    ),
    (
        "duplicate feature",
        {
            "features": ["user_profile:home_country", "user_profile:home_country"],
            "entities": {"user_id": [1]},
        },
    ),
    ("not view:feature", {"features": ["home_country"], "entities": {"user_id": [1]}}),
    ("no features", {"entities": {"user_id": [1]}}),
    (
        "unequal columns",
        {"features": ["user_profile:home_country"], "entities": {"user_id": [1, 2], "merchant_id": [1]}},
    ),
    ("no entity rows", {"features": ["user_profile:home_country"], "entities": {}}),
    ("malformed JSON", b'{"features": ['),
    ("entities not a mapping", {"features": ["user_profile:home_country"], "entities": [1]}),
    (
        "unknown request field",
        {"features": ["user_profile:home_country"], "entities": {"user_id": [1]}, "featurs": []},
    ),
]

# Answers that may differ, by case, and why (the README's compatibility table says the same).
REFUSED_WHERE_FEAST_SERVES = {
    "wrong type Feast truncates": "Feast serves entity int(1.5) = 1; we refuse a join key value of the wrong type",
    "join key as a string": "Feast serves entity int('1'); we refuse a join key value of the wrong type",
    "entity name for its join key": "Feast serves 'user' as 'user_id' (deprecated); we ask for the join key",
    "features and service": "Feast serves the service and ignores 'features'; we refuse the ambiguity",
    "unknown request field": "Feast ignores a misspelt field (here 'featurs'); we answer 422 naming it",
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _post(port: int, body: Any) -> tuple[int, Any]:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}/get-online-features",
        data=data,
        headers={"content-type": "application/json"},
    )
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def _wait_healthy(port: int, proc: subprocess.Popen, log: Path, deadline_s: float = 120) -> None:
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if proc.poll() is not None:
            pytest.fail(f"server exited with {proc.returncode}:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    pytest.fail(f"server on port {port} did not become healthy:\n{log.read_text()}")


def _seed(repo: Path, project: str, nodes: list[str]) -> None:
    """Rows of every demo view: entity 1 fresh, 2 fresh with one null, 3 older than the TTL."""
    from featurelake.jobs.online import online_view_from_feast
    from featurelake.lakehouse.online import ClusterClient, OnlineWriter
    from featurelake.lakehouse.online.encoding import to_epoch_micros
    from featurelake.repo import load_repo

    client = ClusterClient(nodes)
    for fv in load_repo(repo).feature_views:
        view = online_view_from_feast(fv)
        rows = []
        for key in (1, 2, 3):
            ts = NOW - (timedelta(days=5) if key == 3 else timedelta(hours=1))
            values = []
            for i, (_, kind) in enumerate(view.features):
                value = {"int64": key * 10 + i, "double": key + i / 4 + 0.5, "string": f"c{key}"}[kind]
                values.append(None if key == 2 and i == 1 else value)
            rows.append(([key], to_epoch_micros(ts), values))
        OnlineWriter(client, project=project, view=view).write_rows(rows)


@pytest.fixture(scope="module")
def servers(tmp_path_factory, redis_nodes) -> Iterator[dict[str, Any]]:
    """(feast port, our port, name -> view of every feature) for one applied copy of the demo repo."""
    tmp = tmp_path_factory.mktemp("parity")
    project = unique_project()
    repo = tmp / "feature_repo"
    shutil.copytree(REPO_ROOT / "feature_repo", repo, ignore=shutil.ignore_patterns("data", "__pycache__"))
    yaml_file = repo / "feature_store.yaml"
    yaml_file.write_text(yaml_file.read_text().replace("project: fraud", f"project: {project}", 1))
    env = {k: v for k, v in os.environ.items() if not k.startswith("FEATURELAKE_")}
    env.update(
        FEATURELAKE_HOME=str(tmp / ".featurelake"),
        FEATURELAKE_PROJECT=project,
        FEATURELAKE_ONLINE_NODES=",".join(redis_nodes),
        FEATURELAKE_STORAGE_ROOT=str(tmp / "lake"),
    )
    applied = subprocess.run(
        [str(BIN / "featurelake"), "apply"], cwd=tmp, env=env, capture_output=True, text=True, timeout=300
    )
    assert applied.returncode == 0, applied.stdout + applied.stderr
    _seed(repo, project, redis_nodes)

    feast_port, our_port = _free_port(), _free_port()
    procs = []
    try:
        # both started inside feature_repo/, as a Feast user does; ours finds the repo there
        for name, cmd, port in (
            (
                "feast",
                [str(BIN / "feast"), "serve", "-p", str(feast_port), "--no-access-log", "-w", "1"],
                feast_port,
            ),
            ("featurelake", [str(BIN / "featurelake"), "serve", "--port", str(our_port)], our_port),
        ):
            log = tmp / f"{name}.log"
            with log.open("w") as out:
                proc = subprocess.Popen(
                    cmd, cwd=repo, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
                )
            procs.append(proc)
            _wait_healthy(port, proc, log)
        from featurelake.repo import load_repo

        loaded = load_repo(repo)
        view_of = {f.name: fv.name for fv in loaded.feature_views for f in fv.features}
        view_of.update({f.name: o.name for o in loaded.on_demand_feature_views for f in o.features})
        yield {"feast": feast_port, "ours": our_port, "view_of": view_of}
    finally:
        for proc in procs:  # each server is the leader of its own session: stop it and its workers
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()


def _key_order(obj: Any) -> Any:
    if isinstance(obj, dict):
        return [(k, _key_order(v)) for k, v in obj.items()]
    if isinstance(obj, list):
        return [_key_order(v) for v in obj]
    return None


def _group(name: str, view_of: dict[str, str], join_keys: set[str]) -> str:
    if name in join_keys:
        return "<join keys>"
    view, sep, _ = name.partition("__")
    return view if sep else view_of[name]


def _compare_200(case: str, theirs: dict, ours: dict, body: dict, view_of: dict[str, str]) -> list[str]:
    allowed = []
    names_t, names_o = theirs["metadata"]["feature_names"], ours["metadata"]["feature_names"]
    keys = set(body["entities"])
    # Feast's order of one view's features is a Python set's (it changes between restarts);
    # views, join keys and on-demand outputs are in the same order
    groups_t = [_group(n, view_of, keys) for n in names_t]
    groups_o = [_group(n, view_of, keys) for n in names_o]
    assert groups_t == groups_o, f"{case}: column groups differ:\n feast {names_t}\n ours  {names_o}"
    assert sorted(names_t) == sorted(names_o), f"{case}: columns differ:\n feast {names_t}\n ours  {names_o}"
    if names_t != names_o:
        allowed.append("features of a view in request/definition order (Feast: set order)")
    # same columns, Feast's put in our order; then everything but the value statuses is equal
    by_name = dict(zip(names_t, theirs["results"], strict=True))
    theirs = {**theirs, "results": [by_name[n] for n in names_o]}
    theirs["metadata"] = {**theirs["metadata"], "feature_names": names_o}
    assert _key_order(theirs) == _key_order(ours), f"{case}: key order differs:\n{theirs}\n{ours}"
    statuses: Counter[str] = Counter()
    for name, col_t, col_o in zip(names_o, theirs["results"], ours["results"], strict=True):
        assert col_t["event_timestamps"] == col_o["event_timestamps"], f"{case}: {name} event_timestamps"
        cells = zip(col_t["values"], col_o["values"], col_t["statuses"], col_o["statuses"], strict=True)
        for row, (vt, vo, st, so) in enumerate(cells):
            if (vt, st) == (vo, so):
                continue
            if st == "PRESENT" and so in ("NULL_VALUE", "NOT_FOUND") and vt is None and vo is None:
                statuses[f"{so} (Feast: PRESENT with a null)"] += 1
            elif st == "PRESENT" and so == "OUTSIDE_MAX_AGE" and vo is None:
                statuses["OUTSIDE_MAX_AGE with no value (Feast: PRESENT with the stale value)"] += 1
            else:
                pytest.fail(f"{case}: {name}[{row}]: feast {vt!r} {st}, ours {vo!r} {so}")
    allowed += [f"{n} value(s) {what}" for what, n in sorted(statuses.items())]
    assert theirs["metadata"] == ours["metadata"], case
    return allowed


def _compare(
    case: str, body: Any, feast: tuple[int, Any], ours: tuple[int, Any], view_of: dict[str, str]
) -> list[str]:
    """The differences allowed between Feast's answer and ours (fails on any other)."""
    (st, bt), (so, bo) = feast, ours
    if case in REFUSED_WHERE_FEAST_SERVES:
        assert st == 200 and 400 <= so < 500, f"{case}: feast {st} {bt}, ours {so} {bo}"
        return [f"{so} (Feast: 200): {REFUSED_WHERE_FEAST_SERVES[case]}"]
    if st == 200:
        assert so == 200, f"{case}: feast 200, ours {so} {bo}"
        return _compare_200(case, bt, bo, body, view_of)
    if st == 422:  # FastAPI's validation detail, identical
        assert (so, bo) == (st, bt), f"{case}: feast {st} {bt}, ours {so} {bo}"
        return []
    # Feast's error bodies are JSON strings: its error class as JSON, or the exception's text
    assert isinstance(bt, str) and isinstance(bo, str), f"{case}: feast {bt!r}, ours {bo!r}"
    allowed = []
    try:
        detail_t = json.loads(bt)
    except ValueError:
        detail_t = None
    if isinstance(detail_t, dict):
        detail_o = json.loads(bo)
        assert (detail_o["module"], detail_o["class"]) == (detail_t["module"], detail_t["class"]), (
            case,
            bt,
            bo,
        )
        assert detail_o["message"].startswith(detail_t["message"]), (case, bt, bo)
        if detail_o["message"] != detail_t["message"]:
            allowed.append(f"message extended: ...{detail_o['message'][len(detail_t['message']) :]!r}")
    else:
        allowed.append(f"message {bo!r} (Feast: {bt!r})")
    if st != so:
        assert st == 500 and so == 400, f"{case}: feast {st}, ours {so}"
        allowed.insert(0, "400 (Feast: 500 for a client error)")
    return allowed


def test_featurelake_serve_answers_as_feast_serve(servers) -> None:
    report = []
    for case, body in CASES:
        feast = _post(servers["feast"], body)
        ours = _post(servers["ours"], body)
        allowed = _compare(case, body, feast, ours, servers["view_of"])
        report.append(
            f"{case}: feast {feast[0]}, ours {ours[0]}" + "".join(f"\n    allowed: {a}" for a in allowed)
        )
    print("\nfeaturelake serve vs feast serve, differences allowed:\n  " + "\n  ".join(report))
    # the on-demand cases came back at all: the repo was found from inside feature_repo/
    assert _post(servers["ours"], dict(CASES)["on-demand"])[0] == 200


def test_load_catalog_inside_feature_repo_has_on_demand_views(monkeypatch) -> None:
    """Started inside ``feature_repo/`` with the default settings (``feature_repo: feature_repo``
    does not exist there), the catalog still holds the repo's on-demand views and services."""
    from featurelake.config.settings import load_settings_from_dict
    from featurelake.jobs.online import load_catalog

    monkeypatch.chdir(REPO_ROOT / "feature_repo")
    catalog = load_catalog(load_settings_from_dict({}, environ={}))
    assert "transaction_vs_history" in catalog.on_demand
    assert "fraud_detection" in catalog.services

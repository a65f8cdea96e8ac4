"""The monitor's online checks on a real Redis cluster: skew per feature against the latest
materialization, and online coverage, recorded per run and shown over time.

The world: ``user_stats`` (TTL 2 days) with users 0..49 on day 1 and users 0..39 on days 2-3,
materialized in full up to day 4 00:00; then day 4 is written offline and NOT materialized.
The monitor runs at day 5 00:30: users 40..49 (last seen on day 1) are outside the TTL, so the
checks sample exactly the 40 users 0..39; skew compares Redis with their day-3 rows (what was
materialized), not with the newer day-4 rows.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, time

import pytest
from click.testing import CliRunner

from tests.monitoring.world import VIEW, day, make_world
from tests.online.helpers import unique_project

pytestmark = [pytest.mark.spark, pytest.mark.redis]

USERS = 40  # within the TTL
NOW = datetime.combine(day(5), time(0, 30), tzinfo=UTC)
REFERENCE = f"window:{day(1)}..{day(1)}"
WINDOW = {"start": day(2), "end": day(4), "reference": REFERENCE}
SKEW = {"metric": "skew", "warn": 0.05, "fail": 0.1}


@pytest.fixture(scope="module")
def oworld(spark, tmp_path_factory, redis_nodes):
    from featurelake.jobs.materialize import materialize_view

    w = make_world(
        spark,
        tmp_path_factory.mktemp("online"),
        monitors=[SKEW],
        project=unique_project(),
        online_nodes=redis_nodes,
    )
    w.write_days([day(1)], n=50)
    w.write_days([day(2), day(3)], n=USERS)
    materialize_view(
        None,
        settings=w.settings,
        registry=w.registry,
        lakehouse=w.lakehouse,
        view=VIEW,
        actor="tester",
        incremental=True,
        end=datetime.combine(day(4), time(0), tzinfo=UTC),
    )
    w.write_days([day(4)], n=USERS, seed=7)  # newer offline values, not materialized
    yield w
    _redis(w, [("DEL", u) for u in range(50)])
    w.registry.dispose()


def _online_view(w):
    from featurelake.jobs.online import online_view_from_registry

    return online_view_from_registry(w.registry.get_view_version(w.settings.project, VIEW))


def _redis(w, ops) -> None:
    """Run (command, user, *args) on each user's hash: DEL, or HSET of one feature's field."""
    from featurelake.lakehouse.online import ClusterClient, Command
    from featurelake.lakehouse.online.encoding import encode_value, redis_key

    view = _online_view(w)
    commands = []
    for op, user, *args in ops:
        key = redis_key(w.settings.project, view.join_keys, [user])
        if op == "DEL":
            commands.append(Command(key, ("DEL", key)))
        else:
            feature, value = args
            commands.append(
                Command(key, ("HSET", key, view.field(feature), encode_value(view.kind_of(feature), value)))
            )
    client = ClusterClient(w.settings.online.nodes)
    try:
        client.execute(commands)
    finally:
        client.close()


def _online(result) -> dict[str, object]:
    return {(c.metric, c.feature): c for c in result.checks if c.metric in ("skew", "online_coverage")}


def test_a_clean_materialization_has_no_skew_and_full_coverage(oworld) -> None:
    result = oworld.monitor(now=NOW, online_sample=1000, **WINDOW)
    checks = _online(result)
    skew = {f: c for (m, f), c in checks.items() if m == "skew"}
    assert set(skew) == {"x1", "x2", "x3", "n", "segment"}
    for c in skew.values():
        assert c.value == 0.0 and c.status == "ok", c
        assert (c.details["sampled"], c.details["compared"], c.details["mismatches"]) == (USERS, USERS, 0)
        assert (c.warn, c.fail) == (0.05, 0.1)  # the spec's thresholds
        assert c.delta_versions == {oworld.table: 1}  # the version the materialization read, not day 4's
    cover = checks[("online_coverage", "")]
    assert cover.value == 1.0 and cover.status == "ok"
    assert (cover.details["sampled"], cover.details["present"]) == (USERS, USERS)
    assert cover.delta_versions == {oworld.table: 2}  # the newest snapshot
    assert result.online["materialize_run"] and result.online["skew_mismatches"] == 0


def test_planted_wrong_values_give_the_exact_mismatch_rate_per_feature(oworld) -> None:
    _redis(oworld, [("HSET", u, "x1", 1e6 + u) for u in range(7)])
    _redis(oworld, [("HSET", u, "segment", "zz") for u in (10, 11, 12)])
    result = oworld.monitor(now=NOW, online_sample=1000, **WINDOW)
    skew = {f: c for (m, f), c in _online(result).items() if m == "skew"}
    assert skew["x1"].value == 7 / USERS and skew["x1"].status == "fail"  # 0.175 >= fail 0.1
    assert skew["segment"].value == 3 / USERS and skew["segment"].status == "warn"  # 0.075
    assert {f: c.value for f, c in skew.items() if f not in ("x1", "segment")} == dict.fromkeys(
        ("x2", "x3", "n"), 0.0
    )
    assert (skew["x1"].details["mismatches"], skew["x1"].details["compared"]) == (7, USERS)
    assert {e["online"] for e in skew["x1"].details["examples"]} <= {1e6 + u for u in range(7)}
    assert result.outcome == "fail" and result.exit_code == 4
    stored = oworld.registry.monitor_checks(
        oworld.settings.project, view=VIEW, metric="skew", feature="x1", run_id=result.run_id
    )
    assert [(c.value, c.status, c.details["mismatches"]) for c in stored] == [(7 / USERS, "fail", 7)]


def test_deleted_keys_lower_coverage_exactly_and_count_as_skew(oworld) -> None:
    _redis(oworld, [("DEL", u) for u in range(20, 25)])
    _redis(oworld, [("DEL", u) for u in range(45, 50)])  # outside the TTL: not sampled, no effect
    result = oworld.monitor(now=NOW, online_sample=1000, **WINDOW)
    checks = _online(result)
    cover = checks[("online_coverage", "")]
    assert cover.value == (USERS - 5) / USERS and cover.status == "fail"  # 0.875 < 0.95
    assert (cover.details["sampled"], cover.details["present"], cover.details["not_found"]) == (USERS, 35, 5)
    assert checks[("skew", "x2")].value == 5 / USERS and checks[("skew", "x2")].details["not_found"] == 5
    assert checks[("skew", "x1")].value == 12 / USERS  # 7 planted + 5 missing


def test_a_smaller_seeded_sample_is_repeatable(oworld) -> None:
    a = oworld.monitor(now=NOW, online_sample=10, online_seed=3, **WINDOW)
    b = oworld.monitor(now=NOW, online_sample=10, online_seed=3, **WINDOW)
    ca, cb = _online(a), _online(b)
    assert all(c.details["sampled"] == 10 for c in ca.values())
    assert {k: c.value for k, c in ca.items()} == {k: c.value for k, c in cb.items()}
    skipped = oworld.monitor(now=NOW, online_sample=0, **WINDOW)
    assert _online(skipped) == {} and skipped.online == {"skipped": "skipped: --online-sample 0"}


def test_status_and_report_show_skew_over_time(oworld, tmp_path) -> None:
    import yaml

    from featurelake.cli.main import cli
    from tests.monitoring.test_monitor_job import _open_in_chromium

    cfg = tmp_path / "featurelake.yaml"
    s = oworld.settings
    cfg.write_text(
        yaml.safe_dump(
            {
                "project": s.project,
                "home": str(oworld.root),
                "registry": {"url": s.registry_url},
                "storage": {"root": s.storage_root},
                "online": {"nodes": list(s.online.nodes)},
            }
        )
    )
    runner = CliRunner()
    res = runner.invoke(cli, ["--config", str(cfg), "monitor", "status", "--view", VIEW, "--output", "json"])
    assert res.exit_code == 4, res.output
    (status,) = json.loads(res.output)
    history = [h for h in status["online"]["history"] if h["sampled"] == USERS]  # the full-sample runs
    assert [round(h["skew"]["x1"], 6) for h in history] == [0.0, 0.175, 0.3]  # oldest first
    assert [h["coverage"] for h in history] == [1.0, 1.0, 0.875]
    text = runner.invoke(cli, ["--config", str(cfg), "monitor", "status", "--view", VIEW])
    # over all 5 features: 0, then 7 + 3 planted of 200, then 12 + 5 + 5 + 5 + 8 of 200
    assert [h["skew_rate"] for h in history] == [0.0, 10 / 200, 35 / 200]
    last = status["online"]["history"][-1]  # the newest run sampled 10 entities
    assert last["sampled"] == 10 and last["skew_compared"] == 50
    assert (
        f"online skew: {last['skew_rate']:.4g} {last['skew_status']} ({last['skew_mismatches']} of 50 values "
        "in 10 entities" in text.output
    ), text.output
    assert "skew over the last 5 run(s), oldest first: 0 -> 0.05 -> 0.175 -> " in text.output, text.output
    # the installed command hands the code on to a scheduler (click's non-standalone mode returns it)
    real = subprocess.run(
        [sys.executable, "-m", "featurelake.cli.main", "--config", str(cfg), "monitor", "status"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert real.returncode == 4, real.stdout + real.stderr

    html = tmp_path / "report.html"
    rep = runner.invoke(cli, ["--config", str(cfg), "monitor", "report", "--view", VIEW, "--html", str(html)])
    assert rep.exit_code == 0, rep.output
    page = html.read_text()
    assert page.count('data-plot="skew:') == 1 and page.count('data-plot="coverage:') == 1
    _open_in_chromium(html, expected=[f"skew:{VIEW}", f"coverage:{VIEW}", "freshness"])


def test_skew_settings_out_of_range_are_refused_before_anything_is_written(oworld) -> None:
    from featurelake.errors import MonitorError
    from featurelake.monitors import OnlineCoverage, Skew, online_problems

    with pytest.raises(ValueError, match="fail=1.5 is outside"):
        Skew(warn=0.1, fail=1.5)
    with pytest.raises(ValueError, match="warn must be >= fail"):
        OnlineCoverage(warn=0.9, fail=0.95)
    assert online_problems("skew", 0.01, 0.1, 0, 0) == [
        "Skew sample=0 is not a whole number in 1..1,000,000; e.g. sample=1000"
    ]
    runs = len(oworld.registry.list_runs(oworld.settings.project, kind="monitor"))
    with pytest.raises(MonitorError, match="--online-sample -1 is not in"):
        oworld.monitor(now=NOW, online_sample=-1, **WINDOW)
    from tests.monitoring.world import definitions

    project = oworld.settings.project
    oworld.registry.apply_definitions(
        project, definitions([{**SKEW, "features": ["x1", "nope"]}]), actor="tester"
    )
    with pytest.raises(
        MonitorError, match=r"Skew names feature\(s\) 'nope', which view 'user_stats' does not have"
    ):
        oworld.monitor(now=NOW, **WINDOW)
    assert len(oworld.registry.list_runs(project, kind="monitor")) == runs
    oworld.registry.apply_definitions(project, definitions([SKEW]), actor="tester")

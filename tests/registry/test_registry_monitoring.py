"""Monitor runs and their check outcomes: one contract, run on SQLite and PostgreSQL."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta

import pytest

from featurelake.errors import RegistryError
from featurelake.registry import MonitorCheck, Node, Registry


def _check(
    feature: str, metric: str, status: str, value: float | None, day: date | None, **kw
) -> MonitorCheck:
    return MonitorCheck(
        view=kw.pop("view", "user_stats"),
        feature=feature,
        metric=metric,
        status=status,
        value=value,
        day=day,
        window_start=date(2026, 3, 8),
        window_end=date(2026, 3, 14),
        warn=0.1,
        fail=0.25,
        reference="training-set:train:2",
        delta_versions={"user_stats__v1": 7, "training_set__train__abc": 0},
        details={"pvalue": 0.5} if metric == "ks" else None,
        view_version="1.0",
        **kw,
    )


class MonitoringContract:
    def _run(self, reg: Registry, project: str, checks: list[MonitorCheck], view: str = "user_stats") -> str:
        run_id = reg.start_run(project, "monitor", {"view": view}, "alice", target=view)
        reg.finish_monitor_run(
            run_id,
            checks=checks,
            inputs=[{"table": "user_stats__v1", "version": 7}],
            report={"outcome": "fail"},
            lineage_edges=[
                (Node.training_set("train", 2), Node.monitor_run(view, run_id)),
                (Node.delta_output("user_stats__v1", 7), Node.monitor_run(view, run_id)),
            ],
        )
        return run_id

    def test_checks_are_stored_and_queryable_per_view_feature_metric_and_time(
        self, reg: Registry, project: str
    ) -> None:
        d1, d2 = date(2026, 3, 13), date(2026, 3, 14)
        before = datetime.now(UTC) - timedelta(seconds=1)
        first = self._run(
            reg,
            project,
            [
                _check("x1", "psi", "fail", 0.8, d1),
                _check("x1", "psi", "ok", 0.01, d2),
                _check("x1", "ks", "warn", 0.15, None),
                _check("", "freshness_offline", "ok", 3600.0, None),
            ],
        )
        time.sleep(0.05)
        mid = datetime.now(UTC)
        second = self._run(reg, project, [_check("x1", "psi", "ok", 0.02, d1)])
        other = self._run(reg, project, [_check("a", "js", "ok", 0.0, d1, view="other")], view="other")

        psi = reg.monitor_checks(project, view="user_stats", feature="x1", metric="psi")
        assert [(c.run_id, c.day, c.value, c.status) for c in psi] == [
            (second, d1, 0.02, "ok"),
            (first, d1, 0.8, "fail"),
            (first, d2, 0.01, "ok"),
        ]
        ks = reg.monitor_checks(project, metric="ks")[0]
        assert ks.details == {"pvalue": 0.5} and ks.day is None and ks.warn == 0.1 and ks.fail == 0.25
        assert ks.delta_versions == {"user_stats__v1": 7, "training_set__train__abc": 0}
        assert ks.reference == "training-set:train:2" and ks.view_version == "1.0"
        assert ks.window_start == date(2026, 3, 8) and ks.window_end == date(2026, 3, 14)
        assert {c.run_id for c in reg.monitor_checks(project, since=mid)} == {second, other}
        assert {c.run_id for c in reg.monitor_checks(project, until=mid)} == {first}
        assert len(reg.monitor_checks(project, since=before)) == 6
        assert [c.status for c in reg.monitor_checks(project, status="fail")] == ["fail"]
        assert len(reg.monitor_checks(project, run_id=first)) == 4
        latest = reg.monitor_checks(project, latest_run=True)
        assert {(c.view, c.run_id) for c in latest} == {("user_stats", second), ("other", other)}
        assert reg.monitor_checks(project, feature="") == [
            c for c in reg.monitor_checks(project) if not c.feature
        ]
        run = reg.get_run(first)
        assert run.kind == "monitor" and run.status == "succeeded" and run.rows_out == 4
        up = reg.lineage(project, Node.monitor_run("user_stats", first), direction="upstream", depth=1)
        assert {e.src for e in up} == {Node.training_set("train", 2), Node.delta_output("user_stats__v1", 7)}
        assert reg.monitor_checks("no_such_project") == []

    def test_a_bad_status_writes_nothing(self, reg: Registry, project: str) -> None:
        run_id = reg.start_run(project, "monitor", {"view": "v"}, "alice")
        with pytest.raises(RegistryError, match="status 'bad' is not one of ok, warn, fail"):
            reg.finish_monitor_run(run_id, checks=[_check("x", "psi", "bad", 1.0, None)])
        assert reg.get_run(run_id).status == "running"
        assert reg.monitor_checks(project) == []


class TestSQLiteMonitoring(MonitoringContract):
    @pytest.fixture
    def reg(self, sqlite_registry: Registry) -> Registry:
        return sqlite_registry


@pytest.mark.postgres
class TestPostgresMonitoring(MonitoringContract):
    @pytest.fixture
    def reg(self, pg_registry: Registry) -> Registry:
        return pg_registry

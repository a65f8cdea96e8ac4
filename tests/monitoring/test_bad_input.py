"""Bad input to the monitor: one clear error naming the value and the fix, and nothing written
(no monitor run in the registry, no metrics table). A training-set reference that exists works
and links the training set to the run in the lineage."""

from __future__ import annotations

import pytest

from featurelake.errors import MonitorError
from tests.monitoring.world import PROJECT, VIEW, day, definitions, make_world

pytestmark = pytest.mark.spark


@pytest.fixture(scope="module")
def bworld(spark, tmp_path_factory):
    w = make_world(spark, tmp_path_factory.mktemp("bad"))
    w.write_days([day(1), day(2), day(3)])
    yield w
    w.registry.dispose()


def _nothing_written(w) -> None:
    from featurelake.lakehouse.monitoring.metrics_table import profiles_table, references_table

    assert w.registry.list_runs(PROJECT, kind="monitor") == []
    assert not w.lakehouse.exists(profiles_table(PROJECT))
    assert not w.lakehouse.exists(references_table(PROJECT))


def _register_training_set(w, name: str) -> int:
    return w.registry.register_training_set(
        PROJECT,
        name,
        service="svc",
        service_version=1,
        entity_source={"table": w.table, "version": 0},
        feature_tables=[{"table": w.table, "version": 0}],
        features=[f"{VIEW}:x1", f"{VIEW}:segment"],
        output={"table": w.table, "version": 0},
        row_count=150,
        checksum="test",
        actor="tester",
    )


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"view": "no_such_view"}, "no_such_view"),
        ({"reference": "training-set:nope"}, "reference training set 'nope' does not exist"),
        ({"reference": "training-set:nope:x"}, "version 'x' is not a number"),
        ({"reference": "model:foo"}, "--reference 'model:foo' is not a reference; use training-set:NAME"),
        (
            {"start": day(20), "end": day(25)},
            "the detection window 2026-03-20..2026-03-25 of view 'user_stats' holds no rows",
        ),
        ({"start": day(3), "end": day(1)}, "--start 2026-03-03 is after --end 2026-03-01; swap them"),
        (
            {"start": day(2), "end": day(3), "reference": f"window:{day(10)}..{day(11)}"},
            "overlaps the detection window",
        ),
        ({"start": day(3), "end": day(3), "reference": f"window:{day(0)}..{day(0)}"}, "holds no rows"),
    ],
)
def test_bad_options_raise_one_clear_error_and_write_nothing(bworld, options, message) -> None:
    from featurelake.jobs.monitor import MonitorOptions, monitor_view

    opts = {"view": VIEW, **options}
    with pytest.raises(MonitorError, match=None) as err:
        monitor_view(
            bworld.spark,
            settings=bworld.settings,
            registry=bworld.registry,
            lakehouse=bworld.lakehouse,
            options=MonitorOptions(**opts),
            actor="tester",
        )
    assert message in str(err.value)
    _nothing_written(bworld)


def test_spec_problems_ks_on_a_string_and_thresholds_out_of_range(bworld) -> None:
    reg = bworld.registry
    reg.apply_definitions(
        PROJECT, definitions([{"metric": "ks", "warn": 0.1, "fail": 0.2, "features": ["segment"]}]), actor="t"
    )
    assert reg.get_view_version(PROJECT, VIEW).version == "1.1"  # a monitor change is a minor version
    with pytest.raises(MonitorError) as err:
        bworld.monitor(start=day(2), end=day(3), reference=f"window:{day(1)}..{day(1)}")
    assert "Drift(metric='ks') on feature 'segment'" in str(err.value) and "use metric='js'" in str(err.value)
    _nothing_written(bworld)
    reg.apply_definitions(
        PROJECT,
        definitions([{"metric": "psi", "warn": -1, "fail": 0.2}, {"metric": "js", "warn": 0.5, "fail": 2}]),
        actor="t",
    )
    with pytest.raises(MonitorError) as err:
        bworld.monitor(start=day(2), end=day(3), reference=f"window:{day(1)}..{day(1)}")
    text = str(err.value)
    assert "warn=-1 is outside [0, inf)" in text and "fail=2 is outside [0, 1]" in text
    _nothing_written(bworld)
    reg.apply_definitions(PROJECT, definitions(), actor="t")


def test_training_set_reference_then_archived(bworld) -> None:
    from featurelake.registry import Node

    version = _register_training_set(bworld, "train")
    bworld.registry.apply_definitions(PROJECT, definitions(sla_seconds=86400), actor="t")  # a 1-day SLA
    result = bworld.monitor(start=day(2), end=day(3), reference="training-set:train")
    fresh = {c.metric: c for c in result.checks if c.metric.startswith("freshness")}
    # the newest partition (day 3) ended months ago, and the view was never materialized
    assert fresh["freshness_offline"].status == "fail" and fresh["freshness_offline"].value > 86400
    assert fresh["freshness_offline"].details["newest_partition"] == day(3)
    assert fresh["freshness_online"].status == "fail" and fresh["freshness_online"].value is None
    assert result.outcome == "fail"
    assert result.reference == f"training-set:train:{version}"
    assert {c.feature for c in result.checks if c.feature} == {"x1", "segment"}  # the training set's features
    edges = bworld.registry.lineage(
        PROJECT, Node.training_set("train", version), direction="downstream", depth=1
    )
    assert Node.monitor_run(VIEW, result.run_id) in {e.dst for e in edges}

    bworld.registry.set_status(PROJECT, "svc", 1, "deprecated", reason="t", actor="t", object_type="service")
    bworld.registry.set_status(PROJECT, "svc", 1, "archived", reason="t", actor="t", object_type="service")
    runs = len(bworld.registry.list_runs(PROJECT, kind="monitor"))
    with pytest.raises(MonitorError, match=r"feature service svc v1, which is archived; use a training set"):
        bworld.monitor(start=day(2), end=day(3), reference="training-set:train")
    assert len(bworld.registry.list_runs(PROJECT, kind="monitor")) == runs

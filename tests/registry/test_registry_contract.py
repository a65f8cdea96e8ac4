"""One contract suite for every registry backend: PostgreSQL (local stack) and SQLite.

The expected values are written out by hand from the version rules in docs/registry.md,
never computed by the code under test.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from featurelake.errors import DefinitionError, RegistryError
from featurelake.registry import (
    Definitions,
    EntityDef,
    FeatureDef,
    JoinKey,
    Node,
    Registry,
    ServiceDef,
    SourceDef,
    ViewDef,
)

USER = EntityDef("user", (JoinKey("user_id", "INT64"),), owner="risk")
MERCHANT = EntityDef("merchant", (JoinKey("merchant_id", "STRING"),))
TX = SourceDef("transactions", "delta", "s3://bucket/raw/transactions", timestamp_field="event_ts")
STATS = ViewDef(
    "user_stats",
    ("user",),
    (FeatureDef("amount_sum_7d", "Float64"), FeatureDef("tx_count_7d", "Int64", tags={"pii": "false"})),
    timedelta(days=7),
    source="transactions",
    transformation="sum(amount) over 7d; count(*) over 7d",
    owner="risk",
    tags={"team": "risk"},
)
SERVICE = ServiceDef("fraud", (("user_stats", ("amount_sum_7d", "tx_count_7d")),))


def repo(*, view: ViewDef = STATS, services: tuple[ServiceDef, ...] = (SERVICE,)) -> Definitions:
    return Definitions(entities=(USER, MERCHANT), sources=(TX,), views=(view,), services=services)


def with_features(*features: FeatureDef, **changes) -> ViewDef:  # type: ignore[no-untyped-def]
    return dataclasses.replace(STATS, features=features, **changes)


class RegistryContract:
    """The behaviour every backend must show. Subclasses provide the ``reg`` fixture."""

    # ------------------------------------------------------------------ version rules

    def test_first_apply_creates_version_1_0_with_its_table(self, reg: Registry, project: str) -> None:
        plan = reg.apply_definitions(project, repo(), actor="alice")
        assert [(c.object_type, c.name, c.kind) for c in plan.changes] == [
            ("entity", "user", "added"),
            ("entity", "merchant", "added"),
            ("source", "transactions", "added"),
            ("view", "user_stats", "added"),
            ("service", "fraud", "added"),
        ]
        vv = reg.get_view_version(project, "user_stats")
        assert (vv.major, vv.minor, vv.version, vv.table_name) == (1, 0, "1.0", "user_stats__v1")
        assert vv.status == "active"
        assert vv.join_keys == ("user_id",)
        assert [(k.name, k.dtype) for k in vv.entities] == [("user_id", "INT64")]
        assert [(f.name, f.dtype) for f in vv.features] == [
            ("amount_sum_7d", "Float64"),
            ("tx_count_7d", "Int64"),
        ]
        assert vv.features[1].tags == {"pii": "false"}
        assert vv.ttl == timedelta(days=7)
        assert vv.owner == "risk" and vv.tags == {"team": "risk"} and vv.created_by == "alice"
        assert vv.transformation == "sum(amount) over 7d; count(*) over 7d"
        assert len(vv.definition_hash) == 64
        sv = reg.get_service_version(project, "fraud")
        assert sv.version == 1
        assert [(g.view, g.view_major, g.features) for g in sv.views] == [
            ("user_stats", 1, ("amount_sum_7d", "tx_count_7d"))
        ]

    def test_reapplying_unchanged_definitions_is_a_no_op(self, reg: Registry, project: str) -> None:
        reg.apply_definitions(project, repo(), actor="alice")
        audit_before = len(reg.audit(project=project, limit=1000))
        plan = reg.apply_definitions(project, repo(), actor="bob")
        assert not plan.has_changes
        assert [v.version for v in reg.list_view_versions(project, "user_stats")] == ["1.0"]
        assert len(reg.audit(project=project, limit=1000)) == audit_before

    def test_added_feature_and_changed_description_are_minor(self, reg: Registry, project: str) -> None:
        reg.apply_definitions(project, repo(), actor="alice")
        added = with_features(*STATS.features, FeatureDef("max_amount_7d", "Float64"))
        plan = reg.apply_definitions(project, repo(view=added), actor="alice")
        [change] = [c for c in plan.changes if c.object_type == "view"]
        assert (change.kind, change.from_version, change.to_version) == ("minor", "1.0", "1.1")
        described = dataclasses.replace(added, description="7-day spend")
        plan = reg.apply_definitions(project, repo(view=described), actor="alice")
        assert [c.to_version for c in plan.changes if c.object_type == "view"] == ["1.2"]
        versions = reg.list_view_versions(project, "user_stats")
        assert [(v.version, v.table_name, v.change) for v in versions] == [
            ("1.0", "user_stats__v1", "initial"),
            ("1.1", "user_stats__v1", "minor"),
            ("1.2", "user_stats__v1", "minor"),
        ]
        assert reg.get_view_version(project, "user_stats", "1").version == "1.2"
        assert reg.get_view_version(project, "user_stats", "1.1").feature_names == (
            "amount_sum_7d",
            "tx_count_7d",
            "max_amount_7d",
        )

    @pytest.mark.parametrize(
        "change",
        [
            pytest.param(lambda: with_features(STATS.features[0]), id="removed-feature"),
            pytest.param(
                lambda: with_features(FeatureDef("amount_sum_7d", "Int64"), STATS.features[1]), id="dtype"
            ),
            pytest.param(lambda: dataclasses.replace(STATS, ttl=timedelta(days=8)), id="ttl"),
            pytest.param(lambda: dataclasses.replace(STATS, entities=("merchant",)), id="entity"),
            pytest.param(
                lambda: dataclasses.replace(STATS, transformation="sum(amount) over 8d"), id="transform"
            ),
        ],
    )
    def test_breaking_changes_create_a_new_major_with_its_own_table(
        self, reg: Registry, project: str, change
    ) -> None:  # type: ignore[no-untyped-def]
        reg.apply_definitions(project, repo(services=()), actor="alice")
        plan = reg.apply_definitions(project, repo(view=change(), services=()), actor="alice")
        [view_change] = [c for c in plan.changes if c.object_type == "view"]
        assert (view_change.kind, view_change.from_version, view_change.to_version) == (
            "breaking",
            "1.0",
            "2.0",
        )
        assert view_change.reasons
        assert [(v.version, v.table_name) for v in reg.list_view_versions(project, "user_stats")] == [
            ("1.0", "user_stats__v1"),
            ("2.0", "user_stats__v2"),
        ]
        # the old major stays readable for rollback
        old = reg.get_view_version(project, "user_stats", "1")
        assert old.table_name == "user_stats__v1" and old.status == "active"

    def test_breaking_change_moves_the_service_to_a_new_version_pinned_to_the_new_major(
        self, reg: Registry, project: str
    ) -> None:
        reg.apply_definitions(project, repo(), actor="alice")
        reg.apply_definitions(
            project, repo(view=dataclasses.replace(STATS, ttl=timedelta(days=1))), actor="alice"
        )
        assert [(s.version, s.views[0].view_major) for s in reg.list_service_versions(project, "fraud")] == [
            (1, 1),
            (2, 2),
        ]

    def test_plan_writes_nothing(self, reg: Registry, project: str) -> None:
        reg.apply_definitions(project, repo(), actor="alice")
        plan = reg.plan(project, repo(view=dataclasses.replace(STATS, ttl=timedelta(days=1))))
        assert [c.kind for c in plan.changes if c.object_type == "view"] == ["breaking"]
        assert [v.version for v in reg.list_view_versions(project, "user_stats")] == ["1.0"]

    def test_removed_view_is_reported_and_marked_not_deleted(self, reg: Registry, project: str) -> None:
        reg.apply_definitions(project, repo(), actor="alice")
        empty = Definitions(entities=(USER, MERCHANT), sources=(TX,))
        plan = reg.apply_definitions(project, empty, actor="alice")
        assert sorted((c.object_type, c.name) for c in plan.of_kind("removed")) == [
            ("service", "fraud"),
            ("view", "user_stats"),
        ]
        assert reg.list_views(project) == []
        assert reg.get_view_version(project, "user_stats", "1.0").table_name == "user_stats__v1"

    def test_apply_as_draft(self, reg: Registry, project: str) -> None:
        reg.apply_definitions(project, repo(), actor="alice", status="draft")
        assert reg.get_view_version(project, "user_stats").status == "draft"

    # ------------------------------------------------------------------ bad input

    def test_definition_problems_are_all_reported_together(self, reg: Registry, project: str) -> None:
        bad_view = dataclasses.replace(STATS, entities=("customer",))
        bad_service = ServiceDef("fraud", (("user_stats", ("no_such_feature",)),))
        defs = Definitions(entities=(USER, USER), sources=(TX,), views=(bad_view,), services=(bad_service,))
        with pytest.raises(DefinitionError) as err:
            reg.apply_definitions(project, defs, actor="alice")
        problems = "\n".join(err.value.problems)
        assert len(err.value.problems) == 3
        assert "entity name 'user' is defined 2 times" in problems
        assert "unknown entity 'customer'" in problems
        assert "names feature 'no_such_feature'" in problems
        assert reg.list_views(project) == []

    def test_sql_metacharacters_are_stored_verbatim(self, reg: Registry, project: str) -> None:
        evil = "x'; DROP TABLE fl_audit_log; --"
        view = dataclasses.replace(
            STATS,
            name="robert'); DROP TABLE fl_features;--",
            tags={"note": evil, "pct": "100%_"},
            description=evil,
        )
        defs = Definitions(entities=(USER,), sources=(TX,), views=(view,))
        reg.apply_definitions(project, defs, actor=evil)
        vv = reg.get_view_version(project, view.name)
        assert vv.name == "robert'); DROP TABLE fl_features;--"
        assert vv.tags == {"note": evil, "pct": "100%_"} and vv.description == evil
        assert reg.audit(project=project, object_prefix="robert'); DROP")[0].actor == evil
        assert [a.object_key for a in reg.audit(project=project, object_prefix="%")] == []

    def test_unknown_view_and_version_name_the_fix(self, reg: Registry, project: str) -> None:
        reg.apply_definitions(project, repo(), actor="alice")
        with pytest.raises(RegistryError, match="'nope' is not in project"):
            reg.get_view_version(project, "nope")
        with pytest.raises(RegistryError, match=r"no version '7' \(versions: 1.0\)"):
            reg.get_view_version(project, "user_stats", "7")
        with pytest.raises(RegistryError, match="not MAJOR or MAJOR.MINOR"):
            reg.get_view_version(project, "user_stats", "one")

    # ------------------------------------------------------------------ lifecycle

    ALLOWED = [
        ("draft", "active"),
        ("active", "deprecated"),
        ("deprecated", "archived"),
        ("deprecated", "active"),
    ]
    PATHS = {
        "draft": [],
        "active": ["active"],
        "deprecated": ["active", "deprecated"],
        "archived": ["active", "deprecated", "archived"],
    }

    def _at(self, reg: Registry, project: str, status: str) -> None:
        reg.apply_definitions(project, repo(services=()), actor="alice", status="draft")
        for step in self.PATHS[status]:
            reg.set_status(project, "user_stats", "1.0", step, reason=f"to {step}", actor="alice")  # type: ignore[arg-type]
        assert reg.get_view_version(project, "user_stats", "1.0").status == status

    @pytest.mark.parametrize("current,target", ALLOWED)
    def test_allowed_transition(self, reg: Registry, project: str, current: str, target: str) -> None:
        self._at(reg, project, current)
        version, old, new = reg.set_status(
            project, "user_stats", "1.0", target, reason="review #12", actor="carol"
        )  # type: ignore[arg-type]
        assert (version, old, new) == ("1.0", current, target)
        vv = reg.get_view_version(project, "user_stats", "1.0")
        assert vv.status == target and vv.status_reason == "review #12"
        entry = reg.audit(project=project, action="status.set", limit=1)[0]
        assert (entry.actor, entry.object_key, entry.before, entry.after) == (
            "carol",
            "user_stats@1.0",
            {"status": current},
            {"status": target, "reason": "review #12"},
        )

    @pytest.mark.parametrize(
        "current,target",
        [
            (c, t)
            for c in ("draft", "active", "deprecated", "archived")
            for t in ("draft", "active", "deprecated", "archived")
            if (c, t)
            not in {
                ("draft", "active"),
                ("active", "deprecated"),
                ("deprecated", "archived"),
                ("deprecated", "active"),
            }
        ],
    )
    def test_refused_transition(self, reg: Registry, project: str, current: str, target: str) -> None:
        self._at(reg, project, current)
        with pytest.raises(RegistryError, match=f"is {current}; it cannot become {target}"):
            reg.set_status(project, "user_stats", "1.0", target, reason="try", actor="carol")  # type: ignore[arg-type]
        assert reg.get_view_version(project, "user_stats", "1.0").status == current

    def test_deprecating_a_view_an_active_service_uses_is_refused_unless_forced(
        self, reg: Registry, project: str
    ) -> None:
        reg.apply_definitions(project, repo(), actor="alice")
        with pytest.raises(RegistryError, match=r"active feature services use it: fraud@1"):
            reg.set_status(project, "user_stats", "1", "deprecated", reason="old", actor="carol")
        assert reg.get_view_version(project, "user_stats", "1.0").status == "active"
        reg.set_status(project, "user_stats", "1", "deprecated", reason="old", actor="carol", force=True)
        assert reg.get_view_version(project, "user_stats", "1.0").status == "deprecated"
        assert reg.audit(project=project, limit=1)[0].action == "status.set.forced"

    def _service_at(self, reg: Registry, project: str, status: str) -> None:
        reg.apply_definitions(project, repo(), actor="alice", status="draft")
        for step in self.PATHS[status]:
            reg.set_status(
                project, "fraud", 1, step, reason=f"to {step}", actor="alice", object_type="service"
            )  # type: ignore[arg-type]
        assert reg.get_service_version(project, "fraud", 1).status == status

    @pytest.mark.parametrize(
        "current,target",
        [
            (c, t)
            for c in ("draft", "active", "deprecated", "archived")
            for t in ("draft", "active", "deprecated", "archived")
        ],
    )
    def test_service_version_transitions(
        self, reg: Registry, project: str, current: str, target: str
    ) -> None:
        self._service_at(reg, project, current)
        if (current, target) in self.ALLOWED:
            assert reg.set_status(
                project, "fraud", 1, target, reason="review #7", actor="dave", object_type="service"
            ) == ("1", current, target)  # type: ignore[arg-type]
            sv = reg.get_service_version(project, "fraud", 1)
            assert sv.status == target
            entry = reg.audit(project=project, action="status.set", limit=1)[0]
            assert (entry.actor, entry.object_key, entry.before, entry.after) == (
                "dave",
                "fraud@1",
                {"status": current},
                {"status": target, "reason": "review #7"},
            )
        else:
            with pytest.raises(RegistryError, match=f"is {current}; it cannot become {target}"):
                reg.set_status(project, "fraud", 1, target, reason="try", actor="dave", object_type="service")  # type: ignore[arg-type]
            assert reg.get_service_version(project, "fraud", 1).status == current

    def test_archiving_a_view_an_active_service_uses_is_refused_unless_forced(
        self, reg: Registry, project: str
    ) -> None:
        reg.apply_definitions(project, repo(), actor="alice")
        reg.set_status(project, "user_stats", "1", "deprecated", reason="old", actor="carol", force=True)
        with pytest.raises(
            RegistryError, match=r"cannot make .* archived: active feature services use it: fraud@1"
        ):
            reg.set_status(project, "user_stats", "1", "archived", reason="gone", actor="carol")
        assert reg.get_view_version(project, "user_stats", "1.0").status == "deprecated"
        reg.set_status(project, "user_stats", "1", "archived", reason="gone", actor="carol", force=True)
        assert reg.get_view_version(project, "user_stats", "1.0").status == "archived"

    def test_deprecating_the_service_first_frees_the_view(self, reg: Registry, project: str) -> None:
        reg.apply_definitions(project, repo(), actor="alice")
        reg.set_status(project, "fraud", 1, "deprecated", reason="v2 coming", actor="carol")
        reg.set_status(project, "user_stats", "1.0", "deprecated", reason="old", actor="carol")
        assert reg.get_view_version(project, "user_stats", "1.0").status == "deprecated"

    def test_archived_versions_cannot_be_used(self, reg: Registry, project: str) -> None:
        self._at(reg, project, "archived")
        for purpose in ("backfill", "materialize", "serve", "train"):
            with pytest.raises(
                RegistryError, match=r"version 1.0 is archived and cannot be used to " + purpose
            ):
                reg.assert_usable(project, "user_stats", "1.0", purpose)  # type: ignore[arg-type]
        with pytest.raises(RegistryError, match="every version of feature view 'user_stats' is archived"):
            reg.get_view_version(project, "user_stats")

    def test_drafts_cannot_be_served_but_can_be_backfilled(self, reg: Registry, project: str) -> None:
        self._at(reg, project, "draft")
        assert reg.assert_usable(project, "user_stats", None, "backfill").version == "1.0"
        with pytest.raises(RegistryError, match="is a draft and cannot be served"):
            reg.assert_usable(project, "user_stats", None, "serve")

    def test_default_version_is_newest_active(self, reg: Registry, project: str) -> None:
        reg.apply_definitions(project, repo(services=()), actor="alice")
        reg.apply_definitions(
            project,
            repo(view=dataclasses.replace(STATS, ttl=timedelta(days=1)), services=()),
            actor="alice",
            status="draft",
        )
        assert reg.get_view_version(project, "user_stats").version == "1.0"  # 2.0 is a draft
        reg.set_status(project, "user_stats", "1.0", "deprecated", reason="moving", actor="alice")
        assert reg.get_view_version(project, "user_stats").version == "2.0"  # no active: newest non-archived

    # ------------------------------------------------------------------ runs

    def test_run_lifecycle_and_last_successful(self, reg: Registry, project: str) -> None:
        start = datetime(2024, 1, 1, tzinfo=UTC)
        first = reg.start_run(project, "backfill", {"view": "user_stats", "start": start}, "alice")
        reg.heartbeat(first)
        assert reg.get_run(first).status == "running"
        reg.finish_run(
            first,
            status="succeeded",
            rows_in=10,
            rows_out=7,
            inputs=[{"table": "raw.tx", "version": 3}],
            outputs=[{"table": "user_stats__v1", "version": 1}],
        )
        failed = reg.start_run(project, "backfill", {"view": "user_stats"}, "alice")
        reg.finish_run(failed, status="failed", error="boom")
        run = reg.get_run(first)
        assert (run.status, run.rows_in, run.rows_out, run.params["start"]) == (
            "succeeded",
            10,
            7,
            "2024-01-01T00:00:00+00:00",
        )
        assert [(t.table, t.version) for t in run.outputs] == [("user_stats__v1", 1)]
        assert reg.last_successful_run(project, "backfill", "user_stats").run_id == first  # type: ignore[union-attr]
        assert reg.last_successful_run(project, "materialize", "user_stats") is None
        assert reg.get_run(failed).error == "boom"
        with pytest.raises(RegistryError, match="already finished as succeeded"):
            reg.finish_run(first, status="failed")
        actions = [a.action for a in reg.audit(project=project, object_type="run", limit=10)]
        assert sorted(actions) == ["run.failed", "run.start", "run.start", "run.succeeded"]

    def test_a_run_whose_lease_expired_shows_as_abandoned(self, reg: Registry, project: str) -> None:
        crashed = reg.start_run(
            project, "materialize", {"view": "user_stats"}, "alice", lease=timedelta(seconds=-1)
        )
        alive = reg.start_run(project, "materialize", {"view": "user_stats"}, "alice")
        assert reg.get_run(crashed).status == "abandoned"
        assert [r.run_id for r in reg.list_runs(project, status="abandoned")] == [crashed]
        assert [r.run_id for r in reg.list_runs(project, status="running")] == [alive]

    def test_watermarks(self, reg: Registry, project: str) -> None:
        assert reg.get_watermark(project, "user_stats", 1) is None
        t1 = datetime(2024, 3, 1, 12, tzinfo=UTC)
        reg.set_watermark(project, "user_stats", 1, "materialize", t1, actor="job")
        reg.set_watermark(project, "user_stats", 1, "materialize", t1 + timedelta(days=1), actor="job")
        assert reg.get_watermark(project, "user_stats", 1, "materialize") == t1 + timedelta(days=1)
        assert reg.get_watermark(project, "user_stats", 2, "materialize") is None
        with pytest.raises(RegistryError, match="timezone-aware"):
            reg.set_watermark(project, "user_stats", 1, "materialize", datetime(2024, 1, 1), actor="job")

    # ------------------------------------------------------------------ lineage

    def _chain(self, reg: Registry, project: str) -> None:
        run = reg.start_run(project, "backfill", {"view": "user_stats"}, "alice")
        fvv = Node.feature_view_version("user_stats", "1.0")
        reg.finish_run(
            run,
            status="succeeded",
            lineage_edges=[
                (Node.data_source("raw.tx", 3), fvv),
                (Node.data_source("raw.users", 1), fvv),
                (fvv, Node.delta_output("user_stats__v1", 5)),
                (Node.delta_output("user_stats__v1", 5), Node.feature_service_version("fraud", 1)),
            ],
        )
        reg.add_lineage_edge(
            Node.feature_service_version("fraud", 1), Node.training_set("fraud_train", 1), project=project
        )
        reg.add_lineage_edge(
            Node.training_set("fraud_train", 1), Node.model("s3://models/fraud/1"), project=project
        )

    def test_lineage_downstream_and_upstream(self, reg: Registry, project: str) -> None:
        self._chain(reg, project)
        down = reg.lineage(project, Node.data_source("raw.tx", 3), direction="downstream", depth=10)
        assert [(str(e.src), str(e.dst), e.depth) for e in down] == [
            ("data_source:raw.tx@3", "feature_view_version:user_stats@1.0", 1),
            ("feature_view_version:user_stats@1.0", "delta_output:user_stats__v1@5", 2),
            ("delta_output:user_stats__v1@5", "feature_service_version:fraud@1", 3),
            ("feature_service_version:fraud@1", "training_set:fraud_train@1", 4),
            ("training_set:fraud_train@1", "model:s3://models/fraud/1", 5),
        ]
        assert down[0].run_id is not None and down[-1].run_id is None
        up = reg.lineage(project, Node.model("s3://models/fraud/1"), direction="upstream", depth=10)
        assert {str(e.src) for e in up if e.depth == 5} == {"data_source:raw.tx@3", "data_source:raw.users@1"}
        assert len(up) == 6

    def test_lineage_depth_limit_and_unknown_node(self, reg: Registry, project: str) -> None:
        self._chain(reg, project)
        two = reg.lineage(project, Node.data_source("raw.tx"), direction="downstream", depth=2)
        assert [str(e.dst) for e in two] == [
            "feature_view_version:user_stats@1.0",
            "delta_output:user_stats__v1@5",
        ]
        major = reg.lineage(
            project, Node.feature_view_version("user_stats", 1), direction="upstream", depth=1
        )
        assert sorted(str(e.src) for e in major) == ["data_source:raw.tx@3", "data_source:raw.users@1"]
        with pytest.raises(RegistryError, match="is not in project"):
            reg.lineage(project, Node.data_source("raw.nothing", 1), direction="downstream", depth=2)

    def test_training_set_registration_pins_versions_and_records_lineage(
        self, reg: Registry, project: str
    ) -> None:
        reg.apply_definitions(project, repo(), actor="alice")
        kwargs = dict(
            service="fraud",
            service_version=1,
            entity_source={"table": "labels", "version": 4},
            feature_tables=[{"table": "user_stats__v1", "version": 5}],
            features=["user_stats:amount_sum_7d"],
            output={"table": "training/fraud", "version": 0},
            row_count=1000,
            checksum="abc",
            actor="trainer",
        )
        v1 = reg.register_training_set(project, "fraud_train", **kwargs)  # type: ignore[arg-type]
        v2 = reg.register_training_set(project, "fraud_train", **kwargs)  # type: ignore[arg-type]
        assert (v1, v2) == (1, 2)
        ts = reg.get_training_set(project, "fraud_train", 1)
        assert (ts.entity_source.table, ts.entity_source.version, ts.feature_tables[0].version) == (
            "labels",
            4,
            5,
        )
        assert reg.get_training_set(project, "fraud_train").version == 2
        reg.register_model(
            project, "fraud-xgb-1", training_set="fraud_train", training_set_version=1, actor="trainer"
        )
        up = reg.lineage(project, Node.model("fraud-xgb-1"), direction="upstream", depth=2)
        assert sorted(str(e.src) for e in up) == [
            "data_source:labels@4",
            "delta_output:user_stats__v1@5",
            "feature_service_version:fraud@1",
            "training_set:fraud_train@1",
        ]

    # ------------------------------------------------------------------ audit

    def test_every_change_is_audited(self, reg: Registry, project: str) -> None:
        reg.apply_definitions(project, repo(), actor="alice")
        actions = sorted(a.action for a in reg.audit(project=project, limit=100))
        assert actions == sorted(
            [
                "entity.add",
                "entity.add",
                "source.add",
                "view.add",
                "view_version.create",
                "service.add",
                "service_version.create",
            ]
        )
        created = reg.audit(project=project, action="view_version.create")[0]
        assert created.actor == "alice" and created.after["version"] == "1.0"  # type: ignore[index]

    def test_every_kind_of_change_leaves_its_audit_row(self, reg: Registry, project: str) -> None:
        reg.apply_definitions(project, repo(), actor="alice")
        first = max(a.id for a in reg.audit(project=project, limit=100))
        # minor: a description change; entity owner change; then view + service removed and restored
        reg.apply_definitions(
            project,
            Definitions(
                entities=(dataclasses.replace(USER, owner="fraud-team"), MERCHANT),
                sources=(TX,),
                views=(dataclasses.replace(STATS, description="7-day spend"),),
                services=(SERVICE,),
            ),
            actor="bob",
        )
        reg.apply_definitions(project, Definitions(entities=(USER, MERCHANT), sources=(TX,)), actor="bob")
        reg.apply_definitions(project, repo(), actor="bob")
        run_id = reg.start_run(project, "backfill", {"view": "user_stats"}, "carol")
        reg.finish_run(run_id, status="succeeded", outputs=[{"table": "user_stats__v1", "version": 1}])
        reg.set_watermark(
            project, "user_stats", 1, "materialize", datetime(2024, 1, 2, tzinfo=UTC), actor="carol"
        )
        reg.register_training_set(
            project,
            "ts",
            service="fraud",
            service_version=1,
            entity_source={"table": "labels", "version": 0},
            feature_tables=[{"table": "user_stats__v1", "version": 1}],
            features=["user_stats:amount_sum_7d"],
            output={"table": "training_set__ts", "version": 0},
            row_count=1,
            checksum="1:00",
            actor="carol",
        )
        reg.register_model(project, "fraud_model", training_set="ts", training_set_version=1, actor="carol")
        reg.set_status(project, "fraud", 1, "deprecated", reason="v2", actor="dave", object_type="service")
        later = sorted((a for a in reg.audit(project=project, limit=100) if a.id > first), key=lambda a: a.id)
        got = [(a.actor, a.action, a.object_key) for a in later]
        assert ("bob", "entity.update", "user") in got
        assert ("bob", "view_version.create", "user_stats@1.1") in got  # the minor change
        assert ("bob", "view.remove", "user_stats") in got and ("bob", "service.remove", "fraud") in got
        assert ("bob", "view.restore", "user_stats") in got and ("bob", "service.restore", "fraud") in got
        actions = {a for _, a, _ in got}
        assert {
            "run.start",
            "run.succeeded",
            "watermark.set",
            "training_set.register",
            "model.register",
            "status.set",
        } <= actions, sorted(actions)
        # Each row carries its before/after: the status change says from what to what.
        status_row = next(a for a in later if a.action == "status.set")
        assert (status_row.before, status_row.after) == (
            {"status": "active"},
            {"status": "deprecated", "reason": "v2"},
        )

    # ------------------------------------------------------------------ erasure requests

    def test_erasure_request_keeps_salted_hashes_steps_and_marks(self, reg: Registry, project: str) -> None:
        from featurelake.registry.stores.erasure import hash_key

        reg.apply_definitions(project, repo(), actor="alice")
        salt = "00112233445566778899aabbccddeeff"
        hashes = [hash_key(salt, [("merchant_id", "m-secret-777")]), hash_key(salt, [("merchant_id", "b")])]
        rid = reg.create_erasure_request(
            project,
            join_keys=[JoinKey("user_id", "INT64")],
            salt=salt,
            key_hashes=hashes,
            reason="GDPR Art. 17, ticket 9",
            actor="dpo",
            options={"purge": True},
        )
        # The raw key appears nowhere: not in the request, not in the audit log.
        req = reg.get_erasure_request(rid)
        assert (req.status, req.dry_run, req.reason, req.actor, req.options) == (
            "running",
            False,
            "GDPR Art. 17, ticket 9",
            "dpo",
            {"purge": True},
        )
        assert req.key_hashes == tuple(hashes) and len(hashes[0]) == 64
        assert hash_key(salt, [("user_id", 42)]) != hash_key("ff" * 16, [("user_id", 42)])
        assert reg.record_erasure_step(
            rid,
            "delta:user_stats__v1",
            kind="delta",
            target="user_stats__v1",
            actor="dpo",
            version_before=3,
            version_after=4,
            rows_removed=5,
            detail={"files_removed": 1},
        )
        # A step is recorded once: a resumed run that repeats it writes nothing.
        assert not reg.record_erasure_step(rid, "delta:user_stats__v1", kind="delta", target="x", actor="dpo")
        reg.mark_training_set_erasure(
            project, "train", 1, request_id=rid, state="holds_erased_data", actor="dpo"
        )
        reg.mark_training_set_erasure(
            project, "train", 1, request_id=rid, state="superseded", actor="dpo", superseded_by=2
        )
        reg.finish_erasure_request(
            rid, status="succeeded", report={"summary": {"rows_removed": 5}}, actor="dpo"
        )
        req = reg.get_erasure_request(rid)
        assert req.status == "succeeded" and req.finished_at is not None
        assert [(s.step, s.version_before, s.version_after, s.rows_removed, s.detail) for s in req.steps] == [
            ("delta:user_stats__v1", 3, 4, 5, {"files_removed": 1})
        ]
        marks = reg.training_set_erasures(project, "train", 1)
        assert [(m.request_id, m.state, m.superseded_by) for m in marks] == [(rid, "superseded", 2)]
        assert [r.request_id for r in reg.list_erasure_requests(project)] == [rid]
        rows = reg.audit(project=project, object_key=rid)
        assert [a.action for a in reversed(rows)] == ["erasure.request", "erasure.delta", "erasure.succeeded"]
        texts = repr([(a.before, a.after) for a in reg.audit(project=project, limit=1000)])
        assert salt not in texts and "m-secret-777" not in texts
        with pytest.raises(RegistryError, match="already succeeded"):
            reg.reopen_erasure_request(rid, actor="dpo")
        with pytest.raises(RegistryError, match="needs a reason"):
            reg.create_erasure_request(
                project,
                join_keys=[JoinKey("user_id", "INT64")],
                salt=salt,
                key_hashes=hashes,
                reason=" ",
                actor="x",
            )
        with pytest.raises(RegistryError, match="does not exist"):
            reg.get_erasure_request("nope")

    def test_audit_rows_cannot_be_updated_or_deleted(self, reg: Registry, project: str) -> None:
        reg.apply_definitions(project, repo(), actor="alice")
        for sql in ("UPDATE fl_audit_log SET actor = 'mallory'", "DELETE FROM fl_audit_log"):
            with pytest.raises(sa.exc.DBAPIError, match="append-only"):
                with reg.engine.begin() as conn:
                    conn.exec_driver_sql(sql)
        assert {a.actor for a in reg.audit(project=project)} == {"alice"}


class TestSQLiteRegistry(RegistryContract):
    @pytest.fixture
    def reg(self, sqlite_registry: Registry) -> Registry:
        return sqlite_registry


@pytest.mark.postgres
class TestPostgresRegistry(RegistryContract):
    @pytest.fixture
    def reg(self, pg_registry: Registry) -> Registry:
        return pg_registry

    def test_audit_truncate_is_refused(self, reg: Registry, project: str) -> None:
        reg.apply_definitions(project, repo(), actor="alice")
        with pytest.raises(sa.exc.DBAPIError, match="append-only: TRUNCATE"):
            with reg.engine.begin() as conn:
                conn.exec_driver_sql("TRUNCATE fl_audit_log")

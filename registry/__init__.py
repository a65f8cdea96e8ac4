"""featurelake's registry (control plane): versions, lifecycle, lineage, runs, training sets, audit.

Never imports lakehouse/, jobs/ or pyspark. PostgreSQL in production, SQLite as the embedded
default, one code path (SQLAlchemy 2 + Alembic, tables prefixed ``fl_`` so Feast's ``sql``
registry can share the database). Full reference: docs/registry.md.

Python API (what jobs call)::

    from featurelake.registry import open_registry, Node, TableVersion

    reg = open_registry(settings.registry_url)        # ServiceUnavailableError within
                                                      # connect_timeout_s (default 5) if the DB
                                                      # is down; RegistryError if migrations are
                                                      # behind (SQLite auto-migrates)
    reg.migrate()                                     # -> (before, after) revisions

    # read (RegistryReader)
    vv = reg.get_view_version(project, "user_stats")          # newest ACTIVE, else newest non-archived
    vv = reg.get_view_version(project, "user_stats", "2")     # newest minor of major 2
    vv = reg.get_view_version(project, "user_stats", "2.1")   # exactly 2.1
    vv.table_name, vv.major, vv.minor, vv.version, vv.status, vv.entities (JoinKey name/dtype),
    vv.join_keys, vv.features (Feature name/dtype/description/tags), vv.feature_names, vv.ttl,
    vv.definition, vv.definition_hash, vv.owner, vv.tags, vv.source, vv.transformation
    sv = reg.get_service_version(project, "fraud_v1", None)   # .views: (view, view_major, features)
    reg.list_views(project); reg.list_services(project); reg.list_entities(project); reg.list_sources(project)
    reg.assert_usable(project, view, version, "backfill" | "materialize" | "serve" | "train") -> ViewVersion

    # runs
    run_id = reg.start_run(project, "backfill", {"view": "user_stats", "start": start}, actor)
    reg.heartbeat(run_id)                             # lease 10 min; expired -> status "abandoned"
    reg.finish_run(run_id, status="succeeded", rows_in=.., rows_out=..,
                   inputs=[{"table": t, "version": 3}], outputs=[{"table": t2, "version": 7}],
                   error=None, report={...},
                   lineage_edges=[(Node.data_source(t, 3), Node.feature_view_version("user_stats", "1.0")),
                                  (Node.feature_view_version("user_stats", "1.0"), Node.delta_output(t2, 7))])
    reg.last_successful_run(project, "materialize", "user_stats") -> Run | None
    reg.get_watermark(project, view, major, "materialize") -> datetime | None
    reg.set_watermark(project, view, major, "materialize", value_utc, actor=actor, run_id=run_id)

    # lineage
    reg.add_lineage_edge(src, dst, run_id=run_id)     # or project=...
    reg.lineage(project, Node.data_source(t, 3), direction="downstream", depth=5) -> [LineageEdge]

    # training sets and models
    version = reg.register_training_set(project, name, service=.., service_version=..,
        entity_source={"table": .., "version": ..}, feature_tables=[{..}], features=[..],
        output={..}, row_count=.., checksum=.., actor=.., run_id=..)
    reg.get_training_set(project, name, version=None); reg.list_training_sets(project)
    reg.register_model(project, "model-uri", training_set=name, training_set_version=version, actor=actor)

    # erasure requests (salted key hashes only; steps recorded once, so a killed run resumes)
    rid = reg.create_erasure_request(project, join_keys=[JoinKey("user_id", "INT64")], salt=salt,
        key_hashes=[hash_key(salt, [("user_id", 42)])], reason="GDPR Art. 17", actor=actor)
    reg.record_erasure_step(rid, "delta:t", kind="delta", target="t", actor=actor,
        version_before=3, version_after=4, rows_removed=5)          # False if already recorded
    reg.mark_training_set_erasure(project, "train", 1, request_id=rid, state="superseded",
        superseded_by=2, actor=actor); reg.training_set_erasures(project, "train", 1)
    reg.finish_erasure_request(rid, status="succeeded", report={...}, actor=actor)
    reg.get_erasure_request(rid); reg.list_erasure_requests(project)
    # lifecycle and definitions
    reg.set_status(project, "user_stats", "1.0", "deprecated", reason="...", actor=actor, force=False)
    reg.plan(project, Definitions(...)); reg.apply_definitions(project, Definitions(...), actor=actor)
    reg.audit(project=project, limit=100)
"""

from featurelake.registry.reader import RegistryReader
from featurelake.registry.types import (
    ALLOWED_TRANSITIONS,
    AuditEntry,
    Change,
    DataSource,
    Definitions,
    Entity,
    EntityDef,
    ErasureRequest,
    ErasureStep,
    Feature,
    FeatureDef,
    JoinKey,
    LineageEdge,
    MonitorCheck,
    Node,
    Plan,
    Run,
    ServiceDef,
    ServiceFeatures,
    ServiceVersion,
    SourceDef,
    TableVersion,
    TrainingSet,
    TrainingSetErasure,
    ViewDef,
    ViewVersion,
)
from featurelake.registry.writer import Registry, open_registry

__all__ = [
    "ALLOWED_TRANSITIONS",
    "AuditEntry",
    "Change",
    "DataSource",
    "Definitions",
    "Entity",
    "EntityDef",
    "ErasureRequest",
    "ErasureStep",
    "Feature",
    "FeatureDef",
    "JoinKey",
    "LineageEdge",
    "MonitorCheck",
    "Node",
    "Plan",
    "Registry",
    "RegistryReader",
    "Run",
    "ServiceDef",
    "ServiceFeatures",
    "ServiceVersion",
    "SourceDef",
    "TableVersion",
    "TrainingSet",
    "TrainingSetErasure",
    "ViewDef",
    "ViewVersion",
    "open_registry",
]

"""load_repo on the real feature repo and on broken repos built in temporary folders."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from featurelake.errors import DefinitionError
from featurelake.repo import load_repo, repo_files
from featurelake.spec import AggregationTransform, SparkTransform

from .repo_fixtures import FEATURE_REPO, copy_feature_repo, write_repo

ENTITIES = textwrap.dedent(
    """
    from feast import Entity, ValueType
    user = Entity(name="user", join_keys=["user_id"], value_type=ValueType.INT64)
    """
)

VIEWS = textwrap.dedent(
    """
    from datetime import timedelta
    from feast import FeatureView, Field, FileSource
    from feast.types import Float64, Int64
    from entities import user
    from featurelake.spec import Aggregation, AggregationTransform, NotNull, ValueRange, ViewSpec

    src = FileSource(name="stats_src", path="/tmp/nowhere/stats", timestamp_field="event_timestamp")
    stats = FeatureView(
        name="stats", entities=[user], ttl=timedelta(days=1), source=src,
        schema=[Field(name="user_id", dtype=Int64), Field(name="amount_sum_7d", dtype=Float64),
                Field(name="orphan", dtype=Float64)],
    )
    stats_spec = ViewSpec(
        view="stats",
        transform=AggregationTransform(
            source="raw", timestamp_column="ts", entity_columns={"uid": "account_id"},
            aggregations=[Aggregation(function="sum", column="amount", window="7d"),
                          Aggregation(function="count", window="7d")],
        ),
        expectations=[NotNull(columns=("nope",)), ValueRange(column="amount_sum_7d", min_value=0)],
        zorder_by=("user_id", "missing_col"),
    )
    ghost_spec = ViewSpec(
        view="ghost",
        transform=AggregationTransform(source="raw", timestamp_column="ts", entity_columns={"u": "user_id"},
                                       aggregations=[Aggregation(function="count", window="1d")]),
    )
    """
)

MORE = textwrap.dedent(
    """
    from datetime import timedelta
    from feast import Entity, FeatureService, FeatureView, Field, FileSource, ValueType
    from feast.types import Int64
    from views import stats

    user = Entity(name="user", join_keys=["user_id"], value_type=ValueType.INT64)  # duplicate name
    src2 = FileSource(name="acct_src", path="/tmp/nowhere/acct", timestamp_field="event_timestamp")
    acct = FeatureView(name="acct", entities=[Entity(name="account", join_keys=["account_id"])], ttl=timedelta(days=1),
                       source=src2, schema=[Field(name="account_id", dtype=Int64), Field(name="n", dtype=Int64)])
    svc = FeatureService(name="svc", features=[stats, "stats:no_such_feature", "no_such_view"])
    """
)


def test_feature_repo_loads() -> None:
    repo = load_repo(FEATURE_REPO)
    assert {v.name for v in repo.feature_views} == {
        "user_transaction_stats",
        "merchant_risk_stats",
        "user_profile",
    }
    assert {e.name for e in repo.entities} >= {"user", "merchant"}
    assert [s.name for s in repo.feature_services] == ["fraud_detection"]
    assert [o.name for o in repo.on_demand_feature_views] == ["transaction_vs_history"]
    assert set(repo.view_specs) == {"user_transaction_stats", "merchant_risk_stats", "user_profile"}
    assert isinstance(repo.spec("user_profile").transform, SparkTransform)
    assert isinstance(repo.spec("merchant_risk_stats").transform, AggregationTransform)
    # the aggregation outputs are exactly the Feast schema's features
    for name in ("user_transaction_stats", "merchant_risk_stats"):
        assert set(repo.spec(name).feature_names()) == {f.name for f in repo.feature_view(name).features}
    assert repo.origin(repo.feature_view("user_profile")) == "user_features.py:user_profile"
    assert repo.origin(repo.entity("user")) == "entities.py:user"
    service = repo.feature_service("fraud_detection")
    assert {p.name for p in service.feature_view_projections} == {
        "user_transaction_stats",
        "user_profile",
        "merchant_risk_stats",
    }
    assert service.tags["version"] == "2"
    home = next(f for f in repo.feature_view("user_profile").features if f.name == "home_country")
    assert home.tags.get("pii") == "true"
    feast_contents = repo.to_feast()
    assert len(feast_contents.feature_views) == 3
    with pytest.raises(KeyError, match="no feature view named 'nope'"):
        repo.feature_view("nope")


def test_v1_fixture_repo_has_user_features_only(tmp_path: Path) -> None:
    repo = load_repo(copy_feature_repo(tmp_path / "repo", service_version=1))
    service = repo.feature_service("fraud_detection")
    assert {p.name for p in service.feature_view_projections} == {"user_transaction_stats", "user_profile"}
    assert service.tags["version"] == "1"


def test_bad_repo_reports_every_problem_at_once(tmp_path: Path) -> None:
    root = write_repo(
        tmp_path / "bad",
        {
            "entities.py": ENTITIES,
            "views.py": VIEWS,
            "more.py": MORE,
            "broken.py": "x = (\n",
            "scripts/ignored.py": "raise RuntimeError('must not be imported')\n",
        },
        feastignore="scripts/\n",
    )
    with pytest.raises(DefinitionError) as info:
        load_repo(root)
    problems = info.value.problems
    joined = "\n".join(problems)
    expected = [
        ("broken.py: failed to import: SyntaxError", "broken.py"),
        ("Entity 'user': duplicate name", "more.py"),
        ("FeatureView 'acct': unknown entity 'account'", "more.py"),
        ("FeatureService 'svc': feature 'no_such_feature' is not in view 'stats'", "more.py"),
        ("FeatureService 'svc': unknown feature view 'no_such_view'", "more.py"),
        ("unknown feature view 'ghost'", "views.py"),
        ("aggregation outputs ['count_7d'] are not in the view's schema", "views.py"),
        ("schema features ['orphan'] are produced by no aggregation", "views.py"),
        ("join keys ['account_id'] but the view's join keys are ['user_id']", "views.py"),
        ("zorder_by column 'missing_col'", "views.py"),
        ("NotNull names column 'nope'", "views.py"),
    ]
    for fragment, file in expected:
        matching = [p for p in problems if fragment in p]
        assert len(matching) == 1, f"{fragment!r} not reported exactly once in:\n{joined}"
        assert matching[0].startswith(file), matching[0]
    assert len(problems) == len(expected), joined
    assert "must not be imported" not in joined
    assert str(info.value).startswith(f"{len(expected)} definition problems:")


def test_invalid_spec_is_reported_with_file_and_line(tmp_path: Path) -> None:
    root = write_repo(
        tmp_path / "r",
        {
            "entities.py": ENTITIES,
            "spec.py": textwrap.dedent(
                """
                from featurelake.spec import Aggregation
                ok = 1
                bad = Aggregation(function="sum", window="7d")
                """
            ),
        },
    )
    with pytest.raises(DefinitionError) as info:
        load_repo(root)
    (problem,) = info.value.problems
    assert problem.startswith(
        "spec.py: failed to import: Aggregation (line 4): function 'sum' needs a column; only 'count' may omit it"
    )
    assert problem.endswith("fix the file or list it in .feastignore")
    # this test's own package (named "spec" under pytest's rootdir import) was set aside and restored
    package = __name__.rpartition(".")[0]
    if package:
        assert Path(sys.modules[package].__file__).parent == Path(__file__).parent


def test_duplicate_view_names_across_files(tmp_path: Path) -> None:
    view = textwrap.dedent(
        """
        from datetime import timedelta
        from feast import FeatureView, Field, FileSource
        from feast.types import Int64
        from entities import user
        v = FeatureView(name="same", entities=[user], ttl=timedelta(days=1),
                        source=FileSource(name="{src}", path="/tmp/x", timestamp_field="event_timestamp"),
                        schema=[Field(name="user_id", dtype=Int64), Field(name="n", dtype=Int64)])
        """
    )
    root = write_repo(
        tmp_path / "r",
        {"entities.py": ENTITIES, "a.py": view.format(src="s1"), "b.py": view.format(src="s2")},
    )
    with pytest.raises(DefinitionError) as info:
        load_repo(root)
    assert info.value.problems == [
        "b.py: FeatureView 'same': duplicate name, also defined at a.py:v; rename one of them or import the "
        "existing object instead of redefining it"
    ]


def test_missing_join_key_in_schema(tmp_path: Path) -> None:
    root = write_repo(
        tmp_path / "r",
        {
            "entities.py": ENTITIES,
            "v.py": textwrap.dedent(
                """
                from datetime import timedelta
                from feast import FeatureView, Field, FileSource
                from feast.types import Int64
                from entities import user
                v = FeatureView(name="v", entities=[user], ttl=timedelta(days=1),
                                source=FileSource(name="s", path="/tmp/x", timestamp_field="event_timestamp"),
                                schema=[Field(name="n", dtype=Int64)])
                """
            ),
        },
    )
    with pytest.raises(
        DefinitionError, match=r"join key 'user_id' of entity 'user' is missing from the schema"
    ):
        load_repo(root)


def test_two_repos_with_same_file_names_in_one_process(tmp_path: Path) -> None:
    a = load_repo(copy_feature_repo(tmp_path / "a", service_version=1))
    b = load_repo(copy_feature_repo(tmp_path / "b", service_version=2))
    assert a.feature_service("fraud_detection").tags["version"] == "1"
    assert b.feature_service("fraud_detection").tags["version"] == "2"
    assert a.feature_view("user_profile") is not b.feature_view("user_profile")


def test_repo_files_respects_feastignore(tmp_path: Path) -> None:
    root = write_repo(
        tmp_path / "r",
        {"a.py": "", "pkg/__init__.py": "", "pkg/b.py": "", "tools/c.py": "", "d.py": ""},
        feastignore="# comment\ntools/\nd.py  # trailing comment\n",
    )
    assert [p.relative_to(root.resolve()).as_posix() for p in repo_files(root)] == ["a.py", "pkg/b.py"]


def test_not_a_folder(tmp_path: Path) -> None:
    with pytest.raises(DefinitionError, match="is not a folder"):
        load_repo(tmp_path / "missing")


def test_on_demand_view_with_a_source_outside_the_repo(tmp_path: Path) -> None:
    hidden = textwrap.dedent(
        """
        from datetime import timedelta
        from feast import FeatureView, Field, FileSource
        from feast.types import Int64
        from entities import user

        def make_view():
            return FeatureView(name="hidden", entities=[user], ttl=timedelta(days=1),
                               source=FileSource(name="h", path="/tmp/h", timestamp_field="event_timestamp"),
                               schema=[Field(name="user_id", dtype=Int64), Field(name="n", dtype=Int64)])
        """
    )
    odfv = textwrap.dedent(
        """
        import pandas as pd
        from feast import Field
        from feast.on_demand_feature_view import on_demand_feature_view
        from feast.types import Int64
        from tools.hidden import make_view

        @on_demand_feature_view(sources=[make_view()], schema=[Field(name="n2", dtype=Int64)])
        def doubled(inputs: pd.DataFrame) -> pd.DataFrame:
            return pd.DataFrame({"n2": inputs["n"] * 2})
        """
    )
    root = write_repo(
        tmp_path / "r",
        {"entities.py": ENTITIES, "tools/__init__.py": "", "tools/hidden.py": hidden, "odfv.py": odfv},
        feastignore="tools/\n",
    )
    with pytest.raises(DefinitionError) as info:
        load_repo(root)
    assert info.value.problems == [
        "odfv.py: OnDemandFeatureView 'doubled': source view 'hidden' is not defined in the repo; define it or use one "
        "of []"
    ]


def test_a_broken_file_is_reported_once_not_for_its_importers(tmp_path: Path) -> None:
    repo = write_repo(
        tmp_path / "repo",
        {
            "a_views.py": "from z_sources import SOURCE\n",
            "b_more.py": "import z_sources\n",
            "z_sources.py": "SOURCE = (\n",  # a syntax error
        },
    )
    with pytest.raises(DefinitionError) as err:
        load_repo(repo)
    problems = err.value.problems
    assert [p for p in problems if "failed to import" in p] == [
        p for p in problems if p.startswith("z_sources.py:")
    ]
    assert len([p for p in problems if "failed to import" in p]) == 1, problems
    assert not any(p.startswith(("a_views.py", "b_more.py")) for p in problems), problems

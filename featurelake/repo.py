"""Loading a feature repo: Feast objects plus featurelake ViewSpecs, validated all at once.

:func:`load_repo` imports every ``.py`` file of the repo folder the way ``feast apply`` does
(recursively, sorted, skipping ``__init__.py`` and whatever ``.feastignore`` lists), and
collects the module-level instances it finds: Feast ``Entity``, ``FeatureView``,
``OnDemandFeatureView``, ``FeatureService`` and data sources, and featurelake
:class:`~featurelake.spec.ViewSpec` objects. There is no global registry: an object counts
only if a module of the repo holds it in a module-level name (an object imported into
several modules counts once).

Every problem is collected before anything is raised, as ONE
:class:`~featurelake.errors.DefinitionError` whose ``problems`` each read
``<file>: <Kind> '<name>': <what is wrong>; <how to fix>``. Checked:

* a file that fails to import (syntax error, a spec that does not validate, ...),
* duplicate names (entities; feature views and on-demand views share one namespace;
  services; data sources; two ViewSpecs for one view),
* a feature view naming an entity the repo does not define, or whose schema lacks a join key,
* an on-demand view whose source view is not in the repo,
* a feature service naming a view or a feature that does not exist,
* a ViewSpec for an unknown view; aggregation outputs that differ from the view's schema;
  join keys of the transform that differ from the view's; Z-order or expectation columns that
  are not columns of the view.

The repo's modules are removed from ``sys.modules`` afterwards (and modules they shadowed are
put back), so loading two repos with the same file names in one process gives each its own
objects. Warnings raised while importing are collected in ``RepoContents.warnings``.
"""

from __future__ import annotations

import ast
import importlib
import sys
import traceback
import warnings
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from featurelake.errors import DefinitionError
from featurelake.spec import (
    SYSTEM_COLUMNS,
    AggregationTransform,
    ViewSpec,
    expectation_columns,
)

_ALWAYS_IGNORED = [
    ".git",
    ".feastignore",
    ".venv",
    "**/.ipynb_checkpoints",
    "**/.pytest_cache",
    "**/__pycache__",
]


@dataclass
class RepoContents:
    """What a feature repo defines. Lists keep the repo's (sorted file) order.

    Attributes:
        path: the repo folder (absolute).
        entities: Feast entities.
        feature_views: Feast (batch) feature views.
        on_demand_feature_views: Feast on-demand feature views.
        feature_services: Feast feature services.
        data_sources: Feast data sources (declared or used by a view).
        view_specs: featurelake specs, keyed by view name.
        origins: ``id(obj)`` -> ``"file.py:attribute"`` where each object was found.
        warnings: warnings raised while importing the repo (``file.py: Category: message``).
    """

    path: Path
    entities: list[Any] = field(default_factory=list)
    feature_views: list[Any] = field(default_factory=list)
    on_demand_feature_views: list[Any] = field(default_factory=list)
    feature_services: list[Any] = field(default_factory=list)
    data_sources: list[Any] = field(default_factory=list)
    view_specs: dict[str, ViewSpec] = field(default_factory=dict)
    origins: dict[int, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def entity(self, name: str) -> Any:
        """The entity named ``name``. Raises KeyError if absent."""
        return _by_name(self.entities, name, "entity")

    def feature_view(self, name: str) -> Any:
        """The feature view named ``name``. Raises KeyError if absent."""
        return _by_name(self.feature_views, name, "feature view")

    def feature_service(self, name: str) -> Any:
        """The feature service named ``name``. Raises KeyError if absent."""
        return _by_name(self.feature_services, name, "feature service")

    def spec(self, view: str) -> ViewSpec | None:
        """The ViewSpec of ``view``, or None if the view has none."""
        return self.view_specs.get(view)

    def origin(self, obj: Any) -> str:
        """Where ``obj`` was found, as ``file.py:attribute``."""
        return self.origins.get(id(obj), "?")

    def to_feast(self) -> Any:
        """The same objects as Feast's own ``feast.repo_contents.RepoContents`` (for apply/plan)."""
        from feast.repo_contents import RepoContents as FeastRepoContents

        return FeastRepoContents(
            projects=[],
            data_sources=list(self.data_sources),
            feature_views=list(self.feature_views),
            on_demand_feature_views=list(self.on_demand_feature_views),
            stream_feature_views=[],
            label_views=[],
            entities=list(self.entities),
            feature_services=list(self.feature_services),
            permissions=[],
        )


def _by_name(items: list[Any], name: str, kind: str) -> Any:
    for item in items:
        if item.name == name:
            return item
    raise KeyError(f"no {kind} named {name!r}; known: {sorted(i.name for i in items)}")


# --------------------------------------------------------------------------- file discovery


def _read_feastignore(root: Path) -> list[str]:
    file = root / ".feastignore"
    if not file.is_file():
        return []
    patterns = []
    for line in file.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            patterns.append(line)
    return patterns


def repo_files(root: Path) -> list[Path]:
    """The .py files ``feast apply`` would import from ``root``, sorted (same rules as Feast).

    Args:
        root: the repo folder.

    Returns:
        Absolute paths, sorted.
    """
    root = root.resolve()
    ignored: set[Path] = set()
    for pattern in set(_read_feastignore(root) + _ALWAYS_IGNORED):
        for match in root.glob(pattern):
            if match.is_file():
                ignored.add(match.resolve())
            else:
                ignored |= {p.resolve() for p in match.glob("**/*.py") if p.is_file()}
    files = {p.resolve() for p in root.glob("**/*.py") if p.is_file() and p.name != "__init__.py"}
    return sorted(files - ignored)


def _module_name(root: Path, file: Path) -> str:
    return ".".join(file.relative_to(root).with_suffix("").parts)


# --------------------------------------------------------------------------- loading


@dataclass
class _Found:
    kind: str
    obj: Any
    where: str  # file.py:attr
    defined_here: bool  # bound by an assignment in this file (not imported into it)


def _assigned_names(file: Path) -> set[str]:
    """Module-level names a file binds by assignment, to tell a definition from an import."""
    try:
        tree = ast.parse(file.read_text(), filename=str(file))
    except (SyntaxError, UnicodeDecodeError):
        return set()
    names: set[str] = set()
    for node in tree.body:
        targets = (
            node.targets
            if isinstance(node, ast.Assign)
            else [node.target]
            if isinstance(node, ast.AnnAssign)
            else []
        )
        for target in targets:
            names |= {n.id for n in ast.walk(target) if isinstance(n, ast.Name)}
    return names


def _classify(obj: Any) -> str | None:
    from feast import Entity, FeatureService, FeatureView, OnDemandFeatureView
    from feast.data_source import DataSource

    if isinstance(obj, ViewSpec):
        return "ViewSpec"
    if isinstance(obj, Entity):
        return "Entity"
    if isinstance(obj, OnDemandFeatureView):
        return "OnDemandFeatureView"
    if isinstance(obj, FeatureView):
        return "FeatureView"
    if isinstance(obj, FeatureService):
        return "FeatureService"
    if isinstance(obj, DataSource):
        return "DataSource"
    return None


def _import_all(root: Path, problems: list[str], warned: list[str]) -> Iterator[_Found]:
    files = repo_files(root)
    names = {_module_name(root, f) for f in files}
    top_levels = {n.split(".")[0] for n in names}
    # Modules of the same names (another repo loaded earlier, or an unrelated package) are
    # set aside while the repo imports, and put back afterwards.
    shadowed = {mod: sys.modules.pop(mod) for mod in list(sys.modules) if mod.split(".")[0] in top_levels}
    sys.path.insert(0, str(root))
    dont_write = sys.dont_write_bytecode
    sys.dont_write_bytecode = True
    broken: set[Path] = set()
    try:
        for file in files:
            rel = file.relative_to(root).as_posix()
            try:
                # Warnings (e.g. Feast deprecations) are reported, never raised: a strict
                # warnings filter in the caller must not turn them into definition errors.
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always")
                    module = importlib.import_module(_module_name(root, file))
                warned.extend(f"{rel}: {w.category.__name__}: {w.message}" for w in caught)
            except Exception as err:  # noqa: BLE001 - any import failure is a definition problem
                # A file that only imports a broken repo file is not broken itself: report the
                # file the error comes from, once.
                origin = _origin_file(err, root, files) or file
                if origin not in broken:
                    broken.add(origin)
                    where = origin.relative_to(root).as_posix()
                    problems.append(
                        f"{where}: failed to import: {_describe(err, origin)}; fix the file or list it in .feastignore"
                    )
                continue
            assigned = _assigned_names(file)
            for attr in sorted(vars(module)):
                if attr.startswith("__"):
                    continue
                obj = getattr(module, attr)
                kind = _classify(obj)
                if kind is not None:
                    yield _Found(kind, obj, f"{rel}:{attr}", attr in assigned)
    finally:
        sys.dont_write_bytecode = dont_write
        try:
            sys.path.remove(str(root))
        except ValueError:
            pass
        for mod in [m for m in sys.modules if m.split(".")[0] in top_levels]:
            del sys.modules[mod]
        sys.modules.update(shadowed)


def _origin_file(err: BaseException, root: Path, files: list[Path]) -> Path | None:
    """The repo file an import error comes from: a syntax error's file, else the deepest repo frame."""
    known = set(files)
    if isinstance(err, SyntaxError) and err.filename:
        path = Path(err.filename).resolve()
        if path in known:
            return path
    for frame in reversed(traceback.extract_tb(err.__traceback__)):
        path = Path(frame.filename).resolve()
        if path in known:
            return path
    return None


def _describe(err: BaseException, file: Path) -> str:
    """One line naming the error, with the line of the repo file where it happened."""
    line = ""
    for frame in reversed(traceback.extract_tb(err.__traceback__)):
        if Path(frame.filename).resolve() == file:
            line = f" (line {frame.lineno})"
            break
    if isinstance(err, SyntaxError) and err.lineno:
        line = f" (line {err.lineno})"
    text = " ".join((err.msg if isinstance(err, SyntaxError) else str(err)).split())
    try:
        from pydantic import ValidationError

        if isinstance(err, ValidationError):
            text = "; ".join(
                f"{e['msg'].removeprefix('Value error, ')}"
                + (f" at {'.'.join(str(p) for p in e['loc'])}" if e["loc"] else "")
                for e in err.errors()
            )
            return f"{err.title}{line}: {text}"
    except ImportError:  # pragma: no cover - pydantic is a core dependency
        pass
    return f"{type(err).__name__}{line}: {text}"


def load_repo(path: str | Path) -> RepoContents:
    """Import a feature repo and validate everything in it.

    Args:
        path: the repo folder (holding ``feature_store.yaml`` and the definition files).

    Returns:
        The repo's contents.

    Raises:
        DefinitionError: with every problem found (file, object, what is wrong, how to fix).
    """
    root = Path(path).resolve()
    if not root.is_dir():
        raise DefinitionError(
            f"feature repo {str(path)!r} is not a folder; pass the folder holding feature_store.yaml"
        )
    problems: list[str] = []
    contents = RepoContents(path=root)
    seen: dict[int, _Found] = {}
    for found in _import_all(root, problems, contents.warnings):
        # An object imported into several modules counts once, where it is defined.
        earlier = seen.get(id(found.obj))
        if earlier is None or (found.defined_here and not earlier.defined_here):
            seen[id(found.obj)] = found
    for found in sorted(seen.values(), key=lambda f: f.where.rsplit(":", 1)[0]):
        contents.origins[id(found.obj)] = found.where
        if found.kind == "Entity":
            contents.entities.append(found.obj)
        elif found.kind == "FeatureView":
            contents.feature_views.append(found.obj)
        elif found.kind == "OnDemandFeatureView":
            contents.on_demand_feature_views.append(found.obj)
        elif found.kind == "FeatureService":
            contents.feature_services.append(found.obj)
        elif found.kind == "DataSource":
            contents.data_sources.append(found.obj)
    # Sources used by views count even when not bound to a module-level name.
    for fv in contents.feature_views:
        source = fv.batch_source
        if source is not None and not any(source is ds for ds in contents.data_sources):
            contents.data_sources.append(source)
            contents.origins[id(source)] = contents.origin(fv)
    specs = sorted((f for f in seen.values() if f.kind == "ViewSpec"), key=lambda f: f.where)
    problems += _check_duplicates(contents, specs)
    problems += _check_views(contents)
    problems += _check_services(contents)
    problems += _check_specs(contents, specs)
    if problems:
        raise DefinitionError(problems)
    for found in specs:
        contents.view_specs[found.obj.view] = found.obj
    return contents


# --------------------------------------------------------------------------- checks


def _file(where: str) -> str:
    return where.rsplit(":", 1)[0]


def _check_duplicates(contents: RepoContents, specs: list[_Found]) -> list[str]:
    problems = []
    groups = {
        "Entity": contents.entities,
        "FeatureView": contents.feature_views + contents.on_demand_feature_views,
        "FeatureService": contents.feature_services,
        "DataSource": [ds for ds in contents.data_sources if ds.name],
    }
    for kind, items in groups.items():
        by_name: dict[str, list[str]] = defaultdict(list)
        for item in items:
            by_name[item.name].append(contents.origin(item))
        for name, wheres in sorted(by_name.items()):
            if len(wheres) > 1:
                problems.append(
                    f"{_file(wheres[1])}: {kind} {name!r}: duplicate name, also defined at {', '.join(wheres[:1] + wheres[2:])}; "
                    "rename one of them or import the existing object instead of redefining it"
                )
    spec_by_view: dict[str, list[str]] = defaultdict(list)
    for found in specs:
        spec_by_view[found.obj.view].append(found.where)
    for view, wheres in sorted(spec_by_view.items()):
        if len(wheres) > 1:
            problems.append(
                f"{_file(wheres[1])}: ViewSpec for {view!r}: the view has {len(wheres)} specs ({', '.join(wheres)}); keep one"
            )
    return problems


def _check_views(contents: RepoContents) -> list[str]:
    problems = []
    entity_names = {e.name for e in contents.entities}
    for fv in contents.feature_views:
        where = _file(contents.origin(fv))
        for name in fv.entities:
            if name not in entity_names:
                problems.append(
                    f"{where}: FeatureView {fv.name!r}: unknown entity {name!r}; define Entity(name={name!r}, ...) in the "
                    f"repo or use one of {sorted(entity_names)}"
                )
        if fv.batch_source is None:
            problems.append(
                f"{where}: FeatureView {fv.name!r}: has no source; pass source=FileSource(...) for its feature table"
            )
        declared = {f.name for f in fv.entity_columns}
        for ent in contents.entities:
            if ent.name in fv.entities and ent.join_key not in declared:
                problems.append(
                    f"{where}: FeatureView {fv.name!r}: join key {ent.join_key!r} of entity {ent.name!r} is missing from "
                    f"the schema; add Field(name={ent.join_key!r}, dtype=...) to schema="
                )
    view_names = {v.name for v in contents.feature_views}
    for odfv in contents.on_demand_feature_views:
        where = _file(contents.origin(odfv))
        for projection in getattr(odfv, "source_feature_view_projections", {}).values():
            if projection.name not in view_names:
                problems.append(
                    f"{where}: OnDemandFeatureView {odfv.name!r}: source view {projection.name!r} is not defined in "
                    f"the repo; define it or use one of {sorted(view_names)}"
                )
    return problems


def _parse_ref(ref: str) -> tuple[str, str | None]:
    view, _, feature = ref.partition(":")
    return view.split("@", 1)[0], feature or None


def _check_services(contents: RepoContents) -> list[str]:
    problems = []
    views = {v.name: v for v in contents.feature_views + contents.on_demand_feature_views}
    for svc in contents.feature_services:
        where = _file(contents.origin(svc))
        refs: list[tuple[str, list[str]]] = [
            (p.name, [f.name for f in p.features]) for p in svc.feature_view_projections
        ]
        for ref in getattr(svc, "_pending_feature_refs", []):
            view, feature = _parse_ref(ref)
            refs.append((view, [feature] if feature else []))
        for view_name, features in refs:
            view = views.get(view_name)
            if view is None:
                problems.append(
                    f"{where}: FeatureService {svc.name!r}: unknown feature view {view_name!r}; define it in the repo "
                    f"or use one of {sorted(views)}"
                )
                continue
            known = {f.name for f in view.features}
            for feature in features:
                if feature not in known:
                    problems.append(
                        f"{where}: FeatureService {svc.name!r}: feature {feature!r} is not in view {view_name!r}; "
                        f"use one of {sorted(known)}"
                    )
    return problems


def _check_specs(contents: RepoContents, specs: list[_Found]) -> list[str]:
    problems = []
    views = {v.name: v for v in contents.feature_views}
    for found in specs:
        spec: ViewSpec = found.obj
        where = _file(found.where)
        fv = views.get(spec.view)
        if fv is None:
            problems.append(
                f"{where}: ViewSpec {found.where.rsplit(':', 1)[1]!r}: unknown feature view {spec.view!r}; "
                f"name one of {sorted(views)} or define FeatureView(name={spec.view!r}, ...)"
            )
            continue
        label = f"{where}: ViewSpec for {spec.view!r}"
        join_keys = {f.name for f in fv.entity_columns}
        schema_features = [f.name for f in fv.features]
        columns = join_keys | set(schema_features) | set(SYSTEM_COLUMNS)
        transform = spec.transform
        if isinstance(transform, AggregationTransform):
            outputs = transform.feature_names()
            missing = [n for n in outputs if n not in schema_features]
            extra = [n for n in schema_features if n not in outputs]
            if missing:
                problems.append(
                    f"{label}: aggregation outputs {missing} are not in the view's schema; add Field(name=..., dtype=...) "
                    "for each or rename the aggregation (name=...)"
                )
            if extra:
                problems.append(
                    f"{label}: schema features {extra} are produced by no aggregation; remove them from the schema or "
                    "add an Aggregation with that output name"
                )
            if set(transform.join_keys) != join_keys:
                problems.append(
                    f"{label}: entity_columns map to join keys {sorted(transform.join_keys)} but the view's join keys are "
                    f"{sorted(join_keys)}; map source columns to exactly the view's join keys"
                )
        for column in spec.zorder_by or ():
            if column not in columns:
                problems.append(
                    f"{label}: zorder_by column {column!r} is not a column of the view; use one of {sorted(columns)}"
                )
        for expectation in spec.expectations:
            for column in expectation_columns(expectation):
                if column not in columns:
                    problems.append(
                        f"{label}: {type(expectation).__name__} names column {column!r}, which is not a column of the view; "
                        f"use one of {sorted(columns)}"
                    )
    return problems

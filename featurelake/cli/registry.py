"""``featurelake registry``: governance views of the registry (list, show, history, lineage, status, runs, audit, migrate)."""

from __future__ import annotations

import dataclasses
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from featurelake.cli.context import AppContext, emit, output_option, pass_app

project_option = click.option("--project", "-p", default=None, help="Project (default: settings.project).")


def _open(app: AppContext, *, ready: bool = True) -> Any:
    from featurelake.registry import open_registry

    return open_registry(app.settings.registry_url, ready=ready, create=False)


def _as_dict(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        out = {f.name: _as_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
        if hasattr(obj, "version") and hasattr(obj, "major"):
            out["version"] = obj.version
        if obj.__class__.__name__ == "Node":
            out["id"] = str(obj)
        return out
    if isinstance(obj, list | tuple):
        return [_as_dict(o) for o in obj]
    if isinstance(obj, dict):
        return {k: _as_dict(v) for k, v in obj.items()}
    if hasattr(obj, "total_seconds"):
        return obj.total_seconds()
    return obj


def _table(title: str, columns: list[str], rows: list[list[Any]]) -> Any:
    def render(console: Console) -> None:
        from rich.markup import escape

        table = Table(title=escape(title), show_lines=False)
        for c in columns:
            table.add_column(c, overflow="fold")
        for r in rows:
            # markup=False semantics: escape user text so names like "[x]" print verbatim
            table.add_row(*(escape("" if v is None else str(v)) for v in r))
        console.print(table)

    return render


@click.group()
def registry() -> None:
    """Browse and govern the registry: versions, lineage, lifecycle status, runs, audit log."""


@registry.command("init")
@pass_app
def init_cmd(app: AppContext) -> None:
    """Create the registry at registry.url (a SQLite file, or the schema in a PostgreSQL database)."""
    from featurelake.registry import open_registry

    reg = open_registry(app.settings.registry_url, ready=False, create=True)
    before, after = reg.migrate()
    click.echo(f"registry {reg.url}: migration {before or '(empty)'} -> {after}")


@registry.command("migrate")
@pass_app
def migrate_cmd(app: AppContext) -> None:
    """Upgrade an existing registry's schema to the newest migration (`registry init` creates one)."""
    reg = _open(app, ready=False)
    before, after = reg.migrate()
    click.echo(f"registry {reg.url}: migration {before or '(empty)'} -> {after}")


@registry.command("list")
@click.option(
    "--kind",
    type=click.Choice(["view", "service", "entity", "source", "training-set"]),
    default="view",
    show_default=True,
)
@project_option
@output_option
@pass_app
def list_cmd(app: AppContext, kind: str, project: str | None, output: str) -> None:
    """List the current version of every view (or services, entities, sources, training sets)."""
    reg, project = _open(app), project or app.settings.project
    if kind == "view":
        items = reg.list_views(project)
        rows = [[v.name, v.version, v.status, v.table_name, len(v.features), v.owner] for v in items]
        cols = ["view", "version", "status", "table", "features", "owner"]
    elif kind == "service":
        items = reg.list_services(project)
        rows = [
            [s.name, s.version, s.status, ", ".join(f"{g.view}@v{g.view_major}" for g in s.views), s.owner]
            for s in items
        ]
        cols = ["service", "version", "status", "views", "owner"]
    elif kind == "entity":
        items = reg.list_entities(project)
        rows = [[e.name, ", ".join(f"{k.name}:{k.dtype}" for k in e.join_keys), e.owner] for e in items]
        cols = ["entity", "join keys", "owner"]
    elif kind == "source":
        items = reg.list_sources(project)
        rows = [[s.name, s.kind, s.location] for s in items]
        cols = ["source", "kind", "location"]
    else:
        items = reg.list_training_sets(project)
        rows = [
            [
                t.name,
                t.version,
                f"{t.service}@{t.service_version}",
                t.row_count,
                f"{t.output.table}@{t.output.version}",
            ]
            for t in items
        ]
        cols = ["training set", "version", "service", "rows", "output"]
    emit(_as_dict(items), output, _table(f"{kind}s of {project}", cols, rows))


def _split(ref: str) -> tuple[str, str | None]:
    """``NAME``, ``NAME:VERSION`` or ``NAME:vVERSION`` -> (name, version without the ``v``).

    One reference syntax for every command: views are ``user_stats:2.1`` / ``user_stats:v2``,
    services ``fraud_detection:v1`` / ``fraud_detection:1`` (as ``training-set create`` takes them).
    """
    from featurelake.errors import RegistryError

    name, sep, version = ref.rpartition(":")
    if not sep:
        return ref, None
    digits = version[1:] if version[:1] in ("v", "V") else version
    if not name or not digits or not digits.replace(".", "").isdigit() or digits.count(".") > 1:
        # names are identifiers, so a ':' always starts a version
        raise RegistryError(
            f"{ref!r} is not NAME or NAME:VERSION; a view version is MAJOR.MINOR or MAJOR (newest minor), "
            f"e.g. {name or 'user_stats'}:1.0 or {name or 'user_stats'}:v1; a service version is a whole number, "
            f"e.g. {name or 'fraud_detection'}:v1"
        )
    return name, digits


@registry.command("show")
@click.argument("ref")
@click.option(
    "--kind",
    type=click.Choice(["view", "service"]),
    default=None,
    help="Needed if a view and a service share a name.",
)
@project_option
@output_option
@pass_app
def show_cmd(app: AppContext, ref: str, kind: str | None, project: str | None, output: str) -> None:
    """Show a view or service version: REF is NAME or NAME:VERSION (e.g. user_stats:2.1)."""
    from featurelake.errors import RegistryError
    from featurelake.registry.stores.lifecycle import resolve_object_type

    reg, project = _open(app), project or app.settings.project
    name, version = _split(ref)
    with reg.engine.connect() as conn:
        kind = resolve_object_type(conn, project, name, kind)  # type: ignore[arg-type]
    if kind == "view":
        vv = reg.get_view_version(project, name, version)
        rows = [
            ["version", vv.version],
            ["status", f"{vv.status} ({vv.status_reason})"],
            ["table", vv.table_name],
            ["entities", ", ".join(f"{k.name}:{k.dtype}" for k in vv.entities)],
            ["ttl", vv.ttl],
            ["source", vv.source],
            ["owner", vv.owner],
            ["tags", vv.tags],
            ["hash", vv.definition_hash],
            ["created", f"{vv.created_at:%Y-%m-%d %H:%M:%S} by {vv.created_by} ({vv.change})"],
        ]
        rows += [
            [f"feature {f.name}", f"{f.dtype} {f.tags or ''} {f.description}".strip()] for f in vv.features
        ]
        emit(_as_dict(vv), output, _table(f"feature view {name}", ["field", "value"], rows))
    else:
        if version is not None and "." in version:
            whole = version.split(".")[0]
            raise RegistryError(
                f"feature service versions are whole numbers, not {version!r}; write {name}:v{whole}"
            )
        sv = reg.get_service_version(project, name, version)
        rows = [["version", sv.version], ["status", f"{sv.status} ({sv.status_reason})"], ["owner", sv.owner]]
        rows += [[f"{g.view}@v{g.view_major}", ", ".join(g.features)] for g in sv.views]
        emit(_as_dict(sv), output, _table(f"feature service {name}", ["field", "value"], rows))


@registry.command("history")
@click.argument("name")
@project_option
@output_option
@pass_app
def history_cmd(app: AppContext, name: str, project: str | None, output: str) -> None:
    """Every version of a view or service and every audited change to it."""
    reg, project = _open(app), project or app.settings.project
    entries = reg.audit(project=project, object_prefix=f"{name}@", limit=1000)
    entries += [
        e
        for e in reg.audit(project=project, object_key=name, limit=1000)
        if e.object_type in ("view", "service")
    ]
    entries.sort(key=lambda e: e.id)
    if not entries:
        from featurelake.errors import RegistryError

        raise RegistryError(
            f"no view or service named {name!r} in project {project!r} has any history; "
            "check the name with `featurelake registry list` (or --kind service)"
        )
    rows = [
        [
            f"{e.at:%Y-%m-%d %H:%M:%S}",
            e.actor,
            e.action,
            e.object_key,
            (e.after or {}).get("status") or (e.after or {}).get("change") or "",
            (e.after or {}).get("reason") or "; ".join((e.after or {}).get("reasons") or []),
        ]
        for e in entries
    ]
    emit(
        _as_dict(entries),
        output,
        _table(f"history of {name}", ["at", "actor", "action", "object", "state", "why"], rows),
    )


def _mermaid(edges: list[Any]) -> str:
    ids: dict[str, str] = {}

    def nid(node: Any) -> str:
        key = str(node)
        if key not in ids:
            ids[key] = f"n{len(ids)}"
        return ids[key]

    lines = ["graph LR"]
    for e in edges:
        s, d = nid(e.src), nid(e.dst)
        lines.append(
            f'  {s}["{str(e.src).replace(chr(34), "#quot;")}"] --> {d}["{str(e.dst).replace(chr(34), "#quot;")}"]'
        )
    return "\n".join(lines)


def _dot(edges: list[Any]) -> str:
    def q(node: Any) -> str:
        return '"' + str(node).replace("\\", "\\\\").replace('"', '\\"') + '"'

    return (
        "digraph lineage {\n  rankdir=LR;\n" + "".join(f"  {q(e.src)} -> {q(e.dst)};\n" for e in edges) + "}"
    )


@registry.command("lineage")
@click.argument("node")
@click.option("--upstream", "direction", flag_value="upstream", help="Walk towards the sources.")
@click.option(
    "--downstream", "direction", flag_value="downstream", default=True, help="Walk towards models (default)."
)
@click.option("--depth", type=click.IntRange(min=1), default=3, show_default=True)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json", "mermaid", "dot"]),
    default="table",
    show_default=True,
)
@project_option
@pass_app
def lineage_cmd(
    app: AppContext, node: str, direction: str, depth: int, fmt: str, project: str | None
) -> None:
    """Lineage from NODE = KIND:NAME[@VERSION], e.g. data_source:raw_transactions@3.

    KIND is data_source, feature_view_version, delta_output, feature_service_version,
    training_set or model.
    """
    from featurelake.errors import RegistryError
    from featurelake.registry import Node

    reg, project = _open(app), project or app.settings.project
    try:
        start = Node.parse(node)
    except ValueError as err:
        raise RegistryError(str(err)) from None
    edges = reg.lineage(project, start, direction=direction, depth=depth)  # type: ignore[arg-type]
    if fmt == "json":
        emit(_as_dict(edges), "json")
    elif fmt == "mermaid":
        click.echo(_mermaid(edges))
    elif fmt == "dot":
        click.echo(_dot(edges))
    else:
        rows = [[e.depth, str(e.src), str(e.dst), e.run_id or ""] for e in edges]
        emit(None, "text", _table(f"{direction} of {start}", ["depth", "from", "to", "run"], rows))


@registry.group("status")
def status_group() -> None:
    """Lifecycle status: draft -> active -> deprecated -> archived (and deprecated -> active)."""


@status_group.command("set")
@click.argument("ref")
@click.argument("status", type=click.Choice(["draft", "active", "deprecated", "archived"]))
@click.option("--reason", required=True, help="Why (recorded with the actor in the audit log).")
@click.option("--force", is_flag=True, help="Deprecate/archive even if active feature services use it.")
@click.option("--kind", type=click.Choice(["view", "service"]), default=None)
@project_option
@output_option
@pass_app
def status_set_cmd(
    app: AppContext,
    ref: str,
    status: str,
    reason: str,
    force: bool,
    kind: str | None,
    project: str | None,
    output: str,
) -> None:
    """Set the status of REF = NAME:VERSION (view 2.1 or 2 = newest minor; service 3).

    With $FEATURELAKE_TOKEN set, this needs the approver role (and, with console.four_eyes, the
    author of a version cannot activate it); without it, local developer mode (see the README).
    """
    from featurelake.cli.identity import check_four_eyes, require

    identity = require(app.identity, app.settings, "approver", "changing a version's lifecycle status")
    reg, project = _open(app), project or app.settings.project
    name, version = _split(ref)
    if identity is not None and status == "active":
        from featurelake.registry.stores.lifecycle import resolve_object_type

        with reg.engine.connect() as conn:
            kind = resolve_object_type(conn, project, name, kind)  # type: ignore[arg-type]
        if kind == "view":
            vv = reg.get_view_version(project, name, version)
            check_four_eyes(identity, app.settings, vv, f"feature view {name!r} version {vv.version}")
        else:
            sv = reg.get_service_version(project, name, version)
            check_four_eyes(identity, app.settings, sv, f"feature service {name!r} version {sv.version}")
    shown, old, new = reg.set_status(
        project, name, version, status, reason=reason, actor=app.actor, force=force, object_type=kind
    )
    emit(
        {"name": name, "version": shown, "from": old, "to": new, "actor": app.actor},
        output,
        lambda c: c.print(f"{name}:{shown}: {old} -> {new} (by {app.actor})", markup=False),
    )


@registry.command("runs")
@click.option(
    "--kind", type=click.Choice(["backfill", "materialize", "training-set", "maintenance"]), default=None
)
@click.option("--status", type=click.Choice(["running", "succeeded", "failed", "abandoned"]), default=None)
@click.option("--target", default=None, help="Only runs of this view / training set.")
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True)
@project_option
@output_option
@pass_app
def runs_cmd(
    app: AppContext,
    kind: str | None,
    status: str | None,
    target: str | None,
    limit: int,
    project: str | None,
    output: str,
) -> None:
    """Job runs, newest first (a running run whose lease expired shows as abandoned)."""
    reg, project = _open(app), project or app.settings.project
    items = reg.list_runs(project, kind=kind, status=status, target=target, limit=limit)  # type: ignore[arg-type]
    rows = [
        [
            r.run_id[:8],
            r.kind,
            r.target,
            r.status,
            f"{r.started_at:%Y-%m-%d %H:%M:%S}",
            r.rows_in,
            r.rows_out,
            ", ".join(f"{o.table}@{o.version}" for o in r.outputs),
            (r.error or "")[:60],
        ]
        for r in items
    ]
    emit(
        _as_dict(items),
        output,
        _table(
            f"runs of {project}",
            ["run", "kind", "target", "status", "started", "rows in", "rows out", "outputs", "error"],
            rows,
        ),
    )


@registry.command("cancel-run")
@click.argument("run_id")
@click.option("--reason", default="its process is gone", show_default=True, help="Why (audited).")
@output_option
@pass_app
def cancel_run_cmd(app: AppContext, run_id: str, reason: str, output: str) -> None:
    """Mark a running run whose process died (killed, machine lost) as failed, releasing its lease at once.

    RUN_ID is the run id or a unique prefix of it (as `featurelake registry runs` shows it).
    With $FEATURELAKE_TOKEN set, this needs the editor role.
    """
    from featurelake.cli.identity import require

    require(app.identity, app.settings, "editor", "cancelling a run")
    reg = _open(app)
    full = reg.cancel_run(run_id, actor=app.actor, reason=reason)
    emit(
        {"run_id": full, "status": "failed", "reason": reason},
        output,
        lambda c: c.print(f"run {full} cancelled", markup=False),
    )


@registry.command("audit")
@click.option("--object", "object_key", default=None, help="Only this object key (e.g. user_stats@1.0).")
@click.option("--action", default=None, help="Only this action (e.g. status.set).")
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True)
@project_option
@output_option
@pass_app
def audit_cmd(
    app: AppContext, object_key: str | None, action: str | None, limit: int, project: str | None, output: str
) -> None:
    """The append-only audit log, newest first."""
    reg, project = _open(app), project or app.settings.project
    items = reg.audit(project=project, object_key=object_key, action=action, limit=limit)
    rows = [[e.id, f"{e.at:%Y-%m-%d %H:%M:%S}", e.actor, e.action, e.object_key] for e in items]
    emit(
        _as_dict(items),
        output,
        _table(f"audit log of {project}", ["id", "at", "actor", "action", "object"], rows),
    )

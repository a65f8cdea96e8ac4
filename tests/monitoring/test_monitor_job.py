"""The monitor job on real Delta tables and a real (SQLite) registry: detection, incrementality,
the registry's record, the CLI's exit codes, and the HTML report in headless Chromium.

The world (tests/monitoring/conftest.py): 14 days x 500 rows of five features; ``x1`` is shifted
by +1.5 standard deviations on days 12-14. Reference: days 1-7; detection window: days 8-14.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from tests.monitoring.world import DAYS, FEATURES, PROJECT, VIEW, day, make_world

pytestmark = pytest.mark.spark

REFERENCE = f"window:{day(1)}..{day(7)}"
SHIFTED = {day(12), day(13), day(14)}


@pytest.fixture(scope="module")
def mworld(spark, tmp_path_factory):
    w = make_world(spark, tmp_path_factory.mktemp("monitor"))
    w.write_days([day(i) for i in range(1, DAYS + 1)], shift="x1", shifted=SHIFTED)
    yield w
    w.registry.dispose()


@pytest.fixture(scope="module")
def first_run(mworld):
    return mworld.monitor(start=day(8), end=day(14), reference=REFERENCE)


def test_detects_exactly_the_shifted_feature_on_the_shifted_days(mworld, first_run) -> None:
    r = first_run
    daily = [c for c in r.checks if c.day is not None and c.metric in ("psi", "js", "null_rate")]
    flagged = {(c.feature, c.day) for c in daily if c.status != "ok"}
    assert flagged == {("x1", d) for d in SHIFTED}
    assert all(c.status == "fail" for c in daily if (c.feature, c.day) in flagged and c.metric == "psi")
    unshifted = [c for c in daily if (c.feature, c.day) not in {("x1", d) for d in SHIFTED}]
    false_positives = sum(c.status != "ok" for c in unshifted)
    print(f"false-positive rate: {false_positives}/{len(unshifted)} unshifted daily checks")
    assert false_positives == 0
    assert r.outcome == "fail" and r.exit_code == 4
    assert r.days_profiled == [day(i) for i in range(8, 15)]
    assert r.files_read == 7 and r.rows_read == 7 * 500


def test_outcomes_are_stored_per_view_feature_and_time_with_lineage(mworld, first_run) -> None:
    from featurelake.lakehouse.monitoring.metrics_table import read_profiles
    from featurelake.registry import Node

    reg = mworld.registry
    psi = reg.monitor_checks(PROJECT, view=VIEW, feature="x1", metric="psi", run_id=first_run.run_id)
    assert sorted((c.day is None, c.day) for c in psi)[:7] == [(False, day(i)) for i in range(8, 15)]
    assert {c.status for c in psi if c.day in SHIFTED} == {"fail"}
    assert all(c.delta_versions == {mworld.table: 0} for c in psi)
    assert all(c.reference == REFERENCE and c.warn == 0.1 and c.fail == 0.25 for c in psi)
    run = reg.get_run(first_run.run_id)
    assert run.kind == "monitor" and run.status == "succeeded" and run.report["outcome"] == "fail"
    edges = reg.lineage(PROJECT, Node.delta_output(mworld.table, 0), direction="downstream", depth=1)
    assert Node.monitor_run(VIEW, first_run.run_id) in {e.dst for e in edges}
    stored = read_profiles(mworld.lakehouse, PROJECT, view=VIEW, reference=REFERENCE)
    assert len(stored) == 7 * len(FEATURES) and {s.table_version for s in stored} == {0}


def test_incremental_nothing_new_reads_nothing_and_a_backfilled_day_is_reprofiled(mworld, first_run) -> None:
    from featurelake.lakehouse.monitoring.metrics_table import profiles_table, read_profiles

    metrics = profiles_table(PROJECT)
    before = mworld.lakehouse.version(metrics)
    again = mworld.monitor(start=day(8), end=day(14), reference=REFERENCE)
    assert (again.files_read, again.rows_read, again.days_profiled) == (0, 0, [])
    assert again.reference_profiled is False and again.metrics_version is None
    assert mworld.lakehouse.version(metrics) == before
    assert {(c.feature, c.day) for c in again.checks if c.status != "ok" and c.day} == {
        ("x1", d) for d in SHIFTED
    }

    info = mworld.write_days([day(9)], seed=99, replace=True)  # a backfill of one old day
    third = mworld.monitor(start=day(8), end=day(14), reference=REFERENCE)
    assert third.days_profiled == [day(9)]
    assert third.files_read == info.files_added
    versions = {
        s.profile.day: s.table_version
        for s in read_profiles(mworld.lakehouse, PROJECT, view=VIEW, reference=REFERENCE)
    }
    assert versions[day(9)] == info.version and {v for d, v in versions.items() if d != day(9)} == {0}


def _config(mworld) -> str:
    path = mworld.root / "featurelake.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "project": PROJECT,
                "home": str(mworld.root),
                "registry": {"url": mworld.settings.registry_url},
                "storage": {"root": mworld.settings.storage_root},
            }
        )
    )
    return str(path)


def test_cli_exit_codes_status_and_report_in_headless_chromium(mworld, first_run, tmp_path) -> None:
    from featurelake.cli.main import cli

    cfg = _config(mworld)
    runner = CliRunner()
    res = runner.invoke(cli, ["--config", cfg, "monitor", "status", "--output", "json"])
    assert res.exit_code == 4, res.output
    status = json.loads(res.output)
    assert [s["view"] for s in status] == [VIEW] and status[0]["outcome"] == "fail"
    assert {c["feature"] for c in status[0]["not_ok"] if c["day"]} == {"x1"}

    ok = runner.invoke(
        cli,
        [
            "--config",
            cfg,
            "monitor",
            "run",
            "--view",
            VIEW,
            "--start",
            str(day(1)),
            "--end",
            str(day(4)),
            "--reference",
            f"window:{day(5)}..{day(5)}",
        ],
    )
    assert ok.exception is not None and "overlaps the detection window" in str(ok.exception)
    good = runner.invoke(
        cli,
        [
            "--config",
            cfg,
            "monitor",
            "run",
            "--view",
            VIEW,
            "--start",
            str(day(5)),
            "--end",
            str(day(7)),
            "--reference",
            REFERENCE.replace(str(day(7)), str(day(4))),
        ],
    )
    assert good.exit_code == 0, good.output  # no shift in days 1-7: every check ok
    assert "OK" in good.output

    html = tmp_path / "report.html"
    rep = runner.invoke(cli, ["--config", cfg, "monitor", "report", "--view", VIEW, "--html", str(html)])
    assert rep.exit_code == 0, rep.output
    _open_in_chromium(html, expected=["freshness", f"drift:{VIEW}:psi", f"nulls:{VIEW}"])


def _open_in_chromium(path: Path, *, expected: list[str]) -> None:
    from playwright.sync_api import sync_playwright

    errors: list[str] = []
    requests: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path="/usr/bin/chromium",
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        page = browser.new_page()
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("request", lambda r: requests.append(r.url))
        page.goto(path.resolve().as_uri())
        plots = page.eval_on_selector_all("figure.plot", "els => els.map(e => e.dataset.plot)")
        svgs = page.eval_on_selector_all(
            "figure.plot svg", "els => els.map(e => e.getBoundingClientRect().width)"
        )
        title = page.title()
        browser.close()
    assert title.startswith("featurelake monitor report")
    for name in expected:
        assert name in plots, (name, plots)
    # the report of the latest run (days 5-7, all ok) has no histogram; the drifting run's does
    assert len(svgs) == len(plots) and all(w > 0 for w in svgs)
    assert errors == []
    assert [u for u in requests if not u.startswith("file:")] == []


def test_report_shows_histograms_of_drifting_features(mworld, first_run, tmp_path) -> None:
    from featurelake.lakehouse.monitoring.metrics_table import read_all_profiles, read_reference
    from featurelake.monitoring.report import ReportData, ViewReport, render_html

    checks = mworld.registry.monitor_checks(PROJECT, view=VIEW, run_id=first_run.run_id)

    ref = read_reference(mworld.lakehouse, PROJECT, view=VIEW, reference=REFERENCE)
    rows = [r for r in read_all_profiles(mworld.lakehouse, PROJECT, view=VIEW) if r["reference"] == REFERENCE]
    data = ReportData(
        PROJECT,
        datetime.now(UTC),
        [
            ViewReport(
                VIEW,
                checks,
                checks,
                rows,
                {f: ([str(i) for i in range(len(p.counts))], list(p.counts)) for f, p in ref.items()},
            )
        ],
    )
    html = tmp_path / "drift.html"
    html.write_text(render_html(data))
    _open_in_chromium(
        html, expected=["freshness", f"histogram:{VIEW}:x1", f"drift:{VIEW}:psi", f"nulls:{VIEW}"]
    )

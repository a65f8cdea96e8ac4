"""A write killed mid-job (SIGKILL of the whole process group) leaves the table at its previous
version, and vacuum with zero retention removes the files the killed job left behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest

pytestmark = pytest.mark.spark

JOB = Path(__file__).with_name("killed_write_job.py")
ROOT = JOB.parent.parent.parent


def _parquet_files(table: Path) -> set[Path]:
    return {p for p in table.rglob("*.parquet") if "_delta_log" not in p.parts}


def _wait_for(what: str, check, proc: subprocess.Popen, deadline_s: float, log: Path):
    """Poll ``check`` until it returns something truthy; fail naming ``what`` if the job exits first."""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        found = check()
        if found:
            return found
        if proc.poll() is not None:
            pytest.fail(f"the write job exited ({proc.returncode}) before {what}:\n{log.read_text()[-3000:]}")
        time.sleep(0.1)
    pytest.fail(f"no {what} within {deadline_s:.0f} s:\n{log.read_text()[-3000:]}")


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # the driver, its JVM and the Python workers
    except ProcessLookupError:
        pass
    proc.wait(timeout=60)


@pytest.mark.timeout(600)
def test_write_killed_mid_job_leaves_the_previous_version(tmp_path: Path) -> None:
    from deltalake import DeltaTable

    from featurelake.lakehouse import Lakehouse

    root, log = tmp_path / "lake", tmp_path / "job.log"
    table = root / "events"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, str(JOB), str(root), "events"],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=ROOT,
            start_new_session=True,  # its own process group, so one killpg reaches the JVM too
        )
    try:
        _wait_for("version 0 was committed", lambda: "committed 0" in log.read_text(), proc, 300, log)
        committed = _parquet_files(table)
        orphans = _wait_for(
            "parquet files of the second write appeared",
            lambda: _parquet_files(table) - committed,
            proc,
            300,
            log,
        )
        _kill_group(proc)
    finally:
        if proc.poll() is None:
            _kill_group(proc)
    assert "committed 1" not in log.read_text(), "the write finished before it was killed: slow it down"
    left = _parquet_files(table) - committed
    assert orphans <= left, "the killed job's files should still be there"

    dt = DeltaTable(str(table))
    assert dt.version() == 0
    assert dt.to_pyarrow_table().num_rows == 500
    assert all(Path(uri).exists() for uri in dt.file_uris())

    lake = Lakehouse(str(root))
    assert lake.vacuum("events", retention=timedelta(hours=1)) == []  # an in-flight write's files are safe
    # ...and so they are at zero retention: never-committed files younger than a day are kept
    assert lake.vacuum("events", retention=timedelta(0)) == []
    removed = lake.vacuum("events", retention=timedelta(0), orphans_older_than=timedelta(0))
    assert {str(table / r) for r in removed} == {str(p) for p in left}
    assert _parquet_files(table) == committed
    after = DeltaTable(str(table))  # vacuum commits VACUUM START/END entries, and no data change
    assert sorted(after.file_uris()) == sorted(dt.file_uris())
    assert after.to_pyarrow_table().num_rows == 500

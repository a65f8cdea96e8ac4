"""How the tests run a job with ``spark-submit`` on the local stack's standalone cluster."""

from __future__ import annotations

import sys
from pathlib import Path


def spark_submit_command(
    script: Path, *args: str, master: str, cores: int = 1, executor_memory: str = "1g"
) -> list[str]:
    """``spark-submit`` (the venv's) of ``script`` with ``args`` on ``master``, loopback only, no UI.

    Args:
        script: the job (e.g. ``jobs/materialize.py``).
        args: the job's own arguments.
        master: ``spark://127.0.0.1:PORT`` (the stack's) or ``local[N]``.
        cores: ``spark.cores.max`` (executors on the standalone cluster).
        executor_memory: ``spark.executor.memory``.
    """
    return [
        str(Path(sys.executable).parent / "spark-submit"),
        "--master",
        master,
        "--conf",
        "spark.driver.host=127.0.0.1",
        "--conf",
        f"spark.cores.max={cores}",
        "--conf",
        f"spark.executor.memory={executor_memory}",
        "--conf",
        "spark.ui.enabled=false",
        str(script),
        *args,
    ]

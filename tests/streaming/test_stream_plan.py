"""What a stream reads and writes, resolved before Spark: checkpoints and durations (no JVM)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from featurelake.errors import ConfigError
from featurelake.jobs.stream_plan import claim_checkpoint, parse_duration


def test_a_checkpoint_belongs_to_one_stream_and_must_be_on_local_disk(tmp_path: Path) -> None:
    folder = str(tmp_path / "ck")
    first = claim_checkpoint(folder, project="p", view="a", source="delta")
    assert claim_checkpoint(folder, project="p", view="a", source="delta") == first  # same app id on restart
    with pytest.raises(ConfigError, match="belongs to the stream of view 'a'"):
        claim_checkpoint(folder, project="p", view="b", source="delta")
    with pytest.raises(ConfigError, match="hadoop-aws"):  # S3 needs Spark's s3a jars from Maven
        claim_checkpoint("s3://bucket/ck", project="p", view="a", source="delta")
    assert not (tmp_path / "s3:").exists()


def test_durations_name_the_option() -> None:
    assert parse_duration("90s", option="--trigger") == timedelta(seconds=90)
    assert parse_duration("2h", option="--watermark") == timedelta(hours=2)
    with pytest.raises(ConfigError, match="--watermark 'soon'"):
        parse_duration("soon", option="--watermark")

"""The native path's table properties, checked without a JVM: delta-rs creates a table with the
same properties, and its protocol must be the reader 1 / writer 2 the README promises."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
from deltalake import DeltaTable, write_deltalake

from featurelake.lakehouse.native import PINNED_PROPERTIES

ROWS = pa.table({"user_id": [1, 2], "event_date": ["2024-01-01", "2024-01-02"]})


def test_pinned_properties_keep_reader_1_writer_2_without_deletion_vectors(tmp_path: Path) -> None:
    write_deltalake(str(tmp_path), ROWS, partition_by=["event_date"], configuration=PINNED_PROPERTIES)
    protocol = DeltaTable(str(tmp_path)).protocol()
    assert (protocol.min_reader_version, protocol.min_writer_version) == (1, 2)
    assert not protocol.reader_features and not protocol.writer_features
    assert DeltaTable(str(tmp_path)).metadata().configuration["delta.enableDeletionVectors"] == "false"


def test_without_the_pin_deletion_vectors_raise_the_protocol(tmp_path: Path) -> None:
    # what Databricks' default (deletion vectors on for new tables) does to a table
    write_deltalake(str(tmp_path), ROWS, configuration={"delta.enableDeletionVectors": "true"})
    protocol = DeltaTable(str(tmp_path)).protocol()
    assert protocol.min_reader_version == 3 and "deletionVectors" in (protocol.reader_features or [])

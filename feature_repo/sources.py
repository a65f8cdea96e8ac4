"""Where the feature tables live, as Feast sources.

Each feature view's source is its Delta feature table ``<storage root>/<view>__v1`` (the first
major version; featurelake's own offline store and jobs resolve the current major version
through the registry). The storage root is ``$FEATURELAKE_STORAGE_ROOT``, else the embedded
default ``<repo>/../.featurelake/data``. Raw tables (raw_users, raw_merchants,
raw_transactions) are read by the transforms by table name, not through Feast.
"""

import os
from pathlib import Path

from feast import FileSource
from feast.data_format import DeltaFormat

from featurelake.spec import CREATED_TIMESTAMP, EVENT_TIMESTAMP, feature_table_name

STORAGE_ROOT = (
    os.environ.get("FEATURELAKE_STORAGE_ROOT")
    or str(Path(__file__).resolve().parent.parent / ".featurelake" / "data")
).rstrip("/")


def feature_table_source(view: str) -> FileSource:
    """The Feast source of ``view``'s first-major-version Delta feature table."""
    table = feature_table_name(view, 1)
    return FileSource(
        name=table,
        path=f"{STORAGE_ROOT}/{table}",
        file_format=DeltaFormat(),
        timestamp_field=EVENT_TIMESTAMP,
        created_timestamp_column=CREATED_TIMESTAMP,
        description=f"Delta feature table of {view} (major version 1)",
    )


user_transaction_stats_source = feature_table_source("user_transaction_stats")
merchant_risk_stats_source = feature_table_source("merchant_risk_stats")
user_profile_source = feature_table_source("user_profile")

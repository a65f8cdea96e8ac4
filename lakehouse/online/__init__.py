"""The Redis cluster online store in Feast's format: encoding, newer-wins writer, reader, sizing."""

from featurelake.lakehouse.online.cluster import ClusterClient, Command, RetryPolicy
from featurelake.lakehouse.online.layout import OnlineView
from featurelake.lakehouse.online.reader import (
    FeatureColumn,
    FeatureStatus,
    InvalidRequestError,
    OnlineReader,
    ViewRequest,
)
from featurelake.lakehouse.online.writer import OnlineWriter, WriteStats

__all__ = [
    "ClusterClient",
    "Command",
    "FeatureColumn",
    "FeatureStatus",
    "InvalidRequestError",
    "OnlineReader",
    "OnlineView",
    "OnlineWriter",
    "RetryPolicy",
    "ViewRequest",
    "WriteStats",
]

"""The Redis cluster online store in Feast's format: encoding, newer-wins writer, reader, sizing."""

from lakehouse.online.cluster import ClusterClient, Command, RetryPolicy
from lakehouse.online.layout import OnlineView
from lakehouse.online.reader import (
    FeatureColumn,
    FeatureStatus,
    InvalidRequestError,
    OnlineReader,
    ViewRequest,
)
from lakehouse.online.writer import OnlineWriter, WriteStats

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

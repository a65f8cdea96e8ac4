"""The local stack: PostgreSQL, a Redis cluster, an S3 server and a Spark standalone cluster.

``up``/``down``/``status`` are what ``featurelake services`` calls; see infra/local/README.md.
"""

from featurelake.localstack.config import SERVICE_NAMES, ServiceName, StackConfig, parse_services
from featurelake.localstack.orchestrator import config_for, down, status, up

__all__ = [
    "SERVICE_NAMES",
    "ServiceName",
    "StackConfig",
    "config_for",
    "down",
    "parse_services",
    "status",
    "up",
]

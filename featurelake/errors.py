"""The error hierarchy shared by every layer.

Every message names the bad value and says how to fix it. The CLI prints ``str(error)``
as one red line; ``--debug`` shows the traceback.
"""

from __future__ import annotations


class FeatureStoreError(Exception):
    """Base class of every error featurelake raises on purpose."""


class ConfigError(FeatureStoreError):
    """A settings file, environment variable or option is wrong."""


class DefinitionError(FeatureStoreError):
    """A feature definition (entity, view, service, spec) is wrong.

    Carries every problem found, not just the first one.
    """

    def __init__(self, problems: list[str] | str):
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        if len(self.problems) == 1:
            super().__init__(self.problems[0])
        else:
            lines = "\n".join(f"  - {p}" for p in self.problems)
            super().__init__(f"{len(self.problems)} definition problems:\n{lines}")


class RegistryError(FeatureStoreError):
    """The registry refused an operation or could not be reached."""


class RegistryNotFoundError(RegistryError):
    """No registry exists at the configured URL (only ``apply`` / ``registry init`` create one)."""


class RunConflictError(RegistryError):
    """Another live run already works on the same target (a view's overlapping date range)."""


class LakehouseError(FeatureStoreError):
    """A Delta table operation failed or was refused."""


class TableNotFoundError(LakehouseError):
    """A named Delta table does not exist (or its folder is not a Delta table)."""


class ValidationFailedError(FeatureStoreError):
    """Data expectations failed; nothing was committed."""


class CheckFailedError(FeatureStoreError):
    """A check found a problem in the data, e.g. online/offline mismatches (exit code 4)."""


class ServiceUnavailableError(FeatureStoreError):
    """A backing service (Postgres, Redis, S3, Spark master) did not answer in time."""


class NotInstalledError(FeatureStoreError):
    """An optional dependency is missing; the message names the pip extra to install."""


class MonitorError(FeatureStoreError):
    """A monitor run cannot run as asked: unknown view or reference, empty window, a metric
    that does not apply to a feature, thresholds out of range. Nothing was written."""


class AccessDeniedError(FeatureStoreError):
    """A credential was refused (``status`` 401) or its role is too small (``status`` 403).

    The message says why and how to fix it; it never contains the credential itself.
    """

    def __init__(self, message: str, *, status: int = 401):
        super().__init__(message)
        self.status = status

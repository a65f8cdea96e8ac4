"""Small factories that build library objects from settings (the composition root's glue)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from jobs.settings import Settings

if TYPE_CHECKING:
    from lakehouse import Lakehouse


def lakehouse_from_settings(settings: Settings) -> Lakehouse:
    """The :class:`lakehouse.Lakehouse` for ``settings.storage_root`` with its storage options.

    Raises:
        ConfigError: a credential environment variable named in the settings is not set.
    """
    from lakehouse import Lakehouse

    return Lakehouse(settings.storage_root, settings.storage.storage_options())

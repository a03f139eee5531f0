"""The ``litellm-mixture`` command and its views (``litellm-mixture`` runs :func:`main`)."""

from .commands import main

__all__ = ["main"]

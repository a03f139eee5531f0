"""The module Inspect's ``inspect_ai`` entry point loads: registers the ``mixture`` model API,
importing the API itself (and litellm) only when a ``mixture/...`` model is made."""

from __future__ import annotations

from inspect_ai.model import ModelAPI, modelapi


@modelapi(name="mixture")
def mixture() -> type[ModelAPI]:
    from .model import MixtureAPI

    return MixtureAPI

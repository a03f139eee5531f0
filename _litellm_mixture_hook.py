"""Register the ``mixture/`` provider the moment ``litellm`` finishes importing.

Loaded from ``litellm_mixture.pth`` at interpreter start, so it must stay tiny: it imports
nothing heavy and never imports litellm itself. Set ``LITELLM_MIXTURE_NO_HOOK=1`` to disable.
"""

import os
import sys
from importlib.machinery import PathFinder


def _ours_half_imported():
    return any(
        getattr(getattr(module, "__spec__", None), "_initializing", False)
        for name, module in list(sys.modules.items())
        if name == "litellm_mixture" or name.startswith("litellm_mixture.")
    )


def _register_after(exec_module):
    def exec_then_register(module):
        exec_module(module)
        if _ours_half_imported():
            # A module of ours imported litellm and is not complete: registering now would
            # read it half made. The package registers once the import that needed it is done.
            return
        import litellm_mixture

        litellm_mixture.register()

    return exec_then_register


# Not a subclass of importlib.abc.MetaPathFinder: importing importlib.abc pulls in
# importlib.resources, typing and tempfile, ~20 ms at every interpreter start.
class _LitellmFinder:
    def find_spec(self, fullname, path=None, target=None):
        if fullname != "litellm":
            return None
        try:
            sys.meta_path.remove(self)
        except ValueError:
            pass
        spec = PathFinder.find_spec(fullname, path)
        if spec is not None and spec.loader is not None:
            # This loader instance belongs to this one spec; wrapping it (rather than the
            # loader object) keeps importlib.resources and every other loader API intact.
            spec.loader.exec_module = _register_after(spec.loader.exec_module)
        return spec


def install():
    """Register the provider the moment litellm finishes importing (if it has not yet)."""
    if "litellm" not in sys.modules and not any(
        isinstance(finder, _LitellmFinder) for finder in sys.meta_path
    ):
        sys.meta_path.insert(0, _LitellmFinder())


if os.environ.get("LITELLM_MIXTURE_NO_HOOK", "").lower() not in ("1", "true", "yes"):
    install()

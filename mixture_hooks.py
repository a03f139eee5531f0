"""What proxy_config.yaml names: the installed package's handler and guard.

litellm 1.81 loads a config's dotted names only from a file next to the config (no import
fallback), and newer versions load such a file as a second copy of the module. This file is that
file: it only re-exports the one installed ``litellm_mixture``, so every copy of it hands the
proxy the same objects. Keep it next to proxy_config.yaml.
"""

from litellm_mixture import handler, mixture_metrics, proxy_guard

__all__ = ["handler", "mixture_metrics", "proxy_guard"]

"""litellm's ``mixture/`` handler, where it runs (in process, the proxy), what it returns."""

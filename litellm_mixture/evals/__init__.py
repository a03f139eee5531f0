"""Evaluating mixtures with Inspect AI (the ``[eval]`` extra): ``mixture/<spec>`` as an Inspect
model API (:mod:`.model`), offline tasks (:mod:`.tasks`), and ``litellm-mixture eval`` (the
systems it compares, its run, its statistics and its report).

Nothing outside this subpackage imports it, so ``import litellm_mixture`` never loads Inspect.
"""

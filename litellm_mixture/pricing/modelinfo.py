"""What LiteLLM's model info says about a mixture, so tools that ask (aider) know its limits.

- context window: the smallest ``max_input_tokens`` among the members (every member reads the
  conversation), where known;
- output limit: the aggregator's, or its step's ``max_tokens`` when smaller;
- per-token prices: an estimate, for tools that price a reply from its token counts. A prompt
  token is read by every call; a reply token is written by the aggregator and, as a
  reference, by each call before it (each proposer is assumed to write as much as the final
  answer), and read again by the aggregator. The exact cost of a run is the sum of its member
  calls, in ``usage.cost`` and ``_hidden_params["response_cost"]``, and what the wrapped
  ``litellm.completion_cost`` returns. aider prints that exact cost, streamed or not, but only
  for a model whose info has an ``input_cost_per_token``; these prices are that signal.
"""

from __future__ import annotations

from typing import Any

import litellm

from ..errors import SpecError
from ..spec import PREFIX, Aggregate, Pipeline, load_preset, preset_names
from ..spec.schema import calls_of
from ..spec.steps import MemberStep


def member_info(model: str) -> dict[str, Any]:
    # The price map itself, not litellm.get_model_info: that imports provider modules on first
    # use (~150 ms for anthropic), and this runs when litellm is imported.
    info = litellm.model_cost.get(model)
    if info is None and "/" in model:
        provider, name = model.split("/", 1)
        info = litellm.model_cost.get(name)
        if info is not None and info.get("litellm_provider") != provider:
            info = None
    return info or {}


def model_info(pipeline: Pipeline) -> dict[str, Any]:
    """A LiteLLM model-info entry for a pipeline (``litellm.register_model`` format)."""
    # Each call a run makes when nothing fails (the widest case, for refine and self-moa-seq).
    calls = [
        member
        for step, uses in zip(pipeline.steps, pipeline.bounds(), strict=True)
        for member, used in zip(calls_of(step).members, uses, strict=False)  # fallbacks aside
        for _ in range(used)
    ]
    infos = {m.model: member_info(m.model) for m in calls}
    final_step = pipeline.steps[-1]
    assert isinstance(final_step, MemberStep)  # the pipeline's shape: a transform is never last
    final = infos[final_step.members[0].model]
    entry: dict[str, Any] = {"litellm_provider": "mixture", "mode": "chat"}

    windows = [i["max_input_tokens"] for i in infos.values() if i.get("max_input_tokens")]
    if windows:
        entry["max_input_tokens"] = min(windows)
    limits = [final.get("max_output_tokens"), final_step.max_tokens]
    if any(limits):
        entry["max_output_tokens"] = entry["max_tokens"] = min(x for x in limits if x)
    if isinstance(final_step, Aggregate):
        entry["supports_function_calling"] = bool(final.get("supports_function_calling"))

    prices = [
        (infos[m.model].get("input_cost_per_token"), infos[m.model].get("output_cost_per_token"))
        for m in calls
    ]
    if all(p is not None and c is not None for p, c in prices):
        entry["input_cost_per_token"] = sum(p for p, _ in prices)
        if isinstance(final_step, Aggregate):
            *earlier, (_, final_out) = prices
            read = final["input_cost_per_token"]
            entry["output_cost_per_token"] = final_out + sum(c + read for _, c in earlier)
        else:  # the answer is every last-layer reply
            entry["output_cost_per_token"] = sum(c for _, c in prices)
    return entry


def preset_entries() -> dict[str, dict[str, Any]]:
    """The model info of every preset visible now, as ``mixture/<name>`` (what ``_litellm.patches``
    tells litellm)."""
    entries = {}
    for name in preset_names():
        try:
            pipeline = load_preset(name)
        except SpecError:
            continue  # a broken preset file: naming it raises the error that says why
        if pipeline is not None:
            entries[PREFIX + name] = model_info(pipeline)
    return entries

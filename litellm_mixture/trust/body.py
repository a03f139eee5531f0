"""What a client's request for a mixture may carry, whatever the policy: no field that routes,
retries, authenticates or mocks the call, and a conversation of well-formed messages. Checked
by the proxy's guard before the proxy routes the request, and by the provider before a run.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..errors import ParamError, RefusedFieldError

# Request fields that choose where or how litellm sends a call, its credentials, or whether it
# runs at all: a mixture's members, endpoints and keys come from its spec and the model_list,
# and the Router must not re-run or redirect a mixture. Prefixes cover the provider families
# (aws_role_name, vertex_credentials, azure_ad_token, api_version, mock_response, ...).
ROUTING_FIELDS = frozenset(
    {
        "custom_llm_provider",
        "base_url",
        "organization",
        "extra_headers",
        "headers",
        "model_list",
        "user_config",
        "deployment_id",
        "region_name",
        "litellm_credential_name",
        "base_model",
        "num_retries",
        "retry_policy",
        "model_group_retry_policy",
        "fallbacks",
        "context_window_fallbacks",
        "content_policy_fallbacks",
        "specific_deployment",
    }
)
ROUTING_PREFIXES = (
    "api_",
    "aws_",
    "azure_",
    "vertex_",
    "watsonx_",
    "mock_",
    "input_cost_per_",
    "output_cost_per_",
)

# Mappings in a request whose keys litellm also reads as call or Router settings.
NESTED_FIELDS = ("extra_body", "router_settings_override")


def check_fields(data: Mapping[str, Any], model: str) -> None:
    """Refuses a request for a mixture that carries a field choosing where or how litellm routes,
    retries or authenticates the call: at the top level, inside ``extra_body`` (which litellm
    spreads into the call) or ``router_settings_override`` (which the Router merges in)."""
    places = [("", data), *((f"{key}.", data.get(key)) for key in NESTED_FIELDS)]
    for where, fields in places:
        for field in fields if isinstance(fields, Mapping) else ():
            if isinstance(field, str) and (
                field in ROUTING_FIELDS or field.startswith(ROUTING_PREFIXES)
            ):
                raise RefusedFieldError(where + field, model)


def _messages_problem(messages: Any) -> str | None:
    # An empty list is well formed: engine.check_prompt refuses it as nothing to answer.
    if not isinstance(messages, list):
        return "a list of messages is required"
    for i, message in enumerate(messages):
        if not isinstance(message, Mapping) or not isinstance(message.get("role"), str):
            return f"item {i} is not a message with a role"
        content = message.get("content")
        if content is None or isinstance(content, str):
            continue
        if not isinstance(content, list):
            return f"item {i}: content is neither text nor a list of parts"
        for part in content:
            if not isinstance(part, Mapping) or not isinstance(part.get("type"), str):
                return f"item {i}: a content part is not an object with a type"
            image = part.get("image_url") if part["type"] == "image_url" else {"url": ""}
            if not isinstance(image.get("url") if isinstance(image, Mapping) else image, str):
                return f"item {i}: an image_url part has no url"
    return None


def check_messages(messages: Any, model: str) -> None:
    """The conversation's shape, before anything counts, estimates or sends it: a list of
    messages, each with a role and text or a list of typed parts."""
    problem = _messages_problem(messages)
    if problem is not None:
        raise ParamError([f"messages: {problem}"], model=model)

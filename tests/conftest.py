"""Test settings: offline litellm, HTTP through httpx so respx can intercept it."""

import os

os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
os.environ.setdefault("OPENAI_API_KEY", "sk-test-not-a-real-key")
os.environ.pop("OPENAI_API_BASE", None)
os.environ.pop("OPENAI_BASE_URL", None)

import litellm

# litellm's default async transport is aiohttp, which respx cannot see.
litellm.disable_aiohttp_transport = True

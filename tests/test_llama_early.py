"""Early aggregation with a real aggregator that cannot take a prefill: SmolLM2-135M on
llama.cpp's server, aggregating two SmolLM2 proposals that stream from another server.

Small models restart, reword and announce when asked to continue; the seams (where a later
segment's text starts, from its trace note) must still read as one answer: no glued words, no
segment that opens by repeating the answer's opening or the words just before it. And the whole
answer stays within the caller's ``max_tokens``, in the tokens the server counts.
"""

import litellm
import pytest

from litellm_mixture import Aggregate, Member, Pipeline, Propose, encode
from litellm_mixture.pricing.cost import HIDDEN_KEY
from tests.joins import judge, seams
from tests.llama_server import SMOLLM2, llama_server

pytestmark = pytest.mark.llama

PROMPTS = ["Explain how a hash table works.", "Describe the water cycle."]
MAX_TOKENS = 60


@pytest.fixture(scope="module")
def aggregator():
    """A second SmolLM2 server: the proposers' one answers one request at a time."""
    with llama_server(SMOLLM2) as server:
        yield server


def early(proposers, aggregator) -> str:
    propose = Propose([Member(**proposers.member(samples=2, temperature=0.7))], max_tokens=60)
    final = Aggregate(Member(**aggregator.member()), early={"chunk_tokens": 16, "segments": 4})
    return encode(Pipeline([propose, final]))


def streamed(model: str, messages: list[dict], settings: dict) -> tuple[str, list[str]]:
    """The streamed answer and its segments' notes (on the last chunk's intermediate
    responses)."""
    chunks = list(litellm.completion(model, messages, stream=True, **settings))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    steps = next(
        c.intermediate_responses for c in reversed(chunks) if hasattr(c, "intermediate_responses")
    )
    return text, [r["note"] for r in steps[1]["responses"]]


def whole(model: str, messages: list[dict], settings: dict) -> tuple[str, list[str]]:
    reply = litellm.completion(model, messages, **settings)
    trace = reply._hidden_params[HIDDEN_KEY]["trace"]
    return reply.choices[0].message.content, [e["note"] for e in trace if e["step"] == 1]


@pytest.mark.parametrize("prompt", PROMPTS)
@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
def test_segments_of_a_small_aggregator_join_as_one_answer(
    llama_smollm2, aggregator, prompt, stream
):
    messages = [{"role": "user", "content": prompt}]
    settings = {"max_tokens": MAX_TOKENS, "temperature": 0, "seed": 7, "timeout": 300}
    settings["intermediate_responses"] = stream
    text, notes = (streamed if stream else whole)(
        early(llama_smollm2, aggregator), messages, settings
    )
    assert text.strip() and len(notes) >= 2, notes
    for at in seams(notes):
        seam = judge(text, at)
        assert not seam["glued"] and not seam["restart"], (at, text)
    assert aggregator.tokens(text) <= MAX_TOKENS

"""The reference layouts, byte for byte (shared/reference/prompts.md)."""

from litellm_mixture.common import prompts

TOGETHER = (
    "You have been provided with a set of responses from various open-source models to the "
    "latest user query. Your task is to synthesize these responses into a single, high-quality "
    "response. It is crucial to critically evaluate the information provided in these "
    "responses, recognizing that some of it may be biased or incorrect. Your response should not "
    "simply replicate the given answers but should offer a refined, accurate, and comprehensive "
    "reply to the instruction. Ensure your response is well-structured, coherent, and adheres to "
    "the highest standards of accuracy and reliability.\n\nResponses from models:"
)
USER = {"role": "user", "content": "Q"}
REFS = [("m/a", "first"), ("m/b", "second")]


def test_together_prompt_is_verbatim_without_trailing_newline():
    assert prompts.TOGETHER_AGGREGATE == TOGETHER


def test_system_mode_prepends_a_system_message():
    out = prompts.inject([USER], REFS, "system", None, ("<option>", "</option>"))
    assert out == [{"role": "system", "content": TOGETHER + "\n1. first\n2. second"}, USER]


def test_system_mode_appends_to_an_existing_system_message():
    convo = [
        {"role": "system", "content": "Be brief."},
        USER,
        {"role": "assistant", "content": "A"},
        {"role": "user", "content": "Q2"},
    ]
    out = prompts.inject(convo, REFS, "system", None, ("<option>", "</option>"))
    assert out[0] == {
        "role": "system",
        "content": "Be brief.\n\n" + TOGETHER + "\n1. first\n2. second",
    }
    assert out[1:] == convo[1:]
    assert convo[0]["content"] == "Be brief."  # the caller's messages are not mutated


def test_inline_mode_wraps_options_in_the_last_user_turn():
    convo = [USER, {"role": "assistant", "content": "A"}, {"role": "user", "content": "Q2"}]
    out = prompts.inject(convo, REFS, "inline", "Synthesize.", ("<option>", "</option>"))
    assert out[:2] == convo[:2]
    assert out[2] == {
        "role": "user",
        "content": (
            "Q2\n\n<option>[m/a] first</option>\n\n<option>[m/b] second</option>\n\nSynthesize."
        ),
    }


def test_concat_mode_appends_a_separate_turn():
    out = prompts.inject([USER], REFS, "concat", None, ("[", "]"))
    assert out == [USER, {"role": "user", "content": "[[m/a] first]\n\n[[m/b] second]"}]


def test_reasoning_is_not_a_reference():
    assert prompts.clean_answer("<think>secret plan</think>\n  Answer. ") == "Answer."
    assert prompts.clean_answer("<think>never closed") == ""
    assert prompts.clean_answer("   ") == ""
    assert prompts.clean_answer(None) == ""


def test_multimodal_user_content_gets_a_text_part():
    convo = [{"role": "user", "content": [{"type": "text", "text": "look"}]}]
    out = prompts.with_user_text(convo, "extra")
    assert out[0]["content"] == [
        {"type": "text", "text": "look"},
        {"type": "text", "text": "extra"},
    ]


def test_member_system_prompt_goes_first():
    convo = [{"role": "system", "content": "Caller."}, USER]
    assert prompts.with_system_prompt(convo, "Hat.")[0]["content"] == "Hat.\n\nCaller."
    assert prompts.with_system_prompt([USER], "Hat.") == [
        {"role": "system", "content": "Hat."},
        USER,
    ]


def test_tool_history_becomes_text_for_proposers():
    convo = [
        USER,
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "ls", "arguments": "{}"}}
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "a.py"},
    ]
    out = prompts.text_only(convo)
    assert out[1] == {"role": "assistant", "content": "[tool call ls({})]"}
    assert out[2] == {"role": "user", "content": "[tool result c1]\na.py"}
    assert prompts.text_only([USER]) == [USER]

"""Item 11 of issue 12: two errors that misled.

Before: a preset that names itself failed with each nesting level's reason cut at 300
characters, so the depth limit never showed; a streamed aggregator answering malformed JSON was
reported as an "empty answer". Now the first is refused before any call with the depth limit as
its reason, and the second says the stream was malformed or cut off.
"""

from __future__ import annotations

from tests.attacks.proxy_helpers import assert_no_secret, chat


def test_an_entry_whose_preset_names_itself_is_refused_with_the_depth_limit(
    attack_http, attack_proxy, upstream_process
):
    for stream in (False, True):
        answer = chat(attack_http, "loop", stream=stream)
        assert answer.status_code == 400, answer.text
        message = answer.json()["error"]["message"]
        assert "mixtures nested more than 8 deep, down to member 'mixture/loop'" in message
        assert len(message) < 400, message
    assert upstream_process.calls() == []
    assert_no_secret(attack_proxy, answer.content)


def test_a_malformed_streamed_aggregator_is_not_called_an_empty_answer(
    attack_http, attack_proxy, upstream_process
):
    upstream_process.configure(fault={"gpt-4o": {"kind": "malformed"}})
    for model in ("team-moa", "mixture/gpt-4o-mini>gpt-4o"):
        answer = chat(attack_http, model, stream=True)
        assert answer.status_code >= 500, answer.text
        assert "malformed or cut-off response" in answer.text, answer.text
        assert "empty answer" not in answer.text
    assert_no_secret(attack_proxy, answer.content)

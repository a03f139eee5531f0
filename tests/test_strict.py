"""Strict spec reading: a near miss is refused with a suggestion in every spec form, in-process,
in the CLI and through the proxy, before any member call; `*N` and `?key=value` mean what they
say everywhere; booleans take the usual spellings only."""

import httpx
import litellm
import pytest
from click.testing import CliRunner

from litellm_mixture import SpecError, decode
from litellm_mixture.cli.commands import main
from litellm_mixture.spec import Propose
from tests.proxy_process import litellm_proxy

TRANSFORMS = {"shufle": "shuffle", "dropot=0.2": "dropout", "sampel=2": "sample", "takee=2": "take"}
KINDS = {
    "propse": "propose",
    "synthesise": "synthesize",
    "refin": "refine",
    "rnak": "rank",
    "vot": "vote",
    "agregate": "aggregate",
    "self-moa-sq": "self-moa-seq",
}
PRESETS = {
    "moa-lit": "moa-lite",
    "DEMO": "demo",
    "togther-moa": "together-moa",
    "robust-mao": "robust-moa",
    "4os": "4oso",
    "multiple-hat": "multiple-hats",
    "rank-then-agregate": "rank-then-aggregate",
    "self-consistancy": "self-consistency",
}
BOOLEANS = {"nope": "no", "ture": "true", "flase": "false", "yess": "yes"}
PARAMS = {"erly": "early", "proposer": "proposers", "agregator": "aggregator"}


def _step(kind: str) -> str:
    """A steps-dialect document whose step of ``kind`` (a near miss) is written as a key."""
    if kind in ("propse",):
        return f"{{steps: [{{{kind}: [openai/a]}}, {{aggregate: openai/c}}]}}"
    if kind in ("agregate", "self-moa-sq"):
        return f"{{steps: [{{propose: [openai/a]}}, {{{kind}: openai/c}}]}}"
    return f"{{steps: [{{propose: [openai/a]}}, {{{kind}: [openai/b], n: 1}}, {{vote: openai/c}}]}}"


def _cases() -> list[tuple[str, str]]:
    cases = []
    for near, right in TRANSFORMS.items():
        cases.append((f"openai/a*2+openai/b>{near}>openai/c", right))  # one-line
        word, _, value = near.partition("=")
        step = f"{{{word}: {value}}}" if value else word
        cases.append(
            (f"{{steps: [{{propose: [openai/a*2]}}, {step}, {{aggregate: openai/c}}]}}", right)
        )
    for near, right in KINDS.items():
        cases.append((_step(near), right))
        cases.append(
            (f"{{steps: [{{propose: [openai/a]}}, {{kind: {near}, members: [openai/c]}}]}}", right)
        )
    cases.append(
        (
            "{layers: [{type: paralel, models: [openai/a]}, {type: aggregator, model: openai/c}]}",
            "parallel",
        )
    )
    cases.append(
        (
            "{layers: [{type: parallel, models: [openai/a]}, {type: agregator, model: openai/c}]}",
            "aggregator",
        )
    )
    for near, right in PRESETS.items():
        cases.append((near, right))
        cases.append((f"{near}?temperature=0.5", right))
    for near, right in BOOLEANS.items():
        cases.append((f"moa-lite?early={near}", right))  # a preset's parameter
        cases.append((f"openai/a+openai/b>openai/c?early={near}", right))  # after a one-line spec
        cases.append(
            (f"{{steps: [{{propose: [openai/a]}}, {{aggregate: openai/c, early: {near}}}]}}", right)
        )
        cases.append(
            (
                f"{{steps: [{{propose: [openai/a]}}, "
                f"{{aggregate: openai/c, best_proposal: {near}}}]}}",
                right,
            )
        )
    for near, right in PARAMS.items():
        cases.append((f"moa-lite?{near}=openai/x", right))
        cases.append((f"openai/a+openai/b>openai/c?{near}=openai/x", right))
    return cases


CASES = _cases()


@pytest.mark.parametrize(("spec", "right"), CASES)
def test_a_near_miss_is_one_line_with_a_suggestion_and_no_call(respx_upstream, spec, right):
    with pytest.raises(SpecError) as info:
        litellm.completion("mixture/" + spec, messages=[{"role": "user", "content": "hi"}])
    message = info.value.message
    assert "\n" not in message and f"did you mean '{right}'" in message, message
    assert respx_upstream.requests == []
    result = CliRunner().invoke(main, ["validate", spec])
    assert result.exit_code == 1 and result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and f"did you mean '{right}'" in lines[0]
    # validate and litellm say the same words
    assert message.removeprefix("litellm.BadRequestError: ") in lines[0]


def test_samples_are_samples_in_every_dialect_and_a_bad_count_is_an_error():
    for spec in (
        "mixture/{steps: [{propose: [openai/gpt-4o-mini*3, openai/b]}, {aggregate: openai/c}]}",
        "mixture/{layers: [{type: parallel, models: [openai/gpt-4o-mini*3, openai/b]}, "
        "{type: aggregator, model: openai/c}]}",
        "mixture/openai/gpt-4o-mini*3+openai/b>openai/c",
        "mixture/moa-lite?proposers=openai/gpt-4o-mini*3+openai/b",
    ):
        first = decode(spec).steps[0]
        assert isinstance(first, Propose)
        assert [(m.model, m.samples) for m in first.members] == [
            ("openai/gpt-4o-mini", 3),
            ("openai/b", 1),
        ], spec
    for bad in (
        "mixture/{steps: [{propose: [openai/gpt-4o-mini*x]}, {aggregate: openai/c}]}",
        "mixture/{steps: [{propose: [openai/a]}, {aggregate: openai/c*2}]}",
        "mixture/moa-lite?aggregator=openai/c*3",
    ):
        with pytest.raises(SpecError, match="samples"):
            decode(bad)


def test_an_alias_like_a_transform_word_is_a_member_where_no_transform_may_stand():
    # A proxy's alias `smol` is not a near miss of `sample` as the first or last layer.
    pipeline = decode("mixture/smol*2>smol")
    assert [m.model for s in pipeline.steps for m in s.members] == ["smol", "smol"]
    with pytest.raises(SpecError, match="did you mean 'sample'"):
        decode("mixture/a*2>smol>b")


def test_a_query_after_a_one_line_spec_applies_or_is_refused():
    aggregate = decode("mixture/openai/a+openai/b>openai/qwen05?early=1").steps[-1]
    assert aggregate.members[0].model == "openai/qwen05" and aggregate.early is not None
    assert decode("mixture/openai/a+openai/b>openai/c?panel=reasoning").panel == "reasoning"
    for off in ("no", "off", "false", "0", "False", "NO"):
        assert decode(f"mixture/openai/a+openai/b>openai/c?early={off}").steps[-1].early is None
    for on in ("yes", "on", "true", "1", "True"):
        assert decode(f"mixture/moa-lite?early={on}").steps[-1].early is not None
    with pytest.raises(SpecError, match="'openai/gpt-4o' is not a preset; '\\?name=value'"):
        decode("mixture/openai/gpt-4o?early=1")


@pytest.mark.parametrize(
    ("spec", "says"),
    [
        ("moa-lite?max_tokens=1.5", "parameter max_tokens='1.5' is not an integer"),
        ("moa-lite?temperature=hot", "parameter temperature='hot' is not a number"),
        ("moa-lite?proposers=", "parameter 'proposers' has no value: write proposers=VALUE"),
        ("openai/a+openai/b>sample=abc>openai/c", "layer 2: 'sample=abc' is not a transform"),
    ],
)
def test_wrong_types_say_what_was_expected(spec, says):
    with pytest.raises(SpecError) as info:
        decode("mixture/" + spec)
    assert says in info.value.message


def test_a_range_error_names_the_parameter_once():
    with pytest.raises(SpecError) as info:
        decode("mixture/together-moa?temperature=5")  # four proposers and an aggregator
    assert info.value.message.count("temperature") == 1, info.value.message
    assert "temperature=5: input should be less than or equal to 2" in info.value.message


def test_validate_strict_makes_an_unroutable_member_an_error():
    spec = "nowhere-model*2+openai/b>openai/c"
    relaxed = CliRunner().invoke(main, ["validate", spec])
    assert relaxed.exit_code == 0 and "warning: 'nowhere-model'" in relaxed.stderr
    strict = CliRunner().invoke(main, ["validate", "--strict", spec])
    assert strict.exit_code == 1 and strict.stdout == ""
    assert strict.stderr.startswith(
        "Error: --strict: not a model litellm can route: 'nowhere-model'"
    )


@pytest.fixture(scope="module")
def proxy_process(tmp_path_factory, shared_upstream_process):
    with litellm_proxy(tmp_path_factory.mktemp("proxy"), shared_upstream_process.base) as proxy:
        yield proxy


def test_through_the_proxy_each_near_miss_is_a_400_with_the_same_words(proxy, upstream_process):
    headers = {"Authorization": f"Bearer {proxy.master_key}"}
    before = proxy.log.read_text().count("Traceback")
    for spec, right in CASES:
        body = {"model": "mixture/" + spec, "messages": [{"role": "user", "content": "hi"}]}
        r = httpx.post(proxy.base + "/v1/chat/completions", json=body, headers=headers, timeout=30)
        assert r.status_code == 400, (spec, r.text)
        assert f"did you mean '{right}'" in r.json()["error"]["message"], (spec, r.text)
    assert upstream_process.calls() == []
    # Refused by our checks: one line each in the proxy's log, not a traceback.
    assert proxy.log.read_text().count("Traceback") == before


def test_through_the_proxy_an_empty_prompt_is_a_400_before_any_call(proxy, upstream_process):
    headers = {"Authorization": f"Bearer {proxy.master_key}"}
    for model in ("team-moa", "mixture/gpt-4o-mini*2>gpt-4o"):
        for stream in (False, True):
            body = {"model": model, "messages": [{"role": "user", "content": ""}], "stream": stream}
            r = httpx.post(
                proxy.base + "/v1/chat/completions", json=body, headers=headers, timeout=30
            )
            assert r.status_code == 400, r.text
            assert "messages: nothing to answer" in r.text
    assert upstream_process.calls() == []

"""Every spec form decodes to the right pipeline; every bad spec is a clear BadRequestError."""

import litellm
import pytest
import yaml

from litellm_mixture import (
    Aggregate,
    Member,
    Pipeline,
    Propose,
    SpecError,
    Synthesize,
    decode,
    encode,
    preset_names,
)
from litellm_mixture.common.prompts import MIXTCHA_4OSO
from litellm_mixture.common.state import STATE

# The inline spec of the seed's aider benchmark command, verbatim (after the "openai/" trick).
SEED_INLINE = (
    "{delimiter: [<option>, </option>], layers: [{models: [deepseek/deepseek-chat, "
    "deepseek/deepseek-chat], systemPrompts: ['think through the problem like a test engineer, "
    "from the end to the beginning', 'think through the problem from first principles, step by "
    "step, from the beginning'], type: parallel}, {model: deepseek/deepseek-chat, prompt: "
    "'Multiple answers were provided between <option> tags. Please synthesize them into a "
    "single, high-quality response. Do not assume that I have seen these responses. Consider "
    "all perspectives and create a comprehensive answer that leverages all approaches. Think "
    "step-by-step before providing your final answer.', type: aggregator}], messageMode: inline}"
)
HATS_PROMPT = (
    "Multiple answers were provided between <option> tags. Please synthesize them into a single, "
    "high-quality response. Do not assume that I have seen these responses. Consider all "
    "perspectives and create a comprehensive answer that leverages all approaches. Think "
    "step-by-step before providing your final answer."
)


def test_one_line_layers_members_and_samples():
    p = decode("mixture/openai/gpt-4o-mini*3+anthropic/claude-3-5-haiku>openai/gpt-4o")
    assert p == Pipeline(
        [
            Propose([Member("openai/gpt-4o-mini", samples=3), "anthropic/claude-3-5-haiku"]),
            Aggregate("openai/gpt-4o"),
        ]
    )
    assert p.steps[0].calls == 4


def test_one_line_middle_layers_synthesize():
    p = decode("a/x+b/y>c/z*2>d/w")
    assert [s.kind for s in p.steps] == ["propose", "synthesize", "aggregate"]
    assert p.steps[1].members == (Member("c/z", samples=2),)


def test_one_line_model_names_take_percent_escapes():
    p = decode("%72eplicate/meta/llama-3+a/b%2Bc>openai/gpt-4o")
    assert [m.model for m in p.steps[0].members] == ["replicate/meta/llama-3", "a/b+c"]
    assert decode(encode(p)) == p


def test_single_model_passes_through():
    p = decode("mixture/deepseek/deepseek-chat")
    assert p.is_passthrough and p.steps[0].member.model == "deepseek/deepseek-chat"
    assert decode("gpt-4o-mini").is_passthrough  # a bare name litellm knows


@pytest.mark.parametrize(
    "spec", ["demo", "together-moa", "moa-lite", "self-moa", "multiple-hats", "4oso"]
)
def test_builtin_presets_decode(spec):
    assert isinstance(decode(spec), Pipeline)
    assert spec in preset_names()


def test_together_moa_is_paper_shaped():
    p = decode("together-moa")
    assert [s.kind for s in p.steps] == ["propose", "synthesize", "aggregate"]
    assert len(p.steps[0].members) == len(p.steps[1].members) == 6
    assert p.steps[0].members == p.steps[1].members
    assert all(s.temperature == 0.7 and s.max_tokens == 2048 for s in p.steps)
    assert p.steps[2].member.model.endswith("Qwen1.5-110B-Chat")
    lite = decode("moa-lite")
    assert [s.kind for s in lite.steps] == ["propose", "aggregate"]
    assert lite.steps[1].member.model.endswith("Qwen1.5-72B-Chat")


def test_self_moa_samples_one_model():
    p = decode("self-moa")
    assert p.steps[0].members[0].samples == 6
    assert p.steps[0].members[0].model == p.steps[1].member.model


def test_preset_parameters_reuse_structure():
    p = decode(
        "together-moa?proposers=openai/gpt-4o-mini*2+anthropic/claude-3-5-haiku"
        "&aggregator=openai/gpt-4o"
    )
    assert [s.kind for s in p.steps] == ["propose", "synthesize", "aggregate"]
    assert (
        p.steps[0].members
        == p.steps[1].members
        == (Member("openai/gpt-4o-mini", samples=2), Member("anthropic/claude-3-5-haiku"))
    )
    assert p.steps[2].member.model == "openai/gpt-4o"
    assert p.steps[0].temperature == 0.7  # the preset's settings stay
    s = decode("self-moa?model=deepseek/deepseek-chat&temperature=0.9")
    assert {m.model for step in s.steps for m in step.members} == {"deepseek/deepseek-chat"}
    assert s.steps[0].members[0].samples == 6 and s.steps[0].members[0].temperature == 0.9


def test_preset_proposers_lower_a_quorum_they_cannot_reach(tmp_path, monkeypatch):
    # A fan-out's quorum counts calls: fewer proposers lower it to all their calls, more leave it
    # as written. A refine's quorum is not bounded by its members (they take turns).
    (tmp_path / "quorum.yaml").write_text(
        "steps: [{propose: [{model: a/x, samples: 2}, b/y, c/z], min_successful: 3},\n"
        "  {synthesize: [a/x, b/y, c/z], min_successful: 3},\n"
        "  {refine: [a/x], min_successful: 3}, {aggregate: c/z}]\n"
    )
    monkeypatch.setenv("LITELLM_MIXTURE_PRESETS", str(tmp_path))
    quorums = [step.min_successful for step in decode("quorum?proposers=d/w+e/v").steps]
    assert quorums == [2, 2, 3, 1]
    quorums = [step.min_successful for step in decode("quorum?proposers=d/w*5").steps]
    assert quorums == [3, 3, 3, 1]
    assert decode("quorum?model=f/u").steps[0].min_successful == 3


def test_seed_inline_mixtcha_spec_runs_as_written():
    p = decode("mixture/" + SEED_INLINE)
    assert p.references == "inline" and p.delimiter == ("<option>", "</option>")
    propose, aggregate = p.steps
    assert [m.model for m in propose.members] == ["deepseek/deepseek-chat"] * 2
    assert propose.members[0].system_prompt.startswith("think through the problem like a test")
    assert aggregate.prompt == HATS_PROMPT
    assert decode("multiple-hats").steps == p.steps


# The same spec in the seed's (mixtcha's aider guide's) model-settings entry, verbatim: a
# double-quoted YAML scalar folded over several lines.
SEED_SETTINGS_ENTRY = """\
- name: direct-mixtcha
  extra_params:
    api_base: "https://api.mixtcha.com"
    api_key: "sk-mix-1234yourkeyhere"
    model: "openai/{delimiter: [<option>, </option>], layers: [{models: [deepseek/deepseek-chat, deepseek/deepseek-chat],
      systemPrompts: ['think through the problem like a test engineer, from the end
          to the beginning', 'think through the problem from first principles, step
          by step, from the beginning'], type: parallel}, {model: deepseek/deepseek-chat,
      prompt: 'Multiple answers were provided between <option> tags. Please synthesize
        them into a single, high-quality response. Do not assume that I have seen
        these responses. Consider all perspectives and create a comprehensive answer
        that leverages all approaches. Think step-by-step before providing your final
        answer.', type: aggregator}], messageMode: inline}"
    litellm_provider: "openai"
"""  # noqa: E501


def test_the_seeds_settings_entry_spec_decodes_like_its_benchmark_command():
    (entry,) = yaml.safe_load(SEED_SETTINGS_ENTRY)
    model = entry["extra_params"]["model"]
    assert decode(model.removeprefix("openai/")) == decode(SEED_INLINE)


def test_4oso_preset_has_the_official_prompt():
    assert decode("4oso").steps[-1].prompt == MIXTCHA_4OSO


def test_steps_dialect_short_and_long_forms():
    short = decode(
        "{steps: [{propose: [a/x, {model: b/y, temperature: 0.3}], max_tokens: 99},"
        " {aggregate: c/z, prompt: Combine.}]}"
    )
    long_ = decode(
        '{"steps": [{"kind": "propose", "members": ["a/x", {"model": "b/y", '
        '"temperature": 0.3}], "max_tokens": 99}, {"kind": "aggregate", '
        '"members": "c/z", "prompt": "Combine."}]}'
    )
    assert short == long_
    assert short.steps[0].max_tokens == 99 and short.steps[1].prompt == "Combine."


def test_yaml_block_document():
    p = decode("steps:\n  - propose: [a/x, b/y]\n  - aggregate: c/z\nreferences: inline\n")
    assert p.references == "inline"


def test_concat_mixtcha_may_end_with_parallel_layer():
    p = decode("{layers: [{type: parallel, models: [a/x, b/y]}], messageMode: concat}")
    assert [s.kind for s in p.steps] == ["propose"]


def test_mixtcha_members_may_be_objects_and_layer_prompts_fill_the_rest():
    p = decode(
        "{layers: [{type: parallel, models: [a/x, {model: b/y, samples: 2, systemPrompt: own}],"
        " systemPrompts: [s1, s2], prompts: p}, {type: aggregator, systemPrompt: agg,"
        " model: {model: c/z, temperature: 0.2}}]}"
    )
    assert p.steps[0].members == (
        Member("a/x", system_prompt="s1", prompt="p"),
        Member("b/y", samples=2, system_prompt="own", prompt="p"),
    )
    assert p.steps[1].member == Member("c/z", temperature=0.2, system_prompt="agg")


def test_validation_errors_read_as_one_line_with_the_field_and_the_value():
    with pytest.raises(SpecError) as info:
        decode("{layers: [{type: parallel, models: [{model: a/x, samples: 0}]}]}")
    assert str(info.value.message).endswith(
        "Invalid mixture spec: layers.0.parallel.models.0.samples: input should be greater than "
        "or equal to 1 (got 0)"
    )
    with pytest.raises(SpecError) as info:
        decode("a/x*0>b/y")
    assert info.value.message.endswith(
        "Invalid mixture spec: layer 1: 'a/x*0': samples: input should be greater than or equal "
        "to 1 (got 0)"
    )
    assert "\n" not in info.value.message and "pydantic.dev" not in info.value.message


def test_mixtcha_second_parallel_layer_synthesizes():
    p = decode(
        "{layers: [{type: parallel, models: [a/x]}, {type: parallel, models: [b/y]},"
        " {type: aggregator, model: c/z}]}"
    )
    assert isinstance(p.steps[1], Synthesize)


@pytest.mark.parametrize(
    ("spec", "needle"),
    [
        ("moa-lit", "did you mean 'moa-lite'"),
        ("a/x*3+b/y", "no aggregator"),
        ("a/x>b/y*2", "last layer must be a single aggregator"),
        ("a/x>>b/y", "empty layer"),
        ("a/x*0>b/y", "samples"),
        ("a/x*99>b/y", "samples"),
        ("", "empty spec"),
        ("https://example.com/x.yaml", "mixture_policy.url_hosts"),
        ("a/x+b/y >c", "whitespace"),
        ("{layers: [{type: paralel, models: [a]}]}", "layers.0"),
        ("{layers: [{type: parallel, models: [a], systemPrompts: [x, y]}]}", "systemPrompts"),
        (
            "{layers: [{type: parallel, models: [a]}, {type: aggregator, model: b, tempo: 1}]}",
            "unknown field",
        ),
        ("{steps: [{aggregate: a/x}, {propose: [b/y]}]}", "aggregate must be the last"),
        ("{steps: [{propose: [a/x]}]}", "must end with an aggregate"),
        ("{steps: [{propose: [a/x], aggregate: b/y}]}", "exactly one step kind"),
        ("{steps: [{propose: [a/x], min_successful: 3}, {aggregate: b/y}]}", "min_successful"),
        ("{steps: [{propose: [a/x]}, {aggregate: [b/y, c/z]}]}", "exactly one member"),
        ("{nothing: here}", "needs 'layers' (mixtcha) or 'steps'"),
        ("{a: &x [1], b: *x}", "aliases"),
        ("{steps: [", "not valid YAML"),
        ("[" * 5000, "nested too deeply"),
        ("together-moa?proposers", "parameter 'proposers' has no value"),
        ("together-moa?colour=red", "unknown parameter 'colour'"),
        ("self-moa?temperature=hot", "not a number"),
        ("self-moa?temperature=5", "temperature=5: input should be less than or equal to 2"),
        ("self-moa?max_tokens=0", "max_tokens=0: input should be greater than or equal to 1"),
        ("openai/a,openai/b", "e.g. openai/a+openai/b>AGGREGATOR"),
        ("openai/a,openai/b>openai/c", "e.g. openai/a+openai/b>openai/c"),
        ("moa-lite,self-moa", "a comma does not separate members"),
    ],
)
def test_bad_specs_are_bad_request_errors(spec, needle):
    with pytest.raises(SpecError) as info:
        decode("mixture/" + spec)
    assert isinstance(info.value, litellm.BadRequestError)
    assert needle in str(info.value)


def test_oversized_spec_is_refused():
    with pytest.raises(SpecError, match="longer than"):
        decode("mixture/{steps: []}" + " " * 70_000)


@pytest.mark.parametrize(
    "spec",
    [
        "mixture/demo",
        "mixture/openai/gpt-4o-mini*3+anthropic/claude-3-5-haiku>openai/gpt-4o",
        "mixture/a/x+b/y>c/z*2>d/w",
        "mixture/deepseek/deepseek-chat",
    ],
)
def test_encode_decode_round_trips_canonical_strings(spec):
    assert encode(decode(spec)) == spec


@pytest.mark.parametrize(
    "spec",
    [
        SEED_INLINE,
        "together-moa?aggregator=x/y",
        "{steps: [{propose: [a/x], max_tokens: 9}, {aggregate: c/z}]}",
        "{deadline: 30, steps: [{propose: [a/x, b/y]}, {aggregate: c/z}]}",
        "{seed: 3, steps: [{propose: [a/x, b/y]}, shuffle, {dropout: 0.2}, {sample: 2},"
        " {take: 1}, {filter: {min_length: 2, must_not_match: '(?i)sorry'}}, {aggregate: c/z}]}",
    ],
)
def test_decode_encode_is_identity_on_pipelines(spec):
    p = decode(spec)
    assert decode(encode(p)) == p


def test_python_api_encodes_to_a_model_string():
    p = Pipeline([Propose(["openai/gpt-4o-mini"] * 2), Aggregate("openai/gpt-4o")])
    assert encode(p) == "mixture/openai/gpt-4o-mini+openai/gpt-4o-mini>openai/gpt-4o"


def test_user_presets_from_env_and_local_folder(tmp_path, monkeypatch):
    env_dir = tmp_path / "env"
    env_dir.mkdir()
    (env_dir / "mine.yaml").write_text("steps: [{propose: [a/x, b/y]}, {aggregate: c/z}]\n")
    monkeypatch.setenv("LITELLM_MIXTURE_PRESETS", str(env_dir))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mixtures").mkdir()
    (tmp_path / "mixtures" / "local.yml").write_text(
        "layers: [{type: parallel, models: [a/x]}, {type: aggregator, model: b/y}]\n"
    )
    assert decode("mine").steps[-1].member.model == "c/z"
    assert decode("local").references == "inline"
    assert {"mine", "local", "demo"} <= set(preset_names())
    (env_dir / "broken.yaml").write_text("steps: [{propose: []}]\n")
    with pytest.raises(SpecError, match=r"broken\.yaml"):
        decode("broken")


# ---------------------------------------------------------------- the cache of accepted specs


def test_only_accepted_specs_are_cached_and_the_cache_is_bounded_by_bytes(monkeypatch):
    from litellm_mixture import spec as names
    from litellm_mixture.common.memo import ByteBoundCache, footprint

    cache = ByteBoundCache(200_000)
    monkeypatch.setattr(STATE, "accepted", cache)
    spec = "mixture/openai/a*2+openai/b>openai/c"
    pipeline = decode(spec)
    assert names.accepted(spec) is None and len(cache) == 0  # decoding alone keeps nothing
    names.remember(spec, pipeline)
    assert names.accepted(spec) is pipeline and decode(spec) is pipeline
    for i in range(500):  # many distinct accepted specs: the oldest go, the bytes stay bounded
        other = f"mixture/openai/a{i}*2+openai/b>openai/c"
        names.remember(other, decode(other))
    assert cache.used <= cache.budget and 0 < len(cache) < 500
    assert names.accepted(spec) is None
    big = "mixture/" + "+".join(f"openai/m{j}" for j in range(300)) + ">openai/c"
    assert footprint(decode(big)) > cache.budget // 4
    names.remember(big, decode(big))  # one large entry does not flush the others
    assert names.accepted(big) is None and len(cache) > 0
    names.remember("mixture/moa-lite", decode("mixture/moa-lite"))  # presets cache themselves
    assert names.accepted("mixture/moa-lite") is None


def test_deeply_nested_brackets_are_refused_before_yaml_reads_them():
    with pytest.raises(SpecError, match="brackets more than 32 deep"):
        decode("mixture/" + "[" * 1000 + "]" * 1000)
    with pytest.raises(SpecError, match="brackets more than 32 deep"):
        decode("mixture/" + "{a: " * 40 + "b" + "}" * 40)


def test_inline_json_and_its_yaml_flow_spelling_decode_alike():
    as_json = 'mixture/{"steps":[{"propose":["a/b","c/d"],"temperature":0.5},{"aggregate":"e/f"}]}'
    as_yaml = "mixture/{steps: [{propose: [a/b, c/d], temperature: 0.5}, {aggregate: e/f}]}"
    assert decode(as_json) == decode(as_yaml)
    with pytest.raises(SpecError):  # NaN is no number for JSON; YAML reads it as a string
        decode('mixture/{"steps":[{"aggregate":"e/f"}],"deadline":NaN}')


def test_a_name_too_long_for_a_file_is_a_spec_error():
    with pytest.raises(SpecError, match="neither a preset nor a model"):
        decode("mixture/" + "moa-lite" * 250)

"""Model info for mixtures, exact completion_cost, and `litellm-mixture aider-settings`."""

import json

import litellm
import pytest
import yaml
from click.testing import CliRunner

from litellm_mixture import decode, model_info
from litellm_mixture.cli import main
from tests.test_provider import complete, upstream  # noqa: F401  (fixture)


def price(model):
    info = litellm.model_cost[model]
    return info["input_cost_per_token"], info["output_cost_per_token"]


def test_model_info_takes_the_smallest_window_and_the_aggregators_output_limit():
    info = model_info(decode("mixture/openai/gpt-4o-mini*2+deepseek/deepseek-chat>openai/gpt-4o"))
    members = ("gpt-4o-mini", "deepseek-chat", "gpt-4o")
    assert info["max_input_tokens"] == min(
        litellm.model_cost[m]["max_input_tokens"] for m in members
    )
    assert info["max_output_tokens"] == litellm.model_cost["gpt-4o"]["max_output_tokens"]
    assert info["litellm_provider"] == "mixture" and info["supports_function_calling"] is True
    (mini_in, mini_out), (ds_in, ds_out), (agg_in, agg_out) = (
        price(m) for m in ("gpt-4o-mini", "deepseek-chat", "gpt-4o")
    )
    # Every call reads the prompt; each proposer's reply is written, then read by the aggregator.
    assert info["input_cost_per_token"] == pytest.approx(2 * mini_in + ds_in + agg_in)
    assert info["output_cost_per_token"] == pytest.approx(
        agg_out + 2 * (mini_out + agg_in) + ds_out + agg_in
    )


def test_a_step_max_tokens_bounds_the_output_limit_and_unknown_prices_give_none():
    info = model_info(decode("mixture/{steps: [{aggregate: openai/gpt-4o, max_tokens: 300}]}"))
    assert info["max_output_tokens"] == 300
    info = model_info(decode("mixture/openai/gpt-4o*2+my/self-hosted>openai/gpt-4o"))
    assert "input_cost_per_token" not in info and "output_cost_per_token" not in info


def test_presets_are_known_to_litellm():
    info = litellm.get_model_info("mixture/self-moa")
    assert info["max_input_tokens"] == litellm.model_cost["gpt-4o"]["max_input_tokens"]
    assert info["input_cost_per_token"] > 0


def test_completion_cost_is_the_summed_cost_of_a_mixture_response(upstream):  # noqa: F811
    r = complete("openai/gpt-4o-mini*2>openai/gpt-4o")
    assert litellm.completion_cost(r) == pytest.approx(r._hidden_params["response_cost"])
    assert litellm.completion_cost(completion_response=r) == r._hidden_params["response_cost"]
    plain = litellm.completion(model="openai/gpt-4o", messages=[{"role": "user", "content": "x"}])
    assert litellm.completion_cost(plain) == pytest.approx(plain._hidden_params["response_cost"])


def test_aider_settings_prints_both_entries():
    result = CliRunner().invoke(main, ["aider-settings", "self-moa"])
    assert result.exit_code == 0, result.output
    settings_text, metadata_text = result.output.split("# .aider.model.metadata.json\n")
    (entry,) = yaml.safe_load(settings_text)
    assert entry["name"] == "mixture/self-moa" and entry["edit_format"] == "diff"
    assert entry["weak_model_name"] == "openai/gpt-4o"  # its only member
    assert json.loads(metadata_text)["mixture/self-moa"]["litellm_provider"] == "mixture"


def test_aider_settings_merges_into_existing_files(tmp_path):
    (tmp_path / ".aider.model.settings.yml").write_text("- name: keep/me\n  edit_format: whole\n")
    (tmp_path / ".aider.model.metadata.json").write_text('{"keep/me": {"max_input_tokens": 1}}')
    spec = "openai/gpt-4o*2+openai/gpt-4o-mini>openai/gpt-4o"
    for weak in (None, "openai/gpt-3.5-turbo"):
        args = ["aider-settings", spec, "--editor-model", "openai/gpt-4o", "--write", str(tmp_path)]
        result = CliRunner().invoke(main, args + (["--weak-model", weak] if weak else []))
        assert result.exit_code == 0, result.output
        entries = yaml.safe_load((tmp_path / ".aider.model.settings.yml").read_text())
        assert [e["name"] for e in entries] == ["keep/me", "mixture/" + spec]
        assert entries[1]["weak_model_name"] == (weak or "openai/gpt-4o-mini")  # the cheapest
        assert entries[1]["editor_model_name"] == "openai/gpt-4o"
        assert entries[1]["editor_edit_format"] == "editor-diff"
    metadata = json.loads((tmp_path / ".aider.model.metadata.json").read_text())
    assert set(metadata) == {"keep/me", "mixture/" + spec}


def test_aider_settings_names_a_bad_spec():
    result = CliRunner().invoke(main, ["aider-settings", "moa-lit"])
    assert result.exit_code == 1
    assert "did you mean 'moa-lite'" in result.output and "Traceback" not in result.output

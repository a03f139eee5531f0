"""Every kind of step in the spec's ``Step`` union, through every walker of pipelines: the
engine, the estimate, call counting, the policy, explain, the run's report and the model info.
The kinds are read off the union, so a new kind one walker forgot fails here, not for a user."""

from __future__ import annotations

import asyncio
from typing import Any, get_args

import pytest
from pydantic import ValidationError

from litellm_mixture.cli import explain, live
from litellm_mixture.engine import Run, RunRecord
from litellm_mixture.observe import report
from litellm_mixture.pricing import estimates, modelinfo
from litellm_mixture.spec import Aggregate, Pipeline, Propose, Step
from litellm_mixture.spec.steps import MemberStep
from litellm_mixture.spec.transforms import Transform
from litellm_mixture.trust import calls, policy
from tests.test_engine import ASK, Caller

KINDS = get_args(get_args(Step)[0])
# What a kind's required settings are given, by name: a new required setting fails loudly here.
REQUIRED = {"members": ("openai/judge",), "n": 1, "rate": 0.5, "fn": str.upper}
PROPOSE = Propose(["openai/p1", "openai/p2"])
AGGREGATE = Aggregate(["openai/agg"])


def _example(cls: type) -> Any:
    fields = cls.model_fields  # type: ignore[attr-defined]
    return cls(**{name: REQUIRED[name] for name, f in fields.items() if f.is_required()})


def pipeline_with(cls: type) -> Pipeline:
    """A pipeline with a step of kind ``cls``: in the middle where it may be, else first or
    last (propose opens a pipeline, aggregate ends one)."""
    step = _example(cls)
    for steps in ([PROPOSE, step, AGGREGATE], [step, AGGREGATE], [PROPOSE, step]):
        try:
            return Pipeline(steps)
        except ValidationError:
            continue
    raise AssertionError(f"no pipeline takes a {step.kind} step")


def _index(pipeline: Pipeline, cls: type) -> int:
    return next(i for i, s in enumerate(pipeline.steps) if type(s) is cls)


def _run(pipeline: Pipeline) -> tuple[Any, RunRecord]:
    execution = Run(pipeline, ASK, caller=Caller())
    return asyncio.run(execution.complete()), execution.record()


def _calls(cls: type) -> bool:
    return issubclass(cls, MemberStep)


def test_the_kinds_are_read_off_the_union():
    assert {cls.model_fields["kind"].default for cls in KINDS} >= {"propose", "aggregate", "map"}
    assert all(issubclass(cls, (MemberStep, Transform)) for cls in KINDS)


@pytest.mark.parametrize("cls", KINDS, ids=lambda c: c.model_fields["kind"].default)
def test_the_engine_runs_every_kind(cls):
    pipeline = pipeline_with(cls)
    index = _index(pipeline, cls)
    response, record = _run(pipeline)
    assert response.content
    made = [e for e in record.trace if e.step == index]
    assert bool(made) == _calls(cls)
    assert all(e.ok for e in record.trace)
    assert len(record.trace) <= pipeline.max_calls


@pytest.mark.parametrize("cls", KINDS, ids=lambda c: c.model_fields["kind"].default)
def test_the_estimate_counts_every_kind(cls):
    pipeline = pipeline_with(cls)
    index = _index(pipeline, cls)
    found = estimates.estimate(pipeline, ASK)
    step = found.steps[index]
    assert step.kind == pipeline.steps[index].kind
    assert (step.calls > 0) == _calls(cls)
    # Each call is as many requests as the provider SDK's retries may make.
    assert step.requests >= sum(pipeline.bounds()[index]) and (step.requests > 0) == _calls(cls)


@pytest.mark.parametrize("cls", KINDS, ids=lambda c: c.model_fields["kind"].default)
def test_counting_and_the_policy_see_every_kind(cls):
    pipeline = pipeline_with(cls)
    counted = calls.count_calls(pipeline, nested=lambda model: None)
    assert counted == pipeline.max_calls
    rules = policy.Policy(allow_aliases=False, allow_members=("openai/*",))
    assert policy.check(pipeline, rules, allowed=lambda m: False, nested=lambda m: None) == counted
    refused = policy.Policy(allow_aliases=False)
    with pytest.raises(policy.PolicyError, match="allow_members"):
        policy.check(pipeline, refused, allowed=lambda m: False, nested=lambda m: None)


@pytest.mark.parametrize("cls", KINDS, ids=lambda c: c.model_fields["kind"].default)
def test_explain_and_the_model_info_show_every_kind(cls):
    pipeline = pipeline_with(cls)
    index = _index(pipeline, cls)
    shown = explain.tree(pipeline)
    assert f"  {index + 1}. {pipeline.steps[index].kind}" in shown
    assert explain.most_calls(pipeline)[index] == sum(pipeline.bounds()[index])
    assert explain.unroutable(pipeline) == {}  # openai/* routes, though none is called here
    assert modelinfo.model_info(pipeline)["mode"] == "chat"
    assert live.label_width(pipeline) == max(len(m.model) for m in pipeline.callees)


@pytest.mark.parametrize("cls", KINDS, ids=lambda c: c.model_fields["kind"].default)
def test_the_report_reads_every_kind(cls):
    pipeline = pipeline_with(cls)
    index = _index(pipeline, cls)
    _, record = _run(pipeline)
    summary = report.summary(record, 1.0)
    assert summary["calls"] == len(record.trace) and summary["degraded"] is None
    kinds = {s["kind"] for s in report.intermediate_responses(record)}
    assert (pipeline.steps[index].kind in kinds) == _calls(cls)
    passed = [h["kind"] for h in report.history(record) if h["step"] == index]
    last = index == len(pipeline.steps) - 1  # its answer is the response, not passed on
    assert passed == ([] if last else [pipeline.steps[index].kind])

"""How many upstream requests one run of a pipeline can make, at most: what the policy's
``max_calls`` bounds, and what stops a preset that names itself."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from .errors import SpecError
from .spec import Member, Pipeline, Step
from .spec.agreement import ByEmbedding

# Even trusted specs stop here: a preset that names itself would otherwise recurse forever.
MAX_DEPTH = 8

Nested = Callable[[str], "tuple[Pipeline, bool] | None"]
# attempts(model, retried): the most upstream requests one call to a plain member may make;
# ``retried``: the spec owns the call's retries (it sets retries or a timeout, which are exact),
# so the provider SDK's and the Router's own retries are off.
Attempts = Callable[[str, bool], int]


def once(model: str, retried: bool) -> int:
    return 1


def member_calls(pipeline: Pipeline) -> Iterator[tuple[Member, int, bool]]:
    """Each member (and fallback) of each step, with the most calls the run may make to it,
    and whether the spec owns those calls' retries (see Attempts).

    Retries and fallbacks only run on failure, but may all run: the worst case counts. An
    agreement by embedding (``until_agree``) calls its model once per answer, as a member
    with no retries of the spec's.
    """
    for step, uses in zip(pipeline.steps, pipeline.bounds(), strict=True):
        yield from step_calls(pipeline, step, uses)


def step_calls(
    pipeline: Pipeline, step: Step, uses: list[int]
) -> Iterator[tuple[Member, int, bool]]:
    """:func:`member_calls` for one step, given its ``bounds`` (``uses``)."""
    own = getattr(step, "retries", None)  # (a transform calls no model)
    retries = own if own is not None else pipeline.retries
    exact = retries is not None or (getattr(step, "timeout", None) or pipeline.timeout)
    members = (*step.members, *getattr(step, "fallbacks", ()))
    for member, used in zip(members, uses, strict=True):
        yield member, used * (1 + (retries or 0)), bool(exact)
    by = getattr(step, "agree_by", None)
    if isinstance(by, ByEmbedding):
        yield Member(by.embedding), sum(uses), False


def count_calls(
    pipeline: Pipeline,
    *,
    nested: Nested,
    attempts: Attempts = once,
    spec: str = "",
    depth: int = 0,
) -> int:
    """The most upstream requests one run of ``pipeline`` can make: each member call counts the
    requests ``attempts`` says it may take (its Router's or SDK's retries included), and a
    nested mixture counts its own members. Refuses nesting deeper than MAX_DEPTH."""
    calls = 0
    for member, used, retried in member_calls(pipeline):
        inner = nested(member.model)
        if inner is None:
            calls += used * attempts(member.model, retried)
            continue
        if depth + 1 > MAX_DEPTH:
            raise SpecError(
                f"mixtures nested more than {MAX_DEPTH} deep, down to member {member.model!r}: "
                "does a preset or entry name itself, directly or through others?",
                spec=spec,
            )
        calls += used * count_calls(
            inner[0], nested=nested, attempts=attempts, spec=spec, depth=depth + 1
        )
    return calls

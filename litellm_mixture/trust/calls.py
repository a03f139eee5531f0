"""How many upstream requests one run of a pipeline can make, at most: what the policy's
``max_calls`` bounds, and what stops a preset that names itself."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

import openai

from ..errors import SpecError
from ..spec import Member, Pipeline, Step
from ..spec.schema import calls_of

# Even trusted specs stop here: a preset that names itself would otherwise recurse forever.
MAX_DEPTH = 8

Nested = Callable[[str], "tuple[Pipeline, bool] | None"]
# attempts(model, retried): the most upstream requests one call to a plain member may make;
# ``retried``: the spec owns the call's retries (it sets retries or a timeout, which are exact),
# so the provider SDK's and the Router's own retries are off.
Attempts = Callable[[str, bool], int]


def once(model: str, retried: bool) -> int:
    return 1


# What one call outside a Router may send: the provider SDK's first try and its retries.
DEFAULT_ATTEMPTS = 1 + openai.DEFAULT_MAX_RETRIES


def sdk_attempts(model: str, retried: bool = False) -> int:
    """Requests one call outside a Router may make: the SDK's retries, unless the spec retries
    the call itself (``retried``; see Attempts)."""
    return 1 if retried else DEFAULT_ATTEMPTS


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
    calls = calls_of(step)
    retries = pipeline.setting(calls.settings, "retries")
    exact = retries is not None or pipeline.setting(calls.settings, "timeout")
    for member, used in zip(calls.callees, uses, strict=True):
        yield member, used * (1 + (retries or 0)), bool(exact)
    if calls.embedding is not None:
        yield Member(calls.embedding), sum(uses), False


# inner(member, pipeline it runs, whether the operator wrote it, depth): the requests one call
# to a member that is itself a mixture makes.
Inner = Callable[[Member, Pipeline, bool, int], int]


def upstream(
    counted: Iterable[tuple[Member, int, bool]],
    *,
    nested: Nested,
    attempts: Attempts,
    inner: Inner,
    depth: int = 0,
    visit: Callable[[Member, bool], None] | None = None,
) -> int:
    """The requests the ``counted`` calls (as :func:`member_calls` gives them) make, at most: a
    plain member's calls as many as ``attempts`` says, a nested mixture's as ``inner`` counts
    them (one level deeper). ``visit(member, plain)`` sees each member first. The one walk of
    nested mixtures, shared by :func:`count_calls`, the policy and explain."""
    calls = 0
    for member, used, retried in counted:
        found = nested(member.model)
        if visit is not None:
            visit(member, found is None)
        if found is None:
            calls += used * attempts(member.model, retried)
        else:
            calls += used * inner(member, found[0], found[1], depth + 1)
    return calls


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

    def inner(member: Member, inside: Pipeline, trusted: bool, depth: int) -> int:
        if depth > MAX_DEPTH:
            raise SpecError(
                f"mixtures nested more than {MAX_DEPTH} deep, down to member {member.model!r}: "
                "does a preset or entry name itself, directly or through others?",
                spec=spec,
            )
        return count_calls(inside, nested=nested, attempts=attempts, spec=spec, depth=depth)

    counted = member_calls(pipeline)
    return upstream(counted, nested=nested, attempts=attempts, inner=inner, depth=depth)

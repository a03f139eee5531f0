"""What ``litellm-mixture eval`` compares, on the same samples: the mixture, each distinct member
alone, the Self-MoA baseline (the best member sampled as many times as the mixture calls its
proposers, aggregated by the mixture's own last step) and any ``--against`` spec. Every one runs
as a ``mixture/...`` model, so each is priced the same way: by what its calls were billed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from inspect_ai.model import Model, get_model

from ..spec import PREFIX, Aggregate, Member, Pipeline, Propose, decode, encode
from ..spec.steps import FanOut, MemberStep

Role = Literal["mixture", "member", "self-moa", "against"]


@dataclass(frozen=True)
class System:
    """One system: what the report calls it, its role, and the spec it runs."""

    label: str
    role: Role
    spec: str
    member: Member | None = None
    """The member a ``member`` system runs alone."""

    @property
    def pipeline(self) -> Pipeline:
        return decode(self.spec)

    def model(self, index: int) -> Model:
        """The Inspect model: named by its spec when Inspect's names can hold it (no commas,
        no spaces), else ``mixture/<role>-<index>`` with the spec as a model arg."""
        plain = not any(c in self.spec for c in ", \n")
        name = self.spec if plain else f"{PREFIX}{self.role}-{index}"
        return get_model(name, spec=self.spec, memoize=False)


def _alone(member: Member) -> Pipeline:
    return Pipeline(steps=[Aggregate(members=[member.model_copy(update={"samples": 1})])])


def members(pipeline: Pipeline) -> list[Member]:
    """The distinct members of every step, in order (a member sampled N times counts once)."""
    seen: dict[str, Member] = {}
    for step in pipeline.steps:
        for member in step.members if isinstance(step, MemberStep) else ():
            alone = member.model_copy(update={"samples": 1})
            seen.setdefault(alone.model_dump_json(), alone)
    return list(seen.values())


def label(member: Member, taken: set[str]) -> str:
    """The member's model name; numbered when two members call the same model differently."""
    name, n = member.model, 2
    while name in taken:
        name, n = f"{member.model} #{n}", n + 1
    taken.add(name)
    return name


def plan(spec: str, against: tuple[str, ...] = ()) -> list[System]:
    """The systems before any runs: the mixture, its members alone, the ``--against`` specs.
    A bad spec raises SpecError here."""
    spec = decode_name(spec)
    pipeline = decode(spec)
    systems = [System("mixture", "mixture", spec)]
    taken: set[str] = set()
    for member in members(pipeline):
        alone = encode(_alone(member))
        systems.append(System(label(member, taken), "member", alone, member))
    for other in against:
        systems.append(
            System(f"against {other.removeprefix(PREFIX)}", "against", decode_name(other))
        )
    return systems


def decode_name(spec: str) -> str:
    name = spec if spec.startswith(PREFIX) else PREFIX + spec
    decode(name)
    return name


def proposer_calls(pipeline: Pipeline) -> int:
    """The calls of every fan-out (propose, synthesize) before the last step: what the mixture
    spends on proposals. A judge (rank) or a refine step proposes nothing."""
    steps = pipeline.steps[:-1]
    return sum(step.calls for step in steps if isinstance(step, FanOut))


def self_moa(pipeline: Pipeline, best: System) -> System | None:
    """The best member sampled as often as the mixture calls its proposers, then the mixture's
    own last step; None when the mixture does not end in an aggregate or has no proposers."""
    final, n = pipeline.steps[-1], proposer_calls(pipeline)
    if not isinstance(final, Aggregate) or n < 1 or best.member is None:
        return None
    first = pipeline.steps[0]
    sampled = (best.member.model_copy(update={"samples": n}),)
    if isinstance(first, Propose):
        propose = first.model_copy(update={"members": sampled, "until_agree": None})
    else:
        propose = Propose(members=sampled)
    baseline = pipeline.model_copy(update={"steps": (propose, final)})
    return System(f"self-moa {best.label} x{n}", "self-moa", encode(decode(encode(baseline))))

"""Documents: the ``steps`` dialect both ways, and either dialect read into a pipeline.

The steps dialect names each step by its kind (``propose``, ``rank``, ``dropout``, ...) and
learns the kinds from the step classes, so a new step class needs nothing here.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from .base import Member
from .errors import describe, did_you_mean, spec_error
from .mixtcha import from_mixtcha
from .schema import KINDS, Pipeline
from .transforms import Transform

_TRANSFORMS = {kind: cls for kind, cls in KINDS.items() if issubclass(cls, Transform)}
# Steps that take a Python function (map): they have no document form.
_PYTHON_ONLY = [kind for kind, cls in _TRANSFORMS.items() if cls.portable is False]
# What a transform's value means when it is not a mapping: {dropout: 0.2}, {take: 3}.
_SHORTHAND = {kind: cls.shorthand for kind, cls in _TRANSFORMS.items() if kind not in _PYTHON_ONLY}
_KNOWN = sorted(kind for kind in KINDS if kind not in _PYTHON_ONLY)


def _refuse_python_only(raw: Any, i: int) -> None:
    for kind in _PYTHON_ONLY:
        if raw == kind or (isinstance(raw, dict) and kind in raw):
            raise ValueError(
                f"steps[{i}]: {kind} takes a Python function; it exists only in the Python API "
                "(litellm_mixture.run)"
            )


def _transform(kind: str, value: Any, rest: dict[str, Any], i: int) -> dict[str, Any]:
    """``{dropout: 0.2}``, ``{dropout: {rate: 0.2}}`` or ``{shuffle: null}`` (or ``{}``)."""
    if isinstance(value, dict):
        return {"kind": kind, **value, **rest}
    field = _SHORTHAND[kind]
    if value is None or field is None:
        if value not in (None, {}):
            raise ValueError(f"steps[{i}]: {kind} takes a mapping of settings, got {value!r}")
        return {"kind": kind, **rest}
    return {"kind": kind, field: value, **rest}


def _step_from_mapping(raw: Any, i: int) -> Any:
    """``{propose: [a, b], temperature: 0.7}`` or ``{kind: propose, members: [a, b]}``."""
    if isinstance(raw, BaseModel):
        return raw  # a step built in Python
    _refuse_python_only(raw, i)
    if isinstance(raw, str) and raw in _SHORTHAND:
        return {"kind": raw}  # - shuffle
    if not isinstance(raw, dict):
        hint = did_you_mean(raw, _KNOWN) if isinstance(raw, str) else ""
        raise ValueError(
            f"steps[{i}]: expected a mapping such as {{propose: [model, ...]}}"
            + (f" or a transform's name; {hint}" if hint else "")
        )
    if "kind" in raw:
        return raw
    kinds = [k for k in raw if k in _KNOWN]
    if len(kinds) != 1:
        hints = [h for k in raw if k not in _KNOWN and (h := did_you_mean(str(k), _KNOWN))]
        raise ValueError(
            f"steps[{i}]: name exactly one step kind out of {_KNOWN}, "
            f"got keys {sorted(map(str, raw))}" + (f"; {hints[0]}" if hints else "")
        )
    kind = kinds[0]
    rest = {k: v for k, v in raw.items() if k != kind}
    if kind in _SHORTHAND:
        return _transform(kind, raw[kind], rest, i)
    return {"kind": kind, "members": raw[kind], **rest}


def _from_steps(doc: dict[str, Any]) -> Pipeline:
    raw_steps = doc.get("steps")
    if not isinstance(raw_steps, (list, tuple)):
        raise ValueError("steps: expected a list of steps")
    return Pipeline.model_validate(
        {**doc, "steps": [_step_from_mapping(s, i) for i, s in enumerate(raw_steps)]}
    )


def _from_document(doc: Any) -> Pipeline:
    if isinstance(doc, Pipeline):
        return doc
    if not isinstance(doc, dict):
        raise ValueError(
            f"expected a mapping with 'layers' (mixtcha) or 'steps', got {type(doc).__name__}"
        )
    if "layers" in doc and "steps" in doc:
        raise ValueError("give either 'layers' (mixtcha) or 'steps', not both")
    if "layers" in doc:
        return from_mixtcha(doc)
    if "steps" in doc:
        return _from_steps(doc)
    raise ValueError(
        f"a mixture document needs 'layers' (mixtcha) or 'steps'; got keys {sorted(map(str, doc))}"
    )


def pipeline_from_document(doc: Any, *, spec: str = "", where: str = "") -> Pipeline:
    """Validate a decoded YAML/JSON document in either dialect."""
    try:
        return _from_document(doc)
    except ValueError as e:  # pydantic's ValidationError included
        raise spec_error(describe(e), spec=spec, where=where) from None


def to_document(pipeline: Pipeline) -> dict[str, Any]:
    """The pipeline as a steps-dialect document, defaults left out (what ``encode`` writes)."""
    dumped = pipeline.model_dump(mode="json", exclude_defaults=True)
    steps = []
    for step, raw in zip(pipeline.steps, dumped["steps"], strict=True):
        raw.pop("kind", None)
        if not step.members:  # a transform: {dropout: {rate: 0.2}}
            steps.append({step.kind: raw})
            continue
        members = [
            m.model if m == Member(m.model) else m.model_dump(mode="json", exclude_defaults=True)
            for m in step.members
        ]
        raw.pop("members", None)
        steps.append({step.kind: members, **raw})
    return {**dumped, "steps": steps}

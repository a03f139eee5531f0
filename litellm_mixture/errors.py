"""The exception hierarchy.

Every error is also one of litellm's typed exceptions, so LiteLLM, its proxy (which maps them to
HTTP statuses) and clients such as aider (which retry some and not others) treat a mixture's
failures exactly as they treat a single model's.

Refused before any member call (``litellm.BadRequestError``, HTTP 400 through the proxy)::

    MixtureError
    ├── SpecError                 the text after mixture/ is no valid pipeline
    │   └── policy.PolicyError    a client spec broke one of the operator's rules
    ├── RefusedFieldError         a request field would route the call elsewhere
    ├── ParamError                a request param has the wrong type or range
    └── BudgetError               the worst case costs more than max_cost, or is unbounded

Refused by the run before a member call (the step's failure, as below): ``NotStarted`` (the
call could pass ``max_cost``), ``ContextOverflowError`` (its prompt cannot fit the model's
context window, a ``litellm.ContextWindowExceededError``).

Raised by a run whose members failed (``quorum_error``, ``deadline_error``)::

    MixtureError
    └── _MembersFailed
        ├── MembersRateLimitedError   litellm.RateLimitError
        ├── MembersTimedOutError      litellm.Timeout
        ├── MembersOverBudgetError    litellm.BadRequestError (max_cost reached mid-run)
        ├── MembersContextWindowError litellm.ContextWindowExceededError (a prompt too long)
        ├── MembersRejectedError      litellm.BadRequestError
        ├── MembersAuthError          litellm.AuthenticationError
        ├── MembersPermissionError    PermissionDeniedError
        ├── MembersNotFoundError      litellm.NotFoundError
        └── MembersFailedError        litellm.ServiceUnavailableError
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx
import litellm

# Not exported by litellm 1.81 at the top level.
from litellm.exceptions import PermissionDeniedError

from .common.redaction import redact
from .common.retry import retry_after

PROVIDER = "mixture"


class MixtureError(Exception):
    """Base class of every error raised by litellm-mixture."""


class _Refused(MixtureError, litellm.BadRequestError):
    """One of our 400s: litellm's fields set, the model name it echoes bounded."""

    def __init__(self, message: str, model: str) -> None:
        litellm.BadRequestError.__init__(
            self, message=message, model=model[:200], llm_provider=PROVIDER
        )


class SpecError(_Refused):
    """The text after ``mixture/`` is not a valid pipeline."""

    def __init__(self, message: str, *, spec: str = "", where: str = "") -> None:
        place = f" ({where})" if where else ""
        super().__init__(f"Invalid mixture spec{place}: {message}", spec)


class RefusedFieldError(_Refused):
    """A request for a mixture carried a field that would route or authenticate it elsewhere
    (``custom_llm_provider``, ``api_base``, ``api_key``, ...). Refused before any call."""

    def __init__(self, field: str, model: str) -> None:
        self.field = field
        super().__init__(
            f"the request field {field!r} is not allowed for a mixture: it changes where or "
            "how the call is routed or authenticated. A mixture's members, endpoints and "
            "keys come from its spec and the proxy's model_list",
            model,
        )


class ParamError(_Refused):
    """A request param has the wrong type or is out of range. No member was called."""

    def __init__(self, problems: list[str], *, model: str = "") -> None:
        super().__init__(f"Invalid request params for a mixture: {'; '.join(problems)}", model)


class BudgetError(_Refused):
    """The run's worst case costs more than its ``max_cost`` (the request's, the spec's or the
    policy's, the lowest), or cannot be bounded (a model with no price or no output limit).
    No member was called. ``estimate`` is the estimate (``estimates.Estimate``)."""

    def __init__(self, max_cost: float, source: str, estimate: Any) -> None:
        self.max_cost, self.source, self.estimate = max_cost, source, estimate
        missing = [*estimate.unpriced, *estimate.unbounded]
        why = (
            f"the worst case cannot be bounded (no price or no output limit for "
            f"{', '.join(missing)})"
            if missing
            else f"the worst case ${estimate.worst:.6f} exceeds it"
        )
        if missing:
            why += (
                ". A model litellm has no price or output limit for (a local one) needs them "
                f"registered, a zero price included: litellm.register_model({{{missing[0]!r}: "
                "{'input_cost_per_token': 0, 'output_cost_per_token': 0, 'max_output_tokens': "
                "N}}) (docs/local-models.md)"
            )
        super().__init__(
            f"refused by max_cost=${max_cost:g}, {source}: {why}. Estimate: {estimate.summary()}",
            estimate.model,
        )


@dataclass(frozen=True)
class MemberFailure:
    """One member call that did not produce a usable answer."""

    step: int
    model: str
    error: BaseException
    # Cancelled by the mixture itself (a quorum out of reach, a straggler past the grace, the
    # deadline), not a failure of the member's own: it does not decide the error's type.
    cut: bool = False

    @property
    def reason(self) -> str:
        text = " ".join((getattr(self.error, "message", None) or str(self.error)).split())
        reason = f"{type(self.error).__name__}: {redact(text or type(self.error).__name__)[:300]}"
        return reason + _cause(self.error, text)


def describe_failures(failures: list[MemberFailure]) -> str:
    """Each distinct reason once, with the members that failed for it: a missing key shared by
    sixteen calls is said once, not sixteen times."""
    groups: dict[tuple[int, str], list[str]] = {}
    for failure in failures:
        groups.setdefault((failure.step, failure.reason), []).append(failure.model)
    lines = []
    for (step, reason), models in groups.items():
        counts = {m: models.count(m) for m in models}
        names = ", ".join(m if n == 1 else f"{m}*{n}" for m, n in counts.items())
        who = f"member {names}" if len(models) == 1 else f"members {names}"
        lines.append(f"step {step + 1} {who} -> {reason}")  # counted from 1, as everywhere
    return "; ".join(lines)


def describe(error: BaseException) -> str:
    """``Type: text`` of a member's error, and its cause (see :func:`_cause`), redacted."""
    text = " ".join(str(error).split())
    return redact(f"{type(error).__name__}: {text}") + _cause(error, text)


# The type prefixes litellm and the SDKs put before a message ("litellm.X: X: YException - ").
_PREFIXES = re.compile(r"^(?:(?:litellm\.)?\w+(?:Error|Exception)(?::| -)\s*)+")


def _core(text: str) -> str:
    """The start of what ``text`` says, without its type prefixes: a cause that says it too is
    the same error, re-typed (a missing key litellm raised as a server error), not a new fact."""
    return _PREFIXES.sub("", text)[:60]


def _cause(error: BaseException, text: str) -> str:
    """`` (cause: ...)`` naming the first error under ``error`` that says what ``text`` does not.

    openai 3.x reports a dropped connection as "Connection error.", with what happened (the
    server disconnected, the stream was cut short) only in the exceptions it chains. Those are
    walked as a traceback shows them: the explicit cause, litellm's ``original_exception``, or an
    unsuppressed context.
    """
    seen, current = {id(error)}, error
    for _ in range(8):
        under = current.__cause__ or getattr(current, "original_exception", None)
        if under is None and not current.__suppress_context__:
            under = current.__context__
        if not isinstance(under, BaseException) or id(under) in seen:
            return ""
        seen.add(id(under))
        said = " ".join(str(under).split())
        if said and said not in text and _core(text) not in said:
            return f" (cause: {type(under).__name__}: {redact(said)[:200]})"
        current = under
    return ""


class _MembersFailed(MixtureError):
    failures: tuple[MemberFailure, ...] = ()
    retry_after: float | None = None  # the longest Retry-After among rate-limited members
    deadline: bool = False  # raised because the request's deadline passed
    litellm_response_headers: dict[str, str]

    if TYPE_CHECKING:
        # Every concrete subclass is also one of litellm's exceptions: its keyword constructor.
        def __init__(self, *, message: str, model: str, llm_provider: str, **more: Any) -> None: ...


class MembersRateLimitedError(_MembersFailed, litellm.RateLimitError):
    """Every failed member was rate limited."""


class MembersTimedOutError(_MembersFailed, litellm.Timeout):
    """Every failed member timed out."""


class NotStarted(_Refused):
    """A member call the run did not start: it could have taken the run past its ``max_cost``
    (spent so far, plus what the calls in flight may still cost, plus its own worst case)."""


class MembersOverBudgetError(_MembersFailed, litellm.BadRequestError):
    """The members a step needed were not started: the run's ``max_cost`` was reached."""


class MembersRejectedError(_MembersFailed, litellm.BadRequestError):
    """Every failed member rejected its request as invalid."""


class MembersContextWindowError(_MembersFailed, litellm.ContextWindowExceededError):
    """Every failed member was sent more than its context window holds: the same request fails
    the same way, and litellm's context-window fallbacks (and aider) react to this type."""


class StoppedEmptyError(_Refused):
    """The final answer was empty because the caller's own ``stop`` ended it before any text:
    asking again with the same ``stop`` gets the same empty answer."""

    def __init__(self, stop: Any, model: str) -> None:
        self.stop = stop
        super().__init__(
            f"the aggregator's answer is empty: the request's stop={stop!r} ended it before any "
            "text. Change or drop stop",
            model,
        )


class ContextOverflowError(MixtureError, litellm.ContextWindowExceededError):
    """A call's prompt and ``max_tokens`` would not fit its model's context window: found
    before the call (the model's ``max_input_tokens``, by litellm's model info)."""

    def __init__(self, message: str, model: str) -> None:
        litellm.ContextWindowExceededError.__init__(
            self, message=message, model=model[:200], llm_provider=PROVIDER
        )


class MembersAuthError(_MembersFailed, litellm.AuthenticationError):
    """Every failed member had no credentials, or had them refused or not permitted."""


class MembersPermissionError(_MembersFailed, PermissionDeniedError):
    """Every failed member was denied permission (HTTP 403)."""


class MembersNotFoundError(_MembersFailed, litellm.NotFoundError):
    """Every failed member named a model its provider does not serve."""


class MembersFailedError(_MembersFailed, litellm.ServiceUnavailableError):
    """Members failed for mixed or upstream reasons."""


# The first litellm type every failure is an instance of decides the error raised.
_BY_CAUSE: tuple[
    tuple[type[BaseException] | tuple[type[BaseException], ...], type[_MembersFailed]], ...
] = (
    (litellm.RateLimitError, MembersRateLimitedError),
    (litellm.Timeout, MembersTimedOutError),
    (PermissionDeniedError, MembersPermissionError),
    ((litellm.AuthenticationError, PermissionDeniedError), MembersAuthError),
    (litellm.NotFoundError, MembersNotFoundError),
    (NotStarted, MembersOverBudgetError),
    (litellm.ContextWindowExceededError, MembersContextWindowError),
    (litellm.BadRequestError, MembersRejectedError),
)


def quorum_error(
    step: int, needed: int, succeeded: int, failures: list[MemberFailure], model: str
) -> _MembersFailed:
    """The typed error for a step whose members fell short of its quorum."""
    cls: type[_MembersFailed] = MembersFailedError
    causes = [f for f in failures if not f.cut]
    for cause, candidate in _BY_CAUSE:
        if causes and all(isinstance(f.error, cause) for f in causes):
            cls = candidate
            break
    message = (
        f"mixture step {step + 1}: {succeeded} of {needed} required member answers "
        f"({len(failures)} failed): {describe_failures(failures)}"
    )
    waits = [w for w in (retry_after(f.error) for f in failures) if w is not None]
    if cls is MembersRateLimitedError and waits:
        message += f"; retry after {max(waits):g}s"
    return _typed(cls, message, model, failures, max(waits) if waits else None)


def deadline_error(
    seconds: float, running: list[MemberFailure], model: str, bound: str = "deadline"
) -> _MembersFailed:
    """The request's deadline (or the caller's timeout, ``bound``) passed: a Timeout naming
    every member call it cut."""
    lines = "; ".join(f"step {f.step + 1} member {f.model}" for f in running) or "none"
    message = f"mixture {bound} of {seconds:g}s passed; member calls cut: {lines}"
    err = _typed(MembersTimedOutError, message, model, running, None)
    err.deadline = True
    return err


def _typed(
    cls: type[_MembersFailed],
    message: str,
    model: str,
    failures: list[MemberFailure],
    wait: float | None,
) -> _MembersFailed:
    # litellm's exception constructors differ in positional order; keywords fit them all.
    extra = {"response": _FORBIDDEN} if issubclass(cls, PermissionDeniedError) else {}
    err = cls(message=message, model=model[:200], llm_provider=PROVIDER, **extra)
    err.failures = tuple(failures)
    err.retry_after = wait
    if wait is not None:
        # Where litellm (and a mixture nesting this one) look for a provider's Retry-After.
        err.litellm_response_headers = {"retry-after": f"{wait:g}"}
    return err


# PermissionDeniedError insists on an HTTP response: the status it reports.
_FORBIDDEN = httpx.Response(403, request=httpx.Request("POST", "http://mixture.invalid"))

# What a provider's SDK says, before any request is made, when it has no key. litellm types
# some of these as a server or a connection error (the OpenAI SDK 2.x wording, Gemini's),
# which would be retried as if another attempt could help.
_NO_KEY = re.compile(
    r"missing credentials|missing [\w .-]{0,40}\bapi[ _-]?key|api_key client option must be set",
    re.IGNORECASE,
)


def as_auth(error: Exception) -> Exception:
    """``error``, or the AuthenticationError (PermissionDeniedError) it is: a missing key said in
    words, or a 401 (403) that litellm typed as something else (a bare ``APIError``)."""
    if isinstance(error, (litellm.AuthenticationError, PermissionDeniedError)):
        return error
    status = getattr(error, "status_code", None)
    text = getattr(error, "message", None) or str(error)
    found = _NO_KEY.search(text)
    where: dict[str, Any] = {
        "llm_provider": getattr(error, "llm_provider", None) or "",
        "model": getattr(error, "model", None) or "",
    }
    if status == 403:
        return PermissionDeniedError(message=text, response=_FORBIDDEN, **where)
    if status == 401 or found is not None:
        return litellm.AuthenticationError(
            message=text[found.start() :] if found else text, **where
        )
    return error


class OneLineRefusals(logging.Filter):
    """The proxy logs every failed request with its traceback: a request our checks refused
    before any member call (a bad spec, a param, a policy rule; a 400 the client caused) is
    one line, its message, not forty lines of the proxy's own frames."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        for _ in range(4):  # the proxy may wrap ours (ProxyException, HTTPException)
            if error is None or isinstance(error, _Refused):
                break
            error = error.__cause__ or error.__context__
        if isinstance(error, _Refused):
            record.exc_info, record.exc_text = None, None
            record.__dict__.pop("stacktrace", None)
        return True


# The one instance ``_litellm.patches`` puts on the proxy's logger.
ONE_LINE_REFUSALS = OneLineRefusals()

"""The package's mutable module state lives on state.STATE, and state.reset() forgets it."""

import ast
from pathlib import Path

from litellm_mixture import Policy, set_policy
from litellm_mixture.common import redaction, state
from litellm_mixture.common.state import STATE
from litellm_mixture.observe import metrics
from litellm_mixture.trust import policy

PACKAGE = Path(__file__).resolve().parent.parent / "litellm_mixture"
# Module-level containers that are no state to reset: tasks held until they finish (cost.py),
# weak references to open spans (telemetry.py).
NOT_STATE = {"cost.py": {"_logging"}, "telemetry.py": {"_OPEN"}}


def _empty(value: ast.expr | None) -> bool:
    """``{}``, ``[]``, ``set()``, ``dict()``...: a container made at import to be filled later
    (a table of constants is written out instead)."""
    if isinstance(value, (ast.Dict, ast.List, ast.Set)):
        return not (value.keys if isinstance(value, ast.Dict) else value.elts)
    return (
        isinstance(value, ast.Call)
        and not value.args
        and getattr(value.func, "id", "")
        in {
            "dict",
            "list",
            "set",
            "WeakValueDictionary",
            "WeakKeyDictionary",
        }
    )


def _kept_by_module(path: Path) -> list[str]:
    """A module's ``global`` statements and the empty containers it makes at import."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = [f"global {', '.join(n.names)}" for n in ast.walk(tree) if isinstance(n, ast.Global)]
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else [getattr(node, "target", None)]
        if _empty(getattr(node, "value", None)):
            found += [t.id for t in targets if isinstance(t, ast.Name)]
    return [f for f in found if f not in NOT_STATE.get(path.name, set())]


def test_no_module_keeps_mutable_state_of_its_own():
    kept = {}
    for path in PACKAGE.rglob("*.py"):
        if path.name != "state.py" and (names := _kept_by_module(path)):
            kept[path.relative_to(PACKAGE).as_posix()] = names
    assert not kept, f"module state outside state.STATE: {kept}"


def test_reset_forgets_what_the_process_accumulated():
    set_policy(Policy(max_calls=3))
    redaction.register(["mk_0123456789abcdef"])
    metrics.label("mixture/openai/a>openai/b")
    assert policy.enforced() is not None and STATE.secrets and STATE.hashed
    loop = STATE.loop
    state.reset()
    assert policy.enforced() is None  # read from the environment again: none set
    assert redaction.redact("mk_0123456789abcdef") == "mk_0123456789abcdef"
    assert STATE.hashed == {} and STATE.fetched == {} and len(STATE.accepted) == 0
    assert STATE.loop is loop  # the background loop lives for the process

"""The docs cannot drift from the code: architecture.md's table names every module."""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "litellm_mixture"


def test_the_architecture_table_names_every_module():
    table = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    modules = sorted(p.relative_to(PACKAGE).as_posix() for p in PACKAGE.rglob("*.py"))
    missing = [m for m in modules if f"`{m}`" not in table]
    assert not missing, f"docs/architecture.md's table does not name: {missing}"

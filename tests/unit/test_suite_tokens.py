"""Tokens in tests are minted when used: they live 15 minutes and a full suite runs longer.

A token minted at import passes when its file runs alone and fails in CI once the suite has
been going for a quarter of an hour, which is how it was found.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MINTING = {"staff", "mint", "bearer"}


def minted_at_import(path: Path, root: Path = ROOT) -> list[str]:
    """Module-level assignments whose value calls a token-minting helper."""
    found = []
    for node in ast.parse(path.read_text()).body:
        if not isinstance(node, ast.Assign | ast.AnnAssign) or node.value is None:
            continue
        for call in ast.walk(node.value):
            if (
                isinstance(call, ast.Call)
                and isinstance(call.func, ast.Name)
                and call.func.id in MINTING
            ):
                found.append(f"{path.relative_to(root)}:{node.lineno} calls {call.func.id}()")
    return found


def test_no_test_module_mints_a_token_at_import() -> None:
    offenders = [hit for path in (ROOT / "tests").rglob("*.py") for hit in minted_at_import(path)]
    assert offenders == []


def test_the_check_finds_a_token_minted_at_import(tmp_path: Path) -> None:
    module = tmp_path / "test_probe.py"
    module.write_text('ANALYST = staff("dhsc_analyst")\n\n\ndef fresh() -> None:\n    staff("x")\n')
    assert minted_at_import(module, tmp_path) == ["test_probe.py:1 calls staff()"]

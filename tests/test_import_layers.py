"""Imports point down the layers of DESIGN.md's "Layers" section (checked on the source, fast)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: What each low layer may import from the project (itself always).
ALLOWED = {
    "base": set(),
    "sampling": set(),
    "curves": {"base"},
    "datasets": {"base"},
    "optimizers": {"base", "sampling", "curves"},
    "tasks": {"base", "sampling", "curves", "datasets", "optimizers"},
    "training": {"base", "tasks", "optimizers"},
    "suite": {"base", "curves", "optimizers"},
}


def _layer(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] == "hparam_lists":
        return "hparam_lists"
    return parts[1] if parts[0] == "taskset_torch" and len(parts) > 1 else None


def _imports(path: Path) -> set[str]:
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
    return out


def _files(layer: str) -> list[Path]:
    pkg = ROOT / "taskset_torch" / layer
    return sorted(pkg.rglob("*.py")) if pkg.is_dir() else [pkg.with_suffix(".py")]


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_low_layers_import_only_below_them(layer):
    bad = [
        f"{path.relative_to(ROOT)} imports {module}"
        for path in _files(layer)
        for module in _imports(path)
        if _layer(module) not in (None, layer, *ALLOWED[layer])
    ]
    assert not bad, bad


def test_only_the_cli_imports_hparam_lists():
    bad = [
        f"{path.relative_to(ROOT)} imports {module}"
        for path in (ROOT / "taskset_torch").rglob("*.py")
        if "cli" not in path.relative_to(ROOT / "taskset_torch").parts[0]
        for module in _imports(path)
        if _layer(module) == "hparam_lists"
    ]
    assert not bad, bad

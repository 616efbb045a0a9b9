"""The architecture holds: the import-linter contracts in ``pyproject.toml`` (layers, no
cycles) and the type checker (mypy, strict, on the package). Both run as the tools run on a
developer's machine, in a subprocess, from the repository root."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)


def test_import_contracts_are_kept() -> None:
    """Layers (tools → http → scenario → fuzz → wire → state → core → errors) and no cycles."""
    lint_imports = shutil.which("lint-imports", path=str(Path(sys.executable).parent)) or shutil.which("lint-imports")
    if lint_imports is None:
        pytest.fail("lint-imports is not installed: pip install -e '.[test]'")
    result = _run(lint_imports, "--no-cache")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_the_package_type_checks_strictly() -> None:
    result = _run(sys.executable, "-m", "mypy", "mockrouter")
    assert result.returncode == 0, result.stdout + result.stderr


def test_no_blanket_type_ignores() -> None:
    """A ``# type: ignore`` must name the error it silences (``# type: ignore[code]``)."""
    blanket = [
        f"{path.relative_to(ROOT)}:{n}"
        for path in sorted((ROOT / "mockrouter").rglob("*.py"))
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if "# type: ignore" in line and "# type: ignore[" not in line
    ]
    assert blanket == []


def test_no_private_names_across_modules() -> None:
    """A name with a leading underscore is private to its module. Only a package's own private
    modules (``fuzz/_blocks.py``) share such names, among themselves."""
    import ast

    crossings = []
    for path in sorted((ROOT / "mockrouter").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.ImportFrom) or node.module is None:
                continue
            source = node.module.rsplit(".", 1)[-1]
            for alias in node.names:
                private = alias.name.startswith("_") and not alias.name.startswith("__")
                if private and not (source.startswith("_") and node.level == 1):
                    crossings.append(f"{path.relative_to(ROOT)}: from {node.module} import {alias.name}")
    assert crossings == []

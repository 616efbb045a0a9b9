"""Where the shipped data lives: ``schemas/`` and ``scenarios/``.

In a wheel both folders sit inside the package (``mockrouter/schemas``); in a source checkout
or an editable install they sit beside it at the top of the repository.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent.parent


def _shipped(name: str) -> Path:
    inside = _PACKAGE / name
    if inside.is_dir():
        return inside
    return _PACKAGE.parent / name


def schemas_dir() -> Path:
    """The folder of JSON Schemas."""
    return _shipped("schemas")


def scenarios_dir() -> Path:
    """The folder of built-in scenarios."""
    return _shipped("scenarios")


def data_dir() -> Path:
    """Package data that is not public contract (the model catalog)."""
    return _PACKAGE / "data"

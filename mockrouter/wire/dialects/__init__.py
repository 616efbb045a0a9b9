"""Dialects: how each router spells the same answers on the wire. See ``base.Dialect``."""

from __future__ import annotations

from .anyrouter import AnyRouter
from .base import Dialect
from .openrouter import OpenRouter

#: Every dialect class by name. A new dialect is one module plus one entry here.
DIALECTS: dict[str, type[Dialect]] = {d.name: d for d in (AnyRouter, OpenRouter)}

__all__ = ["DIALECTS", "Dialect"]

"""mockrouter: a local, scriptable, schema-faithful mock of an OpenRouter-style LLM router.

The public names below are imported on first use, so that loading the pytest plugin (which
imports this package) stays cheap for test sessions that never ask for a server.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "BackgroundServer": "http.server",
    "Config": "core.config",
    "ConfigError": "errors",
    "MockrouterApp": "http.app",
    "MockrouterError": "errors",
    "ScenarioError": "errors",
    "ScenarioErrors": "errors",
    "TemplateError": "errors",
    "create_app": "http.app",
}

__all__ = [
    "BackgroundServer",
    "Config",
    "ConfigError",
    "MockrouterApp",
    "MockrouterError",
    "ScenarioError",
    "ScenarioErrors",
    "TemplateError",
    "__version__",
    "create_app",
]

if TYPE_CHECKING:
    from .core.config import Config
    from .errors import ConfigError, MockrouterError, ScenarioError, ScenarioErrors, TemplateError
    from .http.app import MockrouterApp, create_app
    from .http.server import BackgroundServer


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'mockrouter' has no attribute {name!r}")
    return getattr(import_module(f".{module}", __name__), name)

"""mockrouter: a local, scriptable, schema-faithful mock of an OpenRouter-style LLM router."""

from __future__ import annotations

__version__ = "0.1.0"

from .app import MockrouterApp, create_app
from .config import Config
from .errors import ConfigError, MockrouterError, ScenarioError, ScenarioErrors, TemplateError

__all__ = [
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

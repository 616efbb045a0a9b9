"""The scenario engine: load (``loader``), match (``matcher``), select (``engine``) and render
(``render``) scripted answers. Nothing in this package knows about a dialect's wire format.
"""

from .engine import Engine, Selection
from .loader import load_builtin, load_path, load_text
from .model import Scenario, Step

__all__ = ["Engine", "Scenario", "Selection", "Step", "load_builtin", "load_path", "load_text"]

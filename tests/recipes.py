"""Read the runnable snippets out of the docs, so the tests run exactly what users copy.

A snippet is the first fenced code block after a ``<!-- recipe: NAME -->`` line in a Markdown
file. The docs use ``http://127.0.0.1:8080`` as the server address; ``for_server`` swaps in a
test server's address and changes nothing else.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCS_ADDRESS = "http://127.0.0.1:8080"

_RECIPE = re.compile(r"<!-- recipe: ([\w.-]+) -->\s*\n```(\w*)\n(.*?)\n```", re.DOTALL)


@dataclass(frozen=True)
class Recipe:
    name: str
    language: str
    code: str
    source: Path

    def for_server(self, url: str) -> str:
        """The snippet with the docs' address replaced by ``url`` (e.g. ``server.url``)."""
        return self.code.replace(DOCS_ADDRESS, url.rstrip("/"))


def recipes(path: Path = README) -> dict[str, Recipe]:
    """Every recipe in ``path`` by name; a name used twice is an error in the docs."""
    found: dict[str, Recipe] = {}
    for match in _RECIPE.finditer(path.read_text(encoding="utf-8")):
        name, language, code = match.groups()
        if name in found:
            raise ValueError(f"{path.name}: recipe {name!r} appears twice")
        found[name] = Recipe(name, language, code, path)
    return found


def recipe(name: str, path: Path = README) -> Recipe:
    """One recipe by name; a missing one fails with the names that exist."""
    found = recipes(path)
    if name not in found:
        raise KeyError(f"{path.name} has no recipe {name!r}; it has {sorted(found)}")
    return found[name]

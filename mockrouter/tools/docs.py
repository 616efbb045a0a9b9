"""The scenario reference (``docs/scenarios.md``), generated from ``schemas/scenario.schema.json``.

Every object of the schema (the top level, each ``$defs`` entry, inline objects) becomes a
section, every property a field with its type, allowed values, default, description and
examples. The examples live in the schema (``examples`` on each property and object); each is
shown in the context of its parent object, and :func:`examples` lifts it into a whole scenario
document, which the test suite loads with the real loader.

Regenerate with ``python -m mockrouter.tools.docs`` (from the repository root).
"""

from __future__ import annotations

import copy
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import yaml

from ..core.resources import schemas_dir

DOC = Path("docs/scenarios.md")
SCHEMA_LINK = "../schemas/scenario.schema.json"


@dataclass
class Section:
    """One object of the schema: its fields and how to reach it from the top level."""

    name: str
    node: dict[str, Any]
    #: The parent object, the property of it that leads here, and whether through a list.
    parent: Section | None = None
    via: str = ""
    as_item: bool = False
    paths: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Example:
    """One example value of a field (or of a whole object), and the scenario that holds it."""

    where: str  # "steps[].fault.kind", or "steps[].fault" for an object example
    value: Any
    snippet: Any  # the value in its parent object (what the docs show)
    scenario: dict[str, Any]  # a whole scenario document around it (what the tests load)


def load_schema() -> dict[str, Any]:
    schema: dict[str, Any] = orjson.loads((schemas_dir() / "scenario.schema.json").read_bytes())
    return schema


def _resolve(schema: dict[str, Any], node: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
    """Follow a local ``$ref``; return the target and its ``$defs`` name (None if no ref)."""
    ref = node.get("$ref")
    if not isinstance(ref, str):
        return node, None
    name = ref.removeprefix("#/$defs/")
    return schema["$defs"][name], name


def property_info(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    """A property's annotations: its own, else those of the ``$ref`` target."""
    target, _ = _resolve(schema, node)
    return {**target, **{k: v for k, v in node.items() if k != "$ref"}}


def sections(schema: dict[str, Any]) -> list[Section]:
    """Every object with ``properties``, depth first from the top level; a ``$defs`` object
    reached twice is one section with both paths."""
    found: dict[int, Section] = {}
    order: list[Section] = []

    def visit(node: dict[str, Any], name: str, path: str, parent: Section | None, via: str, item: bool) -> None:
        node, ref = _resolve(schema, node)
        if ref is not None:
            name = ref
        if "properties" in node:
            known = found.get(id(node))
            if known is not None:
                known.paths.append(path)
                return
            section = Section(name, node, parent, via, item, [path])
            found[id(node)] = section
            order.append(section)
            for prop, sub in node["properties"].items():
                visit(
                    sub, f"{name}.{prop}" if parent else prop, f"{path}.{prop}" if path else prop, section, prop, False
                )
            return
        if node.get("type") == "array" and isinstance(node.get("items"), dict):
            visit(node["items"], name, f"{path}[]", parent, via, True)
        for branch in node.get("oneOf", []) + node.get("anyOf", []):
            visit(branch, name, path, parent, via, item)

    visit(schema, "scenario", "", None, "", False)
    return order


# -- examples in context -------------------------------------------------------------------


def _container(section: Section, prop: str) -> dict[str, Any]:
    """The first example of ``section`` that uses ``prop`` (the context a value is shown in)."""
    candidate: dict[str, Any]
    for candidate in section.node.get("examples", []):
        if prop in candidate:
            return candidate
    raise ValueError(f"no example of {section.name!r} uses {prop!r}: add one to the schema")


def _lift(section: Section, value: dict[str, Any]) -> dict[str, Any]:
    """An object of ``section`` placed in its parents' examples, up to a whole scenario."""
    while section.parent is not None:
        wrapped: Any = [value] if section.as_item else value
        value = {**_container(section.parent, section.via), section.via: copy.deepcopy(wrapped)}
        section = section.parent
    return value


def _in_parent(section: Section, value: dict[str, Any]) -> Any:
    """How the docs show an object of ``section``: under the key it is reached by."""
    if section.parent is None:
        return value
    return {section.via: [value] if section.as_item else value}


def examples(schema: dict[str, Any] | None = None) -> list[Example]:
    """Every example of the schema, each with its snippet and a whole scenario around it.

    Objects' own examples come first; a field's example that yields a scenario already seen
    (a ``$ref`` property showing its target's examples) is not repeated."""
    schema = schema or load_schema()
    found = sections(schema)
    out: list[Example] = []
    seen: set[tuple[str, bytes]] = set()

    def add(example: Example) -> None:
        key = (example.where, orjson.dumps(example.scenario))
        if key not in seen:
            seen.add(key)
            out.append(example)

    for section in found:
        for value in section.node.get("examples", []):
            add(Example(section.paths[0], value, _in_parent(section, value), _lift(section, copy.deepcopy(value))))
    for section in found:
        where = section.paths[0]
        for prop, node in section.node["properties"].items():
            path = f"{where}.{prop}" if where else prop
            for value in property_info(schema, node).get("examples", []):
                obj = {**_container(section, prop), prop: copy.deepcopy(value)}
                snippet = {prop: value} if section.parent is None else _in_parent(section, obj)
                add(Example(path, value, snippet, _lift(section, obj)))
    return out


# -- rendering -----------------------------------------------------------------------------


class _Flow(dict):  # type: ignore[type-arg]
    """A mapping written on one line."""


class _FlowList(list):  # type: ignore[type-arg]
    """A list written on one line."""


class _Dumper(yaml.SafeDumper):
    """Block style with list items indented under their key, as people write scenarios."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        return super().increase_indent(flow, False)


_Dumper.add_representer(_Flow, lambda d, v: d.represent_mapping("tag:yaml.org,2002:map", v, flow_style=True))
_Dumper.add_representer(_FlowList, lambda d, v: d.represent_sequence("tag:yaml.org,2002:seq", v, flow_style=True))

#: A leaf mapping or list longer than this on one line is written in block style.
FLOW_WIDTH = 72


def _styled(data: Any, top: bool = True, item: bool = False) -> Any:
    """Leaf mappings that are values of a key, and leaf lists, on one line when short."""
    if isinstance(data, dict):
        styled = {k: _styled(v, False) for k, v in data.items()}
        leaf = not any(isinstance(v, (dict, list)) for v in data.values())
        if leaf and not top and not item and data and len(_one_line(data)) <= FLOW_WIDTH:
            return _Flow(styled)
        return styled
    if isinstance(data, list):
        styled_list = [_styled(v, False, True) for v in data]
        if not any(isinstance(v, (dict, list)) for v in data) and len(_one_line(data)) <= FLOW_WIDTH:
            return _FlowList(styled_list)
        return styled_list
    return data


def _one_line(data: Any) -> str:
    return yaml.safe_dump(data, default_flow_style=True, width=10_000, allow_unicode=True).strip()


def to_yaml(data: Any) -> str:
    """``data`` as a scenario author writes it."""
    return yaml.dump(_styled(data), Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=10_000).rstrip("\n")


def anchor(title: str) -> str:
    """GitHub's heading anchor."""
    return re.sub(r"[^\w\- ]", "", title.lower()).replace(" ", "-")


def _bounds(node: dict[str, Any]) -> str:
    parts = []
    if "minimum" in node:
        parts.append(f"≥ {node['minimum']}")
    if "exclusiveMinimum" in node:
        parts.append(f"> {node['exclusiveMinimum']}")
    if "maximum" in node:
        parts.append(f"≤ {node['maximum']}")
    return " " + ", ".join(parts) if parts else ""


def type_of(schema: dict[str, Any], node: dict[str, Any], titles: dict[int, str]) -> str:
    """A short human description of what a schema node accepts."""
    node, _ = _resolve(schema, node)
    if id(node) in titles:
        return f"mapping, see [{titles[id(node)]}](#{anchor(titles[id(node)])})"
    if "const" in node:
        return f"`{orjson.dumps(node['const']).decode()}`"
    if "enum" in node:
        return "one of " + ", ".join(f"`{v}`" for v in node["enum"])
    branches = node.get("oneOf") or node.get("anyOf")
    if branches:
        return " or ".join(type_of(schema, b, titles) for b in branches)
    kind = node.get("type")
    if isinstance(kind, list):
        return " or ".join(type_of(schema, {**node, "type": k}, titles) for k in kind)
    if kind == "array":
        least = f" (at least {node['minItems']})" if node.get("minItems", 0) > 1 else ""
        least = " (non-empty)" if node.get("minItems") == 1 else least
        return f"list{least} of {type_of(schema, node['items'], titles)}"
    if kind == "object":
        extra = node.get("additionalProperties")
        if isinstance(extra, dict):
            return f"mapping of string to {type_of(schema, extra, titles)}"
        return "mapping"
    if kind == "string":
        if "pattern" in node:
            return f"string matching `{node['pattern']}`"
        return "non-empty string" if node.get("minLength") == 1 else "string"
    if kind in ("number", "integer"):
        return f"{kind}{_bounds(node)}"
    return str(kind)


#: How to load a file: the section after the complete scenario (its commands are run by
#: tests/test_admin.py and tests/test_pytest_plugin.py).
LOADING = [
    "",
    "## Loading a file",
    "",
    "A file holds one scenario or several YAML documents separated by `---` (a `.json` file: one scenario"
    " object or a list of them). Check it first: `mockrouter check my-scenarios.yaml` lists every problem of"
    " every file at once, each as `file:line: field: message` (syntax errors also show the line with a `^`"
    " under the spot), and exits 1 on any. Then load it in one of three ways:",
    "",
    "- **When the server starts**: `mockrouter serve --scenarios my-scenarios.yaml`. `--scenarios` takes a"
    " file or a folder (every `*.yaml`/`*.yml` below it, in sorted path order) and may be repeated; the"
    " environment variable `MOCKROUTER_SCENARIOS` takes paths separated by `:`. A broken file stops the"
    " server with the location of each problem.",
    "- **Into a running server**, through the admin API (add `?key=RAW_KEY` to the URL to scope the"
    " scenarios to one API key; send a JSON file with `-H 'Content-Type: application/json'`):",
    "",
    "  ```bash",
    "  curl --data-binary @my-scenarios.yaml http://127.0.0.1:8080/__mockrouter/scenarios",
    "  ```",
    "",
    '  It answers 201 `{"added": [names], "key": false}`, or 400 listing every problem with `file`, `line`,'
    " `column`, `field`, `message` and `excerpt` (see the README's admin API).",
    "- **In a pytest test**, with the `mockrouter` fixture (scoped to the test's own API key):"
    ' `mockrouter.add(Path("tests/scenarios/my-scenarios.yaml"))`. A `pathlib.Path` (a file or a folder) or'
    " a `str` with no newline ending in `.yaml`, `.yml` or `.json` is a path, and a missing one raises"
    " `FileNotFoundError`; any other `str` is YAML text. The marker"
    " `@pytest.mark.mockrouter(scenarios=[Path(...)])` does the same for one test.",
]


def render(schema: dict[str, Any] | None = None) -> str:
    """The Markdown of docs/scenarios.md."""
    schema = schema or load_schema()
    found = sections(schema)
    titles = {id(s.node): s.name for s in found}
    by_path: dict[str, list[Example]] = {}
    for example in examples(schema):
        by_path.setdefault(example.where, []).append(example)

    out = [
        "# Scenario reference",
        "",
        "<!-- Generated by `python -m mockrouter.tools.docs` from schemas/scenario.schema.json: edit the schema,"
        " not this file. -->",
        "",
        f"Every field of a scenario file, generated from [`schemas/scenario.schema.json`]({SCHEMA_LINK}): type,"
        " allowed values, default, what it does, and examples. Each example is shown inside its parent object;"
        " the test suite (`tests/test_docs.py`) places every one of them in a whole scenario and loads it with"
        " mockrouter's loader and `mockrouter check`, so none of them can go stale. Check your own files with"
        " `mockrouter check PATH`.",
        "",
        "| Section | Where |",
        "|---|---|",
    ]
    for section in found:
        where = ", ".join(f"`{p}`" for p in section.paths) if section.parent else "the top level of a document"
        out.append(f"| [{section.name}](#{anchor(section.name)}) | {where} |")
    out += ["", "A complete scenario:", "", "```yaml", to_yaml(schema["examples"][0]), "```"]
    out += LOADING

    for section in found:
        out += ["", f"## {section.name}", ""]
        if section.parent is None:
            out.append(schema["description"])
        else:
            description = section.node.get("description") or property_info(
                schema, section.parent.node["properties"][section.via]
            ).get("description", "")
            out.append(description)
            out += ["", "Where: " + ", ".join(f"`{p}`" for p in section.paths) + "."]
        required = set(section.node.get("required", []))
        for prop, node in section.node["properties"].items():
            info = property_info(schema, node)
            path = f"{section.paths[0]}.{prop}" if section.paths[0] else prop
            facts = [type_of(schema, node, titles)]
            facts.append("**required**" if prop in required else "optional")
            if "default" in info:
                facts.append(f"default `{orjson.dumps(info['default']).decode()}`")
            out += ["", f"### `{path}`", "", " · ".join(facts), "", info.get("description", "")]
            for example in by_path.get(path, []):
                out += ["", "```yaml", to_yaml(example.snippet), "```"]
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    """``python -m mockrouter.tools.docs [OUTPUT]``: write the reference (default docs/scenarios.md)."""
    args = sys.argv[1:] if argv is None else argv
    target = Path(args[0]) if args else DOC
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(render(), encoding="utf-8")
    print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Documents with positions: YAML (``safe`` only) or JSON text parsed into data plus the line
of every field, and the errors about them located by file, line and field.

The scenario loader and the keys file both read their files through here, so a problem in
either names file, line and field (a JSON path such as ``steps[1].error.status``) the same way.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import orjson
import yaml

from ..errors import ScenarioError

if TYPE_CHECKING:
    from jsonschema.exceptions import ValidationError

__all__ = [
    "MAX_DOCUMENTS",
    "MAX_NODES",
    "Document",
    "PathKey",
    "describe",
    "documents",
    "documents_until_error",
    "json_documents",
    "json_path",
    "line_of",
]

PathKey = tuple[str | int, ...]

#: Bounds that keep a hostile file from costing more than it is worth.
MAX_DOCUMENTS = 10_000
MAX_NODES = 1_000_000


def json_path(path: Iterable[str | int]) -> str:
    """``('steps', 1, 'error')`` → ``steps[1].error``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


# -- YAML with positions -----------------------------------------------------------------


Document = tuple[Any, dict[PathKey, int], int]
"""One parsed document: its data, the line of each path in it, and the line it starts at."""


def documents(text: str, file: str) -> list[Document]:
    """Parse every YAML document; raise the first syntax error as a :class:`ScenarioError`."""
    docs, error = documents_until_error(text, file)
    if error is not None:
        raise error
    return docs


def documents_until_error(text: str, file: str) -> tuple[list[Document], ScenarioError | None]:
    """Parse YAML documents up to the first one that cannot be read; return those and the
    error (a syntax error with line, column and the offending line), if any."""
    try:
        loader = yaml.SafeLoader(text)
    except yaml.reader.ReaderError as exc:  # a character YAML does not allow (a control character)
        line = text.count("\n", 0, exc.position) + 1
        return [], ScenarioError(f"invalid YAML: {exc.reason} {exc.character!r} (escape it)", file=file, line=line)
    docs: list[Document] = []
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is None:
                continue
            if len(docs) >= MAX_DOCUMENTS:  # a hostile file: this error alone, not one per document
                return [], ScenarioError(
                    f"more than {MAX_DOCUMENTS} documents in one file", file=file, line=node.start_mark.line + 1
                )
            size = _expanded_size(node, {})
            if size > MAX_NODES:
                return docs, ScenarioError(
                    f"document expands to {size} YAML nodes through aliases (limit {MAX_NODES}): an alias bomb?",
                    file=file,
                    line=node.start_mark.line + 1,
                )
            lines: dict[PathKey, int] = {}
            _walk(node, (), lines, set())
            data = loader.construct_document(node)
            docs.append((data, lines, node.start_mark.line + 1))
    except yaml.MarkedYAMLError as exc:
        return docs, _syntax_error(exc, text, file)
    except yaml.YAMLError as exc:
        return docs, ScenarioError(f"invalid YAML: {exc}", file=file)
    except RecursionError:
        return docs, ScenarioError("YAML nested too deeply", file=file)
    finally:
        loader.dispose()
    return docs, None


#: What ends a line for PyYAML (its marks count lines by these).
_YAML_BREAKS = re.compile("\r\n|[\r\n\x85\u2028\u2029]")


def _syntax_error(exc: yaml.MarkedYAMLError, text: str, file: str) -> ScenarioError:
    """Where PyYAML gave up, as line, column and the line itself. When it gave up at the end of
    the file (an unclosed bracket or quote), the spot is the end of the last line with text;
    where the unfinished construct began is said in the message."""
    mark = exc.problem_mark or exc.context_mark
    problem = exc.problem or exc.context or "cannot parse"
    if mark is None:
        return ScenarioError(f"invalid YAML: {problem}", file=file)
    lines = _YAML_BREAKS.split(text)
    line, column = mark.line, mark.column
    while line > 0 and column == 0 and (line >= len(lines) or not lines[line].strip()):
        line -= 1  # a blank line or the end of the file: point after the last text instead
        column = len(lines[line].rstrip())
    message = f"invalid YAML at column {column + 1}: {problem}"
    context = exc.context_mark
    if exc.problem and exc.context and context is not None and (context.line, context.column) != (line, column):
        message += f" ({exc.context} at line {context.line + 1}, column {context.column + 1})"
    source = lines[line] if line < len(lines) else ""
    return ScenarioError(message, file=file, line=line + 1, column=column + 1, source=source)


def _expanded_size(node: yaml.Node, memo: dict[int, int]) -> int:
    """How many nodes the document has once every alias is expanded (linear time, memoised)."""
    known = memo.get(id(node))
    if known is not None:
        return known
    memo[id(node)] = 1  # a recursive alias counts once; PyYAML's safe constructor builds it by reference
    if isinstance(node, yaml.MappingNode):
        size = 1 + sum(_expanded_size(k, memo) + _expanded_size(v, memo) for k, v in node.value)
    elif isinstance(node, yaml.SequenceNode):
        size = 1 + sum(_expanded_size(item, memo) for item in node.value)
    else:
        size = 1
    memo[id(node)] = size
    return size


def _walk(node: yaml.Node, path: PathKey, lines: dict[PathKey, int], seen: set[int]) -> None:
    lines.setdefault(path, node.start_mark.line + 1)
    if id(node) in seen:  # an alias: its structure was walked where it was anchored
        return
    seen.add(id(node))
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else str(key_node.value)
            lines[(*path, key)] = key_node.start_mark.line + 1
            _walk(value_node, (*path, key), lines, seen)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _walk(item, (*path, i), lines, seen)


def line_of(lines: dict[PathKey, int], path: PathKey, default: int) -> int:
    path = tuple(path)
    while path:
        if path in lines:
            return lines[path]
        path = path[:-1]
    return lines.get((), default)


# -- JSON with positions -----------------------------------------------------------------

#: The tokens of (already valid) JSON text: a string, a structural character, a literal or
#: number, or whitespace.
_JSON_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[{}\[\]:,]|[^\s{}\[\]:,"]+|\s+')


def _json_lines(text: str) -> dict[PathKey, int]:
    """The line of every path of a JSON text (a key's line for an object member), as
    :func:`_walk` gives for YAML. ``text`` must be valid JSON; no recursion, so depth is free."""
    lines: dict[PathKey, int] = {}
    line = 1
    # per open container: [its path, key or index of the member being read, expecting a key?]
    stack: list[list[Any]] = []
    for match in _JSON_TOKEN.finditer(text):
        token = match.group()
        first = token[0]
        if first.isspace():
            line += token.count("\n")
            continue
        top = stack[-1] if stack else None
        if first == ",":
            if top is not None:
                top[1], top[2] = (top[1] + 1, False) if isinstance(top[1], int) else (top[1], True)
            continue
        if first == ":":
            continue
        if first in "}]":
            stack.pop()
            continue
        if top is not None and top[2]:  # an object's key
            top[1], top[2] = orjson.loads(token), False
            lines[(*top[0], top[1])] = line
            continue
        path: PathKey = () if top is None else (*top[0], top[1])
        lines.setdefault(path, line)
        if first == "{":
            stack.append([path, None, True])
        elif first == "[":
            stack.append([path, 0, False])
    return lines


def json_documents(raw: bytes, file: str) -> tuple[list[Document], ScenarioError | None]:
    """A JSON scenario object, or a list of them, as documents with the lines of the JSON text."""
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        text = raw.decode("utf-8", errors="replace")
        text_lines = text.split("\n")
        source = text_lines[exc.lineno - 1] if 0 < exc.lineno <= len(text_lines) else None
        message = f"invalid JSON at column {exc.colno}: {exc.msg}"
        return [], ScenarioError(message, file=file, line=exc.lineno, column=exc.colno, source=source)
    lines = _json_lines(raw.decode("utf-8"))
    if not isinstance(data, list):
        return [(data, lines, lines.get((), 1))], None
    if len(data) > MAX_DOCUMENTS:
        return [], ScenarioError(f"more than {MAX_DOCUMENTS} scenarios in one list", file=file, line=1)
    per_item: list[dict[PathKey, int]] = [{} for _ in data]
    for path, line in lines.items():
        if path:
            index = path[0]
            assert isinstance(index, int)
            per_item[index][path[1:]] = line
    return [(item, per_item[i], per_item[i].get((), 1)) for i, item in enumerate(data)], None


# -- schema errors -------------------------------------------------------------------------


def describe(error: ValidationError, lines: dict[PathKey, int], doc_line: int, file: str) -> ScenarioError:
    path: PathKey = tuple(error.absolute_path)
    schema = error.schema
    if error.validator == "additionalProperties" and isinstance(error.instance, dict) and isinstance(schema, Mapping):
        allowed = list(schema.get("properties", {}))
        unknown = [k for k in error.instance if k not in allowed]
        key = unknown[0] if unknown else ""
        import difflib  # for a hint only: not loaded unless something is misspelled

        hint = difflib.get_close_matches(str(key), allowed, n=1, cutoff=0.6)
        message = f"unknown key {key!r}"
        message += f" (did you mean {hint[0]!r}?)" if hint else f"; allowed: {', '.join(allowed)}"
        full = (*path, key)
        return ScenarioError(message, file=file, line=line_of(lines, full, doc_line), field=json_path(full))
    if error.validator == "required":
        message = error.message.replace("is a required property", "is required")
    else:
        message = error.message
        if len(message) > 200:
            message = message[:200] + "..."
    return ScenarioError(message, file=file, line=line_of(lines, path, doc_line), field=json_path(path) or None)

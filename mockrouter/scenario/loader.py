"""Load scenario files: YAML (``safe`` only) → schema check → the model of ``model.py``.

Every problem becomes a :class:`~mockrouter.errors.ScenarioError` naming file, line and
field (as a JSON path such as ``steps[1].error.status``), with a "did you mean" hint for
unknown keys. All problems of a file are collected, so ``mockrouter check`` shows them at once.
"""

from __future__ import annotations

import difflib
import fnmatch
import re
from collections.abc import Iterable
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import orjson
import yaml
from jsonschema.exceptions import ValidationError, best_match

from ..core.reply import Fault, HttpError, Timing
from ..core.resources import scenarios_dir, schemas_dir
from ..core.tokens import group, tokenize
from ..errors import ScenarioError, ScenarioErrors
from .model import (
    Chaos,
    Match,
    Regex,
    RegexError,
    Scenario,
    Step,
    StreamSpec,
    TextSpec,
    ToolCallSpec,
)
from .templates import Template, compile_template

PathKey = tuple[str | int, ...]

#: Bounds that keep a hostile file from costing more than it is worth.
MAX_DOCUMENTS = 10_000
MAX_NODES = 1_000_000
DEFAULT_FAULT_ERROR = (502, "Provider disconnected unexpectedly")
#: Stands in for a pattern that failed to compile while the rest of the file is checked.
NEVER = Regex(r"[^\s\S]")


@cache
def _scenario_validator() -> jsonschema.Draft202012Validator:
    schema = orjson.loads((schemas_dir() / "scenario.schema.json").read_bytes())
    return jsonschema.Draft202012Validator(schema)


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


def _documents(text: str, file: str) -> list[tuple[Any, dict[PathKey, int], int]]:
    """Parse every YAML document; return (data, line of each path, document line)."""
    loader = yaml.SafeLoader(text)
    docs = []
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is None:
                continue
            if len(docs) >= MAX_DOCUMENTS:
                raise ScenarioError(
                    f"more than {MAX_DOCUMENTS} documents in one file",
                    file=file,
                    line=node.start_mark.line + 1,
                )
            size = _expanded_size(node, {})
            if size > MAX_NODES:
                raise ScenarioError(
                    f"document expands to {size} YAML nodes through aliases (limit {MAX_NODES}): an alias bomb?",
                    file=file,
                    line=node.start_mark.line + 1,
                )
            lines: dict[PathKey, int] = {}
            _walk(node, (), lines, set())
            data = loader.construct_document(node)
            docs.append((data, lines, node.start_mark.line + 1))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        raise ScenarioError(f"invalid YAML: {exc.problem or exc}", file=file, line=line) from None
    except yaml.YAMLError as exc:
        raise ScenarioError(f"invalid YAML: {exc}", file=file) from None
    except RecursionError:
        raise ScenarioError("YAML nested too deeply", file=file) from None
    finally:
        loader.dispose()
    return docs


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


def _line_of(lines: dict[PathKey, int], path: PathKey, default: int) -> int:
    path = tuple(path)
    while path:
        if path in lines:
            return lines[path]
        path = path[:-1]
    return lines.get((), default)


# -- schema errors -------------------------------------------------------------------------


def _schema_errors(doc: Any, lines: dict[PathKey, int], doc_line: int, file: str) -> list[ScenarioError]:
    errors = []
    for error in _scenario_validator().iter_errors(doc):
        if error.context:
            error = best_match(error.context)
        errors.append(_describe(error, lines, doc_line, file))
    errors.sort(key=lambda e: (e.line or 0, e.field or ""))
    return errors


def _describe(error: ValidationError, lines: dict[PathKey, int], doc_line: int, file: str) -> ScenarioError:
    path: PathKey = tuple(error.absolute_path)
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = list(error.schema.get("properties", {}))
        unknown = [k for k in error.instance if k not in allowed]
        key = unknown[0] if unknown else ""
        hint = difflib.get_close_matches(str(key), allowed, n=1, cutoff=0.6)
        message = f"unknown key {key!r}"
        message += f" (did you mean {hint[0]!r}?)" if hint else f"; allowed: {', '.join(allowed)}"
        full = (*path, key)
        return ScenarioError(message, file=file, line=_line_of(lines, full, doc_line), field=json_path(full))
    if error.validator == "required":
        message = error.message.replace("is a required property", "is required")
    else:
        message = error.message
        if len(message) > 200:
            message = message[:200] + "..."
    return ScenarioError(message, file=file, line=_line_of(lines, path, doc_line), field=json_path(path) or None)


# -- building the model --------------------------------------------------------------------


class _Builder:
    """Turns one schema-valid document into a :class:`Scenario`, collecting located errors."""

    def __init__(self, lines: dict[PathKey, int], doc_line: int, file: str) -> None:
        self.lines = lines
        self.doc_line = doc_line
        self.file = file
        self.errors: list[ScenarioError] = []

    def error(self, message: str, path: PathKey) -> None:
        self.errors.append(
            ScenarioError(
                message, file=self.file, line=_line_of(self.lines, path, self.doc_line), field=json_path(path)
            )
        )

    def template(self, source: str, path: PathKey) -> Template:
        try:
            return compile_template(source)
        except ScenarioError as exc:
            self.errors.append(
                exc.located(file=self.file, line=_line_of(self.lines, path, self.doc_line), field=json_path(path))
            )
            return Template(source, [source], False)

    def regex(self, source: str, path: PathKey) -> Regex:
        try:
            return Regex(source)
        except RegexError as exc:
            hint = ""
            if any(marker in str(exc) for marker in ("perl operator", "escape sequence", "repetition operator")):
                hint = " (RE2 syntax: no backreferences, lookaround, atomic groups or possessive quantifiers)"
            self.error(f"invalid regex {source!r}: {exc}{hint}", path)
            return NEVER

    def header_fields(self, spec: dict[str, Any], path: PathKey) -> None:
        """``error.headers`` and a string ``error.retry_after`` must be sendable as headers."""
        retry_after = spec.get("retry_after")
        if isinstance(retry_after, str):
            problem = header_text_problem(retry_after)
            if problem is not None:
                self.error(f"retry_after: {problem}", (*path, "retry_after"))
        for name, value in spec.get("headers", {}).items():
            if not _HEADER_NAME.fullmatch(name):
                self.error(
                    f"header name {name!r} is not an HTTP token (letters, digits, !#$%&'*+-.^_`|~)",
                    (*path, "headers", name),
                )
                continue
            if name.lower() in FRAMING_HEADERS:
                hint = " (use error.content_type with a raw body)" if name.lower() == "content-type" else ""
                self.error(
                    f"header {name} is set by the server (it frames the response; a second one breaks it){hint}",
                    (*path, "headers", name),
                )
                continue
            problem = header_text_problem(str(value))
            if problem is not None:
                self.error(f"header {name}: {problem}", (*path, "headers", name))

    def scenario(self, doc: dict[str, Any]) -> Scenario:
        steps = [self.step(s, ("steps", i)) for i, s in enumerate(doc["steps"])]
        chaos = None
        if "chaos" in doc:
            chaos = Chaos(
                rate=float(doc["chaos"]["rate"]),
                faults=[self.step(s, ("chaos", "faults", i)) for i, s in enumerate(doc["chaos"]["faults"])],
            )
        return Scenario(
            name=doc["name"],
            description=doc.get("description", "").strip(),
            priority=doc.get("priority", 0),
            match=self.match(doc["match"]) if "match" in doc else None,
            steps=steps,
            then=doc.get("then", "repeat-last"),
            chaos=chaos,
            file=self.file,
            line=self.doc_line,
        )

    def match(self, spec: dict[str, Any]) -> Match:
        match = Match()
        if "model" in spec:
            globs = spec["model"] if isinstance(spec["model"], list) else [spec["model"]]
            match.model = [(g, re.compile(fnmatch.translate(g))) for g in globs]
        if "last_user" in spec:
            match.last_user = self.regex(spec["last_user"], ("match", "last_user"))
        match.last_role = spec.get("last_role")
        match.has_tools = spec.get("has_tools")
        match.stream = spec.get("stream")
        for name, pattern in spec.get("header", {}).items():
            match.header[name.lower()] = self.regex(pattern, ("match", "header", name))
        for dotted, expected in spec.get("body", {}).items():
            if isinstance(expected, str):
                expected = self.regex(expected, ("match", "body", dotted))
            match.body[dotted] = (tuple(dotted.split(".")), expected)
        return match

    def text(self, step: dict[str, Any], name: str, path: PathKey, chunk_tokens: int) -> TextSpec | None:
        if name not in step:
            return None
        template = self.template(step[name], (*path, name))
        if template.static is None:
            return TextSpec(template)
        tokens = tokenize(template.static)
        return TextSpec(template, group(tokens, chunk_tokens), len(tokens))

    def step(self, spec: dict[str, Any], path: PathKey) -> Step:
        stream_spec = spec.get("stream", {})
        stream = StreamSpec(
            chunk_tokens=stream_spec.get("chunk_tokens", 1),
            chunks=stream_spec.get("chunks"),
            keepalive=stream_spec.get("keepalive", 0),
            usage=stream_spec.get("usage", "auto"),
        )
        step = Step(line=_line_of(self.lines, path, self.doc_line), stream=stream)
        if stream.chunks is not None:
            joined = "".join(stream.chunks)
            if "content" not in spec:
                spec = {**spec, "content": joined}
            elif spec["content"] != joined:
                self.error("stream.chunks must concatenate to `content`", (*path, "stream", "chunks"))
        step.content = self.text(spec, "content", path, stream.chunk_tokens)
        if step.content is not None and stream.chunks is not None:
            if step.content.template.static is None:
                self.error("stream.chunks cannot be combined with a templated `content`", (*path, "stream", "chunks"))
            step.content.pieces = list(stream.chunks)
        step.reasoning = self.text(spec, "reasoning", path, stream.chunk_tokens)
        step.refusal = self.text(spec, "refusal", path, stream.chunk_tokens)
        for i, call in enumerate(spec.get("tool_calls", [])):
            cpath = (*path, "tool_calls", i)
            args = call.get("arguments", {})
            if isinstance(args, str):
                arguments = self.template(args, (*cpath, "arguments"))
            else:
                encoded = orjson.dumps(args).decode()
                arguments = Template(encoded, [encoded], False)
            step.tool_calls.append(
                ToolCallSpec(name=self.template(call["name"], (*cpath, "name")), arguments=arguments, id=call.get("id"))
            )
        step.call_declared_tools = spec.get("call_declared_tools", 0)
        step.finish_reason = spec.get("finish_reason")
        step.native_finish_reason = spec.get("native_finish_reason")
        step.usage = spec.get("usage")
        step.model = spec.get("model")
        step.provider = spec.get("provider")
        if "timing" in spec:
            step.timing = Timing(**spec["timing"])
        if spec.get("fuzz"):
            clash = [k for k in spec if k not in ("fuzz", "timing")]
            if clash:
                self.error(
                    f"a `fuzz` step answers with a drawn response; it cannot also have {', '.join(clash)}",
                    (*path, "fuzz"),
                )
            step.fuzz = True
        if "error" in spec:
            clash = [k for k in ("content", "reasoning", "refusal", "tool_calls", "fault") if k in spec]
            if clash:
                self.error(
                    f"a step with `error` answers with an HTTP error; it cannot also have {', '.join(clash)}",
                    (*path, "error"),
                )
            self.header_fields(spec["error"], (*path, "error"))
            step.error = http_error(spec["error"])
        if "fault" in spec:
            fault = spec["fault"]
            error = None
            if fault["kind"] == "error":
                err = fault.get("error", {})
                error = HttpError(
                    status=err.get("status", DEFAULT_FAULT_ERROR[0]),
                    message=err.get("message", DEFAULT_FAULT_ERROR[1]),
                    type=err.get("type"),
                    code=err.get("code"),
                    metadata=err.get("metadata"),
                )
            elif "error" in fault:
                self.error("fault.error only applies to kind: error", (*path, "fault", "error"))
            if "keepalive_ms" in fault and fault["kind"] != "stall":
                self.error("fault.keepalive_ms only applies to kind: stall", (*path, "fault", "keepalive_ms"))
            step.fault = Fault(
                kind=fault["kind"],
                after_chunks=fault.get("after_chunks", 0),
                ms=fault.get("ms"),
                error=error,
                keepalive_ms=fault.get("keepalive_ms"),
            )
        return step.finish()


def header_text_problem(text: str) -> str | None:
    """Why ``text`` cannot be sent as a response header value (None when it can): headers go out
    as Latin-1, and a control character (CR and LF above all: header injection) breaks the response."""
    try:
        text.encode("latin-1")
    except UnicodeEncodeError as exc:
        return f"{text[exc.start]!r} is not Latin-1: response headers are sent as Latin-1"
    bad = _HEADER_CONTROL.search(text)
    if bad is not None:
        return f"control character {bad.group()!r} in a header (CR/LF would inject headers); only tab is allowed"
    return None


#: Control characters a header value may not hold (HTAB is allowed).
_HEADER_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
#: Headers the server writes itself to frame a response; a scenario's copy would make two.
FRAMING_HEADERS = frozenset({"content-length", "transfer-encoding", "connection", "content-type"})
#: RFC 9110 ``token``: what a header name may be.
_HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


def http_error(spec: dict[str, Any]) -> HttpError:
    """Build an :class:`HttpError` from a scenario's ``error`` mapping (already schema-valid)."""
    retry_after: str | None = None
    retry_after_ms: float | None = None
    value = spec.get("retry_after")
    if isinstance(value, dict):
        retry_after_ms = float(value["ms"])
    elif isinstance(value, bool):
        pass
    elif isinstance(value, (int, float)):
        retry_after = str(int(value)) if float(value).is_integer() else str(value)
    elif isinstance(value, str):
        retry_after = value
    return HttpError(
        status=spec["status"],
        message=spec.get("message"),
        type=spec.get("type"),
        code=spec.get("code"),
        param=spec.get("param"),
        metadata=spec.get("metadata"),
        headers={str(k): str(v) for k, v in spec.get("headers", {}).items()},
        retry_after=retry_after,
        retry_after_ms=retry_after_ms,
        body=spec.get("body"),
        content_type=spec.get("content_type"),
    )


# -- entry points --------------------------------------------------------------------------


def load_text(text: str, file: str = "<string>", *, builtin: bool = False) -> list[Scenario]:
    """Load every scenario document in ``text``; raise :class:`ScenarioErrors` listing all problems."""
    errors: list[ScenarioError] = []
    try:
        docs = _documents(text, file)
    except ScenarioError as exc:
        raise ScenarioErrors([exc.located(file=file, line=None, field=None)]) from None
    scenarios: list[Scenario] = []
    names: dict[str, int] = {}
    for data, lines, doc_line in docs:
        if data is None:
            continue
        if not isinstance(data, dict):
            errors.append(
                ScenarioError(f"a scenario must be a mapping, not {type(data).__name__}", file=file, line=doc_line)
            )
            continue
        schema_errors = _schema_errors(data, lines, doc_line, file)
        if schema_errors:
            errors.extend(schema_errors)
            continue
        builder = _Builder(lines, doc_line, file)
        scenario = builder.scenario(data)
        errors.extend(builder.errors)
        if scenario.name in names:
            errors.append(
                ScenarioError(
                    f"duplicate scenario name {scenario.name!r} (first defined at line {names[scenario.name]})",
                    file=file,
                    line=lines.get(("name",), doc_line),
                    field="name",
                )
            )
            continue
        names[scenario.name] = doc_line
        scenario.builtin = builtin
        scenarios.append(scenario)
    if errors:
        raise ScenarioErrors(errors)
    return scenarios


def scenario_files(path: Path) -> list[Path]:
    """A file, or every ``*.yaml``/``*.yml`` below a folder in sorted path order."""
    if path.is_dir():
        return sorted(p for p in path.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file())
    if path.is_file():
        return [path]
    raise ScenarioErrors([ScenarioError("no such file or folder", file=str(path))])


def load_path(path: Path | str, *, builtin: bool = False) -> list[Scenario]:
    """Load a file or a folder of scenario files; collect the errors of all files."""
    errors: list[ScenarioError] = []
    scenarios: list[Scenario] = []
    for file in scenario_files(Path(path)):
        try:
            text = file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            errors.append(ScenarioError(f"cannot read: {exc}", file=str(file)))
            continue
        try:
            scenarios.extend(load_text(text, str(file), builtin=builtin))
        except ScenarioErrors as exc:
            errors.extend(exc.errors)
    if errors:
        raise ScenarioErrors(errors)
    return scenarios


@cache
def _builtin() -> tuple[Scenario, ...]:
    return tuple(load_path(scenarios_dir(), builtin=True))


def load_builtin() -> list[Scenario]:
    """The built-in scenario library (parsed once per process; the objects are immutable in use)."""
    return list(_builtin())

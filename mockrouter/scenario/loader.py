"""Load scenario files: YAML (``safe`` only) → schema check → the model of ``model.py``.

Every problem becomes a :class:`~mockrouter.errors.ScenarioError` naming file, line and
field (as a JSON path such as ``steps[1].error.status``), with a "did you mean" hint for
unknown keys. All problems of a file are collected, so ``mockrouter check`` shows them at once.
"""

from __future__ import annotations

import copy
import fnmatch
import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from ..core.documents import (
    Document,
    PathKey,
    describe,
    documents_until_error,
    json_documents,
    json_path,
    line_of,
)
from ..core.reply import Fault, HttpError, Timing
from ..core.resources import scenarios_dir, schemas_dir
from ..core.schemas import Schema
from ..core.tokens import group, tokenize
from ..errors import RegexError, ScenarioError, ScenarioErrors, printable
from .matcher import conditions
from .model import (
    Chaos,
    Match,
    Regex,
    Scenario,
    Step,
    StreamSpec,
    TextSpec,
    ToolCallSpec,
)
from .templates import Template, compile_template

if TYPE_CHECKING:
    from jsonschema.exceptions import ValidationError

#: Nesting a scenario may have (orjson writes at most 255 levels; no real scenario nears this).
MAX_DEPTH = 128
DEFAULT_FAULT_ERROR = (502, "Provider disconnected unexpectedly")
#: Stands in for a pattern that failed to compile while the rest of the file is checked.
NEVER = r"[^\s\S]"


@cache
def _scenario_schema() -> Schema:
    """The scenario schema: ``jsonschema-rs`` says whether a document is valid; only when it is
    not does ``jsonschema`` (imported then) find every error, as the messages have always been."""
    return Schema("scenario", orjson.loads((schemas_dir() / "scenario.schema.json").read_bytes()))


#: Lists whose items are steps: a step the pruning cannot repair is left out, not its list.
_STEP_LISTS = (("steps",), ("chaos", "faults"))
MAX_PRUNE_ROUNDS = 32


def _step_of(path: PathKey) -> PathKey | None:
    """The path of the step ``path`` lies in (``('steps', 2)``), if any."""
    for prefix in _STEP_LISTS:
        n = len(prefix)
        if tuple(path[:n]) == prefix and len(path) > n and isinstance(path[n], int):
            return tuple(path[: n + 1])
    return None


def _removals(error: ValidationError) -> list[PathKey]:
    """What to take out of a document so that ``error`` goes away: the unknown keys, else the
    mapping member holding the bad value (a bad list item takes its list, a bad step itself)."""
    path: PathKey = tuple(error.absolute_path)
    schema = error.schema
    if error.validator == "additionalProperties" and isinstance(error.instance, dict) and isinstance(schema, Mapping):
        allowed = schema.get("properties", {})
        return [(*path, key) for key in error.instance if key not in allowed]
    while path and isinstance(path[-1], int) and _step_of(path) != path:
        path = path[:-1]
    return [path] if path else []


def _prune(doc: dict[str, Any], errors: list[ValidationError]) -> tuple[dict[str, Any], set[PathKey]] | None:
    """A copy of ``doc`` without the parts schema ``errors`` point at, valid but for missing
    top-level keys and the steps set to None (beyond repair); and the steps that lost a part.
    None when pruning does not converge (then nothing is built from the document)."""
    pruned = copy.deepcopy(doc)
    touched: set[PathKey] = set()
    for _ in range(MAX_PRUNE_ROUNDS):
        removals = [path for error in errors for path in _removals(error)]
        if not removals:
            return pruned, touched
        for path in removals:
            step = _step_of(path)
            if step is not None:
                touched.add(step)
            parent: Any = pruned
            for part in path[:-1]:
                if isinstance(parent, list):
                    parent = parent[part] if isinstance(part, int) else None  # a list's members are reached by index
                else:
                    parent = parent[part] if isinstance(parent, dict) else None
            last = path[-1]
            if isinstance(parent, dict):
                parent.pop(last, None)
            elif isinstance(parent, list) and path == step and isinstance(last, int):  # a step's path ends in its index
                parent[last] = None
        errors = [
            e
            for e in _scenario_schema().errors(pruned)
            if not (e.validator == "required" and not e.absolute_path)  # the builder tolerates those
            and not any(_step_of(tuple(e.absolute_path)) == s and _at(pruned, s) is None for s in touched)
        ]
    return None


def _at(doc: Any, path: PathKey) -> Any:
    """The value at ``path``, or None when there is none."""
    for part in path:
        try:
            doc = doc[part]
        except (KeyError, IndexError, TypeError):
            return None
    return doc


# -- building the model --------------------------------------------------------------------


class _Builder:
    """Turns one schema-valid document into a :class:`Scenario`, collecting located errors."""

    def __init__(
        self,
        lines: dict[PathKey, int],
        doc_line: int,
        file: str,
        touched: frozenset[PathKey] = frozenset(),
        *,
        builtin: bool = False,
    ) -> None:
        self.lines = lines
        self.doc_line = doc_line
        self.file = file
        #: The built-in library: its faker calls are not tried at load (see ``compile_template``).
        self.builtin = builtin
        #: Steps that lost a part to schema errors (see ``_prune``): never clean.
        self.touched = touched
        self.errors: list[ScenarioError] = []
        #: Steps built without a problem, with their path (``("steps", 1)``), for ``check``.
        self.clean_steps: list[tuple[PathKey, Step]] = []

    def error(self, message: str, path: PathKey) -> None:
        self.errors.append(
            ScenarioError(message, file=self.file, line=line_of(self.lines, path, self.doc_line), field=json_path(path))
        )

    def template(self, source: str, path: PathKey) -> Template:
        try:
            return compile_template(source, try_faker=not self.builtin)
        except ScenarioError as exc:
            self.errors.append(
                exc.located(file=self.file, line=line_of(self.lines, path, self.doc_line), field=json_path(path))
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
            return Regex(NEVER)

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
        """The scenario of a schema-valid document; also of a pruned one (``_prune``: top-level
        keys may be missing, broken steps are None), which is built only to find more errors."""
        steps = self.steps(doc.get("steps", []), ("steps",))
        chaos = None
        if "chaos" in doc:
            chaos = Chaos(
                rate=float(doc["chaos"]["rate"]), faults=self.steps(doc["chaos"]["faults"], ("chaos", "faults"))
            )
        return Scenario(
            name=doc.get("name", ""),
            description=doc.get("description", "").strip(),
            priority=doc.get("priority", 0),
            match=self.match(doc["match"]) if "match" in doc else None,
            steps=steps,
            then=doc.get("then", "repeat-last"),
            chaos=chaos,
            file=self.file,
            line=self.doc_line,
        )

    def steps(self, specs: list[dict[str, Any] | None], where: PathKey) -> list[Step]:
        built = []
        for i, spec in enumerate(specs):
            if spec is None:
                continue
            path = (*where, i)
            errors = len(self.errors)
            step = self.step(spec, path)
            if len(self.errors) == errors and path not in self.touched:
                self.clean_steps.append((path, step))
            built.append(step)
        return built

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
        if "turn" in spec:
            match.turn = _turn_ranges(spec["turn"])
        match.last_tool = spec.get("last_tool")
        if "tool_result" in spec:
            match.tool_result = self.regex(spec["tool_result"], ("match", "tool_result"))
        if "system" in spec:
            match.system = self.regex(spec["system"], ("match", "system"))
        match.surface = spec.get("surface")
        if "conversation" in spec:  # the schema checked each is 16 lowercase hex digits
            hashes = spec["conversation"]
            match.conversation = [hashes] if isinstance(hashes, str) else list(hashes)
        for name, pattern in spec.get("header", {}).items():
            match.header[name.lower()] = self.regex(pattern, ("match", "header", name))
        for dotted, expected in spec.get("body", {}).items():
            if isinstance(expected, str):
                expected = self.regex(expected, ("match", "body", dotted))
            match.body[dotted] = (tuple(dotted.split(".")), expected)
        conditions(match)  # made now, at load, not by the first request
        return match

    def text(self, step: dict[str, Any], name: str, path: PathKey, chunk_tokens: int) -> TextSpec | None:
        if name not in step:
            return None
        template = self.template(step[name], (*path, name))
        if template.static is None:
            return TextSpec(template)
        tokens = tokenize(template.static)
        return TextSpec(template, group(tokens, chunk_tokens), len(tokens))

    def pieced_text(
        self, spec: dict[str, Any], name: str, key: str, stream: StreamSpec, path: PathKey
    ) -> TextSpec | None:
        """The text field ``name`` (``content``, ``reasoning``) streamed as its explicit pieces
        ``stream.<key>`` when there are some (a text they do not add up to, or a templated one,
        is an error at the pieces)."""
        pieces: list[str] | None = getattr(stream, key)
        if pieces is None:
            return self.text(spec, name, path, stream.chunk_tokens)
        joined = "".join(pieces)
        where = (*path, "stream", key)
        if spec[name] != joined:
            self.error(f"stream.{key} must concatenate to `{name}`", where)
        text = self.text(spec, name, path, stream.chunk_tokens)
        assert text is not None
        if text.template.static is None:
            self.error(f"stream.{key} cannot be combined with a templated `{name}`", where)
        text.pieces = list(pieces)
        return text

    def tool_call(self, call: dict[str, Any], path: PathKey) -> ToolCallSpec:
        args = call.get("arguments", {})
        if isinstance(args, str):
            arguments = self.template(args, (*path, "arguments"))
        else:
            try:
                encoded = orjson.dumps(args).decode()
            except TypeError:  # nested deeper than orjson writes (through YAML aliases)
                self.error("arguments nested too deeply to encode as JSON", (*path, "arguments"))
                encoded = "{}"
            arguments = Template(encoded, [encoded], False)
        pieces = call.get("chunks")
        if pieces is not None:
            where = (*path, "chunks")
            if not isinstance(args, str):
                self.error(
                    "chunks need `arguments` as a raw string (the text the pieces make up), not a mapping", where
                )
            elif arguments.static is None:
                self.error("chunks cannot be combined with templated `arguments`", where)
            elif "".join(pieces) != args:
                self.error("chunks must concatenate to `arguments`", where)
            pieces = list(pieces)
        return ToolCallSpec(
            name=self.template(call["name"], (*path, "name")), arguments=arguments, id=call.get("id"), pieces=pieces
        )

    def step(self, spec: dict[str, Any], path: PathKey) -> Step:
        stream_spec = spec.get("stream", {})
        stream = StreamSpec(
            chunk_tokens=stream_spec.get("chunk_tokens", 1),
            chunks=stream_spec.get("chunks"),
            reasoning_chunks=stream_spec.get("reasoning_chunks"),
            keepalive=stream_spec.get("keepalive", 0),
            usage=stream_spec.get("usage", "auto"),
        )
        step = Step(line=line_of(self.lines, path, self.doc_line), stream=stream)
        for name, pieces in (("content", stream.chunks), ("reasoning", stream.reasoning_chunks)):
            if pieces is not None and name not in spec:  # without the text, the pieces are the text
                spec = {**spec, name: "".join(pieces)}
        step.content = self.pieced_text(spec, "content", "chunks", stream, path)
        step.reasoning = self.pieced_text(spec, "reasoning", "reasoning_chunks", stream, path)
        step.refusal = self.text(spec, "refusal", path, stream.chunk_tokens)
        for i, call in enumerate(spec.get("tool_calls", [])):
            step.tool_calls.append(self.tool_call(call, (*path, "tool_calls", i)))
        step.call_declared_tools = spec.get("call_declared_tools", 0)
        step.finish_reason = spec.get("finish_reason")
        step.native_finish_reason = spec.get("native_finish_reason")
        step.usage = spec.get("usage")
        step.model = spec.get("model")
        step.provider = spec.get("provider")
        if "timing" in spec:
            timing = spec["timing"]
            step.timing = Timing(
                **{**timing, "intervals_ms": tuple(float(ms) for ms in timing.get("intervals_ms", ()))}
            )
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


@dataclass(slots=True)
class StepAt:
    """A step that built without a problem in a document that did not load, and where it is."""

    file: str
    path: PathKey  # ("steps", 1)
    step: Step


@dataclass(slots=True)
class Loaded:
    """What a file (or a text) gave: the scenarios that loaded, and every problem found.

    A problem in one document or step hides no other: a document with schema errors is still
    built without its broken parts, to find the problems of the rest. ``clean_steps`` holds the
    steps of documents that did not load which built without a problem, so ``mockrouter check``
    can still render them."""

    scenarios: list[Scenario] = field(default_factory=list)
    errors: list[ScenarioError] = field(default_factory=list)
    clean_steps: list[StepAt] = field(default_factory=list)

    def extend(self, other: Loaded) -> None:
        self.scenarios += other.scenarios
        self.errors += other.errors
        self.clean_steps += other.clean_steps

    def result(self) -> list[Scenario]:
        """The scenarios, or :class:`ScenarioErrors` listing every problem."""
        if self.errors:
            raise ScenarioErrors(self.errors)
        return self.scenarios


def _kind(value: Any) -> str:
    """A value's kind in JSON terms."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    return type(value).__name__


def _build(docs: list[Document], file: str, builtin: bool, *, skip_empty: bool = True) -> Loaded:
    """Check and build each document, collecting every problem of every document. An empty
    YAML document (``skip_empty``) is skipped; JSON has none, so ``null`` there is an error."""
    out = Loaded()
    names: dict[str, int] = {}
    for data, lines, doc_line in docs:
        if data is None and skip_empty:
            continue
        if not isinstance(data, dict):
            out.errors.append(
                ScenarioError(f"a scenario must be a mapping, not {_kind(data)}", file=file, line=doc_line)
            )
            continue
        deepest = max(lines, key=len, default=())
        if len(deepest) > MAX_DEPTH:
            where = deepest[:6]
            out.errors.append(
                ScenarioError(
                    f"nested more than {MAX_DEPTH} levels deep (below this field)",
                    file=file,
                    line=line_of(lines, deepest[:MAX_DEPTH], doc_line),
                    field=json_path(where),
                )
            )
            continue
        try:
            loaded = _build_one(data, lines, doc_line, file, names, builtin)
        except RecursionError:
            loaded = Loaded(errors=[ScenarioError("scenario nested too deeply", file=file, line=doc_line)])
        for scenario in loaded.scenarios:
            scenario.builtin = builtin
        out.extend(loaded)
    out.errors.sort(key=lambda e: (e.line or 0, e.column or 0, e.field or ""))
    return out


def _nodes(value: Any, path: PathKey = ()) -> Iterator[tuple[PathKey, Any]]:
    """Every value of a document with its path (below keys that are text: no other key has one)."""
    yield path, value
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(key, str):
                yield from _nodes(item, (*path, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _nodes(item, (*path, i))


def _not_json_data(
    data: Any, lines: dict[PathKey, int], doc_line: int, file: str
) -> tuple[list[ScenarioError], list[ScenarioError]]:
    """What YAML read that JSON data has not, at its line: the keys YAML did not read as text
    (``on:``/``yes:`` are booleans to it, ``200:`` a number), shown as written; the numbers
    that are not finite (``.nan``, ``.inf``: a NaN delay is no deadline at all)."""
    errors: list[ScenarioError] = []
    not_finite: list[ScenarioError] = []
    for path, value in _nodes(data):
        if type(value) is float and not math.isfinite(value):
            not_finite.append(
                ScenarioError(
                    f"{value} is not a finite number (JSON has no NaN or infinity)",
                    file=file,
                    line=line_of(lines, path, doc_line),
                    field=json_path(path),
                )
            )
        if not isinstance(value, dict) or all(isinstance(key, str) for key in value):
            continue
        # The lines are keyed by each key as written: the ones the mapping has not got are these.
        written = [p for p in lines if len(p) == len(path) + 1 and p[:-1] == path and p[-1] not in value]
        odd = [key for key in value if not isinstance(key, str)]
        for i, key in enumerate(odd):
            at = written[i] if len(written) == len(odd) else path
            text = printable(str(at[-1]))[:40] if at is not path else orjson.dumps(str(key)).decode()
            errors.append(
                ScenarioError(
                    f"the key {text} is not text to YAML (it reads {text} as {_kind(key)}): quote it",
                    file=file,
                    line=line_of(lines, at, doc_line),
                    field=json_path(path) or None,
                )
            )
    return errors, not_finite


def _build_one(
    data: dict[str, Any], lines: dict[PathKey, int], doc_line: int, file: str, names: dict[str, int], builtin: bool
) -> Loaded:
    odd, not_finite = _not_json_data(data, lines, doc_line, file)
    odd += not_finite
    raw_errors = _scenario_schema().errors(data)
    errors: list[ScenarioError] = []
    pruned: dict[str, Any] | None = data
    touched: set[PathKey] = set()
    if raw_errors:
        from jsonschema.exceptions import best_match

        errors = [describe(best_match(e.context) if e.context else e, lines, doc_line, file) for e in raw_errors]
        said = {e.field for e in not_finite}  # (-.inf under a minimum: the one error is that it is not finite)
        errors = [e for e in errors if e.field not in said]
        pruning = _prune(data, raw_errors)
        pruned, touched = pruning if pruning is not None else (None, set())
    out = Loaded(errors=odd + errors)
    if pruned is None or odd:  # the builder takes every key for text and every number as finite
        return out
    builder = _Builder(lines, doc_line, file, frozenset(touched), builtin=builtin)
    scenario = builder.scenario(pruned)
    out.errors += builder.errors
    name = pruned.get("name")
    if isinstance(name, str):
        if name in names:
            out.errors.append(
                ScenarioError(
                    f"duplicate scenario name {name!r} (first defined at line {names[name]})",
                    file=file,
                    line=lines.get(("name",), doc_line),
                    field="name",
                )
            )
        else:
            names[name] = doc_line
    if out.errors:
        out.clean_steps = [StepAt(file, path, step) for path, step in builder.clean_steps]
    else:
        out.scenarios.append(scenario)
    return out


def collect_text(text: str, file: str = "<string>", *, builtin: bool = False) -> Loaded:
    """Every scenario of a YAML text and every problem in it (the documents before a syntax
    error are checked too)."""
    docs, syntax = documents_until_error(text, file)
    out = _build(docs, file, builtin)
    if syntax is not None:
        out.errors.append(syntax)
    return out


def collect_json(raw: bytes, file: str = "<string>", *, builtin: bool = False) -> Loaded:
    """Every scenario of a JSON body (one scenario object, or a list of them) and every problem,
    with the lines and columns of the JSON text."""
    docs, syntax = json_documents(raw, file)
    out = _build(docs, file, builtin, skip_empty=False)
    if syntax is not None:
        out.errors.append(syntax)
    return out


def load_text(text: str, file: str = "<string>", *, builtin: bool = False) -> list[Scenario]:
    """Load every scenario document in ``text``; raise :class:`ScenarioErrors` listing all problems."""
    return collect_text(text, file, builtin=builtin).result()


def load_json(raw: bytes, file: str = "<string>", *, builtin: bool = False) -> list[Scenario]:
    """Load a JSON scenario object or list; raise :class:`ScenarioErrors` listing all problems."""
    return collect_json(raw, file, builtin=builtin).result()


def scenario_files(path: Path) -> list[Path]:
    """A file, or every ``*.yaml``/``*.yml`` below a folder in sorted path order."""
    if path.is_dir():
        return sorted(p for p in path.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file())
    if path.is_file():
        return [path]
    raise ScenarioErrors([ScenarioError("no such file or folder", file=str(path))])


def collect_file(file: Path, *, builtin: bool = False) -> Loaded:
    """One scenario file: JSON when its name ends in ``.json``, YAML otherwise."""
    try:
        raw = file.read_bytes()
        text = raw.decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return Loaded(errors=[ScenarioError(f"cannot read: {exc}", file=str(file))])
    if file.suffix == ".json":
        return collect_json(raw, str(file), builtin=builtin)
    return collect_text(text, str(file), builtin=builtin)


def collect_path(path: Path | str, *, builtin: bool = False) -> Loaded:
    """A file or a folder of scenario files, every problem of every file."""
    out = Loaded()
    try:
        files = scenario_files(Path(path))
    except ScenarioErrors as exc:
        out.errors += exc.errors
        return out
    for file in files:
        out.extend(collect_file(file, builtin=builtin))
    return out


def load_path(path: Path | str, *, builtin: bool = False) -> list[Scenario]:
    """Load a file or a folder of scenario files; collect the errors of all files."""
    return collect_path(path, builtin=builtin).result()


@cache
def _builtin(name: str | None) -> tuple[Scenario, ...]:
    return tuple(load_path(scenarios_dir() if name is None else scenarios_dir() / f"{name}.yaml", builtin=True))


def load_builtin(name: str | None = None) -> list[Scenario]:
    """The built-in scenario library, or only the built-in ``name`` (each is in ``NAME.yaml``):
    ``--no-builtin`` keeps ``echo`` without compiling the others (``lorem``'s faker call would
    import faker). Parsed once per process; the objects are immutable in use."""
    return list(_builtin(name))


def _turn_ranges(spec: Any) -> list[tuple[int, float]]:
    """``match.turn`` (a number, a list of numbers, or ``{min, max}``; schema-checked) as
    inclusive ranges."""
    if isinstance(spec, dict):
        return [(spec.get("min", 0), spec.get("max", float("inf")))]
    if isinstance(spec, list):
        return [(n, n) for n in spec]
    return [(spec, spec)]

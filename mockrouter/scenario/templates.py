"""The ``{{ }}`` template language: small, safe, compiled once at load time.

Grammar (anything else is a :class:`~mockrouter.errors.TemplateError` at load time)::

    template := ( text | "{{" expr "}}" )*
    expr     := primary ( "|" filter )*
    primary  := path | "faker." NAME "(" [ args ] ")" | literal
    args     := arg ("," arg)*          (positional arguments before keyword ones)
    arg      := literal | NAME "=" literal
    path     := ("request" | "seq" | "json_schema_instance") ( "." NAME | "[" INT "]" )*
    filter   := "default(" literal ")" | "json" | "upper" | "lower" | "trim"
    literal  := "string" | 'string' | INT | FLOAT | true | false | null

``request.*`` walks the JSON body of the request (dicts and lists only, never attributes of
Python objects); ``request.last_user`` is the text of the last user message. The first field
must be one of :func:`known_request_fields` (a typo is a load error with "did you mean"), and
deeper steps must fit the request schema where it says (no field of a string, no index of an
object). ``seq`` is this key's request count (1 for the first). ``faker.NAME(...)`` calls a
Faker provider seeded per request, so a seeded server renders the same text every time.

What a faker call may cost is decided at load time, never per request: the arguments that size
its output (counts, lengths, digits; :data:`SIZE_ARGUMENTS`) are bounded by name, unknown
keyword arguments are refused, and each call is tried once with a seeded Faker; a template whose
calls make more than :data:`TEMPLATE_BUDGET` characters, fail, warn or return something that
is not data is refused. Literal numbers are not bounded by value (``random_int(1, 10**12)`` is
cheap), only by how long they are written.
"""

from __future__ import annotations

import datetime
import inspect
import json
import math
import re
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from typing import Any, NoReturn
from uuid import UUID

import orjson

from ..core.resources import schemas_dir
from ..errors import TemplateError

_OPEN = "{{"
_CLOSE = "}}"
_ROOTS = frozenset({"request", "seq", "json_schema_instance"})
_FILTERS = frozenset({"default", "json", "upper", "lower", "trim"})
_MAX_STR = 1_000
#: The longest number literal, in characters (``1000000`` is 7): a bound on writing, not value.
MAX_NUMBER_CHARS = 100

#: The most characters the faker calls of one template may make when tried at load time.
TEMPLATE_BUDGET = 100_000
#: Bounds on the Faker arguments that size the output, by argument name. A count makes that
#: many items; a length, that many characters; digits, that many digits.
MAX_COUNT = 1_000
MAX_DIGITS = 1_000
MAX_CHARS = TEMPLATE_BUDGET
_COUNTS = frozenset(
    {"nb", "nb_words", "nb_sentences", "nb_elements", "nb_texts", "count", "length", "depth", "deep", "levels"}
)
_DIGITS = frozenset({"digits", "left_digits", "right_digits"})
_CHARS = frozenset({"max_nb_chars", "min_chars", "max_chars"})
#: Every size argument with its bound.
SIZE_ARGUMENTS: dict[str, int] = {
    **dict.fromkeys(sorted(_COUNTS), MAX_COUNT),
    **dict.fromkeys(sorted(_DIGITS), MAX_DIGITS),
    **dict.fromkeys(sorted(_CHARS), MAX_CHARS),
}
#: A faker call that takes longer than this once, at load time, is refused.
TRIAL_SECONDS = 1.0

#: Faker methods that are not text generators, or can be made to allocate without bound.
_FAKER_DENY = frozenset(
    {
        "seed",
        "seed_instance",
        "seed_locale",
        "add_provider",
        "get_providers",
        "provider",
        "set_formatter",
        "set_arguments",
        "del_arguments",
        "get_arguments",
        "format",
        "parse",
        "get_formatter",
        "binary",
        "zip",
        "tar",
        "image",
        "json",
        "json_bytes",
        "csv",
        "tsv",
        "psv",
        "dsv",
        "xml",
        "fixed_width",
        "pystr_format",
        "enum",
        "items",
        "random",
        "optional",
        "unique",
        "factories",
        "weights",
        "locales",
        "generator_attrs",
    }
)

#: The request schemas whose top-level properties a template may name as ``request.<field>``:
#: one per API surface that renders scenarios. A new surface adds its request schema here.
#: A template sees the chat view of the request (``core.surfaces``): chat's fields on every
#: surface (``request.messages``), plus the surface's own (``request.input``, ``request.system``).
REQUEST_SCHEMAS: tuple[str, ...] = (
    "chat-request.schema.json",
    "messages-request.schema.json",
    "responses-request.schema.json",
)
#: Request fields mockrouter derives instead of reading them from the body, with their schema.
DERIVED_REQUEST_FIELDS: dict[str, dict[str, Any]] = {
    "last_user": {"type": "string", "description": "The text of the last user message."}
}

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<str>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
      | (?P<num>-?\d+(?:\.\d+)?)
      | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
      | (?P<op>[.\[\](),|=])
    )""",
    re.VERBOSE,
)

Evaluator = Callable[["TemplateContext"], Any]


@dataclass(slots=True)
class TemplateContext:
    """What a template can see while rendering one request."""

    request: dict[str, Any]
    last_user: str
    seq: int
    faker: Any  # a seeded faker.Faker, or None when no template of the step needs it
    json_schema_instance: Callable[[], Any]


@cache
def _faker() -> Any:
    """The process's reference Faker: its methods are the allow-list, and it runs the trials."""
    from faker import Faker

    return Faker()


@cache
def faker_methods() -> frozenset[str]:
    """The Faker provider methods templates may call (computed once per process)."""
    fake = _faker()
    names = set()
    for name in dir(fake):
        if name.startswith("_") or name in _FAKER_DENY:
            continue
        try:
            attr = getattr(fake, name)
        except Exception:
            continue
        if callable(attr):
            names.add(name)
    return frozenset(names)


@cache
def _signature(method: str) -> inspect.Signature | None:
    try:
        return inspect.signature(getattr(_faker(), method))
    except (TypeError, ValueError):
        return None


# -- request fields ---------------------------------------------------------------------------

_Node = tuple[dict[str, Any], dict[str, Any]]  # (the whole schema document, a schema inside it)


@cache
def known_request_fields() -> dict[str, tuple[_Node, ...]]:
    """The fields a template may name as ``request.<field>``: the properties of every schema in
    :data:`REQUEST_SCHEMAS` plus :data:`DERIVED_REQUEST_FIELDS`, each with its JSON Schema(s)."""
    fields: dict[str, list[_Node]] = {}
    for name in REQUEST_SCHEMAS:
        root = json.loads((schemas_dir() / name).read_text(encoding="utf-8"))
        for field, schema in root.get("properties", {}).items():
            fields.setdefault(field, []).append((root, schema))
    for field, schema in DERIVED_REQUEST_FIELDS.items():
        fields.setdefault(field, []).append((schema, schema))
    return {field: tuple(nodes) for field, nodes in fields.items()}


def _resolve(root: dict[str, Any], schema: Any) -> dict[str, Any]:
    """``schema`` with local ``$ref``s followed; ``{}`` (anything goes) when it cannot be."""
    for _ in range(32):
        if not isinstance(schema, dict):
            return {}
        ref = schema.get("$ref")
        if not isinstance(ref, str):
            return schema
        if not ref.startswith("#/"):
            return {}
        target: Any = root
        for part in ref[2:].split("/"):
            target = target.get(part) if isinstance(target, dict) else None
        schema = target
    return {}


_KINDS = {
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "a boolean",
    "object": "an object",
    "array": "a list",
    "null": "null",
}


def _kinds(types: set[str]) -> str:
    shown = [_KINDS.get(t, t) for t in sorted(types) if t != "null"] or ["null"]
    return " or ".join(shown)


def _did_you_mean(name: str, choices: Any, prefix: str = "") -> str:
    import difflib  # for a hint only: not loaded unless something is misspelled

    close = difflib.get_close_matches(name, sorted(choices), n=2)
    if not close:
        return ""
    return " (did you mean " + " or ".join(repr(prefix + c) if prefix else repr(c) for c in close) + "?)"


def request_path_problem(steps: tuple[str | int, ...]) -> str | None:
    """Why ``request`` followed by ``steps`` can never name a value of a request, or None.

    The first step must be a known field (:func:`known_request_fields`); deeper steps are
    checked against the schema as far as it types them (an open object ends the check)."""
    if not steps:
        return None
    first = steps[0]
    if len(steps) == 1 and first in DERIVED_REQUEST_FIELDS:  # request.last_user: no schema to read
        return None
    fields = known_request_fields()
    if isinstance(first, int):
        return "request is the JSON body, an object: name a field, e.g. request.model or request.messages[0]"
    if first not in fields:
        hint = _did_you_mean(first, fields)
        if not hint:
            known = ", ".join(f"schemas/{name}" for name in REQUEST_SCHEMAS)
            hint = f" (a template reads the fields of a request, {known}, and {', '.join(DERIVED_REQUEST_FIELDS)})"
        return f"request has no field {first!r}{hint}"
    nodes: list[_Node] = list(fields[first])
    shown = f"request.{first}"
    for step in steps[1:]:
        found: list[_Node] = []
        kinds: set[str] = set()
        names: set[str] = set()
        for root, node in nodes:
            schema = _resolve(root, node)
            types = schema.get("type")
            if types is None:
                return None  # untyped from here on: anything goes
            types = {types} if isinstance(types, str) else set(types)
            kinds |= types
            if isinstance(step, int):
                if "array" in types:
                    if not isinstance(schema.get("items"), dict):
                        return None
                    found.append((root, schema["items"]))
            elif "object" in types:
                properties = schema.get("properties", {})
                names |= set(properties)
                extra = schema.get("additionalProperties", True)
                if step in properties:
                    found.append((root, properties[step]))
                elif isinstance(extra, dict):
                    found.append((root, extra))
                elif extra is not False:
                    return None  # an open object: a client may send any field
        if not found:
            if isinstance(step, int):
                return f"{shown} is {_kinds(kinds)}, not a list: it has no [{step}]"
            if "array" in kinds and "object" not in kinds:
                return f"{shown} is a list: pick an element first, e.g. {shown}[0].{step}"
            if "object" in kinds:
                return f"{shown} has no field {step!r}{_did_you_mean(step, names)}"
            return f"{shown} is {_kinds(kinds)}: it has no field {step!r}"
        nodes = found
        shown += f"[{step}]" if isinstance(step, int) else f".{step}"
    return None


# -- faker calls, checked and tried at load time ----------------------------------------------


class _Refused(Exception):
    """A faker call that may not load; the message says why, in template terms."""


def _check_arguments(method: str, args: list[Any], kwargs: dict[str, Any]) -> None:
    """Bind the call as Python would (messages in template terms) and bound its size arguments."""
    sig = _signature(method)
    if sig is None:
        return
    params = list(sig.parameters.values())
    takes_any_keyword = any(p.kind is p.VAR_KEYWORD for p in params)
    takes_any_position = any(p.kind is p.VAR_POSITIONAL for p in params)
    named = [p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    positional = [p.name for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    takes = f"faker.{method} takes {', '.join(named) if named else 'no arguments'}"
    for name in kwargs:
        if name not in named and not takes_any_keyword:
            raise _Refused(f"faker.{method} has no argument {name!r}{_did_you_mean(name, named)}; {takes}")
    if len(args) > len(positional) and not takes_any_position:
        raise _Refused(
            f"faker.{method} takes at most {len(positional)} positional argument(s), got {len(args)}"
            + (f"; it takes {', '.join(positional)}" if positional else "")
        )
    for name in positional[: len(args)]:
        if name in kwargs:
            raise _Refused(f"faker.{method}: {name} given twice (by position and by name)")
    try:
        bound = sig.bind(*args, **kwargs)
    except TypeError as exc:
        raise _Refused(f"faker.{method}: {exc}; {takes}") from None
    for name, value in bound.arguments.items():
        bound_ = SIZE_ARGUMENTS.get(name)
        if bound_ is None or value is None or isinstance(value, bool):
            continue
        if not isinstance(value, int):
            raise _Refused(f"faker.{method}: {name} must be a whole number, not {_literal_text(value)}")
        if value > bound_:
            raise _Refused(f"faker.{method}: {name}={value} is above the limit of {bound_:,}")
    # A count makes that many items of about the longest length: the product estimates the text.
    bound.apply_defaults()
    sizes = {
        name: value
        for name, value in bound.arguments.items()
        if name in SIZE_ARGUMENTS and isinstance(value, int) and not isinstance(value, bool) and value > 1
    }
    estimate = math.prod(v for n, v in sizes.items() if n in _COUNTS) * max(
        [v for n, v in sizes.items() if n not in _COUNTS], default=1
    )
    if estimate > TEMPLATE_BUDGET:
        product = " x ".join(f"{n}={v:,}" for n, v in sizes.items())
        raise _Refused(
            f"faker.{method}: its size arguments ({product}) come to {estimate:,}; "
            f"one template renders at most {TEMPLATE_BUDGET:,} characters"
        )


_TRIAL_LOCK = threading.Lock()


def _try_call(method: str, args: tuple[Any, ...], kwargs: dict[str, Any], shown: str) -> int:
    """Call the provider once with a seeded Faker; the length of its text, or :class:`_Refused`."""
    fake = _faker()
    with _TRIAL_LOCK, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fake.seed_instance(0)
        started = time.perf_counter()
        try:
            value = getattr(fake, method)(*args, **kwargs)
        except RecursionError:
            raise _Refused(f"{shown} fails when tried: it nests too deeply") from None
        except Exception as exc:
            raise _Refused(f"{shown} fails when tried: {_short(str(exc) or type(exc).__name__)}") from None
        elapsed = time.perf_counter() - started
    try:
        text = _to_text(value)
        _json(value)
    except (TypeError, ValueError):
        raise _Refused(f"{shown} returns a {type(value).__name__}, which is not text or JSON data") from None
    if caught:
        raise _Refused(f"{shown} warns: {_short(str(caught[0].message))}")
    if elapsed > TRIAL_SECONDS:
        raise _Refused(f"{shown} takes {elapsed:.1f} s to render once (limit {TRIAL_SECONDS:g} s)")
    return len(text)


def _short(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _literal_text(value: Any) -> str:
    if isinstance(value, str):
        return _short(json.dumps(value, ensure_ascii=False), 40)
    return _to_text(value) if value is not None else "null"


# -- compiled templates -----------------------------------------------------------------------


class Template:
    """A compiled template. ``render`` concatenates literal text and evaluated expressions."""

    __slots__ = ("_parts", "needs_faker", "source", "static")

    def __init__(self, source: str, parts: list[str | Evaluator], needs_faker: bool) -> None:
        self.source = source
        self._parts = parts
        self.needs_faker = needs_faker
        #: The whole text when the template has no expressions (the common case).
        self.static: str | None = (
            parts[0] if len(parts) == 1 and isinstance(parts[0], str) else ("" if not parts else None)
        )

    def render(self, ctx: TemplateContext | None) -> str:
        """The text for one request; ``ctx`` may be None only for a static template."""
        if self.static is not None:
            return self.static
        assert ctx is not None
        if len(self._parts) == 1:  # a lone expression, e.g. "{{ request.last_user }}"
            return _to_text(self._parts[0](ctx))  # type: ignore[operator]
        out = []
        for part in self._parts:
            out.append(part if isinstance(part, str) else _to_text(part(ctx)))
        return "".join(out)

    def __repr__(self) -> str:
        return f"Template({self.source!r})"


def compile_template(source: str, *, try_faker: bool = True) -> Template:
    """Parse ``source`` once; raise :class:`TemplateError` for anything outside the language,
    or for faker calls that would make more than :data:`TEMPLATE_BUDGET` characters.

    ``try_faker=False`` takes faker calls as written (the provider, its arguments, their cost
    unchecked) without importing faker: only for the built-in library, which the tests load
    with every check (``test_loader``), so ``serve`` need not import faker until ``lorem`` answers."""
    parts: list[str | Evaluator] = []
    needs_faker = False
    faker_chars = 0
    pos = 0
    while True:
        start = source.find(_OPEN, pos)
        if start < 0:
            if pos < len(source):
                parts.append(source[pos:])
            break
        if start > pos:
            parts.append(source[pos:start])
        end = source.find(_CLOSE, start + 2)
        if end < 0:
            raise TemplateError(f"unclosed '{{{{' at column {start + 1} in {_short(repr(source))}")
        parser = _Parser(source[start + 2 : end], source, try_faker)
        evaluator, uses_faker = parser.parse()
        needs_faker = needs_faker or uses_faker
        faker_chars += parser.faker_chars
        if faker_chars > TEMPLATE_BUDGET:
            raise TemplateError(
                f"the faker calls of this template make {faker_chars:,} characters when tried at load time; "
                f"one template renders at most {TEMPLATE_BUDGET:,} characters"
            )
        parts.append(evaluator)
        pos = end + 2
    return Template(source, parts, needs_faker)


def _to_text(value: Any) -> str:
    """How a value appears in the text: strings as they are, numbers and booleans as JSON,
    dates and times in ISO 8601, decimals and UUIDs as written, lists and objects as JSON."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, Decimal | UUID | datetime.timedelta | datetime.tzinfo):
        return str(value)
    if isinstance(value, bytes):
        return value.hex()
    return _json(value)


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        number = float(value)
        return number if math.isfinite(number) else str(value)
    if isinstance(value, set | frozenset):
        return list(value)
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, datetime.timedelta | datetime.tzinfo):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON data")


def _json_default_plain(value: Any) -> Any:
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    return _json_default(value)


def _json(value: Any) -> str:
    """``value`` as compact JSON; integers beyond 64 bits (which orjson refuses) as written."""
    try:
        return orjson.dumps(value, default=_json_default).decode()
    except orjson.JSONEncodeError:
        return json.dumps(value, default=_json_default_plain, ensure_ascii=False, separators=(",", ":"))


class _Parser:
    def __init__(self, expr: str, source: str, try_faker: bool = True) -> None:
        self.expr = expr
        self.source = source
        self.try_faker = try_faker
        self.tokens: list[tuple[str, str, int]] = []
        pos = 0
        stripped = expr.rstrip()
        while pos < len(stripped):
            m = _TOKEN.match(stripped, pos)
            if not m or m.end() == pos:
                bad = stripped[pos:].lstrip()[:20]
                self.fail(f"unexpected {bad!r}")
            kind = m.lastgroup or ""
            self.tokens.append((kind, m.group(kind), m.start(kind)))
            pos = m.end()
        self.i = 0
        self.uses_faker = False
        #: Characters the faker calls of this expression made when tried at load time.
        self.faker_chars = 0

    def fail(self, why: str, *, grammar: bool = True) -> NoReturn:
        where = f" in {{{{{_short(self.expr, 120)}}}}}"
        if not grammar:
            raise TemplateError(why + where)
        raise TemplateError(
            f"{why}{where}; templates allow request.<field>, seq, "
            "json_schema_instance, faker.<provider>(literal or name=literal, ...), literals and the filters "
            "default(), json, upper, lower, trim"
        )

    def peek(self, ahead: int = 0) -> tuple[str, str, int] | None:
        return self.tokens[self.i + ahead] if self.i + ahead < len(self.tokens) else None

    def take(self, kind: str | None = None, text: str | None = None) -> tuple[str, str, int]:
        tok = self.peek()
        if tok is None:
            self.fail("unexpected end")
        if (kind and tok[0] != kind) or (text and tok[1] != text):
            self.fail(f"unexpected {_short(repr(tok[1]), 40)}")
        self.i += 1
        return tok

    def parse(self) -> tuple[Evaluator, bool]:
        if not self.tokens:
            self.fail("empty expression")
        value = self.primary()
        while (tok := self.peek()) and tok[1] == "|":
            self.i += 1
            value = self.filter(value)
        if self.peek() is not None:
            self.fail(f"unexpected {_short(repr(self.peek()[1]), 40)}")  # type: ignore[index]
        return value, self.uses_faker

    def literal(self) -> Any:
        kind, text, _ = self.take()
        if kind == "str":
            body = text[1:-1]
            value = re.sub(r"\\(.)", r"\1", body)
            if len(value) > _MAX_STR:
                self.fail(f"string literal longer than {_MAX_STR:,} characters", grammar=False)
            return value
        if kind == "num":
            if len(text) > MAX_NUMBER_CHARS:
                self.fail(f"number {text[:20]}... is longer than {MAX_NUMBER_CHARS} characters", grammar=False)
            return float(text) if "." in text else int(text)
        if kind == "name" and text in ("true", "false", "null"):
            return {"true": True, "false": False, "null": None}[text]
        self.fail(f"expected a literal, got {_short(repr(text), 40)}")

    def primary(self) -> Evaluator:
        tok = self.peek()
        assert tok is not None
        if tok[0] in ("str", "num") or tok[1] in ("true", "false", "null"):
            value = self.literal()
            return lambda ctx: value
        name = self.take("name")[1]
        if name == "faker":
            return self.faker_call()
        if name not in _ROOTS:
            self.fail(f"unknown name {_short(repr(name), 40)}{_did_you_mean(name, _ROOTS)}")
        steps: list[str | int] = []
        while (tok := self.peek()) and tok[1] in (".", "["):
            self.i += 1
            if tok[1] == ".":
                field = self.take("name")[1]
                if field.startswith("_"):
                    self.fail(f"private name {_short(repr(field), 40)}")
                steps.append(field)
            else:
                _, text, _ = self.take("num")
                if "." in text:
                    self.fail("list index must be an integer")
                if len(text) > MAX_NUMBER_CHARS:
                    self.fail(f"list index longer than {MAX_NUMBER_CHARS} characters", grammar=False)
                steps.append(int(text))
                self.take("op", "]")
        if name == "seq":
            if steps:
                self.fail("seq has no fields")
            return lambda ctx: ctx.seq
        if name == "json_schema_instance":
            if steps:
                self.fail("json_schema_instance has no fields")
            return lambda ctx: ctx.json_schema_instance()
        problem = request_path_problem(tuple(steps))
        if problem is not None:
            self.fail(problem, grammar=False)
        return _request_path(tuple(steps))

    def faker_call(self) -> Evaluator:
        self.take("op", ".")
        _, method, method_at = self.take("name")
        if method.startswith("_") or (self.try_faker and method not in faker_methods()):
            hint = "" if method.startswith("_") else _did_you_mean(method, faker_methods(), "faker.")
            self.fail(f"faker.{_short(method, 60)} is not an allowed Faker provider{hint}", grammar=not hint)
        self.take("op", "(")
        args: list[Any] = []
        kwargs: dict[str, Any] = {}
        if (tok := self.peek()) and tok[1] != ")":
            while True:
                self.argument(method, args, kwargs)
                if (tok := self.peek()) and tok[1] == ",":
                    self.i += 1
                    continue
                break
        closed_at = self.take("op", ")")[2]
        shown = "faker." + _short(self.expr[method_at : closed_at + 1], 80)
        frozen, named = tuple(args), dict(kwargs)
        try:
            if self.try_faker:
                _check_arguments(method, args, kwargs)
                self.faker_chars += _try_call(method, frozen, named, shown)
        except _Refused as exc:
            self.fail(str(exc), grammar=False)
        self.uses_faker = True

        if named:

            def call(ctx: TemplateContext) -> Any:
                return getattr(ctx.faker, method)(*frozen, **named)

        else:

            def call(ctx: TemplateContext) -> Any:
                return getattr(ctx.faker, method)(*frozen)

        return call

    def argument(self, method: str, args: list[Any], kwargs: dict[str, Any]) -> None:
        tok, after = self.peek(), self.peek(1)
        if tok is not None and tok[0] == "name" and after is not None and after[1] == "=":
            name = tok[1]
            self.i += 2
            if name in kwargs:
                self.fail(f"faker.{method}: {name} given twice", grammar=False)
            kwargs[name] = self.literal()
            return
        if kwargs:
            self.fail(f"faker.{method}: a positional argument after a keyword argument", grammar=False)
        args.append(self.literal())

    def filter(self, inner: Evaluator) -> Evaluator:
        name = self.take("name")[1]
        if name not in _FILTERS:
            self.fail(f"unknown filter {_short(repr(name), 40)}{_did_you_mean(name, _FILTERS)}")
        if name == "default":
            self.take("op", "(")
            fallback = self.literal()
            self.take("op", ")")
            return lambda ctx: _or(inner(ctx), fallback)
        if name == "json":
            return lambda ctx: _json(inner(ctx))
        if name == "upper":
            return lambda ctx: _to_text(inner(ctx)).upper()
        if name == "lower":
            return lambda ctx: _to_text(inner(ctx)).lower()
        return lambda ctx: _to_text(inner(ctx)).strip()


def _or(value: Any, fallback: Any) -> Any:
    return fallback if value is None or value == "" else value


def _request_path(steps: tuple[str | int, ...]) -> Evaluator:
    if steps == ("last_user",):
        return lambda ctx: ctx.last_user

    def walk(ctx: TemplateContext) -> Any:
        value: Any = ctx.request
        for step in steps:
            if isinstance(step, int):
                if not isinstance(value, list) or not -len(value) <= step < len(value):
                    return None
            elif not isinstance(value, dict):
                return None
            value = value[step] if isinstance(step, int) else value.get(step)
        return value

    return walk

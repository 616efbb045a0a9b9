"""The ``{{ }}`` template language: small, safe, compiled once at load time.

Grammar (anything else is a :class:`~mockrouter.errors.TemplateError` at load time)::

    template := ( text | "{{" expr "}}" )*
    expr     := primary ( "|" filter )*
    primary  := path | "faker." NAME "(" [ literal ("," literal)* ] ")" | literal
    path     := ("request" | "seq" | "json_schema_instance") ( "." NAME | "[" INT "]" )*
    filter   := "default(" literal ")" | "json" | "upper" | "lower" | "trim"
    literal  := "string" | 'string' | INT | FLOAT | true | false | null

``request.*`` walks the JSON body of the request (dicts and lists only, never attributes of
Python objects); ``request.last_user`` is the text of the last user message. ``seq`` is this
key's request count (1 for the first). ``faker.NAME(...)`` calls a Faker provider seeded per
request, so a seeded server renders the same text every time.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

import orjson

from ..errors import TemplateError

_OPEN = "{{"
_CLOSE = "}}"
_ROOTS = frozenset({"request", "seq", "json_schema_instance"})
_FILTERS = frozenset({"default", "json", "upper", "lower", "trim"})
_MAX_INT = 100_000
#: Providers with a plural name make that many items: a bound keeps one render cheap.
_MAX_COUNT = 1_000
_MAX_STR = 1_000
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

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<str>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
      | (?P<num>-?\d+(?:\.\d+)?)
      | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
      | (?P<op>[.\[\](),|])
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
def faker_methods() -> frozenset[str]:
    """The Faker provider methods templates may call (computed once per process)."""
    from faker import Faker

    fake = Faker()
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


def compile_template(source: str) -> Template:
    """Parse ``source`` once; raise :class:`TemplateError` for anything outside the language."""
    parts: list[str | Evaluator] = []
    needs_faker = False
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
            raise TemplateError(f"unclosed '{{{{' at column {start + 1} in {source!r}")
        parser = _Parser(source[start + 2 : end], source)
        evaluator, uses_faker = parser.parse()
        needs_faker = needs_faker or uses_faker
        parts.append(evaluator)
        pos = end + 2
    return Template(source, parts, needs_faker)


def _to_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return orjson.dumps(value).decode()


class _Parser:
    def __init__(self, expr: str, source: str) -> None:
        self.expr = expr
        self.source = source
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

    def fail(self, why: str) -> None:
        raise TemplateError(
            f"{why} in template {{{{{self.expr}}}}}; templates allow request.<field>, seq, "
            "json_schema_instance, faker.<provider>(literals), literals and the filters "
            "default(), json, upper, lower, trim"
        )

    def peek(self) -> tuple[str, str, int] | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self, kind: str | None = None, text: str | None = None) -> tuple[str, str, int]:
        tok = self.peek()
        if tok is None:
            self.fail("unexpected end")
            raise AssertionError  # unreachable; fail() raises
        if (kind and tok[0] != kind) or (text and tok[1] != text):
            self.fail(f"unexpected {tok[1]!r}")
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
            self.fail(f"unexpected {self.peek()[1]!r}")  # type: ignore[index]
        return value, self.uses_faker

    def literal(self) -> Any:
        kind, text, _ = self.take()
        if kind == "str":
            body = text[1:-1]
            value = re.sub(r"\\(.)", r"\1", body)
            if len(value) > _MAX_STR:
                self.fail("string literal too long")
            return value
        if kind == "num":
            value = float(text) if "." in text else int(text)
            if abs(value) > _MAX_INT:
                self.fail(f"number {text} out of range (|n| <= {_MAX_INT})")
            return value
        if kind == "name" and text in ("true", "false", "null"):
            return {"true": True, "false": False, "null": None}[text]
        self.fail(f"expected a literal, got {text!r}")

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
            self.fail(f"unknown name {name!r}")
        steps: list[str | int] = []
        while (tok := self.peek()) and tok[1] in (".", "["):
            self.i += 1
            if tok[1] == ".":
                field = self.take("name")[1]
                if field.startswith("_"):
                    self.fail(f"private name {field!r}")
                steps.append(field)
            else:
                _, text, _ = self.take("num")
                if "." in text:
                    self.fail("list index must be an integer")
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
        return _request_path(tuple(steps))

    def faker_call(self) -> Evaluator:
        self.take("op", ".")
        method = self.take("name")[1]
        if method not in faker_methods():
            self.fail(f"faker.{method} is not an allowed Faker provider")
        self.take("op", "(")
        args: list[Any] = []
        if (tok := self.peek()) and tok[1] != ")":
            args.append(self.literal())
            while (tok := self.peek()) and tok[1] == ",":
                self.i += 1
                args.append(self.literal())
        self.take("op", ")")
        if method.endswith("s") and any(isinstance(a, int | float) and abs(a) > _MAX_COUNT for a in args):
            # faker.texts / paragraphs / sentences / words ...: the number is a count of generated items
            self.fail(f"faker.{method} count above {_MAX_COUNT}")
        self.uses_faker = True
        frozen = tuple(args)

        def call(ctx: TemplateContext) -> Any:
            return getattr(ctx.faker, method)(*frozen)

        return call

    def filter(self, inner: Evaluator) -> Evaluator:
        name = self.take("name")[1]
        if name not in _FILTERS:
            self.fail(f"unknown filter {name!r}")
        if name == "default":
            self.take("op", "(")
            fallback = self.literal()
            self.take("op", ")")
            return lambda ctx: _or(inner(ctx), fallback)
        if name == "json":
            return lambda ctx: orjson.dumps(inner(ctx)).decode()
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

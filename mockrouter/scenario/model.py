"""The scenario model: plain data classes built once by the loader.

Everything a request needs at render time is prepared here: regexes compiled, templates
parsed, static text pre-tokenised into stream pieces, mapping arguments pre-encoded.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from ..core.reply import Fault, HttpError, Timing
from ..errors import RegexError
from .templates import Template


@cache
def _re2() -> tuple[Any, Any]:
    """The ``re2`` module and its options, imported with the first regex (~2.5 MB of memory
    that a server whose scenarios match no regex does without)."""
    import re2

    options = re2.Options()
    options.log_errors = False  # a bad pattern is a load error, not a line on stderr
    options.never_capture = True  # only "does it match" is ever asked
    return re2, options


class Regex:
    """A ``match`` regex, compiled once with RE2: searching is linear in the text, so no
    pattern can backtrack catastrophically (backreferences and lookaround are refused)."""

    __slots__ = ("_compiled", "pattern")

    def __init__(self, pattern: str) -> None:
        re2, options = _re2()
        try:
            self._compiled = re2.compile(pattern, options)
        except re2.error as exc:
            reason = exc.args[0] if exc.args else exc
            raise RegexError(reason.decode() if isinstance(reason, bytes) else str(reason)) from None
        self.pattern = pattern

    def search(self, text: str) -> bool:
        """Whether the pattern matches anywhere in ``text`` (searched as UTF-8 bytes, so a
        lone surrogate from a JSON ``\\udcff`` escape cannot make it fail)."""
        return self._compiled.search(text.encode("utf-8", "surrogatepass")) is not None

    def __repr__(self) -> str:
        return f"Regex({self.pattern!r})"


@dataclass(slots=True)
class Match:
    """The ``match`` block: every condition present must hold."""

    model: list[tuple[str, re.Pattern[str]]] | None = None  # (glob, compiled)
    last_user: Regex | None = None
    last_role: str | None = None
    has_tools: bool | None = None
    stream: bool | None = None
    header: dict[str, Regex] = field(default_factory=dict)
    body: dict[str, tuple[tuple[str, ...], Any]] = field(default_factory=dict)
    #: Agent loops without counters: assistant turns already in the conversation, as
    #: inclusive (low, high) ranges, any of which may hold.
    turn: list[tuple[int, float]] | None = None
    #: The last message is the result of this tool.
    last_tool: str | None = None
    tool_result: Regex | None = None
    system: Regex | None = None
    #: The API surface the request came on (``chat``, ``text``, ``messages``, ``responses``).
    surface: str | None = None
    #: Conversation hashes (``core.conversation``), any of which may hold: 16 lowercase hex
    #: digits each, as ``record`` writes them.
    conversation: list[str] | None = None
    #: The conditions above as ``matcher.Condition`` objects, made on first use (``matcher.conditions``).
    conditions: list[Any] | None = field(default=None, compare=False, repr=False)

    @property
    def exact_models(self) -> list[str] | None:
        """Model ids this block can only match literally (used to index scenarios)."""
        if self.model is None:
            return None
        if any(any(ch in glob for ch in "*?[") for glob, _ in self.model):
            return None
        return [glob for glob, _ in self.model]


@dataclass(slots=True)
class ToolCallSpec:
    name: Template
    #: Pre-encoded JSON (from a mapping) or a raw string template.
    arguments: Template
    id: str | None = None
    #: The argument fragments a stream sends (``tool_calls[i].chunks``: they concatenate to
    #: the raw, static ``arguments``); None: cut by ``stream.chunk_tokens``.
    pieces: list[str] | None = None


@dataclass(slots=True)
class TextSpec:
    """A text field (content, reasoning, refusal); static text is pre-cut at load time."""

    template: Template
    pieces: list[str] | None = None  # stream pieces, when the text is static
    tokens: int = 0  # token count, when the text is static


@dataclass(slots=True)
class StreamSpec:
    chunk_tokens: int = 1
    #: Explicit stream pieces of ``content`` and of ``reasoning``.
    chunks: list[str] | None = None
    reasoning_chunks: list[str] | None = None
    keepalive: int = 0
    usage: str = "auto"


@dataclass(slots=True, frozen=True)
class StaticTexts:
    """The texts of a step without templates or tool calls, as every request answers them
    (until ``max_tokens`` cuts them): fixed at load so rendering only looks them up."""

    content: str | None
    reasoning: str | None
    refusal: str | None
    content_pieces: list[str]
    reasoning_pieces: list[str]
    refusal_pieces: list[str]
    reasoning_tokens: int
    #: Completion tokens: reasoning, content and refusal together.
    tokens: int
    finish_reason: str
    #: Where encoders keep the bytes they compile for replies of this step (``Reply.memo``).
    memo: dict[Any, Any] = field(default_factory=dict, compare=False, repr=False)
    #: The replies built from these texts, by (model, prompt tokens): the same request shape
    #: gets the same (read-only) reply. Bounded by ``render``.
    replies: dict[tuple[str, int], Any] = field(default_factory=dict, compare=False, repr=False)


def _static_text(spec: TextSpec | None) -> tuple[str | None, list[str], int]:
    """A static text field as (text, stream pieces, tokens); a missing one is (None, [], 0)."""
    if spec is None:
        return None, [], 0
    assert spec.pieces is not None
    return spec.template.static, spec.pieces, spec.tokens


@dataclass(slots=True)
class Step:
    """One scripted response."""

    line: int | None = None
    content: TextSpec | None = None
    reasoning: TextSpec | None = None
    refusal: TextSpec | None = None
    tool_calls: list[ToolCallSpec] = field(default_factory=list)
    call_declared_tools: int = 0
    finish_reason: str | None = None
    native_finish_reason: str | None = None
    usage: dict[str, Any] | None = None
    model: str | None = None
    provider: str | None = None
    error: HttpError | None = None
    stream: StreamSpec = field(default_factory=StreamSpec)
    timing: Timing = field(default_factory=Timing)
    fault: Fault | None = None
    #: Answer with a response drawn from ``mockrouter.strategies`` (the ``fuzz`` built-in).
    fuzz: bool = False
    #: Derived at load time (see ``finish``): whether rendering needs templates / a seeded faker.
    dynamic: bool = False
    needs_faker: bool = False
    #: Derived at load time: the texts of a step with neither templates nor tool calls.
    static: StaticTexts | None = None

    def finish(self) -> Step:
        """Compute the derived fields once the step is built."""
        templates = [t.template for t in (self.content, self.reasoning, self.refusal) if t]
        templates += [c.arguments for c in self.tool_calls] + [c.name for c in self.tool_calls]
        self.dynamic = any(t.static is None for t in templates) or bool(self.call_declared_tools)
        self.needs_faker = any(t.needs_faker for t in templates)
        self.static = None if self.dynamic or self.tool_calls else self._static_texts()
        return self

    def _static_texts(self) -> StaticTexts | None:
        """What ``render`` answers for this step's texts when nothing truncates them (the
        same values its general path computes: a missing content is ``""`` unless there is
        a refusal, the finish reason defaults to ``stop``)."""
        specs = (self.content, self.reasoning, self.refusal)
        if any(s is not None and s.pieces is None for s in specs):
            return None
        content, reasoning, refusal = (_static_text(s) for s in specs)
        text = "" if content[0] is None and refusal[0] is None else content[0]
        return StaticTexts(
            content=text,
            reasoning=reasoning[0],
            refusal=refusal[0],
            content_pieces=content[1],
            reasoning_pieces=reasoning[1],
            refusal_pieces=refusal[1],
            reasoning_tokens=reasoning[2],
            tokens=content[2] + reasoning[2] + refusal[2],
            finish_reason="stop" if self.finish_reason is None else self.finish_reason,
        )

    @property
    def deliberate_break(self) -> bool:
        """A step whose output is broken on purpose (``check`` does not flag it)."""
        return self.fault is not None or (self.error is not None and self.error.body is not None)


@dataclass(slots=True)
class Chaos:
    rate: float
    faults: list[Step]


@dataclass(slots=True)
class Scenario:
    """A named script: when it applies (``match``) and what it answers (``steps``)."""

    name: str
    steps: list[Step]
    description: str = ""
    priority: int = 0
    match: Match | None = None
    then: str = "repeat-last"
    chaos: Chaos | None = None
    file: str | None = None
    line: int | None = None
    #: Load order; ties between equal priorities go to the lower number.
    order: int = 0
    builtin: bool = False

    def summary(self) -> dict[str, Any]:
        """A JSON-friendly description (admin API, ``mockrouter scenarios``)."""
        return {
            "name": self.name,
            "description": self.description,
            "priority": self.priority,
            "match": describe_match(self.match),
            "steps": len(self.steps),
            "then": self.then,
            "file": self.file,
            "line": self.line,
            "builtin": self.builtin,
        }


def describe_match(match: Match | None) -> dict[str, Any] | None:
    if match is None:
        return None
    out: dict[str, Any] = {}
    if match.model is not None:
        out["model"] = [g for g, _ in match.model]
    if match.last_user is not None:
        out["last_user"] = match.last_user.pattern
    for name in ("last_role", "has_tools", "stream", "surface"):
        value = getattr(match, name)
        if value is not None:
            out[name] = value
    if match.turn is not None:
        out["turn"] = shown_turn(match.turn)
    if match.last_tool is not None:
        out["last_tool"] = match.last_tool
    for name in ("tool_result", "system"):
        rx = getattr(match, name)
        if rx is not None:
            out[name] = rx.pattern
    if match.conversation is not None:
        hashes = match.conversation
        out["conversation"] = hashes[0] if len(hashes) == 1 else list(hashes)
    if match.header:
        out["header"] = {k: v.pattern for k, v in match.header.items()}
    if match.body:
        out["body"] = {k: (v.pattern if isinstance(v, Regex) else v) for k, (_, v) in match.body.items()}
    return out


def shown_turn(ranges: list[tuple[int, float]]) -> Any:
    """``match.turn`` as written: a number, a list of numbers, or ``{min, max}``."""
    if len(ranges) == 1:
        low, high = ranges[0]
        if low == high:
            return low
        return {"min": low} if high == float("inf") else {"min": low, "max": int(high)}
    return [low for low, _ in ranges]

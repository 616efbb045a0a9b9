"""Match a request against a scenario's ``match`` block, with a scored result.

Like WireMock's ``MatchResult``: not a bool but the list of conditions that failed, with what
was expected and what the request had, so an unmatched request can be explained by its
nearest scenarios.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..core.conversation import conversation_hash
from ..core.surfaces import text_of
from .model import Match, Regex, shown_turn


@dataclass(slots=True)
class Conversation:
    """What the agent-loop conditions read (``turn``, ``last_tool``, ``tool_result``,
    ``system``, ``conversation``): worked out on first use, only for requests a scenario asks
    about them; the hash only when a ``conversation`` condition asks for it."""

    #: Assistant messages already in the conversation (0 on its first call).
    turn: int
    #: The tool whose result is the last message (None when the last message is not one).
    last_tool: str | None
    #: The text of that result.
    tool_result: str | None
    #: The system (and developer) messages' text, joined with newlines.
    system: str
    #: The chat view's messages (what :attr:`hash` is made from).
    messages: list[Any] = field(default_factory=list, repr=False, compare=False)
    _hash: str | None = field(default=None, repr=False, compare=False)

    @property
    def hash(self) -> str:
        """The conversation hash (``core.conversation``), made on first use."""
        if self._hash is None:
            self._hash = conversation_hash(self.messages)
        return self._hash

    @classmethod
    def of(cls, messages: list[Any]) -> Conversation:
        turn = 0
        names: dict[str, str] = {}
        system = []
        for message in messages:
            if not isinstance(message, dict):
                continue
            role = message.get("role")
            if role == "assistant":
                turn += 1
                for call in message.get("tool_calls") or ():
                    function = call.get("function") if isinstance(call, dict) else None
                    if isinstance(function, dict) and isinstance(call.get("id"), str):
                        names[call["id"]] = str(function.get("name", ""))
            elif role in ("system", "developer"):
                system.append(text_of(message.get("content")))
        last = messages[-1] if messages and isinstance(messages[-1], dict) else {}
        if last.get("role") != "tool":
            return cls(turn, None, None, "\n".join(system), messages)
        call_id = last.get("tool_call_id")
        name = names.get(call_id) if isinstance(call_id, str) else None
        if name is None and isinstance(last.get("name"), str):  # the legacy ``function`` form names it
            name = last["name"]
        return cls(turn, name, text_of(last.get("content")), "\n".join(system), messages)


@dataclass(slots=True)
class RequestFacts:
    """What matching and templates read from a request, extracted once per request."""

    body: dict[str, Any]
    model: str
    stream: bool
    last_user: str
    last_role: str | None
    has_tools: bool
    headers: dict[str, str]
    #: The API surface the request came on (its ``body`` is the chat view of it).
    surface: str = "chat"
    _conversation: Conversation | None = None

    @property
    def conversation(self) -> Conversation:
        """The agent-loop facts, worked out once."""
        if self._conversation is None:
            messages = self.body.get("messages")
            self._conversation = Conversation.of(messages if isinstance(messages, list) else [])
        return self._conversation

    @classmethod
    def from_body(cls, body: dict[str, Any], headers: dict[str, str], surface: str = "chat") -> RequestFacts:
        messages = body.get("messages") or []
        last_user = ""
        for message in reversed(messages):
            if isinstance(message, dict) and message.get("role") == "user":
                content = message.get("content")
                last_user = content if type(content) is str else text_of(content)
                break
        last = messages[-1] if messages and isinstance(messages[-1], dict) else {}
        model = body.get("model")
        return cls(
            body=body,
            model=model if type(model) is str else str(model or ""),
            stream=body.get("stream") is True,
            last_user=last_user,
            last_role=last.get("role"),
            has_tools=bool(body.get("tools")),
            headers=headers,
            surface=surface,
        )


def _in_ranges(ranges: list[tuple[int, float]], value: int) -> bool:
    for low, high in ranges:  # noqa: SIM110 (a loop: no generator per request)
        if low <= value <= high:
            return True
    return False


@dataclass(slots=True)
class Mismatch:
    condition: str
    expected: Any
    actual: Any

    def as_dict(self) -> dict[str, Any]:
        return {"condition": self.condition, "expected": self.expected, "actual": self.actual}


@dataclass(slots=True)
class MatchResult:
    conditions: int
    mismatches: list[Mismatch] = field(default_factory=list)

    @property
    def matched(self) -> bool:
        return not self.mismatches

    @property
    def distance(self) -> float:
        """0.0 for a match, 1.0 when every condition failed."""
        return len(self.mismatches) / self.conditions if self.conditions else 0.0


_MISSING = object()


def _dig(body: Any, path: tuple[str, ...]) -> Any:
    value = body
    for part in path:
        if isinstance(value, dict):
            value = value.get(part, _MISSING)
        elif isinstance(value, list) and part.lstrip("-").isdigit() and -len(value) <= int(part) < len(value):
            value = value[int(part)]
        else:
            return _MISSING
        if value is _MISSING:
            return _MISSING
    return value


@dataclass(slots=True, frozen=True)
class Condition:
    """One condition of a ``match`` block, defined once: its name in near misses, what it
    expects (as shown), how a request is tested, and what the request had (as shown)."""

    name: str
    expected: Any
    test: Callable[[RequestFacts], bool]
    actual: Callable[[RequestFacts], Any]


def conditions(match: Match) -> list[Condition]:
    """The conditions of ``match``, in the order near misses list them (made once per block)."""
    if match.conditions is None:
        match.conditions = _conditions(match)
    return match.conditions


def holds(match: Match, facts: RequestFacts) -> bool:
    """Whether every condition holds (the selection's question: no result is built)."""
    for condition in match.conditions or conditions(match):  # noqa: SIM110 (a loop: no generator per candidate)
        if not condition.test(facts):
            return False
    return True


def evaluate(match: Match, facts: RequestFacts, *, first_failure: bool = False) -> MatchResult:
    """Check every condition of ``match`` (stop at the first failure when asked), with what
    each failed one expected and what the request had."""
    result = MatchResult(conditions=0)
    for condition in conditions(match):
        result.conditions += 1
        if not condition.test(facts):
            result.mismatches.append(Mismatch(condition.name, condition.expected, condition.actual(facts)))
            if first_failure:
                break
    return result


def _conditions(match: Match) -> list[Condition]:
    out: list[Condition] = []
    if match.model is not None:
        patterns = match.model
        shown = [g for g, _ in patterns] if len(patterns) > 1 else patterns[0][0]
        out.append(Condition("model", shown, lambda f: _model_matches(patterns, f.model), lambda f: f.model))
    stream, has_tools, last_role = match.stream, match.has_tools, match.last_role
    if stream is not None:
        out.append(Condition("stream", stream, lambda f: f.stream == stream, lambda f: f.stream))
    if has_tools is not None:
        out.append(Condition("has_tools", has_tools, lambda f: f.has_tools == has_tools, lambda f: f.has_tools))
    if last_role is not None:
        out.append(Condition("last_role", last_role, lambda f: f.last_role == last_role, lambda f: f.last_role))
    if match.last_user is not None:
        rx = match.last_user
        out.append(Condition("last_user", rx.pattern, lambda f: rx.search(f.last_user), lambda f: _clip(f.last_user)))
    if match.surface is not None:
        surface = match.surface
        out.append(Condition("surface", surface, lambda f: f.surface == surface, lambda f: f.surface))
    out += _conversation_conditions(match)
    for header, rx in match.header.items():
        out.append(_header(header, rx))
    for dotted, (path, expected) in match.body.items():
        out.append(_body(dotted, path, expected))
    return out


def _conversation_conditions(match: Match) -> list[Condition]:
    """The agent-loop conditions: on the conversation itself, not on counters."""
    out: list[Condition] = []
    if match.turn is not None:
        ranges = match.turn
        out.append(
            Condition(
                "turn",
                shown_turn(ranges),
                lambda f: _in_ranges(ranges, f.conversation.turn),
                lambda f: f.conversation.turn,
            )
        )
    if match.last_tool is not None:
        tool = match.last_tool
        out.append(
            Condition("last_tool", tool, lambda f: f.conversation.last_tool == tool, lambda f: f.conversation.last_tool)
        )
    if match.tool_result is not None:
        rx = match.tool_result

        def result_matches(facts: RequestFacts) -> bool:
            text = facts.conversation.tool_result
            return text is not None and rx.search(text)

        out.append(Condition("tool_result", rx.pattern, result_matches, lambda f: _clip(f.conversation.tool_result)))
    if match.conversation is not None:
        out.append(_conversation(match.conversation))
    if match.system is not None:
        system = match.system
        out.append(
            Condition(
                "system",
                system.pattern,
                lambda f: system.search(f.conversation.system),
                lambda f: _clip(f.conversation.system),
            )
        )
    return out


def _conversation(hashes: list[str]) -> Condition:
    """``match.conversation``: the request's conversation hash is one of ``hashes``."""
    if len(hashes) == 1:
        wanted = hashes[0]
        return Condition("conversation", wanted, lambda f: f.conversation.hash == wanted, lambda f: f.conversation.hash)
    allowed = frozenset(hashes)
    return Condition(
        "conversation", list(hashes), lambda f: f.conversation.hash in allowed, lambda f: f.conversation.hash
    )


def _header(name: str, rx: Regex) -> Condition:
    def test(facts: RequestFacts) -> bool:
        actual = facts.headers.get(name)
        return actual is not None and rx.search(actual)

    return Condition(f"header.{name}", rx.pattern, test, lambda f: f.headers.get(name))


def _body(dotted: str, path: tuple[str, ...], expected: Any) -> Condition:
    if isinstance(expected, Regex):
        rx = expected

        def test(facts: RequestFacts) -> bool:
            actual = _dig(facts.body, path)
            return (
                actual is not _MISSING
                and isinstance(actual, str | int | float)
                and not isinstance(actual, bool)
                and rx.search(str(actual))
            )

        shown = rx.pattern
    else:

        def test(facts: RequestFacts) -> bool:
            actual = _dig(facts.body, path)
            return (
                actual is not _MISSING and actual == expected and isinstance(actual, bool) == isinstance(expected, bool)
            )

        shown = expected

    def actual(facts: RequestFacts) -> Any:
        value = _dig(facts.body, path)
        return None if value is _MISSING else _clip(value)

    return Condition(f"body.{dotted}", shown, test, actual)


def _model_matches(patterns: list[tuple[str, Any]], model: str) -> bool:
    """Whether any of ``patterns`` matches ``model`` (a loop: no generator per request)."""
    for glob, rx in patterns:  # noqa: SIM110 (any() over a generator costs more per request)
        # A glob equal to the model matches it (``*`` and ``?`` match themselves; only a
        # ``[`` class might not), and the regex costs ~2,000 instructions per request.
        if (glob == model and "[" not in glob) or rx.match(model):
            return True
    return False


def _clip(value: Any, limit: int = 200) -> Any:
    if isinstance(value, str) and len(value) > limit:
        return value[:limit] + "..."
    return value

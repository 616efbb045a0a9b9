"""Match a request against a scenario's ``match`` block, with a scored result.

Like WireMock's ``MatchResult``: not a bool but the list of conditions that failed, with what
was expected and what the request had, so an unmatched request can be explained by its
nearest scenarios.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .model import Match, Regex


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

    @classmethod
    def from_body(cls, body: dict[str, Any], headers: dict[str, str]) -> RequestFacts:
        messages = body.get("messages") or []
        last_user = ""
        for message in reversed(messages):
            if isinstance(message, dict) and message.get("role") == "user":
                content = message.get("content")
                last_user = content if type(content) is str else message_text(content)
                break
        last = messages[-1] if messages and isinstance(messages[-1], dict) else {}
        model = body.get("model")
        # Positional (in field order): keywords cost a dict on every request.
        return cls(
            body,
            model if type(model) is str else str(model or ""),  # model
            body.get("stream") is True,  # stream
            last_user,
            last.get("role"),  # last_role
            bool(body.get("tools")),  # has_tools
            headers,
        )


def message_text(content: Any) -> str:
    """The text of a message's content: a string, or its text parts joined with newlines."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(
            part.get("text", "")
            for part in content
            if isinstance(part, dict) and part.get("type") == "text" and isinstance(part.get("text"), str)
        )
    return ""


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


def holds(match: Match, facts: RequestFacts) -> bool:
    """Whether every condition holds: the allocation-free fast path of :func:`evaluate`."""
    if match.model is not None and not _model_matches(match.model, facts.model):
        return False
    if match.stream is not None and match.stream != facts.stream:
        return False
    if match.has_tools is not None and match.has_tools != facts.has_tools:
        return False
    if match.last_role is not None and match.last_role != facts.last_role:
        return False
    if match.last_user is not None and not match.last_user.search(facts.last_user):
        return False
    if match.header or match.body:
        return evaluate(match, facts, first_failure=True).matched
    return True


def _model_matches(patterns: list[tuple[str, Any]], model: str) -> bool:
    """Whether any of ``patterns`` matches ``model`` (a loop: no generator per request)."""
    for glob, rx in patterns:  # noqa: SIM110 (any() over a generator costs more per request)
        # A glob equal to the model matches it (``*`` and ``?`` match themselves; only a
        # ``[`` class might not), and the regex costs ~2,000 instructions per request.
        if (glob == model and "[" not in glob) or rx.match(model):
            return True
    return False


def evaluate(match: Match, facts: RequestFacts, *, first_failure: bool = False) -> MatchResult:
    """Check every condition of ``match``; stop at the first failure when asked (fast path)."""
    result = MatchResult(conditions=0)
    fails = result.mismatches

    def check(ok: bool, condition: str, expected: Any, actual: Any) -> bool:
        result.conditions += 1
        if not ok:
            fails.append(Mismatch(condition, expected, actual))
            return first_failure
        return False

    if match.model is not None and check(
        any(rx.match(facts.model) for _, rx in match.model),
        "model",
        [g for g, _ in match.model] if len(match.model) > 1 else match.model[0][0],
        facts.model,
    ):
        return result
    if match.stream is not None and check(match.stream == facts.stream, "stream", match.stream, facts.stream):
        return result
    if match.has_tools is not None and check(
        match.has_tools == facts.has_tools, "has_tools", match.has_tools, facts.has_tools
    ):
        return result
    if match.last_role is not None and check(
        match.last_role == facts.last_role, "last_role", match.last_role, facts.last_role
    ):
        return result
    if match.last_user is not None and check(
        match.last_user.search(facts.last_user),
        "last_user",
        match.last_user.pattern,
        _clip(facts.last_user),
    ):
        return result
    for name, rx in match.header.items():
        actual = facts.headers.get(name)
        if check(actual is not None and rx.search(actual), f"header.{name}", rx.pattern, actual):
            return result
    for dotted, (path, expected) in match.body.items():
        actual = _dig(facts.body, path)
        if isinstance(expected, Regex):
            ok = (
                actual is not _MISSING
                and isinstance(actual, (str, int, float))
                and not isinstance(actual, bool)
                and expected.search(str(actual))
            )
            shown = expected.pattern
        else:
            ok = (
                actual is not _MISSING and actual == expected and isinstance(actual, bool) == isinstance(expected, bool)
            )
            shown = expected
        if check(ok, f"body.{dotted}", shown, None if actual is _MISSING else _clip(actual)):
            return result
    return result


def _clip(value: Any, limit: int = 200) -> Any:
    if isinstance(value, str) and len(value) > limit:
        return value[:limit] + "..."
    return value

"""One recorded turn of a conversation: the scenario step that replays it, where it belongs,
and nothing secret.

A :class:`Recording` is plain JSON-ready data, so it can be written to a cassette by the
server (``serve --mode record``) or handed over the admin API to the pytest plugin, which
writes the test's cassette itself.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from ..core.conversation import conversation_hash, root_hash
from ..core.surfaces import chat_view, text_of
from .exchange import Exchange

__all__ = ["MASK", "Recording", "Redactor", "record", "shown_upstream"]

#: What a secret becomes in a recorded file.
MASK = "[REDACTED]"
#: The longest opening text of a conversation kept as its title.
TITLE_CHARS = 80


@dataclass(slots=True)
class Recording:
    """A turn as a cassette keeps it."""

    #: ``match.conversation`` of the scenario that replays it (``core.conversation``).
    conversation: str
    #: The hash of the conversation's opening: every turn of a conversation shares it (its file).
    root: str
    #: Assistant turns before this request (0: the conversation's first call).
    turn: int
    surface: str
    path: str
    stream: bool
    status: int
    #: The scenario step that replays the answer.
    step: dict[str, Any]
    #: One-line remarks (what was odd about the exchange), written as comments.
    notes: list[str] = field(default_factory=list)
    #: The conversation's first user text, cut (secrets masked).
    title: str = ""
    #: When it was recorded (unix seconds), and from where (the upstream, without credentials).
    recorded: float = 0.0
    upstream: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Recording:
        return cls(**data)


class Redactor:
    """Masks secrets in everything a recording keeps: the literal secrets given (the request's
    key, the upstream key, cookies) and every match of the ``--redact`` patterns."""

    def __init__(self, patterns: Iterable[str | re.Pattern[str]] = ()) -> None:
        self.patterns = [p if isinstance(p, re.Pattern) else re.compile(p) for p in patterns]

    def text(self, text: str, secrets: Iterable[str] = ()) -> str:
        for secret in secrets:
            if secret:
                text = text.replace(secret, MASK)
        for pattern in self.patterns:
            text = pattern.sub(MASK, text)
        return text

    def data(self, value: Any, secrets: Iterable[str] = ()) -> Any:
        """``value`` (JSON-like) with every string, mapping keys included, masked."""
        secrets = [s for s in secrets if s]
        if not secrets and not self.patterns:
            return value
        return self._walk(value, secrets)

    def _walk(self, value: Any, secrets: list[str]) -> Any:
        if isinstance(value, str):
            return self.text(value, secrets)
        if isinstance(value, dict):
            return {self.text(k, secrets): self._walk(v, secrets) for k, v in value.items()}
        if isinstance(value, list):
            return [self._walk(v, secrets) for v in value]
        return value


def shown_upstream(url: str) -> str:
    """``url`` as a recording names it: no user, password, query or fragment (credentials
    sometimes ride in them)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port is not None:
        host += f":{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def record(
    exchange: Exchange,
    *,
    upstream: str,
    secrets: Iterable[str] = (),
    redactor: Redactor | None = None,
    timing: bool = False,
) -> Recording:
    """The recording of one exchange, secrets masked (``secrets``: the literal values to mask)."""
    from .transcribe import transcribe  # the SSE decoders: loaded when a first exchange is recorded

    redactor = redactor or Redactor()
    secrets = [s for s in secrets if s]
    transcript = transcribe(exchange, timing=timing)
    messages = chat_view(exchange.surface, exchange.request).get("messages")
    messages = messages if isinstance(messages, list) else []
    turn = sum(1 for m in messages if isinstance(m, dict) and m.get("role") == "assistant")
    first_user = next((m for m in messages if isinstance(m, dict) and m.get("role") == "user"), None)
    title = " ".join(text_of(first_user.get("content")).split()) if first_user else ""
    if len(title) > TITLE_CHARS:
        title = title[: TITLE_CHARS - 1] + "…"
    return Recording(
        conversation=conversation_hash(messages),
        root=root_hash(messages),
        turn=turn,
        surface=exchange.surface,
        path=exchange.path,
        stream=exchange.request.get("stream") is True,
        status=exchange.status,
        step=_consistent(redactor.data(transcript.step, secrets)),
        notes=[redactor.text(n, secrets) for n in transcript.notes],
        title=redactor.text(title, secrets),
        recorded=exchange.started or time.time(),
        upstream=shown_upstream(upstream),
    )


def _consistent(step: dict[str, Any]) -> dict[str, Any]:
    """``step`` with any explicit stream cut that no longer adds up to its text dropped (a
    secret masked across two pieces changes the text and leaves the pieces unmasked): the
    text is what must be right, and mockrouter cuts it itself without the pieces."""
    stream = step.get("stream")
    if isinstance(stream, dict):
        for pieces, text in (("chunks", "content"), ("reasoning_chunks", "reasoning")):
            if pieces in stream and "".join(stream[pieces]) != step.get(text):
                del stream[pieces]
        if not stream:
            del step["stream"]
    for call in step.get("tool_calls") or ():
        if isinstance(call, dict) and "chunks" in call and "".join(call["chunks"]) != call.get("arguments"):
            del call["chunks"]
    return step

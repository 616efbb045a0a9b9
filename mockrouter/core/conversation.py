"""The conversation hash: one stable name for "this point of this conversation".

``match.conversation`` matches it, ``record`` writes it, and the journal shows it for every
request. It is made from the request's chat view (``core.surfaces.chat_view``), so the same
conversation hashes the same on every surface, and it covers only what a replay reproduces:

- each message's role (``developer`` counts as ``system``) and its text;
- an assistant message's tool calls: name and arguments (JSON arguments compared as data,
  so whitespace and key order do not matter);
- a tool message's result text.

Left out on purpose: ids of any kind (tool-call ids, response ids: a replay makes its own),
reasoning and thinking signatures (a real router signs them, a replay cannot), the model,
the tools offered and sampling parameters (match those with the other conditions).
"""

from __future__ import annotations

import contextlib
import hashlib
from typing import Any

import orjson

from .surfaces import text_of

__all__ = ["HASH_LENGTH", "conversation_hash", "normalized_conversation", "root_hash"]

#: Hex digits of a conversation hash (64 bits).
HASH_LENGTH = 16


def normalized_conversation(messages: Any) -> list[list[Any]]:
    """The messages of a chat view as the hash sees them: ``[role, text, calls?]`` each."""
    out: list[list[Any]] = []
    if not isinstance(messages, list):
        return out
    for message in messages:
        if not isinstance(message, dict):
            continue
        role = message.get("role")
        role = "system" if role == "developer" else role if isinstance(role, str) else ""
        item: list[Any] = [role, text_of(message.get("content"))]
        calls = message.get("tool_calls")
        if role == "assistant" and isinstance(calls, list) and calls:
            item.append([_call(call) for call in calls])
        out.append(item)
    return out


def _call(call: Any) -> list[Any]:
    function = call.get("function") if isinstance(call, dict) else None
    if not isinstance(function, dict):
        return ["", None]
    arguments = function.get("arguments")
    if isinstance(arguments, str):
        with contextlib.suppress(orjson.JSONDecodeError):  # not JSON: compared as the text it is
            arguments = orjson.loads(arguments)
    return [str(function.get("name", "")), arguments]


def _digest(normalized: list[list[Any]]) -> str:
    try:
        data = orjson.dumps(normalized, option=orjson.OPT_SORT_KEYS)
    except TypeError:  # arguments nested deeper than orjson writes
        data = repr(normalized).encode("utf-8", "surrogatepass")
    return hashlib.blake2b(data, digest_size=HASH_LENGTH // 2).hexdigest()


def conversation_hash(messages: Any) -> str:
    """The hash of a chat view's ``messages`` (16 hex digits)."""
    return _digest(normalized_conversation(messages))


def root_hash(messages: Any) -> str:
    """The hash of the conversation's opening: its messages up to the first user message.
    Every turn of one conversation has the same root (``record`` writes a file per root)."""
    normalized = normalized_conversation(messages)
    for i, (role, *_) in enumerate(normalized):
        if role == "user":
            return _digest(normalized[: i + 1])
    return _digest(normalized)

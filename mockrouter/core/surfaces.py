"""The API surfaces, and each surface's request seen as a chat-completions request.

A scenario is written once and answers on every surface. The engine reads one request shape,
the chat view: ``messages`` (roles ``system``, ``user``, ``assistant`` with ``tool_calls``,
``tool`` with ``tool_call_id`` and text content), ``tools`` as ``{"type": "function",
"function": {...}}``, ``max_tokens``, ``stream``, ``model``, ``response_format``. Chat
requests are already that; :func:`chat_view` turns a legacy completions request (its
``prompt`` as the user message), an Anthropic Messages or an OpenAI Responses request into
it, keeping the request's other fields (so ``match.body`` and templates can still read, say,
``metadata``). The surface's own fields that the view replaces (``system``, ``input``,
``instructions``, ``max_output_tokens``...) stay in the view too, except a completion's
``prompt``, which becomes the user message.

Done once per request, before matching; the encoders get the original body.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

__all__ = ["CHAT", "MESSAGES", "RESPONSES", "SURFACES", "TEXT", "chat_view", "text_of"]

CHAT = "chat"
TEXT = "text"
MESSAGES = "messages"
RESPONSES = "responses"
#: Every surface, in the order documentation lists them.
SURFACES = (CHAT, TEXT, MESSAGES, RESPONSES)


def chat_view(surface: str, body: dict[str, Any]) -> dict[str, Any]:
    """``body`` (a request on ``surface``, already validated) as a chat-completions request."""
    convert = _VIEWS.get(surface)
    return body if convert is None else convert(body)


def text_of(content: Any) -> str:
    """The text of any surface's message content: a string, or the text of its parts
    (``text``, ``input_text``, ``output_text`` parts; a ``tool_result``'s own content)
    joined with newlines."""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        return ""
    texts = []
    for part in content:
        if not isinstance(part, dict):
            continue
        text = part.get("text")
        if isinstance(text, str) and part.get("type") in ("text", "input_text", "output_text"):
            texts.append(text)
        elif part.get("type") == "tool_result":
            texts.append(text_of(part.get("content")))
    return "\n".join(texts)


# -- legacy completions ----------------------------------------------------------------------


def _text_view(body: dict[str, Any]) -> dict[str, Any]:
    """``prompt`` (a string, or a list whose first item answers) as the one user message."""
    prompt = body.get("prompt")
    if isinstance(prompt, list):
        prompt = prompt[0] if prompt else ""
    view = {k: v for k, v in body.items() if k != "prompt"}
    view["messages"] = [{"role": "user", "content": prompt if isinstance(prompt, str) else str(prompt)}]
    return view


# -- Anthropic Messages ----------------------------------------------------------------------


def _messages_view(body: dict[str, Any]) -> dict[str, Any]:
    view = dict(body)
    messages: list[dict[str, Any]] = []
    system = body.get("system")
    if isinstance(system, str | list):
        messages.append({"role": "system", "content": text_of(system)})
    for message in body.get("messages") or ():
        if isinstance(message, dict):
            messages.extend(_anthropic_message(message))
    view["messages"] = messages
    tools = [_anthropic_tool(t) for t in body.get("tools") or () if isinstance(t, dict)]
    if tools:
        view["tools"] = tools
    elif "tools" in view:
        del view["tools"]
    choice = body.get("tool_choice")
    if isinstance(choice, dict) and choice.get("type") == "none":
        view["tool_choice"] = "none"
    if isinstance(body.get("stop_sequences"), list):
        view["stop"] = body["stop_sequences"]
    return view


def _anthropic_message(message: dict[str, Any]) -> list[dict[str, Any]]:
    """One Anthropic message as chat messages: tool results become ``tool`` messages (before
    the user's own text), tool uses an assistant's ``tool_calls``, thinking its ``reasoning``."""
    role = message.get("role")
    content = message.get("content")
    if isinstance(content, str) or not isinstance(content, list):
        return [{"role": role, "content": content if isinstance(content, str) else ""}]
    out: list[dict[str, Any]] = []
    parts: list[dict[str, Any]] = []
    calls: list[dict[str, Any]] = []
    reasoning: list[str] = []
    for block in content:
        if not isinstance(block, dict):
            continue
        kind = block.get("type")
        if kind == "text" and isinstance(block.get("text"), str):
            parts.append({"type": "text", "text": block["text"]})
        elif kind == "tool_result":
            out.append(
                {
                    "role": "tool",
                    "tool_call_id": str(block.get("tool_use_id", "")),
                    "content": text_of(block.get("content")),
                }
            )
        elif kind == "tool_use":
            arguments = orjson.dumps(block.get("input", {})).decode()
            calls.append(
                {
                    "id": str(block.get("id", "")),
                    "type": "function",
                    "function": {"name": str(block.get("name", "")), "arguments": arguments},
                }
            )
        elif kind == "thinking" and isinstance(block.get("thinking"), str):
            reasoning.append(block["thinking"])
        elif kind in ("image", "document"):
            parts.append({"type": "image_url" if kind == "image" else "file", kind: block.get("source")})
    if role == "assistant":
        chat: dict[str, Any] = {"role": "assistant", "content": text_of(parts) if parts else None}
        if calls:
            chat["tool_calls"] = calls
        if reasoning:
            chat["reasoning"] = "\n".join(reasoning)
        out.append(chat)
    elif parts or not out:
        out.append({"role": role, "content": parts})
    return out


def _anthropic_tool(tool: dict[str, Any]) -> dict[str, Any]:
    function: dict[str, Any] = {"name": tool.get("name", tool.get("type", ""))}
    if "description" in tool:
        function["description"] = tool["description"]
    schema = tool.get("input_schema")
    function["parameters"] = schema if isinstance(schema, dict) else {"type": "object"}
    return {"type": "function", "function": function}


# -- OpenAI Responses ------------------------------------------------------------------------

#: Responses roles as chat roles.
_ROLES = {"developer": "system", "system": "system", "user": "user", "assistant": "assistant"}


def _responses_view(body: dict[str, Any]) -> dict[str, Any]:
    view = dict(body)
    messages: list[dict[str, Any]] = []
    instructions = body.get("instructions")
    if isinstance(instructions, str):
        messages.append({"role": "system", "content": instructions})
    given = body.get("input")
    if isinstance(given, str):
        messages.append({"role": "user", "content": given})
    elif isinstance(given, list):
        for item in given:
            if isinstance(item, dict):
                _add_item(messages, item)
    view["messages"] = messages
    tools = [_responses_tool(t) for t in body.get("tools") or () if isinstance(t, dict) and t.get("type") == "function"]
    if tools:
        view["tools"] = tools
    elif "tools" in view:
        del view["tools"]
    limit = body.get("max_output_tokens")
    if limit is not None:
        view["max_tokens"] = limit
    text = body.get("text")
    fmt = text.get("format") if isinstance(text, dict) else None
    if isinstance(fmt, dict):
        if fmt.get("type") == "json_schema":
            view["response_format"] = {
                "type": "json_schema",
                "json_schema": {k: v for k, v in fmt.items() if k != "type"},
            }
        elif fmt.get("type") == "json_object":
            view["response_format"] = {"type": "json_object"}
    return view


def _add_item(messages: list[dict[str, Any]], item: dict[str, Any]) -> None:
    """One Responses input item appended as chat messages (an assistant message and the
    function calls after it, one response's output, make one assistant message with
    ``tool_calls``, as the same turn is on the other surfaces)."""
    kind = item.get("type", "message")
    if kind == "message":
        role = _ROLES.get(str(item.get("role")), "user")
        content = item.get("content")
        messages.append({"role": role, "content": content if isinstance(content, str) else text_of(content)})
    elif kind == "function_call":
        call = {
            "id": str(item.get("call_id", "")),
            "type": "function",
            "function": {"name": str(item.get("name", "")), "arguments": str(item.get("arguments", ""))},
        }
        last = messages[-1] if messages else None
        if last is not None and last["role"] == "assistant":  # one response's output: its text, then its calls
            last.setdefault("tool_calls", []).append(call)
        else:
            messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
    elif kind == "function_call_output":
        output = item.get("output")
        messages.append(
            {
                "role": "tool",
                "tool_call_id": str(item.get("call_id", "")),
                "content": output if isinstance(output, str) else text_of(output),
            }
        )


def _responses_tool(tool: dict[str, Any]) -> dict[str, Any]:
    function: dict[str, Any] = {"name": tool.get("name", "")}
    if "description" in tool:
        function["description"] = tool["description"]
    parameters = tool.get("parameters")
    function["parameters"] = parameters if isinstance(parameters, dict) else {"type": "object"}
    return {"type": "function", "function": function}


_VIEWS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    TEXT: _text_view,
    MESSAGES: _messages_view,
    RESPONSES: _responses_view,
}

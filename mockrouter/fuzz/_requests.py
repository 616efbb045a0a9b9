"""Request strategies: :func:`chat_requests` (bodies valid per the request schema) and
:func:`invalid_chat_requests` (:class:`InvalidRequest`: a body broken at one known JSON path)."""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from typing import Any

from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument
from hypothesis.strategies import SearchStrategy

from ._blocks import _NAME, ALNUM, MODELS, _alnum, _check_range, texts, tool_arguments

_URL = st.sampled_from(
    [
        "https://example.com/cat.png",
        "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==",
        "https://例え.jp/画像.jpg?q=1&x=%20",
    ]
)
_CACHE = st.fixed_dictionaries({"type": st.just("ephemeral")}, optional={"ttl": st.sampled_from(["5m", "1h"])})


@cache
def _text_part() -> SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries({"type": st.just("text"), "text": texts()}, optional={"cache_control": _CACHE})


@cache
def _content_parts() -> SearchStrategy[dict[str, Any]]:
    return st.one_of(
        _text_part(),
        st.fixed_dictionaries(
            {
                "type": st.just("image_url"),
                "image_url": st.fixed_dictionaries(
                    {"url": _URL}, optional={"detail": st.sampled_from(["auto", "low", "high", "original"])}
                ),
            }
        ),
        st.fixed_dictionaries(
            {
                "type": st.just("input_audio"),
                "input_audio": st.fixed_dictionaries(
                    {"data": st.just("UklGRiQAAABXQVZFZm10IBAAAAABAAEA"), "format": st.sampled_from(["wav", "mp3"])}
                ),
            }
        ),
        st.fixed_dictionaries(
            {
                "type": st.just("file"),
                "file": st.fixed_dictionaries(
                    {},
                    optional={
                        "filename": st.just("report.pdf"),
                        "file_data": st.just("data:application/pdf;base64,JVBERi0xLjQK"),
                        "file_id": st.just("file-abc123"),
                    },
                ),
            }
        ),
        st.fixed_dictionaries(
            {"type": st.sampled_from(["video_url", "input_video"]), "video_url": st.fixed_dictionaries({"url": _URL})}
        ),
    )


@cache
def _tool_call_in_history() -> SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {
            "id": st.builds(lambda s: "call_" + s, _alnum(12)),
            "type": st.just("function"),
            "function": st.fixed_dictionaries({"name": _NAME, "arguments": tool_arguments()}),
        }
    )


@cache
def _messages_of_role(role: str) -> SearchStrategy[dict[str, Any]]:
    name = {"name": st.text(alphabet=ALNUM + "_-", min_size=1, max_size=12)}
    if role in ("system", "developer"):
        content = texts() | st.lists(_text_part(), max_size=3)
        return st.fixed_dictionaries({"role": st.just(role), "content": content}, optional=name)
    if role == "user":
        content = texts() | st.lists(_content_parts(), max_size=4)
        return st.fixed_dictionaries({"role": st.just(role), "content": content}, optional=name)
    if role == "tool":
        return st.fixed_dictionaries(
            {
                "role": st.just("tool"),
                "content": texts() | st.lists(_text_part(), max_size=2),
                "tool_call_id": st.builds(lambda s: "call_" + s, _alnum(12)),
            }
        )
    refusal_part = st.fixed_dictionaries({"type": st.just("refusal"), "refusal": texts()})
    return st.fixed_dictionaries(
        {"role": st.just("assistant")},
        optional={
            "content": st.none() | texts() | st.lists(_text_part() | refusal_part, max_size=2),
            "tool_calls": st.lists(_tool_call_in_history(), min_size=1, max_size=3),
            "reasoning": st.none() | texts(),
            "refusal": st.none() | texts(),
            **name,
        },
    )


@cache
def _bounded(low: float, high: float, *, exclude_min: bool = False) -> SearchStrategy[float]:
    bounds = [high] if exclude_min else [low, high]
    return st.sampled_from(bounds) | st.floats(low, high, exclude_min=exclude_min)


@cache
def _json_schema_for_output() -> SearchStrategy[dict[str, Any]]:
    leaf = st.sampled_from(
        [
            {"type": "string"},
            {"type": "integer", "minimum": 0, "maximum": 100},
            {"type": "number"},
            {"type": "boolean"},
            {"type": "array", "items": {"type": "string"}, "maxItems": 3},
            {"type": "string", "enum": ["red", "green", "blue"]},
        ]
    )

    def obj(props: dict[str, Any]) -> dict[str, Any]:
        return {"type": "object", "properties": props, "required": sorted(props), "additionalProperties": False}

    return st.dictionaries(st.from_regex(r"[a-z_]{1,12}", fullmatch=True), leaf, max_size=4).map(obj)


@cache
def _tools() -> SearchStrategy[list[dict[str, Any]]]:
    parameters = _json_schema_for_output()
    function = st.fixed_dictionaries(
        {"name": _NAME},
        optional={"description": texts(max_pieces=4), "parameters": parameters, "strict": st.none() | st.booleans()},
    )
    tool = st.fixed_dictionaries(
        {"type": st.just("function"), "function": function}, optional={"cache_control": _CACHE}
    )
    return st.lists(tool, min_size=1, max_size=4, unique_by=lambda t: t["function"]["name"])


@st.composite
def chat_requests(
    draw: st.DrawFn, *, model: str | None = None, stream: bool | None = None, max_messages: int = 6
) -> dict[str, Any]:
    """Chat completion request bodies valid per ``schemas/chat-request.schema.json``.

    Messages of every role (``system``, ``developer``, ``user``, ``assistant`` with
    ``tool_calls``/``reasoning``/``refusal``, ``tool``) and every content-part form (text
    with ``cache_control``, ``image_url`` with https and ``data:`` URLs, ``input_audio``,
    ``file``, ``video_url``, ``input_video``, ``refusal``); the last message is usually a
    user message. Optional parameters: ``tools`` and ``tool_choice`` (naming a declared
    tool), ``response_format`` (``text``, ``json_object``, ``json_schema`` with a schema),
    sampling parameters at and between their bounds (and ``null``), ``stop``,
    ``logit_bias``, ``reasoning``, ``provider``, ``metadata``, ``stream`` and
    ``stream_options`` / ``usage``.

    ``model``: use this model id (the default draws one, or leaves ``model`` out — the
    schema does not require it; a drawn model may come with a ``models`` fallback list).
    ``stream``: fix ``stream`` (``None`` draws it, absent included). ``max_messages``:
    at most this many messages (at least 1).

    Shrinks towards ``{"model": ..., "messages": [{"role": "user", "content": ""}]}``.
    """
    _check_range("max_messages", max_messages, 1)
    if model is not None and (not isinstance(model, str) or not model):
        raise InvalidArgument(f"model={model!r}: expected a non-empty string")
    history = draw(
        st.lists(
            st.sampled_from(["user", "assistant", "system", "developer", "tool"]).flatmap(_messages_of_role),
            max_size=max_messages - 1,
        )
    )
    last = draw(_messages_of_role("user") | st.sampled_from(["assistant", "system", "tool"]).flatmap(_messages_of_role))
    body: dict[str, Any] = {}
    if model is not None:
        body["model"] = model
    else:
        drawn = draw(st.sampled_from(MODELS) | st.none())
        if drawn is not None:
            body["model"] = drawn
            if draw(st.booleans()):
                body["models"] = draw(st.lists(st.sampled_from(MODELS), min_size=1, max_size=3))
    body["messages"] = [*history, last]
    if stream is not None:
        body["stream"] = stream
    else:
        drawn_stream = draw(st.sampled_from(["absent", False, True, None]))
        if drawn_stream != "absent":
            body["stream"] = drawn_stream
    if body.get("stream") and draw(st.booleans()):
        body["stream_options"] = draw(st.none() | st.fixed_dictionaries({}, optional={"include_usage": st.booleans()}))
    optional: dict[str, SearchStrategy[Any]] = {
        "usage": st.fixed_dictionaries({}, optional={"include": st.booleans()}),
        "max_tokens": st.none() | st.sampled_from([1, 4096]) | st.integers(1, 100_000),
        "max_completion_tokens": st.none() | st.integers(1, 100_000),
        "temperature": st.none() | _bounded(0, 2),
        "top_p": st.none() | _bounded(0, 1),
        "top_k": st.none() | st.sampled_from([0]) | st.integers(0, 1000),
        "frequency_penalty": st.none() | _bounded(-2, 2),
        "presence_penalty": st.none() | _bounded(-2, 2),
        "repetition_penalty": st.none() | _bounded(0, 2, exclude_min=True),
        "min_p": st.none() | _bounded(0, 1),
        "top_a": st.none() | _bounded(0, 1),
        "seed": st.none() | st.integers(-(2**63), 2**63 - 1),
        "n": st.none() | st.just(1),
        "stop": st.none() | texts(max_pieces=2) | st.lists(texts(max_pieces=2), max_size=4),
        "logit_bias": st.none()
        | st.dictionaries(st.integers(0, 200_000).map(str), _bounded(-100, 100).map(round), max_size=3),
        "logprobs": st.none() | st.booleans(),
        "top_logprobs": st.none() | st.integers(0, 20),
        "response_format": st.one_of(
            st.just({"type": "text"}),
            st.just({"type": "json_object"}),
            st.fixed_dictionaries(
                {
                    "type": st.just("json_schema"),
                    "json_schema": st.fixed_dictionaries(
                        {"name": st.from_regex(r"[a-zA-Z0-9_-]{1,32}", fullmatch=True)},
                        optional={
                            "schema": _json_schema_for_output(),
                            "strict": st.none() | st.booleans(),
                            "description": texts(max_pieces=3),
                        },
                    ),
                }
            ),
        ),
        "reasoning": st.fixed_dictionaries(
            {},
            optional={
                "effort": st.sampled_from(["max", "xhigh", "high", "medium", "low", "minimal", "none"]),
                "max_tokens": st.integers(1, 32_000),
                "exclude": st.booleans(),
                "enabled": st.booleans(),
            },
        ),
        "reasoning_effort": st.sampled_from(["high", "medium", "low", "minimal", "none", None]),
        "provider": st.fixed_dictionaries(
            {},
            optional={
                "order": st.lists(st.sampled_from(["openai", "azure", "anthropic"]), max_size=2),
                "allow_fallbacks": st.booleans(),
                "require_parameters": st.booleans(),
                "data_collection": st.sampled_from(["allow", "deny"]),
                "zdr": st.booleans(),
                "sort": st.sampled_from(["price", "throughput", "latency"]),
            },
        ),
        "user": st.text(alphabet=ALNUM, max_size=16),
        "metadata": st.none() | st.dictionaries(st.text(alphabet=ALNUM, min_size=1, max_size=8), texts(), max_size=4),
        "parallel_tool_calls": st.booleans(),
        "service_tier": st.none() | st.sampled_from(["auto", "default"]),
    }
    chosen = draw(st.lists(st.sampled_from(sorted(optional)), unique=True, max_size=8))
    for name in sorted(chosen):
        body[name] = draw(optional[name])
    if draw(st.booleans()):
        tools = draw(_tools())
        body["tools"] = tools
        names = [t["function"]["name"] for t in tools]
        choice = draw(
            st.sampled_from(["absent", "none", "auto", "required", "named"]),
        )
        if choice == "named":
            body["tool_choice"] = {"type": "function", "function": {"name": draw(st.sampled_from(names))}}
        elif choice != "absent":
            body["tool_choice"] = choice
    return body


@dataclass(frozen=True)
class InvalidRequest:
    """A request body that is invalid at exactly one place.

    ``path`` is where the request schema's validator points (``messages[1].role``); for a
    missing required field it is the path of the object that lacks it (``messages[0]``,
    or ``""`` for the body itself). ``reason`` says what was broken.
    """

    body: Any
    path: str
    reason: str


def _message_indices(body: dict[str, Any], roles: Iterable[str]) -> list[int]:
    wanted = set(roles)
    return [i for i, m in enumerate(body["messages"]) if m.get("role") in wanted]


@st.composite
def invalid_chat_requests(draw: st.DrawFn, *, model: str | None = None) -> InvalidRequest:
    """Request bodies broken at one known JSON path (:class:`InvalidRequest`).

    Starts from a :func:`chat_requests` body (``model`` as there) and applies one break: a
    bad or missing ``role``; missing or null ``content`` where it is required; a ``tool``
    message without ``tool_call_id``; an unknown content-part type or a part missing its
    payload; empty, missing or non-list ``messages``; a sampling parameter just outside its
    bound or of the wrong type; ``logit_bias`` out of range; a tool with a bad ``type`` or
    ``name``; bad ``tool_choice``, ``response_format``, ``reasoning``, ``metadata``,
    ``stream_options`` or ``provider`` values; an empty ``model``; a body that is not an
    object. Shrinks towards the first of those breaks on the smallest body.
    """
    body = copy.deepcopy(draw(chat_requests(model=model)))
    messages = body["messages"]
    breaks = ["role", "missing_role", "messages_empty", "messages_type", "missing_messages", "param_range"]
    breaks += ["param_type", "logit_bias", "tool_type", "tool_name", "tool_choice", "response_format"]
    breaks += ["json_schema", "reasoning", "metadata", "stream_options", "provider", "model", "not_object"]
    if _message_indices(body, ["user", "system", "developer", "tool"]):
        breaks += ["content_null", "content_missing"]
    if _message_indices(body, ["tool"]):
        breaks.append("tool_call_id")
    parts = [
        (i, j) for i, m in enumerate(messages) if isinstance(m.get("content"), list) for j in range(len(m["content"]))
    ]
    if parts:
        breaks += ["part_type", "part_payload"]
    kind = draw(st.sampled_from(breaks))
    value: Any  # what a break puts in: of any type

    def pick(roles: Iterable[str]) -> int:
        return draw(st.sampled_from(_message_indices(body, roles)))

    if kind == "role":
        i = draw(st.integers(0, len(messages) - 1))
        messages[i]["role"] = draw(st.sampled_from(["robot", "", "Assistant", 5, None]))
        return InvalidRequest(body, f"messages[{i}].role", "unknown role")
    if kind == "missing_role":
        i = draw(st.integers(0, len(messages) - 1))
        del messages[i]["role"]
        return InvalidRequest(body, f"messages[{i}]", "message without role")
    if kind == "content_null":
        i = pick(["user", "system", "developer", "tool"])
        messages[i]["content"] = None
        return InvalidRequest(body, f"messages[{i}].content", f"null content in a {messages[i]['role']} message")
    if kind == "content_missing":
        i = pick(["user", "system", "developer", "tool"])
        del messages[i]["content"]
        return InvalidRequest(body, f"messages[{i}]", f"{messages[i]['role']} message without content")
    if kind == "tool_call_id":
        i = pick(["tool"])
        del messages[i]["tool_call_id"]
        return InvalidRequest(body, f"messages[{i}]", "tool message without tool_call_id")
    if kind == "part_type":
        i, j = draw(st.sampled_from(parts))
        messages[i]["content"][j]["type"] = draw(st.sampled_from(["img", "TEXT", "", 3]))
        return InvalidRequest(body, f"messages[{i}].content[{j}].type", "unknown content part type")
    if kind == "part_payload":
        i, j = draw(st.sampled_from(parts))
        part = messages[i]["content"][j]
        kind_of_part = part["type"]
        if kind_of_part == "input_video":
            part["video_url"] = {}
            return InvalidRequest(body, f"messages[{i}].content[{j}].video_url", "video_url without url")
        if kind_of_part == "file":
            part["file"] = "report.pdf"
            return InvalidRequest(body, f"messages[{i}].content[{j}].file", "file payload is not an object")
        del part[kind_of_part]  # the payload key is named like the type (text, image_url, ...)
        return InvalidRequest(body, f"messages[{i}].content[{j}]", f"{kind_of_part} part without its payload")
    if kind == "messages_empty":
        body["messages"] = []
        return InvalidRequest(body, "messages", "no messages")
    if kind == "messages_type":
        body["messages"] = draw(st.sampled_from(["hello", {"role": "user"}, None]))
        return InvalidRequest(body, "messages", "messages is not a list")
    if kind == "missing_messages":
        del body["messages"]
        return InvalidRequest(body, "", "no messages field")
    if kind == "param_range":
        name, value = draw(
            st.sampled_from(
                [
                    ("temperature", 2.0001),
                    ("temperature", -0.5),
                    ("top_p", 1.5),
                    ("top_k", -1),
                    ("frequency_penalty", 2.5),
                    ("presence_penalty", -2.01),
                    ("repetition_penalty", 0),
                    ("min_p", 1.01),
                    ("top_a", -0.01),
                    ("max_tokens", 0),
                    ("max_completion_tokens", -5),
                    ("n", 0),
                    ("top_logprobs", 21),
                ]
            )
        )
        body[name] = value
        return InvalidRequest(body, name, f"{name} out of range")
    if kind == "param_type":
        name, value = draw(
            st.sampled_from(
                [("stream", "yes"), ("temperature", "hot"), ("seed", 1.5), ("max_tokens", 1.5), ("tools", {})]
            )
        )
        body[name] = value
        if name == "tools":
            body.pop("tool_choice", None)
        return InvalidRequest(body, name, f"{name} of the wrong type")
    if kind == "logit_bias":
        body["logit_bias"] = {"50256": draw(st.sampled_from([150, -101, "high"]))}
        return InvalidRequest(body, "logit_bias.50256", "logit bias out of range")
    if kind in ("tool_type", "tool_name"):
        if "tools" not in body:
            body["tools"] = [{"type": "function", "function": {"name": "get_weather"}}]
        k = draw(st.integers(0, len(body["tools"]) - 1))
        if kind == "tool_type":
            body["tools"][k]["type"] = "web_search"
            return InvalidRequest(body, f"tools[{k}].type", "tool type is not function")
        body["tools"][k]["function"]["name"] = draw(st.sampled_from(["get weather", "x" * 65, "", "naïve"]))
        return InvalidRequest(body, f"tools[{k}].function.name", "tool name does not match ^[a-zA-Z0-9_-]{1,64}$")
    if kind == "tool_choice":
        body["tool_choice"] = draw(st.sampled_from(["sometimes", "any", {"type": "function"}]))
        return InvalidRequest(body, "tool_choice", "bad tool_choice")
    if kind == "response_format":
        value = draw(st.sampled_from([{"type": "yaml"}, {"type": "json_schema"}, {}]))
        body["response_format"] = value
        path = "response_format.type" if value.get("type") == "yaml" else "response_format"
        return InvalidRequest(body, path, "bad response_format")
    if kind == "json_schema":
        body["response_format"] = {"type": "json_schema", "json_schema": {"schema": {"type": "object"}}}
        return InvalidRequest(body, "response_format.json_schema", "json_schema without name")
    if kind == "reasoning":
        body["reasoning"] = {"effort": "extreme"}
        return InvalidRequest(body, "reasoning.effort", "unknown reasoning effort")
    if kind == "metadata":
        body["metadata"] = {"k": draw(st.sampled_from([1, True, ["x"]]))}
        return InvalidRequest(body, "metadata.k", "metadata value is not a string")
    if kind == "stream_options":
        body["stream_options"] = {"include_usage": "yes"}
        return InvalidRequest(body, "stream_options.include_usage", "include_usage is not a boolean")
    if kind == "provider":
        body["provider"] = {"data_collection": "maybe"}
        return InvalidRequest(body, "provider.data_collection", "unknown data_collection")
    if kind == "model":
        body["model"] = draw(st.sampled_from(["", 42]))
        return InvalidRequest(body, "model", "empty or non-string model")
    assert kind == "not_object"
    return InvalidRequest(draw(st.sampled_from([[body], "hello", 42, None])), "", "body is not a JSON object")

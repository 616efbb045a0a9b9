"""Hypothesis strategies for the router API: requests, and the answers a router may send.

Property-test a client library against everything a router may legally send::

    from hypothesis import given
    from mockrouter.fuzz import assemble, chat_streams

    @given(chat_streams(dialect="openrouter"))
    def test_my_parser(stream):
        assert my_parser(stream.sse) == stream.expected   # or feed stream.writes one by one

What there is (also importable from :mod:`mockrouter.strategies`), per API surface:

- Chat Completions: :func:`chat_requests` — bodies valid per
  ``schemas/chat-request.schema.json``; :func:`invalid_chat_requests` —
  :class:`InvalidRequest` cases, each invalid at one known JSON path;
  :func:`chat_responses` (:class:`ChatResponse`) and :func:`chat_streams`
  (:class:`ChatStream`) — schema-valid for a dialect, and adversarial, each with
  ``.expected``: the message a correct client assembles; :func:`assemble` — the reference
  stream accumulator (SSE bytes → expected message).
- Anthropic Messages: :func:`messages_requests`, :func:`invalid_messages_requests`,
  :func:`messages_responses` (:class:`MessagesResponse`), :func:`messages_streams`
  (:class:`MessagesStream`, named events); ``.expected`` is the final Anthropic message
  (content blocks, ``stop_reason``, ``usage`` as the SDK accumulates it);
  :func:`assemble_messages` is the reference accumulator.
- OpenAI Responses: :func:`responses_requests`, :func:`invalid_responses_requests`,
  :func:`responses_responses` (:class:`ResponsesResponse`), :func:`responses_streams`
  (:class:`ResponsesStream`, named events with ``sequence_number``); ``.expected`` is
  :func:`responses_summary` of the final response (status, output items, usage);
  :func:`assemble_responses` is the reference accumulator.
- Building blocks: :func:`texts`, :func:`json_values`, :func:`tool_arguments`;
  :func:`sse_events` — the SSE decoder the accumulators use (CR, LF and CRLF line ends,
  comments, multi-line ``data:``), :func:`sse_named_events` — the same with event names.
- :func:`draw_response` — one answer on any surface drawn deterministically from an
  integer seed (for servers: the ``fuzz`` scenario); :func:`draw` — the same for any
  strategy.

Every strategy takes keyword-only options, checks them when drawing (an
:class:`hypothesis.errors.InvalidArgument` names the bad one), and shrinks towards the
plainest value: short ASCII text, one choice or block, no reasoning or tool calls, LF
framing, no keep-alives, one network write.

The modules, one job each, importing only down this list:

- ``_sse`` — the SSE decoder and the chat reference accumulator (:func:`sse_events`,
  :func:`sse_named_events`, :func:`assemble_chunks`, :func:`assemble`). It does not import
  hypothesis, and neither does this package until another name is asked for: decoding
  streams stays cheap.
- ``_assemble`` — the Messages and Responses reference accumulators
  (:func:`assemble_messages`, :func:`assemble_responses`, :func:`responses_summary`); no
  hypothesis either.
- ``_blocks`` — what the strategies share: :data:`DIALECTS`, the adversarial :func:`texts`,
  :func:`json_values` and :func:`tool_arguments`, cutting and interleaving, option checks,
  framing named SSE events.
- ``_requests`` — :func:`chat_requests`, :func:`invalid_chat_requests`.
- ``_responses`` — :func:`chat_responses`, :func:`chat_streams`: both dialects' wire formats.
- ``_messages`` — the Messages surface's request and answer strategies.
- ``_responses_api`` — the Responses surface's request and answer strategies.
- ``_seeded`` — :func:`draw`, :func:`draw_response`.

What a seed draws depends on more than this code: hypothesis also offers the string and
number literals of every local module loaded (``hypothesis.internal.constants_ast``), so a
literal added anywhere in mockrouter, or another module imported, can change it.
"""

from typing import TYPE_CHECKING

from ..errors import StreamError
from ._assemble import assemble_messages, assemble_responses, responses_summary
from ._sse import assemble, assemble_chunks, sse_events, sse_named_events

__all__ = [
    "DIALECTS",
    "ChatResponse",
    "ChatStream",
    "InvalidRequest",
    "MessagesResponse",
    "MessagesStream",
    "ResponsesResponse",
    "ResponsesStream",
    "StreamError",
    "assemble",
    "assemble_chunks",
    "assemble_messages",
    "assemble_responses",
    "chat_requests",
    "chat_responses",
    "chat_streams",
    "draw",
    "draw_response",
    "invalid_chat_requests",
    "invalid_messages_requests",
    "invalid_responses_requests",
    "json_values",
    "messages_requests",
    "messages_responses",
    "messages_streams",
    "responses_requests",
    "responses_responses",
    "responses_streams",
    "responses_summary",
    "sse_events",
    "sse_named_events",
    "texts",
    "tool_arguments",
]

if TYPE_CHECKING:
    from ._blocks import DIALECTS, json_values, texts, tool_arguments
    from ._messages import (
        MessagesResponse,
        MessagesStream,
        invalid_messages_requests,
        messages_requests,
        messages_responses,
        messages_streams,
    )
    from ._requests import InvalidRequest, chat_requests, invalid_chat_requests
    from ._responses import ChatResponse, ChatStream, chat_responses, chat_streams
    from ._responses_api import (
        ResponsesResponse,
        ResponsesStream,
        invalid_responses_requests,
        responses_requests,
        responses_responses,
        responses_streams,
    )
    from ._seeded import draw, draw_response


def __getattr__(name: str) -> object:
    """The hypothesis-backed names, imported on first use (module names as imports, not strings:
    a new string literal here would change what a seed draws)."""
    if name in __all__:
        from . import _blocks, _messages, _requests, _responses, _responses_api, _seeded

        for module in (_blocks, _requests, _responses, _messages, _responses_api, _seeded):
            if name in vars(module):
                value: object = vars(module)[name]
                globals()[name] = value
                return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})

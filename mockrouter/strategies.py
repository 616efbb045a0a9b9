"""Hypothesis strategies for the router API: requests, and the answers a router may send.

The public module (``from mockrouter.strategies import chat_streams``); the code lives in
:mod:`mockrouter.fuzz`, whose docstring says what there is and how it is laid out.

Property-test a client library against everything a router may legally send::

    from hypothesis import given
    from mockrouter.strategies import assemble, chat_streams

    @given(chat_streams(dialect="openrouter"))
    def test_my_parser(stream):
        assert my_parser(stream.sse) == stream.expected   # or feed stream.writes one by one
"""

from .fuzz import (
    DIALECTS,
    ChatResponse,
    ChatStream,
    InvalidRequest,
    StreamError,
    assemble,
    assemble_chunks,
    chat_requests,
    chat_responses,
    chat_streams,
    draw,
    draw_response,
    invalid_chat_requests,
    json_values,
    sse_events,
    texts,
    tool_arguments,
)

__all__ = [
    "DIALECTS",
    "ChatResponse",
    "ChatStream",
    "InvalidRequest",
    "StreamError",
    "assemble",
    "assemble_chunks",
    "chat_requests",
    "chat_responses",
    "chat_streams",
    "draw",
    "draw_response",
    "invalid_chat_requests",
    "json_values",
    "sse_events",
    "texts",
    "tool_arguments",
]

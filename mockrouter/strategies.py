"""Hypothesis strategies for the router API: requests, and the answers a router may send.

The public module (``from mockrouter.strategies import chat_streams``); the code lives in
:mod:`mockrouter.fuzz`, whose docstring says what there is and how it is laid out.

Strategies for each API surface: Chat Completions (``chat_*``), Anthropic Messages
(``messages_*``) and OpenAI Responses (``responses_*``). Property-test a client library
against everything a router may legally send::

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
    MessagesResponse,
    MessagesStream,
    ResponsesResponse,
    ResponsesStream,
    StreamError,
    assemble,
    assemble_chunks,
    assemble_messages,
    assemble_responses,
    chat_requests,
    chat_responses,
    chat_streams,
    draw,
    draw_response,
    invalid_chat_requests,
    invalid_messages_requests,
    invalid_responses_requests,
    json_values,
    messages_requests,
    messages_responses,
    messages_streams,
    responses_requests,
    responses_responses,
    responses_streams,
    responses_summary,
    sse_events,
    sse_named_events,
    texts,
    tool_arguments,
)

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

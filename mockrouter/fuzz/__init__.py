"""Hypothesis strategies for the router API: requests, and the answers a router may send.

Property-test a client library against everything a router may legally send::

    from hypothesis import given
    from mockrouter.fuzz import assemble, chat_streams

    @given(chat_streams(dialect="openrouter"))
    def test_my_parser(stream):
        assert my_parser(stream.sse) == stream.expected   # or feed stream.writes one by one

What there is (also importable from :mod:`mockrouter.strategies`):

- :func:`chat_requests` — bodies valid per ``schemas/chat-request.schema.json``;
  :func:`invalid_chat_requests` — :class:`InvalidRequest` cases, each invalid at one known
  JSON path.
- :func:`chat_responses` (:class:`ChatResponse`) and :func:`chat_streams`
  (:class:`ChatStream`) — schema-valid for a dialect, and adversarial, each with
  ``.expected``: the message a correct client assembles.
- Building blocks: :func:`texts`, :func:`json_values`, :func:`tool_arguments`.
- :func:`assemble` — the reference stream accumulator (SSE bytes → expected message);
  :func:`sse_events` — the SSE decoder it uses (CR, LF and CRLF line ends, comments,
  multi-line ``data:``).
- :func:`draw_response` — one response or stream drawn deterministically from an integer
  seed (for servers: the ``fuzz`` scenario); :func:`draw` — the same for any strategy.

Every strategy takes keyword-only options, checks them when drawing (an
:class:`hypothesis.errors.InvalidArgument` names the bad one), and shrinks towards the
plainest value: short ASCII text, one choice, no reasoning or tool calls, LF framing, no
keep-alives, one network write.

The modules, one job each, importing only down this list:

- ``_sse`` — the SSE decoder and the reference accumulator (:func:`sse_events`,
  :func:`assemble_chunks`, :func:`assemble`, :class:`StreamError`). It does not import
  hypothesis, and neither does this package until another name is asked for: decoding
  streams stays cheap.
- ``_blocks`` — what the strategies share: :data:`DIALECTS`, the adversarial :func:`texts`,
  :func:`json_values` and :func:`tool_arguments`, cutting and interleaving, option checks.
- ``_requests`` — :func:`chat_requests`, :func:`invalid_chat_requests`.
- ``_responses`` — :func:`chat_responses`, :func:`chat_streams`: both dialects' wire formats.
- ``_seeded`` — :func:`draw`, :func:`draw_response`.

What a seed draws depends on more than this code: hypothesis also offers the string and
number literals of every local module loaded (``hypothesis.internal.constants_ast``), so a
literal added anywhere in mockrouter, or another module imported, can change it.
"""

from typing import TYPE_CHECKING

from ..errors import StreamError
from ._sse import assemble, assemble_chunks, sse_events

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

if TYPE_CHECKING:
    from ._blocks import DIALECTS, json_values, texts, tool_arguments
    from ._requests import InvalidRequest, chat_requests, invalid_chat_requests
    from ._responses import ChatResponse, ChatStream, chat_responses, chat_streams
    from ._seeded import draw, draw_response


def __getattr__(name: str) -> object:
    """The hypothesis-backed names, imported on first use (module names as imports, not strings:
    a new string literal here would change what a seed draws)."""
    if name in __all__:
        from . import _blocks, _requests, _responses, _seeded

        for module in (_blocks, _requests, _responses, _seeded):
            if name in vars(module):
                value: object = vars(module)[name]
                globals()[name] = value
                return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})

"""Seeded drawing, for servers: one value of a strategy as a function of an integer seed
(:func:`draw`), and an answer to a request on any surface (:func:`draw_response`, the
``fuzz`` scenario)."""

from __future__ import annotations

import random
import warnings
from typing import Any

from hypothesis import HealthCheck, Phase, Verbosity, find, settings
from hypothesis.errors import InvalidArgument
from hypothesis.strategies import SearchStrategy

from ._blocks import _check_dialect
from ._messages import MessagesResponse, MessagesStream, messages_responses, messages_streams
from ._responses import ChatResponse, ChatStream, chat_responses, chat_streams
from ._responses_api import ResponsesResponse, ResponsesStream, responses_responses, responses_streams

#: What :func:`draw_response` returns: an answer on one of the surfaces, JSON or streamed.
Drawn = ChatResponse | ChatStream | MessagesResponse | MessagesStream | ResponsesResponse | ResponsesStream

_DRAW_SETTINGS = settings(
    database=None,
    phases=[Phase.generate],
    max_examples=50,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    verbosity=Verbosity.quiet,
)


def draw(strategy: SearchStrategy[Any], seed: int) -> Any:
    """One value of ``strategy``, a function of ``seed`` (for a given hypothesis version),
    drawn from the whole strategy (not biased towards small values as a test's first
    examples are).

    Feeds the strategy hypothesis's own random choices seeded with ``seed`` (a
    ``ConjectureData`` in a build context, as ``@given`` does per example; a draw that
    overruns or is rejected is retried with a derived seed). Should a future hypothesis move
    those internals, it falls back on the public :func:`hypothesis.find` (database-less,
    no shrinking, seeded), which is slower and favours smaller values. Safe in a server
    thread while the process runs ``@given`` tests: hypothesis keeps its context per thread.
    """
    try:
        from hypothesis.control import BuildContext
        from hypothesis.errors import StopTest
        from hypothesis.internal.conjecture.data import ConjectureData
    except ImportError:  # pragma: no cover - a hypothesis without these internals
        return _find_draw(strategy, seed)
    for attempt in range(20):
        rng = random.Random(seed if attempt == 0 else f"{seed}/{attempt}")
        try:
            data = ConjectureData(random=rng)
            with BuildContext(data, is_final=False, wrapped_test=draw):
                value = data.draw(strategy)
        except StopTest:
            continue
        except TypeError:  # pragma: no cover - internals changed shape
            return _find_draw(strategy, seed)
        return value
    return _find_draw(strategy, seed)  # pragma: no cover


def _find_draw(strategy: SearchStrategy[Any], seed: int, skip: int = 10) -> Any:
    calls = 0

    def after_skipping(_: Any) -> bool:
        nonlocal calls
        calls += 1
        return calls > skip

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "overly large repr" of the found example
        return find(strategy, after_skipping, settings=_DRAW_SETTINGS, random=random.Random(seed))


def draw_response(
    seed: int,
    *,
    dialect: str = "anyrouter",
    stream: bool = False,
    request: dict[str, Any] | None = None,
    surface: str = "chat",
) -> Drawn:
    """An answer to ``request`` on ``surface`` drawn from that surface's strategies,
    reproducible from ``seed``: the same (seed, dialect, stream, request, surface) gives the
    same bytes with the same mockrouter and hypothesis versions.

    ``surface``: ``chat`` (and ``text``, the legacy completions route, answered alike) draws
    from :func:`chat_responses` / :func:`chat_streams`; ``messages`` from
    :func:`messages_responses` / :func:`messages_streams`; ``responses`` from
    :func:`responses_responses` / :func:`responses_streams`. Every answer has ``.body``,
    ``.content_type``, ``.expected``, ``.stream``, ``.generation_id`` and, when streamed,
    ``.chunks`` and ``.writes``.

    From ``request`` (the surface's own request body, as the client sent it; optional):
    ``model`` becomes the answer's model; tool calls name only tools the request declares in
    the surface's form (none without ``tools`` or when ``tool_choice`` is ``none``; only the
    named one when ``tool_choice`` names one on messages and responses). On chat, anyrouter
    streams end with a usage chunk only when ``stream_options.include_usage`` or
    ``usage.include`` asks, and anyrouter answers with up to ``n`` (≤ 4) choices, else one.
    """
    _check_dialect(dialect)
    if surface in ("chat", "text"):
        return _draw_chat(seed, dialect, stream, request)
    if surface not in ("messages", "responses"):
        raise InvalidArgument(f"surface={surface!r}: expected one of chat, text, messages, responses")
    options: dict[str, Any] = {"dialect": dialect}
    if request is not None:
        model = request.get("model")
        if isinstance(model, str) and model:
            options["model"] = model
        options["tool_names"] = _declared_tools(request, surface)
    if surface == "messages":
        strategy: SearchStrategy[Any] = messages_streams(**options) if stream else messages_responses(**options)
    else:
        strategy = responses_streams(**options) if stream else responses_responses(**options)
    drawn: Drawn = draw(strategy, seed)
    return drawn


def _declared_tools(request: dict[str, Any], surface: str) -> list[str]:
    """The tools a Messages or Responses request lets the model call, by name."""
    tools = request.get("tools")
    choice = request.get("tool_choice")
    choice_type = choice.get("type") if isinstance(choice, dict) else choice
    if not isinstance(tools, list) or choice_type == "none":
        return []
    names: list[str] = []
    for tool in tools:
        if not isinstance(tool, dict):
            continue
        kind = tool.get("type")
        callable_tool = kind in (None, "custom") if surface == "messages" else kind == "function"
        name = tool.get("name")
        if callable_tool and isinstance(name, str) and name and name not in names:
            names.append(name)
    forced = choice.get("name") if isinstance(choice, dict) and choice_type in ("tool", "function") else None
    return [forced] if forced in names else names


def _draw_chat(seed: int, dialect: str, stream: bool, request: dict[str, Any] | None) -> ChatResponse | ChatStream:
    options: dict[str, Any] = {"dialect": dialect, "max_choices": 1}
    if request is not None:
        model = request.get("model")
        if isinstance(model, str) and model:
            options["model"] = model
        tools = request.get("tools")
        names = []
        if isinstance(tools, list) and request.get("tool_choice") != "none":
            for tool in tools:
                function = tool.get("function") if isinstance(tool, dict) else None
                name = function.get("name") if isinstance(function, dict) else None
                if isinstance(name, str) and name and name not in names:
                    names.append(name)
        options["tool_names"] = names
        n = request.get("n")
        if dialect == "anyrouter" and isinstance(n, int) and not isinstance(n, bool) and n > 1:
            options["max_choices"] = min(n, 4)
        if stream and dialect == "anyrouter":
            stream_options = request.get("stream_options")
            usage = request.get("usage")
            options["usage"] = bool(
                (isinstance(stream_options, dict) and stream_options.get("include_usage"))
                or (isinstance(usage, dict) and usage.get("include"))
            )
    strategy = chat_streams(**options) if stream else chat_responses(**options)
    drawn: ChatResponse | ChatStream = draw(strategy, seed)
    return drawn

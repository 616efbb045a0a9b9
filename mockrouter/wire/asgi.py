"""Small helpers for writing raw ASGI: reading a bounded body, sending a whole response.

The chat endpoint talks ASGI directly (no framework objects on the hot path), so these are
the only primitives it needs.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from ..errors import BodyTooLarge, ClientGone

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Headers = list[tuple[bytes, bytes]]


async def read_body(receive: Receive, limit: int) -> bytes:
    """The whole request body, or :class:`~mockrouter.errors.BodyTooLarge` as soon as it passes ``limit`` bytes."""
    message = await receive()
    if message["type"] == "http.disconnect":
        raise ClientGone
    body: bytes = message.get("body", b"")
    if not message.get("more_body"):
        if len(body) > limit:
            raise BodyTooLarge(limit)
        return body
    parts = [body]
    size = len(body)
    while message.get("more_body"):
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(limit)
        parts.append(chunk)
    return b"".join(parts)


async def send_response(
    send: Send, status: int, body: bytes, content_type: bytes, headers: Headers | None = None
) -> None:
    """Send a complete response in two ASGI messages."""
    out = [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]
    if headers:
        out.extend(headers)
    await send({"type": "http.response.start", "status": status, "headers": out})
    await send({"type": "http.response.body", "body": body})


def header_dict(scope: Scope) -> dict[str, str]:
    """Request headers as a dict of lower-case names (latin-1, as HTTP/1.1 defines them)."""
    return {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}  # ASGI names are lower-case

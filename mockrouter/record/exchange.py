"""One exchange with the real router, as the recording proxy saw it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["Exchange"]


@dataclass(slots=True)
class Exchange:
    """A request forwarded upstream and the answer that came back, byte for byte.

    ``chunks`` are the answer's body pieces with the time each arrived (seconds after the
    response headers arrived); ``complete`` is False when the upstream broke the body off (the
    connection dropped, or a read failed), ``client_gone`` when the client hung up first (the
    proxy stopped reading there)."""

    #: ``chat``, ``text``, ``messages`` or ``responses`` (``core.surfaces``).
    surface: str
    #: The route relative to the API base, e.g. ``/chat/completions``.
    path: str
    #: The request body the client sent (a JSON object).
    request: dict[str, Any]
    status: int
    #: Response headers, names in lower case, in the order they came.
    headers: list[tuple[str, str]] = field(default_factory=list)
    chunks: list[tuple[float, bytes]] = field(default_factory=list)
    #: Seconds from sending the request to the response headers.
    latency_s: float = 0.0
    complete: bool = True
    client_gone: bool = False
    #: When the request was sent (unix seconds).
    started: float = 0.0

    @property
    def body(self) -> bytes:
        return b"".join(piece for _, piece in self.chunks)

    def header(self, name: str) -> str | None:
        """The first value of response header ``name`` (lower case), or None."""
        for key, value in self.headers:
            if key == name:
                return value
        return None

"""The recording proxy: forward a request to the real router, stream its answer back to the
client as it arrives, and keep the exchange as a recording.

    client ── request ──▶ forward() ── same body, same headers (minus hop-by-hop, the
                                       mockrouter ones, and the key if MOCKROUTER_UPSTREAM_KEY
                                       replaces it) ──▶ upstream
    client ◀── each body piece as it arrives (no buffering) ── upstream
                          └─▶ Exchange ─▶ record.record() (secrets masked) ─▶ a cassette file,
                                          or the key's recordings (the pytest plugin's)

Used by ``--mode record`` (every request) and ``--mode auto`` (requests no scenario matches).
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

from ..core.config import Config
from ..core.reply import HttpError
from ..errors import DeliberateDisconnect, RequestError
from ..record.cassette import Cassette, scenario_name
from ..record.exchange import Exchange
from ..record.recording import Redactor, record, shown_upstream
from ..wire.asgi import Receive, Send
from .runtime import RequestContext, Runtime

if TYPE_CHECKING:  # httpx is imported when a request is first forwarded, not when the server starts
    import httpx

__all__ = ["Upstream", "forward", "no_recording"]

#: Request headers never forwarded: hop-by-hop ones, what the proxy sets itself, mockrouter's own.
_REQUEST_DROP = frozenset(
    {
        "host",
        "content-length",
        "connection",
        "keep-alive",
        "transfer-encoding",
        "te",
        "trailer",
        "upgrade",
        "proxy-authorization",
        "proxy-connection",
        "accept-encoding",
    }
)
#: Response headers not passed back: hop-by-hop ones and those the server sets for its own body.
_RESPONSE_DROP = frozenset(
    {"content-length", "connection", "keep-alive", "transfer-encoding", "content-encoding", "date", "server"}
)
_KEY_HEADERS = (b"authorization", b"x-api-key")


class Upstream:
    """The real router behind ``--mode record|auto``: one HTTP client for the app's life, and
    where recordings go."""

    def __init__(self, config: Config) -> None:
        assert config.upstream is not None
        self.url = config.upstream.rstrip("/")
        self.shown = shown_upstream(self.url)
        self.key = config.upstream_key
        self.timing = config.record_timing
        self.redactor = Redactor(config.redact)
        self.cassette = (
            Cassette(config.cassette, overwrite=config.mode == "record") if config.cassette is not None else None
        )
        self._client: httpx.AsyncClient | None = None
        #: Recordings being transcribed and written now (they finish after their answers end).
        self.pending = 0

    async def settled(self, timeout: float = 10.0) -> None:
        """Return once no recording is being made (or ``timeout`` seconds passed)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self.pending and loop.time() < deadline:
            await asyncio.sleep(0.005)

    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            import httpx

            # no read timeout: an upstream may stall on purpose (it is recorded as it happens)
            timeout = httpx.Timeout(connect=10.0, read=None, write=60.0, pool=None)
            self._client = httpx.AsyncClient(timeout=timeout, limits=httpx.Limits(max_keepalive_connections=100))
        return self._client

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None


def _forwarded_headers(ctx: RequestContext, key: str | None) -> tuple[list[tuple[bytes, bytes]], list[str]]:
    """The request headers to send upstream, and the secrets they carried (masked in recordings)."""
    out: list[tuple[bytes, bytes]] = []
    secrets: list[str] = []
    for name, value in ctx.entry.raw_headers:
        lower = name.lower()
        if lower in _KEY_HEADERS or lower == b"cookie":
            text = value.decode("latin-1")
            secrets.append(text.split(" ", 1)[1].strip() if lower == b"authorization" and " " in text else text)
            secrets += [part.split("=", 1)[-1].strip() for part in text.split(";")] if lower == b"cookie" else []
        if lower.decode("latin-1") in _REQUEST_DROP or lower.startswith(b"x-mockrouter-"):
            continue
        if key is not None and lower in _KEY_HEADERS:
            continue  # replaced below
        out.append((name, value))
    if key is not None:
        out.append((b"authorization", b"Bearer " + key.encode("latin-1")))
        if any(n.lower() == b"x-api-key" for n, _ in ctx.entry.raw_headers) or ctx.surface == "messages":
            out.append((b"x-api-key", key.encode("latin-1")))
        secrets.append(key)
    out.append((b"accept-encoding", b"identity"))  # pieces go back to the client as they came
    return out, [s for s in secrets if len(s) >= 4]


async def forward(
    app: Runtime, receive: Receive, send: Send, ctx: RequestContext, raw: bytes, body: dict[str, Any], surface: str
) -> None:
    """Answer the request with the upstream's answer, streamed through, and record it."""
    import httpx

    upstream = app.upstream
    if upstream is None:
        raise RequestError(400, "This request was to be forwarded, but mockrouter has no --upstream.")
    entry = ctx.entry
    entry.selected_by = "upstream"
    entry.stream = body.get("stream") is True
    path = ctx.path[ctx.path.index("/v1") + 3 :]  # both API prefixes end in /v1
    url = upstream.url + path + ("?" + entry.query if entry.query else "")
    headers, secrets = _forwarded_headers(ctx, upstream.key)
    client = upstream.client()
    started, sent_at = time.time(), time.perf_counter()
    try:
        response = await client.send(client.build_request("POST", url, content=raw, headers=headers), stream=True)
    except httpx.HTTPError as exc:
        reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        await app.send_error(
            send, ctx, HttpError(502, f"mockrouter could not reach the upstream {upstream.shown}{path} ({reason}).")
        )
        return
    headers_at = time.perf_counter()
    exchange = Exchange(
        surface=surface,
        path=path,
        request=body,
        status=response.status_code,
        headers=[(k.lower(), v) for k, v in response.headers.multi_items()],
        latency_s=headers_at - sent_at,
        started=started,
    )
    entry.status = response.status_code
    out = [
        (k.encode("latin-1"), v.encode("latin-1"))
        for k, v in response.headers.multi_items()
        if k.lower() not in _RESPONSE_DROP
    ]
    await send({"type": "http.response.start", "status": response.status_code, "headers": out})
    gone = asyncio.Event()
    relay = asyncio.ensure_future(_relay(response, send, exchange, ctx, headers_at))
    watcher = asyncio.ensure_future(_watch(receive, gone, relay))
    try:
        await relay
    except asyncio.CancelledError:
        if not gone.is_set():
            raise  # this request itself was cancelled (the server is stopping)
        exchange.client_gone = True
    finally:
        watcher.cancel()
        await response.aclose()
        entry.client_disconnected = exchange.client_gone
    if exchange.complete and not exchange.client_gone:
        await send({"type": "http.response.body", "body": b""})
    # after the answer is out, and off the event loop: other streams go on meanwhile
    upstream.pending += 1
    try:
        await asyncio.to_thread(_keep, app, ctx, exchange, secrets)
    finally:
        upstream.pending -= 1
    if not exchange.complete:
        raise DeliberateDisconnect  # the upstream broke the body off: so does the proxy


async def _relay(response: httpx.Response, send: Send, exchange: Exchange, ctx: RequestContext, t0: float) -> None:
    """Send each piece of the upstream body on as it arrives, until it ends or breaks (the
    watcher cancels this when the client leaves: a stalled upstream must not keep the proxy
    waiting)."""
    import httpx

    entry = ctx.entry
    try:
        async for piece in response.aiter_raw():
            now = time.perf_counter()
            exchange.chunks.append((now - t0, piece))
            if entry.ttft_ms is None:
                entry.ttft_ms = (now - ctx.started) * 1000
            await send({"type": "http.response.body", "body": piece, "more_body": True})
            entry.bytes_sent += len(piece)
            entry.chunks_sent += 1
    except httpx.HTTPError:
        exchange.complete = False


async def _watch(receive: Receive, gone: asyncio.Event, relay: asyncio.Future[None]) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
    gone.set()
    relay.cancel()


def _keep(app: Runtime, ctx: RequestContext, exchange: Exchange, secrets: list[str]) -> None:
    """Record the exchange: into the key's recordings when the key has its own mode (the
    pytest plugin collects them), else into the cassette."""
    upstream = app.upstream
    assert upstream is not None
    recording = record(
        exchange, upstream=upstream.url, secrets=secrets, redactor=upstream.redactor, timing=upstream.timing
    )
    entry = ctx.entry
    entry.scenario = scenario_name(recording.conversation)
    step = recording.step
    entry.model = step.get("model") if isinstance(step.get("model"), str) else None
    entry.finish_reason = step.get("finish_reason") if isinstance(step.get("finish_reason"), str) else None
    key = ctx.key
    if key is not None and key in app.state.record_modes:
        app.state.recordings.setdefault(key, []).append(recording.as_dict())
    elif upstream.cassette is not None:
        upstream.cassette.add(recording)


def no_recording(conversation: str, turn: int, near_misses: list[dict[str, Any]]) -> HttpError:
    """The loud answer of replay mode to a request nothing recorded matches (a 404: an SDK
    raises it at once instead of retrying), naming the nearest scenarios and what failed."""
    nearest = "; ".join(
        f"{m['scenario']} ("
        + ", ".join(f"{x['condition']}: expected {x['expected']!r}, had {x['actual']!r}" for x in m["mismatches"])
        + ")"
        for m in near_misses
    )
    message = (
        f"No recording matches this request (replay mode: nothing is sent upstream). Its conversation is "
        f"{conversation} at turn {turn}. Nearest: {nearest or 'none (no scenario has a match block)'}."
    )
    return HttpError(404, message, type="not_found", code="no_recording", metadata={"near_misses": near_misses})

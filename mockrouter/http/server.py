"""Run the app under uvicorn: in the foreground (``mockrouter serve``) or in a background
thread on a free loopback port (tests, the pytest plugin).
"""

from __future__ import annotations

import asyncio
import gc
import logging
import socket
import sys
import threading
import time
from typing import Any

import uvicorn

from ..core.config import Config
from ..errors import DeliberateDisconnect
from ..wire.coalesce import coalescing
from .app import MockrouterApp

#: At shutdown, how long responses in progress may take to finish on their own before their
#: connections are closed (uvicorn then waits ``timeout_graceful_shutdown`` for the handlers).
SHUTDOWN_GRACE_S = 0.5


class _HideDeliberateDisconnects(logging.Filter):
    """uvicorn logs any exception an app raises; a scripted disconnect is not an error, nor is
    the cancellation of a handler still sleeping when the graceful-shutdown timeout ends."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, DeliberateDisconnect | asyncio.CancelledError)


def _responses_in_progress(connections: set[Any]) -> list[Any]:
    return [c for c in connections if getattr(c, "cycle", None) is not None and not c.cycle.response_complete]


class Server(uvicorn.Server):
    """uvicorn's server, with a shutdown that ends open streams instead of waiting them out.

    On Ctrl-C / SIGTERM uvicorn stops accepting, closes idle keep-alive connections and waits
    up to ``timeout_graceful_shutdown`` for responses in progress, then cancels them. A
    mockrouter stream may be stalled on purpose (until the client leaves) or last minutes, so
    after a short grace the connections of responses still in progress are closed: their
    handlers see the client gone and end as they do for any client that leaves (journaled,
    no traceback), and the process exits within about a second.
    """

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        for server in self.servers:  # stop accepting now (uvicorn's own shutdown does it again)
            server.close()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + SHUTDOWN_GRACE_S
        while _responses_in_progress(self.server_state.connections) and loop.time() < deadline:
            await asyncio.sleep(0.05)
        for connection in _responses_in_progress(self.server_state.connections):
            transport = getattr(connection, "transport", None)
            if transport is not None:
                transport.close()
        await super().shutdown(sockets=sockets)


def _install_log_filter() -> None:
    logger = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, _HideDeliberateDisconnects) for f in logger.filters):
        logger.addFilter(_HideDeliberateDisconnects())


def _loop_and_http() -> dict[str, str]:
    out = {"loop": "asyncio", "http": "h11"}
    try:
        import uvloop  # noqa: F401

        out["loop"] = "uvloop"
    except ImportError:  # pragma: no cover - uvicorn[standard] brings it on Linux/macOS
        pass
    try:
        import httptools  # noqa: F401

        out["http"] = "httptools"
    except ImportError:  # pragma: no cover
        pass
    return out


def uvicorn_config(app: MockrouterApp, config: Config, **overrides: Any) -> uvicorn.Config:
    options: dict[str, Any] = {
        "host": config.host,
        "port": config.port,
        "access_log": config.access_log,
        "log_level": "warning",
        "lifespan": "on",
        "timeout_graceful_shutdown": 3,
        "h11_max_incomplete_event_size": 64 * 1024,
        # Clients talk to the mock directly: no X-Forwarded-* rewriting of the client address
        # (uvicorn's proxy-headers middleware otherwise wraps every request).
        "proxy_headers": False,
        **_loop_and_http(),
    }
    options.update(overrides)
    options["http"] = _protocol_class(options["http"])
    return uvicorn.Config(app, **options)


def _protocol_class(http: Any) -> Any:
    """uvicorn's protocol named ``http``, writing each loop turn's output at once (``coalesce``)."""
    if not isinstance(http, str):
        return http
    from uvicorn.config import HTTP_PROTOCOLS
    from uvicorn.importer import import_from_string

    return coalescing(import_from_string(HTTP_PROTOCOLS[http]))


def serve(config: Config, app: MockrouterApp | None = None) -> None:
    """Run in the foreground until Ctrl-C / SIGTERM."""
    _install_log_filter()
    app = app or MockrouterApp(config)
    host = f"[{config.host}]" if ":" in config.host else config.host
    print(
        f"mockrouter {config.dialect} dialect, {len(app.engine.global_set)} scenarios\n"
        f"  base URL: http://{host}:{config.port}/api/v1\n"
        f"  admin:    http://{host}:{config.port}/__mockrouter/health",
        flush=True,
    )
    if not config.loopback and config.admin_token is None:
        print(
            "warning: listening beyond loopback without --admin-token: the admin API refuses every call",
            file=sys.stderr,
            flush=True,
        )
    server_config = uvicorn_config(app, config)
    server_config.load()  # imports the loop and protocol modules now, so the freeze below covers them
    _freeze_heap()
    Server(server_config).run()


def _freeze_heap() -> None:
    """Move everything alive now (modules, compiled schemas and scenarios: ~35,000 objects) out
    of the garbage collector's sight. A full collection walks every tracked object, and on a
    loaded 2-core machine walking these took ~40 ms, during which no request was answered. Done
    only in ``mockrouter serve``, which owns its process; never in a host's process (pytest)."""
    gc.collect()
    gc.freeze()


class BackgroundServer:
    """A real server on a free loopback port, in a thread. Use as a context manager."""

    def __init__(self, config: Config | None = None, app: MockrouterApp | None = None) -> None:
        self.config = config or Config(port=0)
        self.app = app or MockrouterApp(self.config)
        # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY only then (else ~40 ms per response from delayed ACKs)
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self.port: int = self._sock.getsockname()[1]
        self._server = Server(uvicorn_config(self.app, self.config, port=self.port))
        self._server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
        self._thread = threading.Thread(target=self._run, name=f"mockrouter:{self.port}", daemon=True)
        self.error: BaseException | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        return self.url + "/api/v1"

    def _run(self) -> None:
        try:
            asyncio.run(self._server.serve(sockets=[self._sock]))
        except BaseException as exc:  # surfaced by start()/stop()
            self.error = exc

    def start(self, timeout: float = 10.0) -> BackgroundServer:
        _install_log_filter()
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if self.error is not None or not self._thread.is_alive():
                raise RuntimeError(f"mockrouter server failed to start: {self.error!r}")
            if time.monotonic() > deadline:
                raise TimeoutError("mockrouter server did not start in time")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._sock.close()

    def __enter__(self) -> BackgroundServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

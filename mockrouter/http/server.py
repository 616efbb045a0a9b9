"""Run the app under uvicorn: in the foreground (``mockrouter serve``) or in a background
thread on a free loopback port (tests, the pytest plugin).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import gc
import logging
import multiprocessing
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Iterator
from types import FrameType
from typing import Any

import uvicorn

from ..core.config import Config
from ..errors import DeliberateDisconnect, ListenError
from ..record.recording import shown_upstream
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


class _NoWebSocketAdvice(logging.Filter):
    """mockrouter serves no WebSocket (``ws="none"``): after "Unsupported upgrade request."
    uvicorn would advise installing a WebSocket library, which would mislead."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("No supported WebSocket library")


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
    for kind in (_HideDeliberateDisconnects, _NoWebSocketAdvice):
        if not any(isinstance(f, kind) for f in logger.filters):
            logger.addFilter(kind())


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
        # No WebSocket routes: an upgrade request is answered as HTTP (the dialect's 404), and
        # uvicorn does not import a WebSocket library (~1.4 MB of idle memory).
        "ws": "none",
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


def _recording(config: Config) -> str:
    """What the banner's first line says of ``--mode``."""
    if config.mode is None:
        return ""
    where = f" {config.cassette}/" if config.cassette is not None else ""
    if config.mode == "replay":
        return f", replaying{where} (nothing goes upstream)"
    shown = shown_upstream(config.upstream or "")
    return f", {config.mode} mode: {shown} -> {where.strip() or 'nowhere'}"


def _store_note(config: Config, app: MockrouterApp) -> str:
    """What the banner's first line says of ``--store`` and ``--workers``."""
    note = "" if config.store.startswith("memory://") else f", store {app.store.url}"
    return note + (f", {config.workers} workers" if config.workers > 1 else "")


def serve(config: Config, app: MockrouterApp | None = None) -> None:
    """Run in the foreground until Ctrl-C / SIGTERM, then return (the command exits 0).

    Checks the store (a Redis that does not answer is a :class:`StoreUnavailable`), binds
    (:func:`listen`: a port in use is a :class:`ListenError`), both before anything is printed,
    and prints the banner, with the port really bound, once the server answers. With
    ``--workers N`` the workers are processes of their own (:func:`_serve_workers`).
    """
    _install_log_filter()
    app = app or MockrouterApp(config)
    if not config.store.startswith("memory://"):
        from ..state.redis import check_reachable

        check_reachable(config.store)
    server_config = uvicorn_config(app, config)
    sockets = listen(config.host, config.port, backlog=server_config.backlog)
    try:
        port = sockets[0].getsockname()[1]
        server_config.port = port
        host = f"[{config.host}]" if ":" in config.host else config.host
        banner = (
            f"mockrouter {config.dialect} dialect, {len(app.engine.global_set)} scenarios"
            f"{_recording(config)}{_store_note(config, app)}\n"
            f"  base URL: http://{host}:{port}/api/v1\n"
            f"  admin:    http://{host}:{port}/__mockrouter/health"
        )
        if not config.loopback and config.admin_token is None:
            print(
                "warning: listening beyond loopback without --admin-token: the admin API refuses every call",
                file=sys.stderr,
                flush=True,
            )
        if config.workers > 1:
            _serve_workers(config, sockets, port, banner)
            return
        server_config.load()  # imports the loop and protocol modules now, so the freeze below covers them
        _freeze_heap()
        _ForegroundServer(server_config, banner).run(sockets=sockets)
    finally:
        for sock in sockets:
            sock.close()


def _worker(config: Config, sockets: list[socket.socket]) -> None:
    """One of ``--workers N``: its own app (and store connection) on the shared sockets. It
    ends with the ``serve`` process, even one killed without a chance to stop it (Linux)."""
    _end_with_parent()
    _install_log_filter()
    app = MockrouterApp(config)
    server_config = uvicorn_config(app, config)
    server_config.load()
    _freeze_heap()
    Server(server_config).run(sockets=sockets)


def _serve_workers(config: Config, sockets: list[socket.socket], port: int, banner: str) -> None:
    """Run ``config.workers`` worker processes on ``sockets`` (each accepts from them, as
    uvicorn's own ``--workers``), print the banner once one answers, replace a worker that dies,
    and on Ctrl-C / SIGTERM stop them all (each ends its streams as one server does)."""
    spawn = multiprocessing.get_context("spawn")
    workers: list[Any] = []
    stopping: list[str] = []

    def start() -> Any:
        process = spawn.Process(target=_worker, args=(config, sockets), name="mockrouter-worker", daemon=False)
        process.start()
        return process

    def on_signal(sig: int, frame: FrameType | None) -> None:
        if not stopping:
            stopping.append(signal.Signals(sig).name)

    originals = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        workers.extend(start() for _ in range(config.workers))
        probe = "127.0.0.1" if config.host in ("0.0.0.0", "", "localhost") else config.host.strip("[]")
        if probe == "::":
            probe = "::1"
        deadline = time.monotonic() + 60
        while not stopping and not _answers(probe, port) and time.monotonic() < deadline:
            if all(not w.is_alive() for w in workers):
                raise ListenError("the workers exited at start (see the lines above)")
            time.sleep(0.05)
        if not stopping:
            _say(banner)
        while not stopping:
            time.sleep(0.2)
            for i, w in enumerate(workers):
                if not w.is_alive() and not stopping:
                    _say(f"worker {w.pid} exited ({w.exitcode}); starting another")
                    workers[i] = start()
        _say(f"shutting down ({stopping[0]})")
    finally:
        for w in workers:
            if w.is_alive() and w.pid is not None:
                os.kill(w.pid, signal.SIGTERM)
        for w in workers:
            w.join(timeout=10)
            if w.is_alive():
                w.kill()
                w.join()
        for sig, handler in originals.items():
            signal.signal(sig, handler)


def _end_with_parent() -> None:
    """Ask Linux to send this process SIGTERM when its parent dies (``PR_SET_PDEATHSIG``)."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # 1: PR_SET_PDEATHSIG


def _answers(host: str, port: int) -> bool:
    """Whether an HTTP server answers on ``host:port`` (any status: it may want a token)."""
    try:
        with socket.create_connection((host, port), timeout=1) as sock:
            sock.sendall(b"GET /__mockrouter/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            return sock.recv(12).startswith(b"HTTP/1.1")
    except OSError:
        return False


def listen(host: str, port: int, *, backlog: int = 2048) -> list[socket.socket]:
    """Listening sockets on every address ``host`` resolves to (as uvicorn's own binding does:
    ``localhost`` may be 127.0.0.1 and ::1); port 0 picks a free port, the same on each.

    Raises :class:`ListenError` with a one-line reason when that cannot be done.
    """
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror:
        raise ListenError(f"cannot listen on {host}: no such host") from None
    sockets: list[socket.socket] = []
    try:
        for family, kind, proto, _, address in dict.fromkeys(infos):
            # proto is IPPROTO_TCP: asyncio sets TCP_NODELAY on accepted connections only then
            sock = socket.socket(family, kind, proto)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            if port == 0 and len(sockets) > 1:  # the free port the first address got
                address = (address[0], sockets[0].getsockname()[1], *address[2:])
            try:
                sock.bind(address)
            except OSError as exc:
                tried = address[1]  # the port (an int for AF_INET and AF_INET6)
                raise ListenError(_bind_problem(exc, host, tried if isinstance(tried, int) else port)) from None
            sock.listen(backlog)  # connections wait in the backlog until the loop accepts them
    except BaseException:
        for sock in sockets:
            sock.close()
        raise
    return sockets


def _bind_problem(exc: OSError, host: str, port: int) -> str:
    if exc.errno == errno.EADDRINUSE:
        return (
            f"port {port} is in use on {host}: stop what uses it, or choose another port with --port (0: any free port)"
        )
    if exc.errno == errno.EACCES:
        return f"no permission to listen on port {port}" + (
            " (ports below 1024 need privileges)" if port < 1024 else ""
        )
    if exc.errno == errno.EADDRNOTAVAIL:
        return f"cannot listen on {host}: not an address of this machine"
    return f"cannot listen on {host} port {port}: {exc.strerror or exc}"


class _ForegroundServer(Server):
    """``mockrouter serve``'s server: prints the banner once it answers, says why it stops,
    and returns after a signal instead of re-raising it, so that the command exits 0."""

    def __init__(self, config: uvicorn.Config, banner: str) -> None:
        super().__init__(config)
        self.banner = banner
        self.stopped_by: str | None = None

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.started:
            _say(self.banner)

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        # uvicorn's own re-raises the signal once shut down: the process would then end as
        # killed by SIGTERM, or with KeyboardInterrupt, after a clean stop
        originals = {sig: signal.signal(sig, self.handle_exit) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in originals.items():
                signal.signal(sig, handler)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self.stopped_by is None:
            self.stopped_by = signal.Signals(sig).name
        super().handle_exit(sig, frame)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        if self.stopped_by is not None:
            _say(f"shutting down ({self.stopped_by})")
        await super().shutdown(sockets=sockets)


def _say(text: str) -> None:
    """Print a line of the server's own; if stdout's reader went away, serve on regardless."""
    try:
        print(text, flush=True)
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


def _freeze_heap() -> None:
    """Move everything alive now (modules, compiled schemas and scenarios: ~35,000 objects) out
    of the garbage collector's sight. A full collection walks every tracked object, and on a
    loaded 2-core machine walking these took ~40 ms, during which no request was answered. Done
    only in ``mockrouter serve``, which owns its process; never in a host's process (pytest)."""
    gc.collect()
    gc.freeze()


class BackgroundServer:
    """A real server on a free loopback port, in a thread. Use as a context manager."""

    def __init__(self, config: Config | None = None, app: MockrouterApp | None = None, **uvicorn_options: Any) -> None:
        """``uvicorn_options`` go over mockrouter's uvicorn settings (``http="h11"``: uvicorn's
        pure-Python HTTP protocol instead of httptools)."""
        self.config = config or Config(port=0)
        self.app = app or MockrouterApp(self.config)
        # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY only then (else ~40 ms per response from delayed ACKs)
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self.port: int = self._sock.getsockname()[1]
        self._server = Server(uvicorn_config(self.app, self.config, **{**uvicorn_options, "port": self.port}))
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

"""Server settings: one plain object built by the CLI, by tests, or by hand."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ConfigError

#: The record-and-replay modes (``--mode``); None: neither.
MODES = (None, "replay", "auto", "record")


#: The ``--store`` URL schemes: this process's memory, or Redis (``rediss``: over TLS; Valkey speaks the same).
STORE_SCHEMES = ("memory", "redis", "rediss", "valkey", "valkeys")


def store_scheme(url: str) -> str:
    """The scheme of a ``--store`` URL (lower case; empty when it has none)."""
    return url.split("://", 1)[0].lower() if "://" in url else ""


@dataclass
class Config:
    """Everything ``mockrouter serve`` can be told. Defaults match the CLI's."""

    host: str = "127.0.0.1"
    #: 0 picks a free port (``mockrouter serve`` prints which).
    port: int = 8080
    scenarios: list[Path] = field(default_factory=list)
    #: Checked against the dialect registry when the app is built (``http.runtime.Runtime``).
    dialect: str = "anyrouter"
    keys: Path | None = None
    seed: int | None = None
    speed: float = 1.0
    builtin: bool = True
    admin_token: str | None = None
    strict_models: bool = False
    journal_size: int = 10_000
    #: Where the state lives (``--store``): ``memory://`` (this process) or ``redis://HOST:PORT/DB``
    #: (every worker and host started with the same URL shares it).
    store: str = "memory://"
    #: uvicorn worker processes (``--workers``); more than one needs a shared store.
    workers: int = 1
    #: Seconds a key, session or test may be idle before its counters, cursors and record
    #: mode are dropped (``--state-ttl``); 0 keeps them forever.
    state_ttl: float = 3600.0
    max_body: int = 10 * 1024 * 1024
    #: Total bytes of request header names and values; more is answered 431.
    max_header: int = 32 * 1024
    validate: bool = True
    access_log: bool = False
    #: openrouter dialect: the closing usage chunk repeats the final choice ("repeat",
    #: as captured on the wire in 2026) or carries ``choices: []`` ("empty", as documented).
    usage_chunk: str = "repeat"
    #: Encoders answer static replies from bytes compiled once (``wire.dialects.openai``). No
    #: CLI flag: off only in tests that compare the compiled bytes with rendering in full.
    compile_answers: bool = True
    #: Record and replay (``--mode``): None serves scenarios as usual; ``replay`` answers a
    #: request no scenario matches with a 404 naming the near misses; ``auto`` forwards such a
    #: request to ``upstream`` and records the answer; ``record`` forwards and records every
    #: request (except one that names a scenario: header or ``mockrouter/NAME``).
    mode: str | None = None
    #: The real router's API base as clients use it, e.g. ``https://openrouter.ai/api/v1``.
    upstream: str | None = None
    #: Sent upstream instead of the client's key (``MOCKROUTER_UPSTREAM_KEY``; never a flag).
    upstream_key: str | None = field(default=None, repr=False)
    #: Where recordings are written, one file per conversation; loaded as scenarios at start.
    cassette: Path | None = None
    #: Record each stream's TTFT and inter-chunk intervals (``--timing``).
    record_timing: bool = False
    #: Regexes masked in everything recorded (``--redact``), besides keys and cookies.
    redact: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise ConfigError("--port must be from 0 to 65535 (0: any free port)")
        if not 0 <= self.speed < float("inf"):  # (NaN too: a NaN delay would stop every paced stream)
            raise ConfigError("--speed must be a number >= 0")
        if self.usage_chunk not in ("repeat", "empty"):
            raise ConfigError("--usage-chunk must be 'repeat' or 'empty'")
        if self.journal_size < 1:
            raise ConfigError("--journal-size must be >= 1")
        scheme = store_scheme(self.store)
        if scheme not in STORE_SCHEMES:
            raise ConfigError(f"--store {self.store!r}: use memory:// (the default) or redis://HOST:PORT/DB")
        if self.workers < 1:
            raise ConfigError("--workers must be >= 1")
        if self.workers > 1 and scheme == "memory":
            raise ConfigError(
                f"--workers {self.workers} needs a shared store: the memory store lives in one process"
                " (add --store redis://HOST:PORT/DB)"
            )
        if not self.state_ttl >= 0 or self.state_ttl == float("inf"):
            raise ConfigError("--state-ttl must be a number of seconds >= 0 (0: never expire)")
        if self.max_body < 0:
            raise ConfigError("--max-body must be >= 0")
        if self.max_header < 1:
            raise ConfigError("--max-header must be >= 1")
        self.scenarios = [Path(p) for p in self.scenarios]
        if self.mode not in MODES:
            raise ConfigError("--mode must be one of " + ", ".join(m for m in MODES if m))
        if self.mode in ("record", "auto") and not self.upstream:
            raise ConfigError(f"--mode {self.mode} needs --upstream URL (the real router's API base)")
        if self.cassette is not None:
            self.cassette = Path(self.cassette)

    @property
    def loopback(self) -> bool:
        """Whether the server only listens on the loopback interface."""
        if self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False

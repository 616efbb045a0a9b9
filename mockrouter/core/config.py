"""Server settings: one plain object built by the CLI, by tests, or by hand."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ConfigError


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

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise ConfigError("--port must be from 0 to 65535 (0: any free port)")
        if self.speed < 0:
            raise ConfigError("--speed must be >= 0")
        if self.usage_chunk not in ("repeat", "empty"):
            raise ConfigError("--usage-chunk must be 'repeat' or 'empty'")
        if self.journal_size < 1:
            raise ConfigError("--journal-size must be >= 1")
        if self.max_body < 0:
            raise ConfigError("--max-body must be >= 0")
        if self.max_header < 1:
            raise ConfigError("--max-header must be >= 1")
        self.scenarios = [Path(p) for p in self.scenarios]

    @property
    def loopback(self) -> bool:
        """Whether the server only listens on the loopback interface."""
        if self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False

"""The pytest plugin (entry point ``pytest11``): a real mockrouter per test session.

Fixture ``mockrouter``: a server on a free loopback port, shared by the session (one per
dialect and speed), and a fresh API key per test, so cursors, journal and scoped scenarios of
two tests never meet. Talks to the server only over HTTP, like any client would.

    def test_retries(mockrouter):
        client = OpenAI(base_url=mockrouter.base_url, api_key=mockrouter.api_key)
        client.chat.completions.create(model="mockrouter/rate-limited", messages=[...])
        mockrouter.assert_resilient()

Marker ``@pytest.mark.mockrouter(scenarios=..., dialect=..., speed=..., cassette=...)``;
options ``--mockrouter-speed`` (default 0: no scripted delays), ``--mockrouter-dialect``,
and for cassettes ``--mockrouter-record=none|new|all`` with ``--mockrouter-upstream URL``.
Under pytest-xdist every worker process starts its own server.

Cassettes (VCR's modes): a test marked ``cassette=True`` (or a folder) replays the recordings
in ``cassettes/<module>/<test>/`` beside its file. ``none`` (the default) replays only, and a
request nothing recorded matches fails loudly (a 404 naming the near misses); ``new`` replays
what exists and forwards the rest to the upstream, recording it; ``all`` forwards and records
everything again. The server records; the fixture writes the test's files when it ends.
"""

from __future__ import annotations

import errno
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import orjson
import pytest

from ..errors import ResilienceError
from ..record.cassette import Cassette
from ..record.recording import Recording

if TYPE_CHECKING:  # the server is imported when a test first asks for it, not when pytest starts
    from ..http.server import BackgroundServer

DIALECT_NAMES = ("anyrouter", "openrouter")

DEFAULT_SPEED = 0.0
#: ``--mockrouter-record`` (VCR's names) → the server's record mode for the test's key.
RECORD_MODES = {"none": "replay", "new": "auto", "all": "record"}
UPSTREAM_VARIABLE = "MOCKROUTER_UPSTREAM"
UPSTREAM_KEY_VARIABLE = "MOCKROUTER_UPSTREAM_KEY"


@dataclass(slots=True)
class JournalEntry:
    """One request as the journal recorded it (see the README for every field)."""

    id: str
    time: str
    ts: float
    method: str
    path: str
    status: int | None = None
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    scenario: str | None = None
    step: int | None = None
    selected_by: str | None = None
    stream: bool = False
    fault: str | None = None
    error: str | None = None
    retry_after_s: float | None = None
    ttft_ms: float | None = None
    duration_ms: float | None = None
    bytes_sent: int = 0
    chunks_sent: int = 0
    client_disconnected: bool = False
    disconnected_after_ms: float | None = None
    unmatched: bool = False
    near_misses: list[dict[str, Any]] | None = None
    generation_id: str | None = None
    expected: Any = None
    key_hint: str | None = None
    dialect: str | None = None
    query: str = ""
    #: Everything the server sent, including fields newer than this class.
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> JournalEntry:
        known = {f.name for f in fields(cls)} - {"raw"}
        return cls(**{k: v for k, v in data.items() if k in known}, raw=dict(data))


#: Journal entries read per admin call (the admin API's most).
PAGE = 1000
#: The suffixes that make a one-line ``str`` given to ``add()`` a path.
PATH_SUFFIXES = (".yaml", ".yml", ".json")
JSON = "application/json"
YAML = "application/yaml"
ONE_LINE_HINT = (
    "\n(a str is read as a path only when it has no newline and ends in .yaml, .yml or .json; "
    "pass a pathlib.Path for a folder or another name)"
)


def is_path(source: object) -> bool:
    """Whether ``add(source)`` reads ``source`` as a path: a :class:`pathlib.Path`, or a ``str``
    with no newline that ends in ``.yaml``, ``.yml`` or ``.json``. Any other ``str`` is YAML text."""
    if isinstance(source, Path):
        return True
    return isinstance(source, str) and "\n" not in source and source.endswith(PATH_SUFFIXES)


class MockrouterFixture:
    """A running mockrouter seen through one fresh API key."""

    def __init__(self, server: BackgroundServer, api_key: str | None = None) -> None:
        self.server = server
        self.api_key = api_key or f"sk-mockrouter-{uuid.uuid4().hex}"
        self._admin = httpx.Client(base_url=server.url + "/__mockrouter", timeout=30)
        #: The test's cassette folder (None: the test uses none), and its record mode.
        self.cassette: Path | None = None
        self.record_mode: str | None = None

    # -- where to point clients -------------------------------------------------------------

    @property
    def url(self) -> str:
        """The server root, e.g. ``http://127.0.0.1:PORT``."""
        return self.server.url

    @property
    def base_url(self) -> str:
        """The router API base, ready for any SDK: ``http://127.0.0.1:PORT/api/v1``."""
        return self.server.base_url

    @property
    def dialect(self) -> str:
        return self.server.config.dialect

    # -- scenarios --------------------------------------------------------------------------

    def add(self, source: str | Path | Mapping[str, Any] | Sequence[Mapping[str, Any]]) -> list[str]:
        """Add scenarios seen only by this test's key; returns the names added.

        ``source`` is a dict (or a list of dicts), a path, or YAML text. A path is a
        :class:`pathlib.Path` (a file, or a folder: every ``*.yaml``/``*.yml`` below it) or a
        ``str`` with no newline ending in ``.yaml``, ``.yml`` or ``.json`` (see :func:`is_path`);
        a missing one raises ``FileNotFoundError`` naming it. Any other ``str`` is YAML text.
        A ``.json`` file is read as JSON. A broken scenario raises ``ValueError`` with file,
        line and field of each problem."""
        if isinstance(source, Mapping) or (isinstance(source, Sequence) and not isinstance(source, str)):
            return self._post(orjson.dumps(source), JSON)
        if not is_path(source):
            text = str(source)
            hint = "" if "\n" in text else ONE_LINE_HINT
            return self._post(text.encode(), YAML, hint=hint)
        path = Path(source)
        if path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file())
        elif path.is_file():
            files = [path]
        else:
            raise FileNotFoundError(errno.ENOENT, "no such scenario file or folder", str(source))
        names: list[str] = []
        for file in files:
            names += self._post(file.read_bytes(), JSON if file.suffix == ".json" else YAML, file=str(file))
        return names

    def _post(self, body: bytes, content_type: str, *, file: str | None = None, hint: str = "") -> list[str]:
        response = self._admin.post(
            "/scenarios", params={"key": self.api_key}, content=body, headers={"content-type": content_type}
        )
        return self._added(response, file, hint)

    @staticmethod
    def _added(response: httpx.Response, file: str | None = None, hint: str = "") -> list[str]:
        if response.status_code == 201:
            added: list[str] = response.json()["added"]
            return added
        detail = response.json().get("error", {})
        problems = [
            f"{file or e.get('file')}:{e.get('line')}: {e.get('field')}: {e.get('message')}"
            + (f"\n{e['excerpt']}" if e.get("excerpt") else "")
            for e in detail.get("errors", [])
        ] or [detail.get("message", response.text)]
        if not any("not a string" in str(e.get("message")) for e in detail.get("errors", [])):
            hint = ""  # the hint is for a name that was meant as a path and read as a YAML string
        raise ValueError("mockrouter rejected the scenarios:\n" + "\n".join(problems) + hint)

    # -- the journal --------------------------------------------------------------------------

    @property
    def requests(self) -> list[JournalEntry]:
        """This key's journal entries, oldest first."""
        return self._entries("/requests")

    @property
    def unmatched(self) -> list[JournalEntry]:
        """This key's requests that no scenario matched (each with its ``near_misses``)."""
        return self._entries("/requests/unmatched")

    def _entries(self, path: str) -> list[JournalEntry]:
        """Every entry of this key, whole: the journal is listed a page at a time (and shows
        large bodies cut), so follow its ``next`` cursor and read any cut entry in full."""
        entries: list[JournalEntry] = []
        cursor: str | None = "0"
        while cursor is not None:
            response = self._admin.get(path, params={"key": self.api_key, "since": cursor, "limit": PAGE})
            response.raise_for_status()
            page = response.json()
            for data in page["data"]:
                if data.get("body_cut"):
                    whole = self._admin.get(f"/requests/{data['id']}")
                    whole.raise_for_status()
                    data = whole.json()
                entries.append(JournalEntry.from_json(data))
            cursor = page.get("next")
        return entries

    def reset(self) -> None:
        """Forget this key's cursors, journal and scoped scenarios."""
        self._admin.post("/reset", params={"key": self.api_key}).raise_for_status()

    def wait_for(self, count: int, timeout: float = 5.0) -> list[JournalEntry]:
        """Block until ``count`` requests of this key are journaled (a request is journaled when
        its response ends); raise ``TimeoutError`` after ``timeout`` seconds."""
        response = self._admin.post(
            "/wait", json={"key": self.api_key, "count": count, "timeout_ms": timeout * 1000}, timeout=timeout + 10
        )
        response.raise_for_status()
        result = response.json()
        if not result["ok"]:
            raise TimeoutError(f"{result['count']} of {count} requests arrived within {timeout}s")
        return self.requests

    # -- resilience ---------------------------------------------------------------------------

    def report(self, max_retries: int = 5) -> list[dict[str, Any]]:
        """This key's resilience findings: ``[{"kind", "message", "request_ids"}]``."""
        response = self._admin.get("/report", params={"key": self.api_key, "max_retries": max_retries})
        response.raise_for_status()
        data = response.json()["data"]
        return data[0]["findings"] if data else []

    def assert_resilient(self, max_retries: int = 5) -> None:
        """Fail, listing every finding and the requests that prove it, unless there is none."""
        findings = self.report(max_retries)
        if findings:
            lines = [f"- {f['kind']}: {f['message']} (requests {', '.join(f['request_ids'])})" for f in findings]
            raise ResilienceError("the client was not resilient:\n" + "\n".join(lines))

    # -- cassettes ----------------------------------------------------------------------------

    def use_cassette(self, folder: Path, record: str) -> None:
        """Replay ``folder``'s recordings for this test's key, recording as ``record`` says
        (``none``, ``new`` or ``all``: see the module docstring)."""
        mode = RECORD_MODES[record]
        self.cassette, self.record_mode = folder, mode
        if mode != "record" and folder.is_dir() and any(folder.glob("*.yaml")):
            self.add(folder)
        response = self._admin.post("/record-mode", json={"key": self.api_key, "mode": mode})
        if response.status_code != 200:
            raise ValueError(f"mockrouter refused the cassette mode: {response.text}")

    def save_cassette(self) -> list[Path]:
        """Write what the server recorded for this test into its cassette; the files written."""
        if self.cassette is None:
            return []
        response = self._admin.get("/recordings", params={"key": self.api_key})
        response.raise_for_status()
        recordings = response.json()["data"]
        if not recordings:
            return []
        cassette = Cassette(self.cassette, overwrite=self.record_mode == "record")
        return sorted({cassette.add(Recording.from_dict(data)) for data in recordings})

    # -- plumbing -----------------------------------------------------------------------------

    def server_errors(self) -> list[str]:
        """Exceptions the server raised while serving this key (mockrouter bugs)."""
        return [e.traceback for e in self.server.app.errors if e.key == self.api_key]

    def close(self) -> None:
        self._admin.close()


class _Servers:
    """The session's servers, one per (dialect, speed), started on first use."""

    def __init__(self, upstream: str | None = None) -> None:
        self._servers: dict[tuple[str, float], BackgroundServer] = {}
        self.upstream = upstream

    def get(self, dialect: str, speed: float) -> BackgroundServer:
        key = (dialect, speed)
        if key not in self._servers:
            import os

            from ..core.config import Config
            from ..http.server import BackgroundServer

            config = Config(
                port=0,
                dialect=dialect,
                speed=speed,
                upstream=self.upstream,
                upstream_key=os.environ.get(UPSTREAM_KEY_VARIABLE) or None,
            )
            self._servers[key] = BackgroundServer(config).start()
        return self._servers[key]

    def close(self) -> None:
        for server in self._servers.values():
            server.stop()
        self._servers.clear()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("mockrouter")
    group.addoption(
        "--mockrouter-speed",
        type=float,
        default=None,
        help="multiply mockrouter's scripted delays (default 0: none; 1 is real time)",
    )
    group.addoption(
        "--mockrouter-dialect",
        choices=DIALECT_NAMES,
        default=None,
        help="the router dialect the mockrouter fixture speaks (default anyrouter)",
    )
    group.addoption(
        "--mockrouter-record",
        choices=tuple(RECORD_MODES),
        default="none",
        help="cassettes (tests marked mockrouter(cassette=...)): none replays only and fails on a request nothing "
        "recorded matches (default); new records what is missing; all records everything again",
    )
    group.addoption(
        "--mockrouter-upstream",
        metavar="URL",
        default=None,
        help=f"the real router recorded from, e.g. https://openrouter.ai/api/v1 (default: ${UPSTREAM_VARIABLE}); "
        f"${UPSTREAM_KEY_VARIABLE} is sent as its key",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "mockrouter(scenarios=None, dialect=None, speed=None, cassette=None): scenarios (YAML text, dicts or "
        "paths) added for the test's key, the dialect and speed of the server it gets, and its cassette (True: "
        "cassettes/<module>/<test>/ beside the test file; or a folder)",
    )


@pytest.fixture(scope="session")
def mockrouter_servers(pytestconfig: pytest.Config) -> Iterator[_Servers]:
    import os

    servers = _Servers(pytestconfig.getoption("--mockrouter-upstream") or os.environ.get(UPSTREAM_VARIABLE) or None)
    yield servers
    servers.close()


@pytest.fixture
def mockrouter(request: pytest.FixtureRequest, mockrouter_servers: _Servers) -> Iterator[MockrouterFixture]:
    """A real mockrouter server (shared by the session) and a fresh API key for this test."""
    marker = request.node.get_closest_marker("mockrouter")
    options = dict(marker.kwargs) if marker else {}
    dialect = options.get("dialect") or request.config.getoption("--mockrouter-dialect") or "anyrouter"
    speed = options.get("speed")
    if speed is None:
        speed = request.config.getoption("--mockrouter-speed")
    server = mockrouter_servers.get(dialect, DEFAULT_SPEED if speed is None else float(speed))
    fixture = MockrouterFixture(server)
    scenarios = options.get("scenarios")
    if scenarios is not None:
        many = isinstance(scenarios, list | tuple) and not all(isinstance(s, Mapping) for s in scenarios)
        for source in scenarios if many else [scenarios]:
            fixture.add(source)
    cassette = options.get("cassette")
    if cassette:
        record = request.config.getoption("--mockrouter-record")
        if record != "none" and mockrouter_servers.upstream is None:
            pytest.fail(f"--mockrouter-record={record} needs --mockrouter-upstream URL (or ${UPSTREAM_VARIABLE})")
        fixture.use_cassette(cassette_folder(request) if cassette is True else Path(cassette), record)
    try:
        yield fixture
        fixture.save_cassette()
        errors = fixture.server_errors()
        if errors:
            pytest.fail("mockrouter raised while serving this test:\n" + "\n".join(errors), pytrace=False)
    finally:
        fixture.reset()
        fixture.close()


def cassette_folder(request: pytest.FixtureRequest) -> Path:
    """``cassettes/<module>/<test>/`` beside the test's file (parameters kept, made file-safe)."""
    import re

    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name).strip("_")
    return Path(request.node.path).parent / "cassettes" / Path(request.node.path).stem / name

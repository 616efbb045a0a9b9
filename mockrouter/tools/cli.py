"""The ``mockrouter`` command: ``serve``, ``check``, ``scenarios``, ``report``, ``fuzz``.

A thin layer, as uvicorn's ``main.py`` is: parse flags (each ``serve`` flag also read from a
``MOCKROUTER_*`` environment variable), build a :class:`Config`, call into the package.

Every error is one line on stderr, never a traceback, and the exit code says what happened
(:data:`EXIT_CODES`, also in ``mockrouter --help`` and the README). A flag's environment
variable is read only when the flag is not on the command line, and only by the command that
has the flag: junk in ``MOCKROUTER_PORT`` does not stop ``mockrouter check``.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn
from urllib.parse import urlsplit

from .. import __version__
from ..core.config import STORE_SCHEMES, Config, store_scheme
from ..errors import ConfigError, ListenError, MockrouterError, ScenarioErrors, StoreUnavailable, printable
from ..wire.dialects import DIALECTS

if TYPE_CHECKING:
    from _typeshed import SupportsWrite

ENV_PREFIX = "MOCKROUTER_"

EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_USAGE = 2
EXIT_LISTEN = 3
EXIT_STORE = 4
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141

#: Every exit code of the command and what it means.
EXIT_CODES: dict[int, str] = {
    EXIT_OK: "success (serve: stopped by Ctrl-C or SIGTERM)",
    EXIT_FINDINGS: "check/scenarios: a scenario problem; report: findings; fuzz: failures",
    EXIT_USAGE: "a bad flag, environment variable or keys file; report: no report from the server",
    EXIT_LISTEN: "serve cannot listen: the port is in use, the host is unknown or not local",
    EXIT_STORE: "serve cannot reach its --store (Redis) at start",
    EXIT_INTERRUPTED: "interrupted by Ctrl-C (any command but a running serve)",
    EXIT_BROKEN_PIPE: "the output's reader went away (| head); the command stopped quietly",
}


# -- how values are written ------------------------------------------------------------------


@dataclass(frozen=True)
class Kind:
    """How a flag's or variable's value is written.

    ``parse`` turns the text into the value or raises ``ValueError``; ``expected`` says in
    words what it wanted. Used as argparse's ``type`` for flags and by :func:`parse_args` for
    environment variables, so both are checked the same way. A ``secret`` value (a token) is
    never repeated in an error.
    """

    expected: str
    parse: Callable[[str], Any]
    secret: bool = False

    def __call__(self, text: str) -> Any:
        try:
            return self.parse(text)
        except ValueError:
            raise argparse.ArgumentTypeError(self.problem(text)) from None

    def problem(self, text: str) -> str:
        """The error for ``text``: what was expected and, unless secret, what was given."""
        if self.secret:
            return f"expected {self.expected}"
        shown = printable(text if len(text) <= 60 else text[:60] + "…")
        return f"expected {self.expected}, got {shown!r}"


def _whole(low: int | None = None, high: int | None = None) -> Callable[[str], int]:
    def parse(text: str) -> int:
        text = text.strip()
        if not re.fullmatch(r"-?[0-9]+", text):
            raise ValueError(text)
        value = int(text)
        if (low is not None and value < low) or (high is not None and value > high):
            raise ValueError(text)
        return value

    return parse


def _number(*, positive: bool = False) -> Callable[[str], float]:
    def parse(text: str) -> float:
        text = text.strip()
        if not re.fullmatch(r"([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?", text):
            raise ValueError(text)
        value = float(text)
        if not math.isfinite(value) or (positive and value <= 0):
            raise ValueError(text)
        return value

    return parse


def _switch(text: str) -> bool:
    word = text.strip().lower()
    if word in ("1", "true", "yes", "on"):
        return True
    if word in ("0", "false", "no", "off"):
        return False
    raise ValueError(text)


def _one_of(*choices: str) -> Kind:
    def parse(text: str) -> str:
        if text.strip() not in choices:
            raise ValueError(text)
        return text.strip()

    return Kind("one of " + ", ".join(choices), parse)


def _host(text: str) -> str:
    text = text.strip()
    if text.startswith("[") and text.endswith("]"):  # [::1], as written in URLs
        text = text[1:-1]
    if not re.fullmatch(r"[A-Za-z0-9._:%-]+", text):
        raise ValueError(text)
    return text


def _url(text: str) -> str:
    text = text.strip()
    parts = urlsplit(text)
    if parts.scheme.lower() not in ("http", "https") or not re.fullmatch(r"[^\s/?#@]+(@[^\s/?#@]+)?", parts.netloc):
        raise ValueError(text)
    return text


def _token(text: str) -> str:
    if not re.fullmatch(r"[!-~]+", text):
        raise ValueError("")
    return text


def _file(text: str) -> Path:
    path = Path(text.strip())
    if not path.is_file():
        raise ValueError(text)
    return path


def _paths(text: str) -> list[Path]:
    paths = [Path(p) for p in text.split(os.pathsep) if p.strip()]
    if not paths or not all(p.exists() for p in paths):
        raise ValueError(text)
    return paths


PORT = Kind("a port number from 0 to 65535 (0: any free port)", _whole(0, 65535))
SEED = Kind("a whole number", _whole())
SPEED = Kind("a number >= 0 (0 skips every delay, 1 is real time)", _number())
SECONDS = Kind("a number of seconds > 0", _number(positive=True))
SWITCH = Kind("1, true, yes, on, 0, false, no or off", _switch)
HOST = Kind("a host name or IP address", _host)
URL = Kind("an http:// or https:// URL", _url)
TOKEN = Kind("visible ASCII characters without spaces", _token, secret=True)
KEYS_FILE = Kind("an existing keys file (YAML or JSON)", _file)
SCENARIO_PATHS = Kind(f"existing scenario files or folders separated by '{os.pathsep}'", _paths)
DIALECT = _one_of(*sorted(DIALECTS))
MODE = _one_of("replay", "auto", "record")


def _regex(text: str) -> str:
    try:
        re.compile(text)
    except re.error as exc:
        raise ValueError(text) from exc
    return text


REGEX = Kind("a regular expression (Python's re)", _regex)
REGEXES = Kind("a regular expression (Python's re)", lambda text: [_regex(text)])


def _folder(text: str) -> Path:
    if not text.strip():
        raise ValueError(text)
    return Path(text.strip())


FOLDER = Kind("a folder path", _folder)


def _store(text: str) -> str:
    if store_scheme(text) not in STORE_SCHEMES:
        raise ValueError("")
    return text.strip()


#: Secret: a Redis URL may hold a password (give it in MOCKROUTER_STORE, not on the command line).
STORE = Kind("memory:// or redis://[:PASSWORD@]HOST:PORT/DB", _store, secret=True)
#: The upstream router's key, sent instead of the client's when recording: never a flag (flags
#: show in ``ps``), only this variable.
UPSTREAM_KEY_VARIABLE = ENV_PREFIX + "UPSTREAM_KEY"
USAGE_CHUNK = _one_of("repeat", "empty")


def _at_least(low: int, what: str = "a whole number") -> Kind:
    return Kind(f"{what} >= {low}", _whole(low))


# -- the parser ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _FromEnv:
    """A flag whose value, when not on the command line, comes from ``variable`` or ``default``."""

    dest: str
    variable: str
    kind: Kind
    default: Any


class _Parser(argparse.ArgumentParser):
    """argparse, with one-line usage errors and a record of the flags read from the environment."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", argparse.RawDescriptionHelpFormatter)
        super().__init__(*args, **kwargs)
        self.from_env: list[_FromEnv] = []
        self.commands: dict[str, _Parser] = {}
        self.is_command = False

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")

    def _print_message(self, message: str, file: SupportsWrite[str] | None = None) -> None:
        # argparse's own ignores a failed write: a closed pipe is then a silent exit 0 for
        # --help alone; let it reach main(), as for every other output
        if message:
            (file or sys.stderr).write(message)

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        parsed, extras = super().parse_known_args(args, namespace)
        if extras and self.is_command:  # said here, so that the error names this command's --help
            self.error(f"unrecognized arguments: {' '.join(extras)}")
        return parsed, extras

    def option(
        self,
        *flags: str,
        help: str,
        default: Any = None,
        shown: str | None = None,
        kind: Kind | None = None,
        switch: bool = False,
        env: bool = False,
        env_kind: Kind | None = None,
        **kwargs: Any,
    ) -> None:
        """Add a flag whose help ends with its default (``shown``, else ``default``) and, with
        ``env``, its ``MOCKROUTER_*`` variable. ``kind`` checks the value; a ``switch`` takes
        none (off unless given); ``env_kind`` reads the variable when ``kind`` cannot."""
        dest = flags[-1].removeprefix("--").replace("-", "_")
        variable = ENV_PREFIX + dest.upper()
        if switch:
            kwargs["action"] = "store_true"
            default, shown, env_kind = False, "off", SWITCH
        elif kind is not None:
            kwargs["type"] = kind
        if kwargs.get("required"):
            text = f"{help} (required)"
        else:
            shown = shown or ("none" if default is None else str(default))
            text = f"{help} (default: {shown}" + (f"; env {variable}" + ("=1" if switch else "") if env else "") + ")"
        if env:
            env_kind = env_kind or kind
            assert env_kind is not None, f"{flags[-1]}: a flag read from the environment needs a kind"
            self.from_env.append(_FromEnv(dest, variable, env_kind, default))
            kwargs["default"] = argparse.SUPPRESS
        else:
            kwargs["default"] = default
        self.add_argument(*flags, dest=dest, help=text.replace("%", "%%"), **kwargs)


def _recording_options(parser: _Parser, *, out: bool = False) -> None:
    """The flags ``serve --mode`` and ``record`` share."""
    env = not out  # serve reads every flag from the environment too
    parser.option(
        "--upstream",
        kind=URL,
        metavar="URL",
        required=out,
        env=env,
        help="the real router's API base as clients use it, e.g. https://openrouter.ai/api/v1",
    )
    if out:
        parser.option(
            "--out", kind=FOLDER, metavar="DIR", default=Path("recordings"), help="folder the recordings are written to"
        )
    else:
        parser.option(
            "--cassette",
            kind=FOLDER,
            metavar="DIR",
            default=None,
            shown="recordings when --mode is given",
            env=True,
            help="the folder of recordings: replayed (loaded at start) and written to",
        )
    parser.option(
        "--timing",
        switch=True,
        env=env,
        help="record each stream's time to first chunk and the gaps between chunks",
    )
    parser.option(
        "--redact",
        action="append",
        kind=REGEX,
        env=env,
        env_kind=REGEXES,
        metavar="REGEX",
        default=[],
        shown="none; keys and cookies always are",
        help="mask every match in what is recorded; repeat for more",
    )


def _epilog() -> str:
    width = max(len(str(code)) for code in EXIT_CODES)
    lines = [f"  {code:<{width}}  {meaning}" for code, meaning in EXIT_CODES.items()]
    return "exit codes:\n" + "\n".join(lines)


def build_parser() -> _Parser:
    """The parser of every command. It never reads the environment: :func:`parse_args` does."""
    parser = _Parser(
        prog="mockrouter",
        description="A mock of an OpenRouter-style LLM router API: serve it, lint and list its scenarios,\n"
        "report on how clients treated it, fuzz any router-compatible server.",
        epilog=_epilog(),
    )
    parser.add_argument(
        "--version", action="version", version=f"mockrouter {__version__}", help="print the version and exit"
    )
    sub = parser.add_subparsers(
        dest="command", metavar="COMMAND", required=True, help="one of these; 'mockrouter COMMAND --help' for its flags"
    )

    serve = sub.add_parser(
        "serve",
        help="start the mock router",
        description="Start the mock router and serve until Ctrl-C or SIGTERM (then exit 0).\n"
        "A flag not on the command line is read from its MOCKROUTER_* environment variable (env),\n"
        "else takes its default; an empty variable counts as unset.",
    )
    assert isinstance(serve, _Parser)
    serve.option(
        "--host",
        kind=HOST,
        default="127.0.0.1",
        env=True,
        help="interface to listen on; beyond loopback set --admin-token",
    )
    serve.option("--port", kind=PORT, default=8080, env=True, help="TCP port; 0 picks a free one, shown in the banner")
    serve.option(
        "--scenarios",
        action="append",
        type=Path,
        metavar="PATH",
        default=[],
        shown="none, the built-ins only",
        env=True,
        env_kind=SCENARIO_PATHS,
        help="scenario file or folder to load besides the built-ins; repeat for more"
        f" (env: paths separated by '{os.pathsep}')",
    )
    serve.option(
        "--dialect",
        kind=DIALECT,
        choices=sorted(DIALECTS),
        default="anyrouter",
        env=True,
        help="the wire format: error bodies, ids, stream chunks, headers",
    )
    serve.option(
        "--keys",
        kind=KEYS_FILE,
        metavar="FILE",
        env=True,
        shown="none, any key is accepted",
        help="keys file (YAML or JSON): only its keys are accepted, with their credits and rate limits",
    )
    serve.option(
        "--seed", kind=SEED, metavar="N", env=True, shown="random", help="make ids, created and faker text reproducible"
    )
    serve.option(
        "--speed",
        kind=SPEED,
        metavar="F",
        default=1.0,
        env=True,
        help="multiplies every scripted delay: 0 skips them, 1 is real time",
    )
    serve.option("--no-builtin", switch=True, env=True, help="load only the default 'echo' of the built-in scenarios")
    serve.option(
        "--admin-token",
        kind=TOKEN,
        metavar="T",
        env=True,
        shown="none, the admin API answers on loopback only",
        help="token the admin API wants in the X-Mockrouter-Admin-Token header",
    )
    serve.option("--strict-models", switch=True, env=True, help="answer 404 for a model id the catalog does not list")
    serve.option(
        "--journal-size",
        kind=_at_least(1),
        metavar="N",
        default=10_000,
        env=True,
        help="requests the journal keeps; the oldest go first",
    )
    serve.option(
        "--store",
        kind=STORE,
        metavar="URL",
        default="memory://",
        env=True,
        help="where state lives: memory:// (this process) or redis://HOST:PORT/DB (shared by workers and hosts)",
    )
    serve.option(
        "--workers",
        kind=_at_least(1),
        metavar="N",
        default=1,
        env=True,
        help="worker processes on one port; more than 1 needs --store redis://",
    )
    serve.option(
        "--state-ttl",
        kind=Kind("a number of seconds >= 0 (0: never expire)", _number()),
        metavar="SECONDS",
        default=3600.0,
        shown="3600, 1 hour",
        env=True,
        help="a key, session or test idle this long loses its counters, cursors and record mode",
    )
    serve.option(
        "--max-body",
        kind=_at_least(0, "a number of bytes"),
        metavar="BYTES",
        default=10 * 1024 * 1024,
        shown="10485760, 10 MiB",
        env=True,
        help="largest request body; more is answered 413",
    )
    serve.option(
        "--max-header",
        kind=_at_least(1, "a number of bytes"),
        metavar="BYTES",
        default=32 * 1024,
        shown="32768, 32 KiB",
        env=True,
        help="total bytes of request header names and values; more is answered 431",
    )
    serve.option(
        "--usage-chunk",
        kind=USAGE_CHUNK,
        choices=("repeat", "empty"),
        default="repeat",
        env=True,
        help="openrouter: the closing usage chunk repeats the final choice or has choices: []",
    )
    serve.option(
        "--no-validate", switch=True, env=True, help="do not validate request bodies against the request schema"
    )
    serve.option("--access-log", switch=True, env=True, help="uvicorn's access log on stderr; it halves throughput")
    serve.option(
        "--mode",
        kind=MODE,
        choices=("replay", "auto", "record"),
        env=True,
        shown="none, scenarios only",
        help="record and replay with --cassette: replay (a request no recording matches gets a 404 naming the near"
        " misses), auto (replay what is recorded, forward and record the rest), record (forward and record all)",
    )
    _recording_options(serve)

    check = sub.add_parser(
        "check",
        help="lint scenario files and check their output against the schemas",
        description="Lint scenario files: YAML syntax, the scenario schema, and every response they can produce\n"
        "against the response schemas. Each problem is one line, file:line: field: message; exit 1 on any.",
    )
    check.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="scenario file or folder (required)")

    scenarios = sub.add_parser(
        "scenarios",
        help="list scenarios (built-in, or from the given paths)",
        description="List scenarios: name, steps, what they match and the first line of their description.",
    )
    scenarios.add_argument(
        "paths",
        nargs="*",
        type=Path,
        metavar="PATH",
        help="scenario file or folder to list (default: the built-in scenarios)",
    )

    report = sub.add_parser(
        "report",
        help="the resilience report of a running server (exit 1 on findings)",
        description="Print the resilience report of a running mockrouter: per API key, how its client handled\n"
        "the errors it was sent (retry storms, ignored Retry-After...). Exit 1 when there is a finding.",
    )
    assert isinstance(report, _Parser)
    report.option(
        "--url", kind=URL, default="http://127.0.0.1:8080", env=True, help="the root URL of the running server"
    )
    report.option("--key", metavar="K", shown="every key", help="report only on this API key")
    report.option(
        "--max-retries",
        kind=_at_least(0),
        metavar="N",
        default=5,
        help="more retries of one request than this is a retry storm",
    )
    report.option(
        "--admin-token",
        kind=TOKEN,
        metavar="T",
        env=True,
        shown="none",
        help="the server's --admin-token, sent as X-Mockrouter-Admin-Token",
    )
    report.option(
        "--include-fuzz", switch=True, help="judge the requests of `mockrouter fuzz` too (left out by default)"
    )
    report.option("--json", switch=True, help="print the report as the server's raw JSON")

    fuzz = sub.add_parser(
        "fuzz",
        help="check any router-compatible server with generated valid and invalid requests (exit 1 on failure)",
        description="Send generated valid and invalid requests to any router-compatible server and check every\n"
        "answer against the schemas. Prints a summary and a curl reproducer per failure; exit 1 on failure.",
    )
    assert isinstance(fuzz, _Parser)
    fuzz.option(
        "--target",
        kind=URL,
        metavar="URL",
        required=True,
        help="the router API base URL, e.g. http://127.0.0.1:8080/api/v1",
    )
    fuzz.option("--api-key", kind=TOKEN, metavar="K", env=True, shown="a fixed test key", help="the API key to send")
    fuzz.option("--examples", kind=_at_least(1), metavar="N", default=100, help="how many generated requests to send")
    fuzz.option("--seed", kind=SEED, metavar="S", shown="random, printed", help="reproduce an earlier run")
    fuzz.option(
        "--dialect", kind=DIALECT, choices=sorted(DIALECTS), default="anyrouter", help="the schemas to check against"
    )
    fuzz.option(
        "--surface",
        choices=("chat", "messages", "responses"),
        default="chat",
        help="the API to fuzz: chat completions, Anthropic messages or OpenAI responses (requests and schemas)",
    )
    fuzz.option("--model", metavar="M", default="openai/gpt-4o-mini", help="model id put in every request")
    fuzz.option("--no-shrink", switch=True, help="report failing cases as first seen, without shrinking them")
    fuzz.option("--timeout", kind=SECONDS, metavar="SECONDS", default=30.0, help="how long to wait for each answer")
    record = sub.add_parser(
        "record",
        help="record a real router's answers as scenarios",
        description="A proxy to the real router: every request to its /api/v1 is forwarded to --upstream, the\n"
        "answer streams back unchanged as it arrives, and each exchange is written into --out as a\n"
        "scenario that 'mockrouter serve --scenarios DIR' replays (one file per conversation, each turn\n"
        f"matched by its conversation hash). Keys never reach disk; {UPSTREAM_KEY_VARIABLE}, when set, is\n"
        "sent upstream instead of the client's key.",
    )
    assert isinstance(record, _Parser)
    record.option("--host", kind=HOST, default="127.0.0.1", help="interface to listen on")
    record.option("--port", kind=PORT, default=8080, help="TCP port; 0 picks a free one, shown in the banner")
    record.option(
        "--dialect",
        kind=DIALECT,
        choices=sorted(DIALECTS),
        default="anyrouter",
        help="the wire format of mockrouter's own answers (errors before forwarding)",
    )
    _recording_options(record, out=True)
    parser.commands = {name: command for name, command in sub.choices.items() if isinstance(command, _Parser)}
    for command in parser.commands.values():
        command.is_command = True
    return parser


def parse_args(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> argparse.Namespace:
    """Parse ``argv``, then fill each flag it does not give from the command's environment
    variables (``environ``, default ``os.environ``) or the default.

    Raises :class:`ConfigError` naming the variable for a value that does not parse, and
    ``SystemExit`` as argparse does for usage errors and ``--help``.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    environ = os.environ if environ is None else environ
    for spec in parser.commands[args.command].from_env:
        if hasattr(args, spec.dest):
            continue
        raw = environ.get(spec.variable, "")
        try:
            value = spec.kind.parse(raw) if raw != "" else spec.default
        except ValueError:
            raise ConfigError(f"{spec.variable}: {spec.kind.problem(raw)}") from None
        setattr(args, spec.dest, value)
    return args


# -- the commands ----------------------------------------------------------------------------


def _serve(args: argparse.Namespace) -> int:
    from ..http.server import serve

    config = Config(
        host=args.host,
        port=args.port,
        scenarios=args.scenarios or [],
        dialect=args.dialect,
        keys=args.keys,
        seed=args.seed,
        speed=args.speed,
        builtin=not args.no_builtin,
        admin_token=args.admin_token,
        strict_models=args.strict_models,
        journal_size=args.journal_size,
        store=args.store,
        workers=args.workers,
        state_ttl=args.state_ttl,
        max_body=args.max_body,
        max_header=args.max_header,
        usage_chunk=args.usage_chunk,
        validate=not args.no_validate,
        access_log=args.access_log,
        mode=args.mode,
        upstream=args.upstream,
        upstream_key=os.environ.get(UPSTREAM_KEY_VARIABLE) or None,
        cassette=args.cassette if args.cassette is not None else (Path("recordings") if args.mode else None),
        record_timing=args.timing,
        redact=args.redact,
    )
    serve(config)
    return EXIT_OK


def _record(args: argparse.Namespace) -> int:
    from ..http.server import serve

    config = Config(
        host=args.host,
        port=args.port,
        dialect=args.dialect,
        mode="record",
        upstream=args.upstream,
        upstream_key=os.environ.get(UPSTREAM_KEY_VARIABLE) or None,
        cassette=args.out,
        record_timing=args.timing,
        redact=args.redact,
    )
    serve(config)
    return EXIT_OK


def _check(args: argparse.Namespace) -> int:
    from .check import check_paths

    scenarios, errors = check_paths(args.paths)
    for error in errors:
        print(error, file=sys.stderr)
    if errors:
        print(f"{len(errors)} problem(s)", file=sys.stderr)
        return EXIT_FINDINGS
    print(f"ok: {len(scenarios)} scenario(s) checked")
    return EXIT_OK


def _scenarios(args: argparse.Namespace) -> int:
    from ..scenario.loader import load_builtin, load_path

    found = []
    if args.paths:
        for path in args.paths:
            found.extend(load_path(path))
    else:
        found = load_builtin()
    for s in found:
        summary = s.summary()
        match = summary["match"]
        how = ", ".join(f"{k}={v}" for k, v in match.items()) if match else f"model mockrouter/{s.name}"
        print(f"{s.name:<24} {len(s.steps)} step(s)  {how}")
        if s.description:
            print(f"{'':<24} {s.description.splitlines()[0]}")
    return EXIT_OK


def _one_line(text: str, limit: int = 200) -> str:
    text = printable(" ".join(text.split()))
    return text if len(text) <= limit else text[:limit] + "…"


def _report(args: argparse.Namespace) -> int:
    import httpx

    headers = {"X-Mockrouter-Admin-Token": args.admin_token} if args.admin_token else {}
    params: dict[str, str | int] = {"max_retries": args.max_retries}
    if args.key:
        params["key"] = args.key
    if args.include_fuzz:
        params["include_fuzz"] = 1
    try:
        response = httpx.get(args.url.rstrip("/") + "/__mockrouter/report", params=params, headers=headers, timeout=30)
    except httpx.HTTPError as exc:
        print(f"error: cannot reach {args.url}: {_one_line(str(exc))}", file=sys.stderr)
        return EXIT_USAGE
    try:
        body = response.json()
    except ValueError:
        body = None
    if response.status_code != 200:
        error = body.get("error") if isinstance(body, dict) else None
        message = error.get("message") if isinstance(error, dict) else None
        detail = message if isinstance(message, str) else response.text
        print(f"error: {args.url} answered {response.status_code}: {_one_line(detail)}", file=sys.stderr)
        return EXIT_USAGE
    keys = body.get("data") if isinstance(body, dict) else None
    if not isinstance(keys, list):
        print(f"error: {args.url} did not answer with a mockrouter report", file=sys.stderr)
        return EXIT_USAGE
    if args.json:
        print(response.text)
    else:
        print(f"{'key':8s} {'requests':>8s}  finding")
        for key in keys:
            hint = "…" + (key["key_hint"] or "")
            if not key["findings"]:
                print(f"{hint:8s} {key['requests']:8d}  (none)")
            for finding in key["findings"]:
                ids = ", ".join(finding["request_ids"])
                print(f"{hint:8s} {key['requests']:8d}  {finding['kind']}: {finding['message']} [{ids}]")
    return EXIT_FINDINGS if any(k["findings"] for k in keys) else EXIT_OK


def _fuzz(args: argparse.Namespace) -> int:
    from .fuzzer import DEFAULT_KEY, run

    tty = sys.stderr.isatty()

    def progress(done: int, total: int, failing: int) -> None:
        if tty:
            print(f"\r[{done:>5}/{total}] {failing} failing", end="", file=sys.stderr, flush=True)
        elif done == total or done % max(1, total // 10) == 0:
            print(f"[{done:>5}/{total}] {failing} failing", file=sys.stderr, flush=True)

    report = run(
        args.target,
        api_key=args.api_key or DEFAULT_KEY,
        examples=args.examples,
        seed=args.seed,
        dialect=args.dialect,
        surface=args.surface,
        model=args.model,
        shrink=not args.no_shrink,
        timeout=args.timeout,
        progress=progress,
    )
    if tty:
        print(file=sys.stderr)
    report.print()
    return EXIT_OK if report.ok else EXIT_FINDINGS


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "serve": _serve,
    "record": _record,
    "check": _check,
    "scenarios": _scenarios,
    "report": _report,
    "fuzz": _fuzz,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line (``argv`` defaults to ``sys.argv[1:]``); returns the exit code."""
    try:
        try:
            return _main(argv)
        finally:
            if sys.stdout is not None:
                sys.stdout.flush()  # here, not at exit, so that a closed pipe is seen below
    except BrokenPipeError:
        drop_output()
        return EXIT_BROKEN_PIPE


def _main(argv: Sequence[str] | None) -> int:
    try:
        args = parse_args(argv)
        return COMMANDS[args.command](args)
    except SystemExit as exc:  # argparse: --help, --version, usage errors
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    except ScenarioErrors as exc:
        for error in exc.errors:
            print(error, file=sys.stderr)
        return EXIT_FINDINGS
    except ListenError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_LISTEN
    except StoreUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_STORE
    except MockrouterError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def drop_output() -> None:
    """The reader of our output went away (``mockrouter ... | head``): send whatever is still
    buffered, and anything printed later, to the null device, so that nothing complains at exit."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        for stream in (sys.stdout, sys.stderr):
            if stream is not None:
                with contextlib.suppress(OSError, ValueError):  # not a real file (pytest's capture)
                    os.dup2(devnull, stream.fileno())
    finally:
        os.close(devnull)

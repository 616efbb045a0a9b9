"""The conformance fuzzer behind ``mockrouter fuzz``: checks any router-compatible server.

It speaks one API surface per run (``surface``): ``chat`` (``POST chat/completions``),
``messages`` (Anthropic's ``POST messages``, the key in ``x-api-key``) or ``responses``
(OpenAI's ``POST responses``). It sends requests drawn from :mod:`mockrouter.strategies` —
valid ones (:func:`~mockrouter.strategies.chat_requests`,
:func:`~mockrouter.strategies.messages_requests`,
:func:`~mockrouter.strategies.responses_requests`) and ones broken at a known path (their
``invalid_*`` twins) — plus a few fixed protocol cases (no key, malformed JSON, empty body;
on responses an unknown ``previous_response_id``), and checks every answer against the
published schemas of a dialect:

- valid request → 200 with a ``<surface>-response`` body (chat: ``chat-response.<dialect>``),
  or (``stream: true``) a ``text/event-stream``: on chat every ``data:`` event a
  ``chat-chunk.<dialect>`` and a final ``data: [DONE]``; on messages and responses named
  events, each data a ``<surface>-event`` named by its ``type``, that the surface's
  reference accumulator (:func:`~mockrouter.strategies.assemble_messages`,
  :func:`~mockrouter.strategies.assemble_responses`: event order, sequence numbers,
  deltas against their ``…done`` events) assembles;
- invalid request → a 4xx (401 without a key) with an ``error.<dialect>`` body (openrouter:
  ``error.code`` equal to the status), or on messages Anthropic's envelope
  (``messages-error``: ``{"type": "error", "error": {"type", "message"}}``, the type the
  one Anthropic documents for the status).

The run is a hypothesis search: ``examples`` cases drawn from ``seed`` (database-less, so
nothing is written to disk). For each kind of failure it then searches again from the same
seed and lets hypothesis shrink the first failing case to a minimal one, which is reported
with a curl command and the seed. :func:`run` is the Python API; the CLI only prints.

Before the run one tiny valid request of the surface probes the target (:func:`probe`): a
closed port, a URL that is not the API base (or lacks the surface) or a refused key is one
:class:`TargetError`, not a page of failures. Every request carries ``X-Mockrouter-Fuzz: 1``,
which a mockrouter's resilience report leaves out.
"""

from __future__ import annotations

import contextlib
import json
import random
import re
import shlex
import sys
import time
import warnings
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TextIO

import httpx
import orjson
from hypothesis import HealthCheck, Phase, Verbosity, find, settings
from hypothesis import strategies as st
from hypothesis.errors import NoSuchExample

from ..core.schemas import SchemaRegistry
from ..errors import MockrouterError
from ..fuzz import (
    DIALECTS,
    StreamError,
    assemble_chunks,
    assemble_messages,
    assemble_responses,
    chat_requests,
    invalid_chat_requests,
    invalid_messages_requests,
    invalid_responses_requests,
    messages_requests,
    responses_requests,
    sse_events,
    sse_named_events,
)

__all__ = [
    "DEFAULT_KEY",
    "FUZZ_HEADER",
    "SURFACES",
    "Case",
    "Failure",
    "FuzzReport",
    "Problem",
    "TargetError",
    "check_answer",
    "curl_command",
    "probe",
    "run",
]

DEFAULT_KEY = "sk-mockrouter-fuzz"
KEY_ENV = "MOCKROUTER_API_KEY"
#: Sent with every request (``X-Mockrouter-Fuzz: 1``), so that a mockrouter under test can tell
#: fuzz traffic from a client's: its resilience report leaves it out.
FUZZ_HEADER = "X-Mockrouter-Fuzz"
#: The path a router API base ends with, suggested when the target answers 404.
API_BASE = "/api/v1"
#: The API surfaces the fuzzer speaks, and the path of each under the API base.
SURFACES = {"chat": "/chat/completions", "messages": "/messages", "responses": "/responses"}
#: Anthropic's error type for each status (any other 4xx: ``invalid_request_error``).
ANTHROPIC_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    409: "conflict_error",
    413: "request_too_large",
    429: "rate_limit_error",
}


class TargetError(MockrouterError):
    """The target is no router API to fuzz: nothing answers, the URL is not the API base, or the key is refused."""


@dataclass(frozen=True)
class Case:
    """One request: ``kind`` is ``valid``, ``invalid`` or ``protocol``; ``body`` the JSON
    value sent (``raw`` bytes instead, when set); ``path``/``reason`` say what breaks an
    invalid one; ``surface`` is the API it is sent to (``chat``, ``messages``,
    ``responses``)."""

    kind: str
    body: Any = None
    raw: bytes | None = None
    path: str | None = None
    reason: str = ""
    auth: bool = True
    content_type: str = "application/json"
    expect_status: int | None = None
    surface: str = "chat"

    @property
    def route(self) -> str:
        """The path under the API base this case is posted to."""
        return SURFACES[self.surface]

    @property
    def payload(self) -> bytes:
        return self.raw if self.raw is not None else orjson.dumps(self.body)

    @property
    def stream(self) -> bool:
        return self.kind == "valid" and isinstance(self.body, dict) and self.body.get("stream") is True

    @property
    def label(self) -> str:
        if self.kind == "valid":
            return "valid (stream)" if self.stream else "valid (json)"
        return self.kind


@dataclass(frozen=True)
class Problem:
    """One broken expectation: a short ``check`` name and what was wrong."""

    check: str
    message: str


@dataclass
class Answer:
    status: int = 0
    content_type: str = ""
    body: bytes = b""
    error: str | None = None


@dataclass
class Failure:
    """A kind of failure, with the minimal case hypothesis shrank it to."""

    problem: Problem
    case: Case
    curl: str
    seed: int
    occurrences: int = 1
    shrunk: bool = False


@dataclass
class FuzzReport:
    target: str
    dialect: str
    seed: int
    examples: int
    surface: str = "chat"
    #: label -> Counter(sent=, passed=, failed=)
    counts: dict[str, Counter[str]] = field(default_factory=dict)
    failures: list[Failure] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.failures

    def print(self, out: TextIO | None = None) -> None:
        """The summary table, then each failure with its reproducer (to ``out``, stdout)."""
        out = out or sys.stdout
        on = "" if self.surface == "chat" else f", {self.surface} surface"
        print(f"\nmockrouter fuzz: {self.target} ({self.dialect} dialect{on}, seed {self.seed})", file=out)
        print(f"{'requests':<16} {'sent':>6} {'passed':>7} {'failed':>7}", file=out)
        total: Counter[str] = Counter()
        for label in ("valid (json)", "valid (stream)", "invalid", "protocol"):
            c = self.counts.get(label, Counter())
            total.update(c)
            print(f"{label:<16} {c['sent']:>6} {c['passed']:>7} {c['failed']:>7}", file=out)
        print(f"{'total':<16} {total['sent']:>6} {total['passed']:>7} {total['failed']:>7}", file=out)
        print(f"{self.seconds:.1f} s", file=out)
        for failure in self.failures:
            case = failure.case
            what = f"{case.label} request" + (f" ({case.reason} at {case.path or 'the body'})" if case.path else "")
            if case.kind == "protocol":
                what = f"protocol case: {case.reason}"
            print(f"\nFAILED [{failure.problem.check}] {what}", file=out)
            print(f"  {failure.problem.message}", file=out)
            seen = f"seen in {failure.occurrences} request(s)" + (
                "; minimal case after shrinking" if failure.shrunk else ""
            )
            print(f"  {seen}", file=out)
            rerun = f"mockrouter fuzz --target {self.target} --seed {failure.seed} --examples {self.examples}"
            rerun += f" --dialect {self.dialect}" + ("" if self.surface == "chat" else f" --surface {self.surface}")
            print(f"  seed: {failure.seed}  (rerun: {rerun})", file=out)
            print(f"  reproduce:\n    {failure.curl}", file=out)
        verdict = "no failures" if self.ok else f"{len(self.failures)} kind(s) of failure"
        print(f"\n{verdict}", file=out)


# -- cases -----------------------------------------------------------------------------------


def fuzz_cases(*, model: str, surface: str = "chat") -> st.SearchStrategy[Case]:
    """Valid requests of ``surface`` (two in three, half of them streamed) and invalid ones,
    with ``model``."""
    strategies: dict[str, tuple[Callable[..., st.SearchStrategy[Any]], Callable[..., st.SearchStrategy[Any]]]] = {
        "chat": (chat_requests, invalid_chat_requests),
        "messages": (messages_requests, invalid_messages_requests),
        "responses": (responses_requests, invalid_responses_requests),
    }
    requests, invalid_requests = strategies[surface]
    valid = (requests(model=model) | requests(model=model, stream=True)).map(
        lambda b: Case("valid", b, surface=surface)
    )
    invalid = invalid_requests(model=model).map(
        lambda bad: Case("invalid", bad.body, path=bad.path, reason=bad.reason, surface=surface)
    )
    return st.sampled_from(["valid", "valid", "invalid"]).flatmap(lambda k: valid if k == "valid" else invalid)


def tiny_request(model: str, surface: str = "chat") -> dict[str, Any]:
    """The smallest valid request of ``surface``: what the probe sends."""
    if surface == "messages":
        return {"model": model, "max_tokens": 16, "messages": [{"role": "user", "content": "hi"}]}
    if surface == "responses":
        return {"model": model, "input": "hi"}
    return {"model": model, "messages": [{"role": "user", "content": "hi"}]}


def protocol_cases(model: str, surface: str = "chat") -> list[Case]:
    body = tiny_request(model, surface)
    without = "no x-api-key header" if surface == "messages" else "no Authorization header"
    cases = [
        Case("protocol", body, reason=without, auth=False, expect_status=401, surface=surface),
        Case("protocol", raw=b'{"model": "x", "messages": [', reason="malformed JSON", surface=surface),
        Case("protocol", raw=b"", reason="empty body", surface=surface),
        Case("protocol", raw=b"[1, 2]", reason="a JSON array as the body", surface=surface),
    ]
    if surface == "responses":  # no router holds this response: stateless or not, a 4xx
        unknown = {**body, "previous_response_id": "resp_mockrouter_fuzz_no_such_response"}
        cases.append(Case("protocol", unknown, reason="previous_response_id of no stored response", surface=surface))
    return cases


# -- sending and checking ----------------------------------------------------------------------


def _headers(case: Case, api_key: str, dialect: str) -> dict[str, str]:
    """The request's headers; the key as the surface's SDK sends it (``x-api-key`` and
    ``anthropic-version`` on messages, ``Authorization: Bearer`` elsewhere)."""
    headers = {"Content-Type": case.content_type, "X-Mockrouter-Dialect": dialect, FUZZ_HEADER: "1"}
    if case.surface == "messages":
        headers["anthropic-version"] = "2023-06-01"
    if case.auth:
        if case.surface == "messages":
            headers["x-api-key"] = api_key
        else:
            headers["Authorization"] = f"Bearer {api_key}"
    if case.stream:
        headers["Accept"] = "text/event-stream"
    return headers


def send(client: httpx.Client, target: str, case: Case, api_key: str, dialect: str) -> Answer:
    try:
        response = client.post(
            target.rstrip("/") + case.route, content=case.payload, headers=_headers(case, api_key, dialect)
        )
    except httpx.HTTPError as exc:
        return Answer(error=f"{type(exc).__name__}: {exc}")
    return Answer(response.status_code, response.headers.get("content-type", ""), response.content)


def _media(content_type: str) -> str:
    return content_type.split(";", 1)[0].strip().lower()


def _snippet(body: bytes, size: int = 200) -> str:
    text = body.decode("utf-8", errors="replace")
    return repr(text if len(text) <= size else text[:size] + "...")


def _check_ids(document: dict[str, Any], dialect: str, where: str) -> Problem | None:
    ident, created = document.get("id"), document.get("created")
    if dialect == "openrouter" and isinstance(ident, str) and not ident.startswith(f"gen-{created}-"):
        return Problem("id", f"{where}id {ident!r} does not carry its created second {created}")
    return None


def check_answer(case: Case, answer: Answer, dialect: str, schemas: SchemaRegistry) -> list[Problem]:
    """Every broken expectation of ``answer`` to ``case`` (empty: it conforms)."""
    if answer.error is not None:
        return [Problem("transport", answer.error)]
    if case.kind == "valid":
        if answer.status != 200:
            return [Problem("status", f"expected 200, got {answer.status}: {_snippet(answer.body)}")]
        if not case.stream:
            return _check_json(answer, dialect, schemas, case.surface)
        if case.surface == "chat":
            return _check_stream(answer, dialect, schemas)
        return _check_named_stream(answer, dialect, schemas, case.surface)
    return _check_error(case, answer, dialect, schemas)


def _check_json(answer: Answer, dialect: str, schemas: SchemaRegistry, surface: str = "chat") -> list[Problem]:
    if _media(answer.content_type) != "application/json":
        return [Problem("content-type", f"expected application/json, got {answer.content_type!r}")]
    try:
        document = json.loads(answer.body)
    except ValueError as exc:
        return [Problem("json", f"the body is not JSON ({exc}): {_snippet(answer.body)}")]
    schema = schemas.for_dialect(f"{surface}-response", dialect)
    violation = schema.violation(document)
    if violation is not None:
        return [Problem("response-schema", f"{schema.name}: {violation}")]
    problem = _check_ids(document, dialect, "") if surface == "chat" else None
    return [problem] if problem else []


def _check_stream(answer: Answer, dialect: str, schemas: SchemaRegistry) -> list[Problem]:
    if _media(answer.content_type) != "text/event-stream":
        return [Problem("content-type", f"expected text/event-stream, got {answer.content_type!r}")]
    try:
        events = list(sse_events(answer.body))
    except UnicodeDecodeError as exc:
        return [Problem("sse", f"the stream is not UTF-8: {exc}")]
    problems: list[Problem] = []
    if not events or events[-1] != "[DONE]":
        problems.append(Problem("done", f"the stream does not end with data: [DONE] ({len(events)} event(s))"))
    if "[DONE]" in events[:-1]:
        problems.append(Problem("sse", "data events after data: [DONE]"))
    chunks: list[dict[str, Any]] = []
    schema = schemas[f"chat-chunk.{dialect}"]
    for n, data in enumerate(e for e in events if e != "[DONE]"):
        try:
            chunk = json.loads(data)
        except ValueError:
            problems.append(Problem("sse", f"event {n} is not JSON: {data[:120]!r}"))
            break
        violation = schema.violation(chunk)
        if violation is not None:
            problems.append(Problem("chunk-schema", f"chunk {n}: chat-chunk.{dialect}: {violation}"))
            break
        id_problem = _check_ids(chunk, dialect, f"chunk {n}: ")
        if id_problem is None and chunks and chunk.get("id") != chunks[0].get("id"):
            id_problem = Problem("id", f"chunk {n}: id {chunk.get('id')!r} differs from {chunks[0].get('id')!r}")
        if id_problem is not None:
            problems.append(id_problem)
            break
        chunks.append(chunk)
    if chunks and not any(p.check in ("sse", "chunk-schema") for p in problems):
        try:
            assemble_chunks(chunks)
        except (StreamError, KeyError, TypeError) as exc:
            problems.append(Problem("assemble", f"a client cannot assemble the stream: {exc}"))
    return problems


def _check_named_stream(answer: Answer, dialect: str, schemas: SchemaRegistry, surface: str) -> list[Problem]:
    """A Messages or Responses stream: named events whose data (a JSON object) is valid per
    ``<surface>-event`` and whose name is its ``type``, no ``[DONE]``, and a whole answer that
    the surface's reference accumulator (what the official SDK checks, and more) assembles."""
    if _media(answer.content_type) != "text/event-stream":
        return [Problem("content-type", f"expected text/event-stream, got {answer.content_type!r}")]
    try:
        events = list(sse_named_events(answer.body))
    except UnicodeDecodeError as exc:
        return [Problem("sse", f"the stream is not UTF-8: {exc}")]
    schema = schemas.for_dialect(f"{surface}-event", dialect)
    for n, (name, data) in enumerate(events):
        if data == "[DONE]":
            return [Problem("sse", f"event {n}: data: [DONE] (this surface ends with its last named event)")]
        try:
            event = json.loads(data)
        except ValueError:
            return [Problem("sse", f"event {n} is not JSON: {data[:120]!r}")]
        violation = schema.violation(event)
        if violation is not None:
            return [Problem("event-schema", f"event {n}: {schema.name}: {violation}")]
        if name != event.get("type"):
            what = "has no event: name" if name is None else f"is named {name!r}"
            return [Problem("sse", f"event {n} ({event.get('type')!r}) {what}; SDKs dispatch on the name")]
    try:
        (assemble_messages if surface == "messages" else assemble_responses)(answer.body)
    except (StreamError, KeyError, TypeError, IndexError) as exc:
        return [Problem("assemble", f"a client cannot assemble the stream: {exc}")]
    return []


def _check_error(case: Case, answer: Answer, dialect: str, schemas: SchemaRegistry) -> list[Problem]:
    why = f"({case.reason}{' at ' + repr(case.path) if case.path is not None else ''})"
    if case.expect_status is not None and answer.status != case.expect_status:
        return [Problem("status", f"expected {case.expect_status} {why}, got {answer.status}")]
    if not 400 <= answer.status < 500:
        return [Problem("status", f"expected a 4xx {why}, got {answer.status}: {_snippet(answer.body)}")]
    if _media(answer.content_type) != "application/json":
        return [Problem("content-type", f"error answered as {answer.content_type!r}, not application/json")]
    try:
        document = json.loads(answer.body)
    except ValueError:
        return [Problem("json", f"the error body is not JSON: {_snippet(answer.body)}")]
    if case.surface == "messages":
        return _check_anthropic_error(document, answer.status, schemas)
    schema = schemas.for_dialect(f"{case.surface}-error", dialect)
    violation = schema.violation(document)
    if violation is not None:
        return [Problem("error-schema", f"{schema.name}: {violation}")]
    if dialect == "openrouter" and case.surface == "chat" and document["error"].get("code") != answer.status:
        code = document["error"].get("code")
        return [Problem("error-code", f"error.code {code!r} differs from the HTTP status {answer.status}")]
    return []


def _check_anthropic_error(document: Any, status: int, schemas: SchemaRegistry) -> list[Problem]:
    """Anthropic's envelope ``{"type": "error", "error": {"type", "message"}}`` (in both
    dialects), its ``error.type`` the one Anthropic documents for the status."""
    violation = schemas["messages-error"].violation(document)
    if violation is not None:
        return [Problem("error-schema", f"messages-error: {violation}")]
    wanted = ANTHROPIC_ERROR_TYPES.get(status, "invalid_request_error")
    if document["error"]["type"] != wanted:
        return [Problem("error-type", f"error.type {document['error']['type']!r} on a {status}, not {wanted!r}")]
    return []


def curl_command(target: str, case: Case, *, api_key: str, dialect: str) -> str:
    """A shell command that sends ``case`` again. A key other than the default one is
    written as ``$MOCKROUTER_API_KEY`` so that reports do not leak it."""
    parts = ["curl", "-sS", "-i"] + (["-N"] if case.stream else [])
    parts += ["-X", "POST", shlex.quote(target.rstrip("/") + case.route)]
    headers = _headers(case, api_key, dialect)
    for name, value in headers.items():
        if name == "Authorization" and api_key != DEFAULT_KEY:
            parts += ["-H", f'"Authorization: Bearer ${KEY_ENV}"']
        elif name == "x-api-key" and api_key != DEFAULT_KEY:
            parts += ["-H", f'"x-api-key: ${KEY_ENV}"']
        else:
            parts += ["-H", shlex.quote(f"{name}: {value}")]
    parts += ["--data-binary", shlex.quote(case.payload.decode("utf-8", errors="replace"))]
    return " ".join(parts)


# -- the probe -----------------------------------------------------------------------------------


def _transport_problem(exc: httpx.HTTPError, timeout: float) -> str:
    """What went wrong in user terms: ``connection refused``, not ``ConnectError: [Errno 111] ...``."""
    if isinstance(exc, httpx.TimeoutException):
        return f"no answer within {timeout:g} s"
    text = re.sub(r"\[Errno -?\d+\]\s*", "", str(exc)).strip() or type(exc).__name__
    return text[0].lower() + text[1:] if text[:1].isupper() and text[1:2].islower() else text


def _status_of(client: httpx.Client, url: str, payload: bytes, headers: dict[str, str]) -> int | None:
    try:
        return client.post(url, content=payload, headers=headers).status_code
    except httpx.HTTPError:
        return None


def probe(
    client: httpx.Client,
    target: str,
    *,
    api_key: str,
    dialect: str,
    model: str,
    timeout: float,
    surface: str = "chat",
) -> None:
    """Send one tiny valid request of ``surface`` (authenticated as that surface's SDK does);
    raise :class:`TargetError` (one line, with the fix) when ``target`` cannot be fuzzed:
    nothing answers, the surface's ``POST`` is 404/405 (not the API base, or no such
    surface), the key is refused (401/403), or an HTML page answers. Any other answer is left
    to the checks."""
    case = Case("valid", tiny_request(model, surface), surface=surface)
    headers = _headers(case, api_key, dialect)
    url = target.rstrip("/") + case.route
    try:
        response = client.post(url, content=case.payload, headers=headers)
    except httpx.HTTPError as exc:
        raise TargetError(f"cannot reach {target}: {_transport_problem(exc, timeout)}") from None
    status, media = response.status_code, _media(response.headers.get("content-type", ""))
    if status in (404, 405):
        fix = f"the base URL ends with {API_BASE}, e.g. http://127.0.0.1:8080{API_BASE}"
        if not target.rstrip("/").endswith((API_BASE, "/v1")):
            base = target.rstrip("/") + API_BASE
            if _status_of(client, base + case.route, case.payload, headers) not in (None, 404, 405):
                fix = f"try --target {base}"
        raise TargetError(f"{target} is not a router API base: POST {url} answered {status} ({fix})")
    if status in (401, 403):
        raise TargetError(
            f"{target} refused the API key: POST {url} answered {status} "
            f"(give the server's key with --api-key or {KEY_ENV})"
        )
    if 200 <= status < 300 and media == "text/html":
        raise TargetError(f"{target} is not a router API base: POST {url} answered with an HTML page")


# -- the run -------------------------------------------------------------------------------------


def _settings(examples: int, phases: list[Phase]) -> settings:
    return settings(
        database=None,
        max_examples=examples,
        phases=phases,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        verbosity=Verbosity.quiet,
    )


def run(
    target: str,
    *,
    api_key: str = DEFAULT_KEY,
    examples: int = 100,
    seed: int | None = None,
    dialect: str = "anyrouter",
    model: str = "openai/gpt-4o-mini",
    shrink: bool = True,
    timeout: float = 30.0,
    progress: Callable[[int, int, int], None] | None = None,
    surface: str = "chat",
) -> FuzzReport:
    """Fuzz the router API at ``target`` (its base URL, e.g. ``http://127.0.0.1:8080/api/v1``)
    on ``surface`` (``chat``, ``messages`` or ``responses``).

    One tiny valid request goes first (:func:`probe`): a target that cannot be fuzzed (nothing
    answers, not the API base, the key refused) raises :class:`TargetError` before any case is
    sent. Every request carries ``X-Mockrouter-Fuzz: 1``. ``progress(done, total, failing)`` is
    called after each case. Returns the report; ``report.ok`` is False when any answer broke an
    expectation.
    """
    if dialect not in DIALECTS:
        raise ValueError(f"unknown dialect {dialect!r}; expected one of {', '.join(DIALECTS)}")
    if surface not in SURFACES:
        raise ValueError(f"unknown surface {surface!r}; expected one of {', '.join(SURFACES)}")
    if examples < 1:
        raise ValueError("examples must be at least 1")
    seed = random.randrange(2**32) if seed is None else seed
    schemas = SchemaRegistry()
    report = FuzzReport(target, dialect, seed, examples, surface)
    protocol = protocol_cases(model, surface)
    total = examples + len(protocol)
    first: dict[str, tuple[Problem, Case]] = {}
    occurrences: Counter[str] = Counter()
    started = time.monotonic()

    with httpx.Client(timeout=timeout) as client:
        probe(client, target, api_key=api_key, dialect=dialect, model=model, timeout=timeout, surface=surface)

        def record(case: Case) -> list[Problem]:
            problems = check_answer(case, send(client, target, case, api_key, dialect), dialect, schemas)
            counts = report.counts.setdefault(case.label, Counter())
            counts["sent"] += 1
            counts["failed" if problems else "passed"] += 1
            for problem in problems:
                occurrences[problem.check] += 1
                first.setdefault(problem.check, (problem, case))
            if progress is not None:
                done = sum(c["sent"] for c in report.counts.values())
                progress(done, total, sum(c["failed"] for c in report.counts.values()))
            return problems

        for case in protocol:
            record(case)
        strategy = fuzz_cases(model=model, surface=surface)
        generated = {"n": 0}

        def explore(case: Case) -> bool:
            if generated["n"] < examples:
                generated["n"] += 1
                record(case)
            return False

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with contextlib.suppress(NoSuchExample):  # explore never "finds": it runs every example
                find(strategy, explore, settings=_settings(examples, [Phase.generate]), random=random.Random(seed))

            for check, (problem, case) in first.items():
                minimal, shrunk = case, False
                if shrink and case.kind != "protocol":

                    def fails_the_same_way(candidate: Case, check: str = check) -> bool:
                        answer = send(client, target, candidate, api_key, dialect)
                        return any(p.check == check for p in check_answer(candidate, answer, dialect, schemas))

                    try:
                        minimal = find(
                            strategy,
                            fails_the_same_way,
                            settings=_settings(examples, [Phase.generate, Phase.shrink]),
                            random=random.Random(seed),
                        )
                        shrunk = True
                        again = check_answer(minimal, send(client, target, minimal, api_key, dialect), dialect, schemas)
                        problem = next((p for p in again if p.check == check), problem)
                    except NoSuchExample:  # a flaky server: keep the case first seen
                        minimal = case
                curl = curl_command(target, minimal, api_key=api_key, dialect=dialect)
                report.failures.append(Failure(problem, minimal, curl, seed, occurrences[check], shrunk))
    report.seconds = time.monotonic() - started
    return report

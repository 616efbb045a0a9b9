"""The conformance fuzzer behind ``mockrouter fuzz``: checks any router-compatible server.

It sends requests drawn from :mod:`mockrouter.strategies` — valid ones
(:func:`~mockrouter.strategies.chat_requests`) and ones broken at a known path
(:func:`~mockrouter.strategies.invalid_chat_requests`) — plus a few fixed protocol cases
(no key, malformed JSON, empty body), and checks every answer against the published
schemas of a dialect:

- valid request → 200 with a ``chat-response.<dialect>`` body, or (``stream: true``) a
  ``text/event-stream`` whose every ``data:`` event is a ``chat-chunk.<dialect>`` and which
  ends with ``data: [DONE]``;
- invalid request → a 4xx (401 without a key) with an ``error.<dialect>`` body (openrouter:
  ``error.code`` equal to the status).

The run is a hypothesis search: ``examples`` cases drawn from ``seed`` (database-less, so
nothing is written to disk). For each kind of failure it then searches again from the same
seed and lets hypothesis shrink the first failing case to a minimal one, which is reported
with a curl command and the seed. :func:`run` is the Python API; the CLI only prints.

Before the run one tiny valid request probes the target (:func:`probe`): a closed port, a URL
that is not the API base or a refused key is one :class:`TargetError`, not a page of failures.
Every request carries ``X-Mockrouter-Fuzz: 1``, which a mockrouter's resilience report leaves out.
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
from ..fuzz import DIALECTS, StreamError, assemble_chunks, chat_requests, invalid_chat_requests, sse_events

__all__ = [
    "DEFAULT_KEY",
    "FUZZ_HEADER",
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


class TargetError(MockrouterError):
    """The target is no router API to fuzz: nothing answers, the URL is not the API base, or the key is refused."""


@dataclass(frozen=True)
class Case:
    """One request: ``kind`` is ``valid``, ``invalid`` or ``protocol``; ``body`` the JSON
    value sent (``raw`` bytes instead, when set); ``path``/``reason`` say what breaks an
    invalid one."""

    kind: str
    body: Any = None
    raw: bytes | None = None
    path: str | None = None
    reason: str = ""
    auth: bool = True
    content_type: str = "application/json"
    expect_status: int | None = None

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
        print(f"\nmockrouter fuzz: {self.target} ({self.dialect} dialect, seed {self.seed})", file=out)
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
            print(f"  seed: {failure.seed}  (rerun: {rerun} --dialect {self.dialect})", file=out)
            print(f"  reproduce:\n    {failure.curl}", file=out)
        verdict = "no failures" if self.ok else f"{len(self.failures)} kind(s) of failure"
        print(f"\n{verdict}", file=out)


# -- cases -----------------------------------------------------------------------------------


def fuzz_cases(*, model: str) -> st.SearchStrategy[Case]:
    """Valid requests (two in three, half of them streamed) and invalid ones, with ``model``."""
    valid = (chat_requests(model=model) | chat_requests(model=model, stream=True)).map(lambda b: Case("valid", b))
    invalid = invalid_chat_requests(model=model).map(
        lambda bad: Case("invalid", bad.body, path=bad.path, reason=bad.reason)
    )
    return st.sampled_from(["valid", "valid", "invalid"]).flatmap(lambda k: valid if k == "valid" else invalid)


def protocol_cases(model: str) -> list[Case]:
    body = {"model": model, "messages": [{"role": "user", "content": "hi"}]}
    return [
        Case("protocol", body, reason="no Authorization header", auth=False, expect_status=401),
        Case("protocol", raw=b'{"model": "x", "messages": [', reason="malformed JSON"),
        Case("protocol", raw=b"", reason="empty body"),
        Case("protocol", raw=b"[1, 2]", reason="a JSON array as the body"),
    ]


# -- sending and checking ----------------------------------------------------------------------


def _headers(case: Case, api_key: str, dialect: str) -> dict[str, str]:
    headers = {"Content-Type": case.content_type, "X-Mockrouter-Dialect": dialect, FUZZ_HEADER: "1"}
    if case.auth:
        headers["Authorization"] = f"Bearer {api_key}"
    if case.stream:
        headers["Accept"] = "text/event-stream"
    return headers


def send(client: httpx.Client, target: str, case: Case, api_key: str, dialect: str) -> Answer:
    try:
        response = client.post(
            target.rstrip("/") + "/chat/completions", content=case.payload, headers=_headers(case, api_key, dialect)
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
        return _check_stream(answer, dialect, schemas) if case.stream else _check_json(answer, dialect, schemas)
    return _check_error(case, answer, dialect, schemas)


def _check_json(answer: Answer, dialect: str, schemas: SchemaRegistry) -> list[Problem]:
    if _media(answer.content_type) != "application/json":
        return [Problem("content-type", f"expected application/json, got {answer.content_type!r}")]
    try:
        document = json.loads(answer.body)
    except ValueError as exc:
        return [Problem("json", f"the body is not JSON ({exc}): {_snippet(answer.body)}")]
    violation = schemas[f"chat-response.{dialect}"].violation(document)
    if violation is not None:
        return [Problem("response-schema", f"chat-response.{dialect}: {violation}")]
    problem = _check_ids(document, dialect, "")
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
    violation = schemas[f"error.{dialect}"].violation(document)
    if violation is not None:
        return [Problem("error-schema", f"error.{dialect}: {violation}")]
    if dialect == "openrouter" and document["error"].get("code") != answer.status:
        code = document["error"].get("code")
        return [Problem("error-code", f"error.code {code!r} differs from the HTTP status {answer.status}")]
    return []


def curl_command(target: str, case: Case, *, api_key: str, dialect: str) -> str:
    """A shell command that sends ``case`` again. A key other than the default one is
    written as ``$MOCKROUTER_API_KEY`` so that reports do not leak it."""
    parts = ["curl", "-sS", "-i"] + (["-N"] if case.stream else [])
    parts += ["-X", "POST", shlex.quote(target.rstrip("/") + "/chat/completions")]
    headers = _headers(case, api_key, dialect)
    for name, value in headers.items():
        if name == "Authorization" and api_key != DEFAULT_KEY:
            parts += ["-H", f'"Authorization: Bearer ${KEY_ENV}"']
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


def probe(client: httpx.Client, target: str, *, api_key: str, dialect: str, model: str, timeout: float) -> None:
    """Send one tiny valid chat request; raise :class:`TargetError` (one line, with the fix)
    when ``target`` cannot be fuzzed: nothing answers, ``POST chat/completions`` is 404/405
    (not the API base), the key is refused (401/403), or an HTML page answers. Any other
    answer is left to the checks."""
    case = Case("valid", {"model": model, "messages": [{"role": "user", "content": "hi"}]})
    headers = _headers(case, api_key, dialect)
    url = target.rstrip("/") + "/chat/completions"
    try:
        response = client.post(url, content=case.payload, headers=headers)
    except httpx.HTTPError as exc:
        raise TargetError(f"cannot reach {target}: {_transport_problem(exc, timeout)}") from None
    status, media = response.status_code, _media(response.headers.get("content-type", ""))
    if status in (404, 405):
        fix = f"the base URL ends with {API_BASE}, e.g. http://127.0.0.1:8080{API_BASE}"
        if not target.rstrip("/").endswith((API_BASE, "/v1")):
            base = target.rstrip("/") + API_BASE
            if _status_of(client, base + "/chat/completions", case.payload, headers) not in (None, 404, 405):
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
) -> FuzzReport:
    """Fuzz the router API at ``target`` (its base URL, e.g. ``http://127.0.0.1:8080/api/v1``).

    One tiny valid request goes first (:func:`probe`): a target that cannot be fuzzed (nothing
    answers, not the API base, the key refused) raises :class:`TargetError` before any case is
    sent. Every request carries ``X-Mockrouter-Fuzz: 1``. ``progress(done, total, failing)`` is
    called after each case. Returns the report; ``report.ok`` is False when any answer broke an
    expectation.
    """
    if dialect not in DIALECTS:
        raise ValueError(f"unknown dialect {dialect!r}; expected one of {', '.join(DIALECTS)}")
    if examples < 1:
        raise ValueError("examples must be at least 1")
    seed = random.randrange(2**32) if seed is None else seed
    schemas = SchemaRegistry()
    report = FuzzReport(target, dialect, seed, examples)
    protocol = protocol_cases(model)
    total = examples + len(protocol)
    first: dict[str, tuple[Problem, Case]] = {}
    occurrences: Counter[str] = Counter()
    started = time.monotonic()

    with httpx.Client(timeout=timeout) as client:
        probe(client, target, api_key=api_key, dialect=dialect, model=model, timeout=timeout)

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
        strategy = fuzz_cases(model=model)
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

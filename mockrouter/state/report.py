"""The resilience report: how a client behaved, judged from the journal, per API key.

A *retry* is a request from the same key to the same route with the same body as the one just
before it, after that one failed. Every answer of the scenario engine is judged, on every
surface (chat completions, legacy completions, Anthropic Messages, OpenAI Responses). Chains
of such attempts are what the findings look at:

- ``retry_after_ignored``: came back sooner than the ``Retry-After`` it was given (5 % slack);
- ``retried_non_retryable``: retried a 400/401/402/403/404/413/422;
- ``no_retry``: gave up at once on a retryable 408/409/429/5xx/529 (no second attempt);
- ``retry_storm``: more than ``max_retries`` retries of one request;
- ``no_backoff``: retried at once (< 200 ms), or with gaps that do not grow (each ≥ 1.2× the
  one before) where no ``Retry-After`` set the pace;
- ``stream_abandoned``: closed a stream before its end while data was flowing (not a stall);
- ``duplicate_after_success``: sent a request again after it had succeeded, as a retry (the
  ``x-stainless-retry-count`` header of the official SDKs, or a repeated ``idempotency-key``).

Requests of ``mockrouter fuzz`` (header ``X-Mockrouter-Fuzz``) are not a client's behaviour
and are left out unless asked for.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import orjson

from .journal import is_fuzz

RETRYABLE = frozenset({408, 409, 429, 500, 502, 503, 504, 529})
NON_RETRYABLE = frozenset({400, 401, 402, 403, 404, 413, 422})
FINDINGS = (
    "retry_after_ignored",
    "retried_non_retryable",
    "no_retry",
    "retry_storm",
    "no_backoff",
    "stream_abandoned",
    "duplicate_after_success",
)
#: A retry this soon after a failure, with nothing telling the client to wait, is "at once".
IMMEDIATE_S = 0.2
RETRY_AFTER_SLACK = 0.95
#: Each gap must be at least this much longer than the one before to count as backing off
#: (the official SDKs' exponential backoff with jitter grows by 1.5× or more).
GROWTH = 1.2
DEFAULT_MAX_RETRIES = 5


@dataclass(slots=True)
class Finding:
    kind: str
    message: str
    request_ids: list[str]


@dataclass(slots=True)
class KeyReport:
    """The findings for one API key (shown by its last four characters)."""

    key_hint: str | None
    requests: int
    findings: list[Finding] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _body_of(entry: dict[str, Any]) -> bytes:
    """What makes two requests the same request: the route and the body."""
    body = entry.get("body")
    route: bytes = str(entry["path"]).encode() + b"\n"
    if isinstance(body, dict | list):
        encoded: bytes = orjson.dumps(body, option=orjson.OPT_SORT_KEYS)
        return route + encoded
    return route + str(body).encode()


def _end(entry: dict[str, Any]) -> float:
    end: float = entry["ts"] + (entry.get("duration_ms") or 0.0) / 1000
    return end


def _retry_count(entry: dict[str, Any]) -> int:
    value = entry.get("headers", {}).get("x-stainless-retry-count", "0")
    return int(value) if value.isdigit() else 0


def _chains(entries: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Consecutive attempts of one request: same body, each after a failed attempt."""
    chains: list[list[dict[str, Any]]] = []
    previous_body: bytes | None = None
    for entry in entries:
        body = _body_of(entry)
        if chains and body == previous_body and chains[-1][-1].get("status") != 200:
            chains[-1].append(entry)
        else:
            chains.append([entry])
        previous_body = body
    return chains


def judge(entries: Iterable[dict[str, Any]], *, max_retries: int = DEFAULT_MAX_RETRIES) -> list[Finding]:
    """Every finding in one key's journal entries (oldest first)."""
    chat = [e for e in entries if e.get("surface") is not None]  # the engine's answers, every surface
    findings: list[Finding] = []

    def add(kind: str, message: str, *ids: str) -> None:
        findings.append(Finding(kind, message, list(ids)))

    for chain in _chains(chat):
        first = chain[0]
        status = first.get("status")
        if len(chain) == 1 and status in RETRYABLE:
            add("no_retry", f"gave up at once on a retryable {status}", first["id"])
        retries = len(chain) - 1
        if retries > max_retries:
            add("retry_storm", f"{retries} retries of one request (more than {max_retries})", *[e["id"] for e in chain])
        gaps: list[float] = []
        for before, after in itertools.pairwise(chain):
            gap = after["ts"] - _end(before)
            told = before.get("retry_after_s")
            if before.get("status") in NON_RETRYABLE:
                add(
                    "retried_non_retryable",
                    f"retried after a non-retryable {before['status']}",
                    before["id"],
                    after["id"],
                )
            if told is not None and gap < told * RETRY_AFTER_SLACK:
                add(
                    "retry_after_ignored",
                    f"came back after {gap:.3f}s; Retry-After said {told:g}s",
                    before["id"],
                    after["id"],
                )
            if gap < IMMEDIATE_S:
                add(
                    "no_backoff",
                    f"retried at once ({gap * 1000:.0f} ms after a {before.get('status')})",
                    before["id"],
                    after["id"],
                )
            if told is None:
                gaps.append(gap)
        growing = all(b >= a * GROWTH for a, b in itertools.pairwise(gaps))
        if len(gaps) >= 2 and not growing and min(gaps) >= IMMEDIATE_S:
            add(
                "no_backoff",
                "retry gaps do not grow: " + ", ".join(f"{g:.3f}s" for g in gaps),
                *[e["id"] for e in chain],
            )
    last_success: dict[bytes, dict[str, Any]] = {}
    for entry in chat:
        body = _body_of(entry)
        earlier = last_success.get(body)
        if earlier is not None:
            key = entry.get("headers", {}).get("idempotency-key")
            if _retry_count(entry) > 0 or (
                key is not None and key == earlier.get("headers", {}).get("idempotency-key")
            ):
                add(
                    "duplicate_after_success",
                    "sent again as a retry after it had succeeded",
                    earlier["id"],
                    entry["id"],
                )
        if entry.get("status") == 200:
            last_success[body] = entry
        if entry.get("stream") and entry.get("client_disconnected") and entry.get("fault") != "stall":
            add("stream_abandoned", f"closed the stream after {entry.get('chunks_sent', 0)} chunks", entry["id"])
    order = {kind: i for i, kind in enumerate(FINDINGS)}
    findings.sort(key=lambda f: order[f.kind])
    return findings


def report(
    by_key: Mapping[str, list[dict[str, Any]]],
    *,
    max_retries: int = DEFAULT_MAX_RETRIES,
    include_fuzz: bool = False,
) -> list[KeyReport]:
    """One :class:`KeyReport` per key of ``by_key`` (journal entries per raw API key, as
    ``Journal.by_key`` gives them), in the mapping's order. Requests of ``mockrouter fuzz``
    (``X-Mockrouter-Fuzz``) are left out unless ``include_fuzz``: the fuzzer resends failing
    requests on purpose while it shrinks them."""
    if not include_fuzz:
        by_key = {k: kept for k, es in by_key.items() if (kept := [e for e in es if not is_fuzz(e)])}
    return [
        KeyReport(key_hint=k[-4:], requests=len(entries), findings=judge(entries, max_retries=max_retries))
        for k, entries in by_key.items()
    ]

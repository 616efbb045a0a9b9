"""``mockrouter check``: lint scenario files and prove their output is schema-valid.

Beyond YAML and the scenario schema (the loader's job), every step that is not a deliberate
break is rendered against a few sample requests on every API surface (chat, text, messages,
responses), in every dialect, streamed and not, and each body, stream event and error is
validated against that surface's published schemas.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from faker import Faker

from ..core.catalog import Catalog
from ..core.config import Config
from ..core.documents import PathKey, json_path
from ..core.reply import HttpError, Reply
from ..core.schemas import SchemaRegistry
from ..core.surfaces import CHAT, MESSAGES, RESPONSES, TEXT, chat_view
from ..errors import ScenarioError, ScenarioErrors
from ..scenario.loader import collect_file, scenario_files
from ..scenario.matcher import RequestFacts
from ..scenario.model import Scenario, Step
from ..scenario.render import RenderInput, render
from ..wire.dialects import DIALECTS
from ..wire.dialects.base import Dialect, Encoder, Identity

_WEATHER_SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
WEATHER_TOOL = {
    "type": "function",
    "function": {"name": "get_weather", "description": "Current weather for a city", "parameters": _WEATHER_SCHEMA},
}
_WEATHER = {"name": "get_weather", "description": "Current weather for a city"}
_JSON_FORMAT = {
    "name": "x",
    "schema": {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]},
}
#: Sample requests per surface: the same three conversations (a greeting; a system prompt, a
#: tool and a token limit; a tool-result turn asking for JSON) in each surface's own shape.
SAMPLE_REQUESTS: dict[str, list[dict[str, Any]]] = {
    CHAT: [
        {"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "Hello there, how are you?"}]},
        {
            "model": "anthropic/claude-sonnet-4.6",
            "max_tokens": 64,
            "tools": [WEATHER_TOOL],
            "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Weather in Tokyo?"}],
        },
        {
            "model": "acme/unknown-model",
            "stream_options": {"include_usage": True},
            "response_format": {"type": "json_schema", "json_schema": _JSON_FORMAT},
            "messages": [
                {"role": "user", "content": [{"type": "text", "text": "Give JSON"}]},
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}
                    ],
                },
                {"role": "tool", "tool_call_id": "call_1", "content": "22C and sunny"},
            ],
        },
    ],
    TEXT: [
        {"model": "openai/gpt-3.5-turbo-instruct", "prompt": "Hello there, how are you?"},
        {"model": "acme/unknown-model", "prompt": "Weather in Tokyo?", "max_tokens": 64},
    ],
    MESSAGES: [
        {
            "model": "anthropic/claude-haiku-4.5",
            "max_tokens": 1024,
            "messages": [{"role": "user", "content": "Hello there, how are you?"}],
        },
        {
            "model": "anthropic/claude-sonnet-4.6",
            "max_tokens": 64,
            "system": "Be brief.",
            "tools": [
                {"name": "get_weather", "description": "Current weather for a city", "input_schema": _WEATHER_SCHEMA}
            ],
            "messages": [{"role": "user", "content": "Weather in Tokyo?"}],
        },
        {
            "model": "acme/unknown-model",
            "max_tokens": 4096,
            "thinking": {"type": "enabled", "budget_tokens": 1024},
            "messages": [
                {"role": "user", "content": [{"type": "text", "text": "Give JSON"}]},
                {
                    "role": "assistant",
                    "content": [{"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {}}],
                },
                {
                    "role": "user",
                    "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "22C and sunny"}],
                },
            ],
        },
    ],
    RESPONSES: [
        {"model": "openai/gpt-4o-mini", "input": "Hello there, how are you?"},
        {
            "model": "anthropic/claude-sonnet-4.6",
            "max_output_tokens": 64,
            "instructions": "Be brief.",
            "tools": [{"type": "function", **_WEATHER, "parameters": _WEATHER_SCHEMA}],
            "input": [{"role": "user", "content": "Weather in Tokyo?"}],
        },
        {
            "model": "acme/unknown-model",
            "reasoning": {"effort": "low", "summary": "auto"},
            "text": {"format": {"type": "json_schema", **_JSON_FORMAT}},
            "input": [
                {"role": "user", "content": [{"type": "input_text", "text": "Give JSON"}]},
                {"type": "function_call", "call_id": "call_1", "name": "get_weather", "arguments": "{}"},
                {"type": "function_call_output", "call_id": "call_1", "output": "22C and sunny"},
            ],
        },
    ],
}
#: The schema kinds each surface's outputs are checked against: (body, stream event, error).
#: A kind is looked up per dialect family first (``chat-response.openrouter``), then alone.
KINDS: dict[str, tuple[str, str, str]] = {
    CHAT: ("chat-response", "chat-chunk", "error"),
    TEXT: ("completions", "completions-chunk", "error"),
    MESSAGES: ("messages-response", "messages-event", "messages-error"),
    RESPONSES: ("responses-response", "responses-event", "responses-error"),
}


@dataclass(slots=True)
class Output:
    """One thing a step produced: what it is, and its JSON."""

    kind: str  # a schema kind of KINDS: chat-response | chat-chunk | error | messages-event ...
    dialect: str
    data: Any
    surface: str = CHAT


def sse_data(frame: bytes) -> Iterator[Any]:
    """The JSON data of every event in ``frame`` (one encoder call: one or more SSE events;
    comments and ``[DONE]`` skipped)."""
    for event in frame.split(b"\n\n"):
        data = [line[5:].lstrip(b" ") for line in event.split(b"\n") if line.startswith(b"data:")]
        if data and data != [b"[DONE]"]:
            yield orjson.loads(b"\n".join(data))


def _frames(encoder: Encoder, reply: Reply, identity: Identity, body: dict[str, Any]) -> Iterator[Any]:
    stream = encoder.stream(reply, identity, body)
    for event in reply.events():
        frame = stream.encode(event)
        if frame is not None:
            yield from sse_data(frame)
    if reply.fault is not None and reply.fault.error is not None:
        yield from sse_data(stream.error_chunk(reply.fault.error))


def _renders(
    step: Step, catalog: Catalog, faker: Faker, config: Config, *, stream: bool
) -> Iterator[tuple[Dialect, Encoder, dict[str, Any], Reply | HttpError, random.Random]]:
    """Each (dialect, encoder, request, rendered step, its random source): every surface of
    every dialect, for each sample request."""
    for cls in DIALECTS.values():
        dialect = cls.from_config(config)
        for surface, encoder in dialect.encoders.items():
            for seq, body in enumerate(SAMPLE_REQUESTS.get(surface, ()), start=1):
                request = {**body, "stream": stream}
                rng = random.Random(seq)
                facts = RequestFacts.from_body(chat_view(surface, request), {}, surface)
                yield dialect, encoder, request, render(step, RenderInput(facts, seq, rng, faker), catalog), rng


def step_outputs(step: Step, catalog: Catalog, faker: Faker, config: Config | None = None) -> Iterator[Output]:
    """Everything ``step`` can send for the sample requests, on every surface of every dialect."""
    config = config or Config()
    for stream in (False, True):
        for dialect, encoder, request, result, rng in _renders(step, catalog, faker, config, stream=stream):
            surface = encoder.surface
            body_kind, event_kind, error_kind = KINDS[surface]
            if isinstance(result, HttpError):
                if result.body is None and not stream:
                    yield Output(error_kind, dialect.name, orjson.loads(encoder.error(result, key="sk-check")), surface)
                continue
            identity = encoder.identity(rng, 1_767_225_600)
            if stream:
                for data in _frames(encoder, result, identity, request):
                    yield Output(event_kind, dialect.name, data, surface)
            elif result.fault is not None and result.fault.kind == "error" and encoder.fault_as_status:
                assert result.fault.error is not None
                yield Output(error_kind, dialect.name, orjson.loads(encoder.error(result.fault.error)), surface)
            else:
                yield Output(body_kind, dialect.name, orjson.loads(encoder.body(result, identity, request)), surface)


def stream_length(step: Step, catalog: Catalog, faker: Faker, config: Config | None = None) -> int:
    """The most chunks (what ``fault.after_chunks`` counts) a stream of ``step`` has, over every
    surface, dialect and sample request; 0 for an error step."""
    longest = 0
    for _, encoder, request, result, rng in _renders(step, catalog, faker, config or Config(), stream=True):
        if isinstance(result, HttpError):
            return 0
        stream = encoder.stream(result, encoder.identity(rng, 1_767_225_600), request)
        longest = max(longest, sum(1 for event in result.events() if stream.encode(event) is not None))
    return longest


def _unreachable_fault(step: Step, catalog: Catalog, faker: Faker) -> str | None:
    """Why the step's fault never fires in a stream, if it cannot: ``after_chunks`` beyond the
    stream's length in every dialect (a fault at exactly the length fires, before ``[DONE]``).
    Steps whose length depends on the request (templates, ``call_declared_tools``) are not judged."""
    fault = step.fault
    if fault is None or step.dynamic or step.error is not None or fault.after_chunks == 0:
        return None
    length = stream_length(step, catalog, faker)
    if fault.after_chunks <= length:
        return None
    return (
        f"after_chunks {fault.after_chunks} is beyond the stream, which has at most {length} data events "
        f"(any dialect): the {fault.kind} fault never fires in a stream; use at most {length}"
    )


def check_step(
    step: Step, path: PathKey, registry: SchemaRegistry, catalog: Catalog, faker: Faker, file: str | None = None
) -> list[ScenarioError]:
    """Schema violations in anything ``step`` can produce (unless it breaks on purpose), and a
    fault that can never fire in a stream; at the step's line. ``path`` is where the step is
    (``("steps", 1)``)."""
    errors: list[ScenarioError] = []
    unreachable = _unreachable_fault(step, catalog, faker)
    if unreachable is not None:
        field = json_path((*path, "fault", "after_chunks"))
        errors.append(ScenarioError(unreachable, file=file, line=step.line, field=field))
    if step.deliberate_break or step.fuzz:  # fuzz answers are schema-valid by construction (strategies)
        return errors
    seen: set[str] = set()
    for out in step_outputs(step, catalog, faker):
        violation = registry.for_dialect(out.kind, DIALECTS[out.dialect].schema_family).violation(out.data)
        if violation is not None:
            message = f"{out.dialect} {out.kind} ({out.surface}) does not validate: {violation}"
            if message not in seen:
                seen.add(message)
                errors.append(ScenarioError(message, file=file, line=step.line, field=json_path(path)))
    return errors


def check_scenario(scenario: Scenario, registry: SchemaRegistry, catalog: Catalog, faker: Faker) -> list[ScenarioError]:
    """:func:`check_step` for every step of ``scenario`` (its chaos faults included)."""
    steps: list[tuple[PathKey, Step]] = [(("steps", i), s) for i, s in enumerate(scenario.steps)]
    if scenario.chaos:
        steps += [(("chaos", "faults", i), s) for i, s in enumerate(scenario.chaos.faults)]
    errors: list[ScenarioError] = []
    for path, step in steps:
        errors += check_step(step, path, registry, catalog, faker, scenario.file)
    return errors


def check_paths(paths: list[Path]) -> tuple[list[Scenario], list[ScenarioError]]:
    """Load and check every path; return the scenarios that loaded and every problem found,
    file by file in line order. A problem hides no other: the steps of a document that did not
    load are still checked when they built cleanly."""
    registry = SchemaRegistry()
    catalog = Catalog.load()
    faker = Faker()
    scenarios: list[Scenario] = []
    errors: list[ScenarioError] = []
    for path in paths:
        try:
            files = scenario_files(path)
        except ScenarioErrors as exc:
            errors.extend(exc.errors)
            continue
        for file in files:
            loaded = collect_file(file)
            found = list(loaded.errors)
            for scenario in loaded.scenarios:
                found += check_scenario(scenario, registry, catalog, faker)
            for at in loaded.clean_steps:
                found += check_step(at.step, at.path, registry, catalog, faker, at.file)
            found.sort(key=lambda e: (e.line or 0, e.column or 0, e.field or ""))
            scenarios += loaded.scenarios
            errors += found
    return scenarios, errors

"""``mockrouter check``: lint scenario files and prove their output is schema-valid.

Beyond YAML and the scenario schema (the loader's job), every step that is not a deliberate
break is rendered against a few sample requests, in every dialect, streamed and not, and
each body and chunk is validated against the published response schemas.
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
from ..errors import ScenarioError, ScenarioErrors
from ..scenario.loader import collect_file, scenario_files
from ..scenario.matcher import RequestFacts
from ..scenario.model import Scenario, Step
from ..scenario.render import RenderInput, render
from ..wire.dialects import DIALECTS
from ..wire.dialects.base import DONE, Dialect, Identity

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}
SAMPLE_REQUESTS: list[dict[str, Any]] = [
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
        "response_format": {
            "type": "json_schema",
            "json_schema": {
                "name": "x",
                "schema": {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]},
            },
        },
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
]


@dataclass(slots=True)
class Output:
    """One thing a step produced: what it is, and its JSON."""

    kind: str  # chat-response | chat-chunk | error
    dialect: str
    data: Any


def _frames(dialect: Dialect, reply: Reply, identity: Identity, body: dict[str, Any]) -> Iterator[Any]:
    encoder = dialect.encoders["chat"].stream(reply, identity, body)
    for event in reply.events():
        data = encoder.encode(event)
        if data is None:
            continue
        assert data.startswith(b"data: ") and data.endswith(b"\n\n"), data
        if data != DONE:
            yield orjson.loads(data[6:])
    if reply.fault is not None and reply.fault.error is not None:
        yield orjson.loads(encoder.error_chunk(reply.fault.error)[6:])


def step_outputs(step: Step, catalog: Catalog, faker: Faker, config: Config | None = None) -> Iterator[Output]:
    """Everything ``step`` can send for the sample requests, in every dialect."""
    config = config or Config()
    for name, cls in DIALECTS.items():
        dialect = cls.from_config(config)
        for seq, body in enumerate(SAMPLE_REQUESTS, start=1):
            for stream in (False, True):
                request = {**body, "stream": stream}
                rng = random.Random(seq)
                facts = RequestFacts.from_body(request, {})
                result = render(step, RenderInput(facts, seq, rng, faker), catalog)
                if isinstance(result, HttpError):
                    if result.body is None:
                        yield Output("error", name, orjson.loads(dialect.error(result, key="sk-check")))
                    break
                identity = dialect.identity(rng, 1_767_225_600)
                if stream:
                    for chunk in _frames(dialect, result, identity, request):
                        yield Output("chat-chunk", name, chunk)
                else:
                    yield Output(
                        "chat-response", name, orjson.loads(dialect.encoders["chat"].body(result, identity, request))
                    )


def stream_length(step: Step, catalog: Catalog, faker: Faker, config: Config | None = None) -> int:
    """The most ``data:`` events (the ones ``fault.after_chunks`` counts) a stream of ``step`` has,
    over every dialect and the sample requests; 0 for an error step."""
    config = config or Config()
    longest = 0
    for cls in DIALECTS.values():
        dialect = cls.from_config(config)
        for seq, body in enumerate(SAMPLE_REQUESTS, start=1):
            request = {**body, "stream": True}
            rng = random.Random(seq)
            result = render(step, RenderInput(RequestFacts.from_body(request, {}), seq, rng, faker), catalog)
            if isinstance(result, HttpError):
                return 0
            encoder = dialect.encoders["chat"].stream(result, dialect.identity(rng, 1_767_225_600), request)
            frames = sum(1 for event in result.events() if encoder.encode(event) is not None)
            longest = max(longest, frames)
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
            message = f"{out.dialect} {out.kind} does not validate: {violation}"
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

"""schemathesis against ``GET /__mockrouter/openapi.json`` of a running server, in both dialects.

Every generated request (schema-valid bodies, deliberately invalid ones, missing auth, odd
content types and methods) must get a documented, schema-conforming answer: zero 5xx and zero
failures of schemathesis's own checks, response-schema conformance (SSE events included) first.

Two of schemathesis's phases run, driven through its Python API (its pytest plugin relies on
pytest internals that pytest 9 removed):

- *coverage*: schemathesis's deterministic cases — every property at its boundaries, wrong
  types, missing required fields, unexpected methods — ~900 per dialect, generated in about
  a second;
- *fuzzing*: Hypothesis-generated random bodies (unknown fields, unicode, nesting), fewer,
  because drawing a chat request from its schema costs ~0.4 s (positive) to ~0.7 s
  (negative) of CPU each.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import checks
from schemathesis.core.failures import FailureGroup

from mockrouter.core.config import Config
from mockrouter.http.server import BackgroundServer

POSITIVE = schemathesis.GenerationMode.POSITIVE
NEGATIVE = schemathesis.GenerationMode.NEGATIVE
#: Every operation of either dialect's document; a test skips the ones its dialect lacks.
OPERATIONS = (
    "POST /api/v1/chat/completions",
    "POST /api/v1/completions",
    "GET /api/v1/models",
    "GET /api/v1/models/count",
    "GET /api/v1/providers",
    "GET /api/v1/credits",
    "GET /api/v1/auth/key",
    "GET /api/v1/models/{id}",
    "GET /api/v1/generation/{id}",
    "GET /api/v1/health",
    "POST /api/v1/embeddings",
    "GET /api/v1/key",
    "GET /api/v1/generation",
    "GET /api/v1/models/{author}/{slug}/endpoints",
    "GET /api/v1/keys",
    "POST /api/v1/keys",
    "GET /api/v1/keys/{hash}",
    "PATCH /api/v1/keys/{hash}",
    "DELETE /api/v1/keys/{hash}",
    "POST /api/v1/messages",
    "POST /api/v1/messages/count_tokens",
    "POST /api/v1/responses",
)
#: Each dialect must reach this many coverage cases: 2 dialects make well over 1,000.
MIN_COVERAGE_CASES = 500
#: Random examples per generation mode, operation and dialect in the fuzzing phase.
FUZZ_EXAMPLES = 8
#: The checks every response must pass. Not ``ignored_auth``: mockrouter accepts any
#: non-empty key by design (README: Auth), so made-up credentials are not refused; missing or
#: malformed ones are (401), and ``missing_required_header`` checks that.
CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_headers_conformance,
    checks.response_schema_conformance,
    checks.negative_data_rejection,
    checks.positive_data_acceptance,
    checks.missing_required_header,
    checks.unsupported_method,
]


@pytest.fixture(scope="module", params=["anyrouter", "openrouter"])
def dialect_server(request: pytest.FixtureRequest) -> Iterator[BackgroundServer]:
    with BackgroundServer(Config(port=0, speed=0, dialect=request.param)) as server:
        yield server


@pytest.fixture
def api_schema(dialect_server: BackgroundServer) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_url(dialect_server.url + "/__mockrouter/openapi.json")


class Runner:
    """Sends cases to the server and validates each answer, collecting every failure."""

    def __init__(self, server: BackgroundServer) -> None:
        self.server = server
        self.headers = {"Authorization": f"Bearer sk-schemathesis-{uuid.uuid4().hex}"}
        self.session = requests.Session()
        self.statuses: dict[int, int] = {}
        self.failures: list[str] = []

    @property
    def count(self) -> int:
        return sum(self.statuses.values())

    def __call__(self, case: schemathesis.Case) -> None:
        response = case.call(base_url=self.server.url, session=self.session, headers=self.headers, timeout=10)
        self.statuses[response.status_code] = self.statuses.get(response.status_code, 0) + 1
        try:
            relaxed = RELAXED_CHECKS.get(case.operation.label, set())
            chosen = [check for check in CHECKS if check not in relaxed]
            case.validate_response(response, checks=chosen, headers=self.headers)
        except (AssertionError, FailureGroup) as exc:  # schemathesis's failures (with a curl reproducer)
            details = [str(e) for e in getattr(exc, "exceptions", ())]
            self.failures.append("\n".join([str(exc), *details]))

    def assert_clean(self) -> None:
        assert not self.server.app.errors, self.server.app.errors[-1].traceback
        assert not self.failures, f"{len(self.failures)} failure(s); the first:\n{self.failures[0]}"
        assert not [s for s in self.statuses if s >= 500], self.statuses


#: Checks skipped on one operation, because the schema cannot say what the server checks:
#: - ``POST /embeddings``: a schema-valid body may still get its documented 400: a chat model,
#:   or ``dimensions`` above the model's vector length, which no JSON Schema of the body can say.
#: - ``POST /responses``: ``store: true`` and ``previous_response_id`` are valid Responses
#:   requests that mockrouter, stateless like the routers, answers with its documented 400.
RELAXED_CHECKS = {
    "POST /api/v1/embeddings": {checks.positive_data_acceptance},
    "POST /api/v1/responses": {checks.positive_data_acceptance},
}


def _documented(api_schema: schemathesis.BaseSchema) -> list[str]:
    """The labels of every operation of the served document."""
    return [result.ok().label for result in api_schema.get_all_operations()]


def test_every_documented_operation_is_fuzzed(api_schema: schemathesis.BaseSchema) -> None:
    documented = _documented(api_schema)
    assert len(documented) >= 11
    assert set(documented) <= set(OPERATIONS)


def test_coverage_phase(api_schema: schemathesis.BaseSchema, dialect_server: BackgroundServer) -> None:
    runner = Runner(dialect_server)
    labels = _documented(api_schema)
    assert "POST /api/v1/chat/completions" in labels and len(labels) >= 10, labels
    for label in labels:
        operation = api_schema.find_operation_by_label(label)
        assert operation is not None, label
        config = api_schema.config.generation_for(operation=operation)
        for case in api_schema.iter_coverage_cases(
            operation, generation_modes=[POSITIVE, NEGATIVE], generation_config=config
        ):
            runner(case)
    runner.assert_clean()
    assert runner.count >= MIN_COVERAGE_CASES, runner.statuses
    assert runner.statuses.get(200, 0) > 100 and runner.statuses.get(400, 0) > 300, runner.statuses


@pytest.mark.parametrize("mode", [POSITIVE, NEGATIVE], ids=lambda m: m.value)
@pytest.mark.parametrize("label", OPERATIONS)
def test_fuzzing_phase(
    api_schema: schemathesis.BaseSchema, dialect_server: BackgroundServer, label: str, mode: object
) -> None:
    if label not in _documented(api_schema):
        pytest.skip(f"not an operation of the {dialect_server.config.dialect} dialect")
    operation = api_schema.find_operation_by_label(label)
    assert operation is not None, label
    keyed = bool(operation.definition.raw.get("security"))
    if mode is NEGATIVE and not (len(operation.body) or len(operation.query) or keyed):
        # no body, no query, no key: its only inputs are path strings of any non-empty value
        pytest.skip(f"{label} has nothing to make invalid")
    runner = Runner(dialect_server)

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=FUZZ_EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def fuzz(case: schemathesis.Case) -> None:
        runner(case)

    fuzz()
    runner.assert_clean()
    assert runner.count >= 1

"""The ``{{ }}`` template language: compiled once, rendered per request, safe.

SPEC ("Scenarios", templates): ``request.model``, ``request.last_user``,
``request.messages[0].content``, ``seq``, ``faker.<provider>(args)`` seeded,
``json_schema_instance``; no attribute walking, no imports, no code execution.
"""

from __future__ import annotations

from typing import Any

import pytest
from faker import Faker
from hypothesis import example, given, settings
from hypothesis import strategies as st

from mockrouter.errors import ScenarioError, TemplateError
from mockrouter.scenario.templates import TemplateContext, compile_template

REQUEST: dict[str, Any] = {
    "model": "openai/gpt-4o-mini",
    "temperature": 0.5,
    "n": 2,
    "stream": False,
    "metadata": {"tenant": "acme"},
    "tools": [{"type": "function", "function": {"name": "lookup", "parameters": {"tags": ["a", {"deep": "found"}]}}}],
    "messages": [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "What is the weather?"},
        {"role": "assistant", "content": "Sunny."},
        {"role": "user", "content": [{"type": "text", "text": "And tomorrow?"}]},
    ],
}


def context(*, seq: int = 3, faker: Any = None, request: dict[str, Any] | None = None) -> TemplateContext:
    return TemplateContext(
        request=REQUEST if request is None else request,
        last_user="And tomorrow?",
        seq=seq,
        faker=faker,
        json_schema_instance=lambda: {"n": 7},
    )


def render(source: str, **kwargs: Any) -> str:
    return compile_template(source).render(context(**kwargs))


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("{{ request.model }}", "openai/gpt-4o-mini"),
        ("{{request.model}}", "openai/gpt-4o-mini"),
        ("{{ request.last_user }}", "And tomorrow?"),
        ("{{ request.messages[0].content }}", "Be brief."),
        ("{{ request.messages[2].role }}", "assistant"),
        ("{{ request.messages[-2].content }}", "Sunny."),
        ("{{ request.messages[-4].role }}", "system"),
        ("{{ request.tools[0].function.parameters.tags[1].deep }}", "found"),
        ("{{ request.messages[3].content[0].text }}", "And tomorrow?"),
        ("{{ request.metadata.tenant }}", "acme"),
        ("{{ request.temperature }}", "0.5"),
        ("{{ request.n }}", "2"),
        ("{{ request.stream }}", "false"),
        ("{{ seq }}", "3"),
        ("{{ json_schema_instance }}", '{"n":7}'),
        ("Model {{ request.model }} (#{{ seq }}).", "Model openai/gpt-4o-mini (#3)."),
    ],
)
def test_paths_render(source: str, expected: str) -> None:
    assert render(source) == expected


@pytest.mark.parametrize(
    "source",
    [
        "{{ request.user }}",
        "{{ request.tools[0].function.description }}",
        "{{ request.messages[99].content }}",
        "{{ request.messages[-99].content }}",
        "{{ request.messages[0].tool_calls[0].id }}",
        "{{ request.metadata.missing }}",
        "{{ request.response_format.json_schema.name }}",
        "{{ null }}",
    ],
)
def test_known_fields_a_request_leaves_out_render_empty(source: str) -> None:
    assert render(source) == ""


@pytest.mark.parametrize(
    ("source", "needle"),
    [
        ("{{ request.nope }}", "request has no field 'nope'"),
        ("{{ request.last_usr }}", "did you mean 'last_user'"),
        ("{{ request.nope.deeper[3] }}", "request has no field 'nope'"),
        ("{{ request.model.deeper }}", "request.model is a string"),
        ("{{ request.messages.content }}", "request.messages is a list"),
        ("{{ request.messages[0][0] }}", "request.messages[0] is an object, not a list"),
        ("{{ request.metadata.tenant[0] }}", "request.metadata.tenant is a string, not a list"),
        ("{{ request.stream.on }}", "request.stream is a boolean"),
        ("{{ request.max_tokens.value }}", "request.max_tokens is an integer"),
    ],
)
def test_paths_no_request_can_have_are_template_errors(source: str, needle: str) -> None:
    with pytest.raises(TemplateError) as info:
        compile_template(source)
    assert needle in info.value.message


def test_negative_index_reads_the_last_message() -> None:
    assert render("{{ request.messages[-1].content | json }}") == '[{"type":"text","text":"And tomorrow?"}]'
    follow_up = {**REQUEST, "messages": [*REQUEST["messages"], {"role": "tool", "content": "22C"}]}
    assert render("{{ request.messages[-1].content }}", request=follow_up) == "22C"


def test_seq_is_per_render() -> None:
    template = compile_template("request #{{ seq }}")
    assert [template.render(context(seq=n)) for n in (1, 2, 10)] == ["request #1", "request #2", "request #10"]


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ('{{ request.user | default("x") }}', "x"),
        ("{{ request.user | default('single') }}", "single"),
        ("{{ request.user | default(5) }}", "5"),
        ('{{ request.model | default("x") }}', "openai/gpt-4o-mini"),
        ("{{ request.model | upper }}", "OPENAI/GPT-4O-MINI"),
        ("{{ 'MiXeD' | lower }}", "mixed"),
        ("{{ '  padded  ' | trim }}", "padded"),
        ("{{ request.metadata | json }}", '{"tenant":"acme"}'),
        ("{{ request.model | json }}", '"openai/gpt-4o-mini"'),
        ("{{ request.user | json }}", "null"),
        ('{{ request.user | default("a b") | upper }}', "A B"),
        ("{{ request.last_user | upper | lower }}", "and tomorrow?"),
    ],
)
def test_filters(source: str, expected: str) -> None:
    assert render(source) == expected


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ('{{ "double" }}', "double"),
        ("{{ 'single' }}", "single"),
        ('{{ "with \\"escaped\\" quotes" }}', 'with "escaped" quotes'),
        ("{{ 42 }}", "42"),
        ("{{ -7 }}", "-7"),
        ("{{ 1.25 }}", "1.25"),
        ("{{ 999999999999 }}", "999999999999"),
        ("{{ -123456789012345678901234567890 }}", "-123456789012345678901234567890"),
        ("{{ true }}", "true"),
        ("{{ false }}", "false"),
    ],
)
def test_literals(source: str, expected: str) -> None:
    assert render(source) == expected


def seeded(seed: int) -> Faker:
    fake = Faker()
    fake.seed_instance(seed)
    return fake


def test_faker_calls_are_deterministic_for_the_same_seed() -> None:
    template = compile_template("{{ faker.name() }} | {{ faker.random_int(10, 30) }} | {{ faker.sentence(6) }}")
    assert template.needs_faker
    assert template.static is None
    first = template.render(context(faker=seeded(1234)))
    again = template.render(context(faker=seeded(1234)))
    assert first == again
    name, number, sentence = first.split(" | ")
    assert name and sentence
    assert 10 <= int(number) <= 30
    others = {template.render(context(faker=seeded(s))) for s in range(5)}
    assert len(others) > 1, "different seeds should give different text"


def test_faker_arguments_are_passed() -> None:
    for seed in range(20):
        value = int(render("{{ faker.random_int(3, 4) }}", faker=seeded(seed)))
        assert value in (3, 4)


def test_templates_without_faker_do_not_need_it() -> None:
    assert not compile_template("{{ request.model }} {{ seq }}").needs_faker
    assert not compile_template("plain").needs_faker


@pytest.mark.parametrize("source", ["", "plain text", "braces { } and }} alone", "one { brace", "ünïcødé 🙂"])
def test_static_templates(source: str) -> None:
    template = compile_template(source)
    assert template.static == source
    assert template.render(context()) == source


def test_templates_with_expressions_are_not_static() -> None:
    assert compile_template("a {{ seq }}").static is None


@given(st.text().filter(lambda t: "{{" not in t))
@example("}}")
@example("{")
@example("{ {")
@example("x{")
@settings(max_examples=300, deadline=None)
def test_text_without_open_braces_is_static_and_renders_to_itself(text: str) -> None:
    template = compile_template(text)
    assert template.static == text
    assert template.render(context()) == text


@pytest.mark.parametrize(
    "source",
    [
        "{{ request.__class__ }}",
        "{{ request._private }}",
        "{{ __import__('os') }}",
        "{{ __builtins__ }}",
        '{{ "a" * 1000000 }}',
        "{{ 10 ** 100 }}",
        "{{ " + "9" * 101 + " }}",
        "{{ faker.seed_instance(1) }}",
        "{{ faker.binary(1000000000) }}",
        "{{ faker.nonexistent_provider() }}",
        "{{ faker.name }}",
        "{{ faker.random_int(seq) }}",
        "{{ request.model.upper() }}",
        "{{ request.messages[0:1] }}",
        "{{ request['model'] }}",
        "{{ os.system('true') }}",
        "{{ lambda: 1 }}",
        "{{ request.model | evil }}",
        "{{ seq.real }}",
        "{{ }}",
        "{{ request.model",
        "{{ 'a' 'b' }}",
        "{{ request.model | default(request.nope) }}",
    ],
)
def test_outside_the_language_is_a_template_error(source: str) -> None:
    with pytest.raises(TemplateError) as info:
        compile_template(source)
    assert isinstance(info.value, ScenarioError)
    assert info.value.message


@pytest.mark.parametrize(
    ("source", "argument"),
    [
        ("{{ faker.texts(100000) }}", "nb_texts"),
        ("{{ faker.paragraphs(5000) }}", "nb"),
        ("{{ faker.words(2000) }}", "nb"),
    ],
)
def test_plural_faker_providers_have_a_bounded_count(source: str, argument: str) -> None:
    with pytest.raises(TemplateError, match=f"{argument}=[0-9]+ is above the limit of 1,000"):
        compile_template(source)
    assert compile_template(source.replace("100000", "10").replace("5000", "10").replace("2000", "10")).needs_faker

"""Faker calls in templates: every ordinary call loads, a call that would allocate without bound
does not.

What makes a call expensive is the size of what it makes, never a literal number: the
arguments that size the output (counts, lengths, digits) are bounded by name, each call is
tried once at load time with a seeded Faker, and a template whose tried text is over the
budget is refused (README, "Hardening").
"""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
from faker import Faker
from hypothesis import given, settings
from hypothesis import strategies as st

from mockrouter.errors import TemplateError
from mockrouter.scenario.templates import TEMPLATE_BUDGET, TemplateContext, compile_template


def context(seed: int) -> TemplateContext:
    fake = Faker()
    fake.seed_instance(seed)
    return TemplateContext(request={}, last_user="", seq=1, faker=fake, json_schema_instance=dict)


def render(source: str, seed: int = 0) -> str:
    return compile_template(source).render(context(seed))


# -- ordinary calls load and render --------------------------------------------------------------

BIG = st.integers(min_value=-(10**40), max_value=10**40)


@given(low=BIG, high=BIG, seed=st.integers(0, 2**32))
@settings(max_examples=150, deadline=None)
def test_random_int_and_pyint_take_any_bounds(low: int, high: int, seed: int) -> None:
    low, high = min(low, high), max(low, high)
    for source in (
        f"{{{{ faker.random_int({low}, {high}) }}}}",
        f"{{{{ faker.random_int(min={low}, max={high}) }}}}",
        f"{{{{ faker.pyint({low}, {high}) }}}}",
        f"{{{{ faker.pyint(min_value={low}, max_value={high}) }}}}",
    ):
        assert low <= int(render(source, seed)) <= high, source


@given(
    digits=st.integers(1, 15).flatmap(lambda left: st.tuples(st.just(left), st.integers(0, 15 - left))),
    positive=st.booleans(),
    seed=st.integers(0, 2**32),
)
@settings(max_examples=100, deadline=None)
def test_pyfloat_with_digits_loads_and_renders_a_number(digits: tuple[int, int], positive: bool, seed: int) -> None:
    """Faker's own rule (left + right <= 15 digits, a float's precision) is the only limit."""
    left, right = digits
    flag = "true" if positive else "false"
    text = render(f"{{{{ faker.pyfloat(left_digits={left}, right_digits={right}, positive={flag}) }}}}", seed)
    value = float(text)
    assert abs(value) < 10**left
    if positive:
        assert value >= 0


@given(
    low=st.floats(-1e6, 1e6, allow_nan=False).map(lambda f: round(f, 2)),
    span=st.floats(1, 1e6, allow_nan=False).map(lambda f: round(f, 2)),
    seed=st.integers(0, 2**32),
)
@settings(max_examples=100, deadline=None)
def test_negative_and_float_literals_are_arguments(low: float, span: float, seed: int) -> None:
    high = round(low + span, 2)
    text = render(f"{{{{ faker.pyfloat(min_value={low!r}, max_value={high!r}) }}}}", seed)
    assert low <= float(text) <= high


@pytest.mark.parametrize(
    ("source", "pattern"),
    [
        ("{{ faker.random_int(1, 1000000) }}", r"\d{1,7}"),
        ("{{ faker.random_int(-1000000000000, -5) }}", r"-\d+"),
        ("{{ faker.pyint() }}", r"\d+"),
        ("{{ faker.pyfloat(left_digits=3, right_digits=2) }}", r"-?\d{1,3}\.\d{1,2}"),
        ("{{ faker.pydecimal(left_digits=3, right_digits=2, positive=true) }}", r"\d{1,3}\.\d{1,2}"),
        ('{{ faker.numerify("###-###") }}', r"\d{3}-\d{3}"),
        ('{{ faker.numerify(text="ID-####") }}', r"ID-\d{4}"),
        ('{{ faker.bothify("??-##") }}', r"[A-Za-z]{2}-\d{2}"),
        ('{{ faker.date_between("-30d", "today") }}', r"\d{4}-\d\d-\d\d"),
        ('{{ faker.date_between(start_date="-30d", end_date="today") }}', r"\d{4}-\d\d-\d\d"),
        ("{{ faker.date_time() }}", r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?"),
        ("{{ faker.sentence(nb_words=8) }}", r"[A-Z][a-z]*( [a-z]+)*\."),
        ("{{ faker.sentence(nb_words=8, variable_nb_words=false) }}", r"[A-Z][a-z]*( [a-z]+){7}\."),
        ("{{ faker.paragraph(nb_sentences=3) }}", r"[A-Z].*\."),
        ("{{ faker.words(3) }}", r'\["\w+","\w+","\w+"\]'),
        ("{{ faker.random_number(digits=30, fix_len=true) }}", r"[1-9]\d{29}"),
        ("{{ faker.password(length=24) }}", r".{24}"),
        ("{{ faker.pystr(min_chars=5, max_chars=5) }}", r"[A-Za-z]{5}"),
        ("{{ faker.uuid4() }}", r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}"),
        ("{{ faker.md5(raw_output=true) }}", r"[0-9a-f]{32}"),
        ("{{ faker.pybool() }}", r"true|false"),
        ("{{ faker.time_delta() }}", r"-?[\d:., a-z]+"),
        ("{{ faker.pyset(nb_elements=3) }}", r"\[.*\]"),
        ("{{ 999999999999 }}", r"999999999999"),
        ("{{ -3 }}", r"-3"),
    ],
)
def test_ordinary_calls_load_and_render(source: str, pattern: str) -> None:
    template = compile_template(source)
    for seed in range(5):
        text = template.render(context(seed))
        assert re.fullmatch(pattern, text), (source, text)


def test_pydict_and_profile_render_as_json() -> None:
    import json

    for source in ("{{ faker.pydict(nb_elements=5) }}", "{{ faker.profile() }}", "{{ faker.pystruct(count=2) }}"):
        assert json.loads(render(source)), source


def test_keyword_arguments_reach_faker() -> None:
    text = render("{{ faker.sentence(nb_words=12, variable_nb_words=false) }}")
    assert len(text.split()) == 12
    assert render('{{ faker.pystr(prefix="pre-", max_chars=3) }}').startswith("pre-")


def test_a_dozen_faker_calls_in_one_template_load_quickly() -> None:
    source = " ".join(
        [
            "{{ faker.random_int(1, 1000000) }}",
            "{{ faker.pyint() }}",
            "{{ faker.pyfloat(left_digits=3, right_digits=2) }}",
            '{{ faker.numerify("###-###") }}',
            '{{ faker.date_between("-30d", "today") }}',
            "{{ faker.sentence(nb_words=8) }}",
            "{{ faker.name() }}",
            "{{ faker.email() }}",
            "{{ faker.uuid4() }}",
            "{{ faker.city() }}",
            "{{ faker.company() }}",
            "{{ faker.iso8601() }}",
        ]
    )
    started = time.perf_counter()
    for _ in range(20):
        compile_template(source)
    assert time.perf_counter() - started < 5


# -- hostile calls are load errors, quickly ------------------------------------------------------

HUGE = "9" * 60

HOSTILE = [
    "{{ faker.pystr(1, 100000000) }}",
    "{{ faker.pystr(min_chars=100000000, max_chars=100000000) }}",
    "{{ faker.texts(1000000) }}",
    "{{ faker.texts(nb_texts=1000, max_nb_chars=100000) }}",
    "{{ faker.texts(1000) }}",
    "{{ faker.paragraph(10000000) }}",
    "{{ faker.paragraphs(nb=100000) }}",
    "{{ faker.sentence(nb_words=100000000) }}",
    "{{ faker.words(1000000) }}",
    f"{{{{ faker.pyfloat(left_digits={HUGE}) }}}}",
    f"{{{{ faker.pydecimal(right_digits={HUGE}) }}}}",
    "{{ faker.pydecimal(left_digits=100000) }}",
    f"{{{{ faker.password(length={HUGE}) }}}}",
    "{{ faker.password(length=100000000) }}",
    "{{ faker.random_number(digits=100000000) }}",
    "{{ faker.random_letters(length=100000000) }}",
    '{{ faker.random_elements("ab", length=100000000) }}',
    '{{ faker.random_choices("ab", length=100000000) }}',
    "{{ faker.pylist(nb_elements=100000000) }}",
    "{{ faker.pydict(100000000) }}",
    "{{ faker.pystruct(count=100000000) }}",
    "{{ faker.pystruct(count=1000) }}",
    "{{ faker.domain_name(levels=100000000) }}",
    "{{ faker.file_path(depth=100000000) }}",
    "{{ faker.uri(deep=100000000) }}",
    "{{ faker.dga(length=100000000) }}",
    "{{ faker.nic_handles(count=100000000) }}",
    "{{ faker.text(max_nb_chars=100000000) }}",
    "{{ faker.text(100000) }} {{ faker.text(100000) }}",
    '{{ faker.pystr(max_chars="100000000") }}',
    "{{ faker.sentence(nb_words=8.5) }}",
    "{{ faker.time_series() }}",
    "{{ faker.random_int(10, 1) }}",
    "{{ faker.pyfloat(left_digits=400) }}",
    "{{ faker." + "a" * 100 + "() }}",
    "{{ " + "9" * 500 + " }}",
]


@pytest.mark.parametrize("source", HOSTILE)
def test_calls_that_would_allocate_without_bound_are_load_errors(source: str) -> None:
    started = time.perf_counter()
    with pytest.raises(TemplateError) as info:
        compile_template(source)
    assert time.perf_counter() - started < 2, "refusing a hostile template must be quick"
    message = info.value.message
    assert "Traceback" not in message and len(message) < 1000, message


def test_the_budget_is_what_is_documented() -> None:
    assert TEMPLATE_BUDGET == 100_000


@pytest.mark.parametrize(
    ("source", "needles"),
    [
        ("{{ faker.sentence(nb_word=8) }}", ["nb_word", "did you mean", "nb_words"]),
        ("{{ faker.pyfloat(left_digit=3) }}", ["left_digit", "left_digits"]),
        ("{{ faker.random_int(maximum=3) }}", ["maximum", "faker.random_int", "min, max, step"]),
        ("{{ faker.sentence(8, nb_words=8) }}", ["nb_words", "twice"]),
        ("{{ faker.sentence(nb_words=8, nb_words=9) }}", ["nb_words", "twice"]),
        ("{{ faker.name(1) }}", ["faker.name", "at most 0"]),
        ("{{ faker.sentence(nb_words=8, 3) }}", ["positional", "after"]),
        ("{{ faker.nmae() }}", ["nmae", "did you mean", "name"]),
        ("{{ faker.texts(nb_texts=5000) }}", ["nb_texts", "5000", "1,000"]),
        ("{{ faker.pystr(max_chars=200000) }}", ["max_chars", "100,000"]),
        ("{{ faker.pyfloat(left_digits=5000) }}", ["left_digits", "1,000"]),
        ("{{ faker.texts(nb_texts=1000, max_nb_chars=1000) }}", ["1,000,000", "100,000"]),
        ("{{ faker.text(100000) }} {{ faker.text(100000) }}", ["100,000 characters"]),
        ("{{ faker.random_int(10, 1) }}", ["faker.random_int(10, 1)", "fails"]),
        ("{{ faker.time_series() }}", ["faker.time_series()", "generator"]),
        ("{{ faker.sentence(nb_words=8.5) }}", ["nb_words", "whole number"]),
        ("{{ " + "9" * 500 + " }}", ["number", "100 characters"]),
    ],
)
def test_faker_errors_say_what_is_wrong(source: str, needles: list[str]) -> None:
    with pytest.raises(TemplateError) as info:
        compile_template(source)
    for needle in needles:
        assert needle in info.value.message, (needle, info.value.message)


def test_a_call_that_warns_is_refused_rather_than_warning_per_request() -> None:
    with pytest.raises(TemplateError, match="warns"):
        compile_template("{{ faker.pydict(nb_elements=1000) }}")


def test_trial_renders_leave_the_servers_faker_alone() -> None:
    fake = Faker()
    fake.seed_instance(7)
    expected = fake.name()
    fake.seed_instance(7)
    compile_template("{{ faker.name() }} {{ faker.random_int(1, 5) }}")
    assert fake.name() == expected


def test_render_is_a_plain_call() -> None:
    """Load-time checks happen once: rendering calls the provider and nothing else."""
    template = compile_template("{{ faker.sentence(nb_words=3) }}")
    calls: list[tuple[Any, ...]] = []

    class Recorder:
        def sentence(self, *args: Any, **kwargs: Any) -> str:
            calls.append((args, kwargs))
            return "ok"

    ctx = TemplateContext(request={}, last_user="", seq=1, faker=Recorder(), json_schema_instance=dict)
    assert template.render(ctx) == "ok"
    assert calls == [((), {"nb_words": 3})]

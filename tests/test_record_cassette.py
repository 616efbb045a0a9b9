"""record.cassette: files a person can read that load back exactly what was recorded."""

from __future__ import annotations

import itertools
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mockrouter.record.cassette import Cassette, scenario_name
from mockrouter.record.recording import Recording
from mockrouter.scenario.loader import collect_path
from mockrouter.tools.check import check_paths

HASH = st.text("0123456789abcdef", min_size=16, max_size=16)


def _recording(conversation: str, root: str, content: str, pieces: list[str], title: str, note: str) -> Recording:
    step = (
        {"content": content, "finish_reason": "stop", "stream": {"chunks": pieces}} if pieces else {"content": content}
    )
    return Recording(
        conversation=conversation,
        root=root,
        turn=0,
        surface="chat",
        path="/chat/completions",
        stream=bool(pieces),
        status=200,
        step=step,
        notes=[note],
        title=title,
        recorded=1_767_225_600.0,
        upstream="https://router.example/api/v1",
    )


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    conversation=HASH,
    root=HASH,
    # "{{" opens a template: the transcriber writes such text as one (record.transcribe._literal)
    # before a cassette sees it, so a cassette is never handed it raw.
    content=st.text(min_size=1).filter(lambda text: "{{" not in text),
    cut=st.data(),
    title=st.text(max_size=100),
    note=st.text(max_size=60),
)
def test_any_text_loads_back_exactly(
    tmp_path_factory: object, conversation: str, root: str, content: str, cut: st.DataObject, title: str, note: str
) -> None:
    """Trailing blank lines, U+0085 and U+2028, control characters in the title or a note,
    leading spaces: the file is valid YAML, passes check, and holds the text unchanged."""
    folder: Path = tmp_path_factory.mktemp("cassette")  # type: ignore[attr-defined]
    points = sorted(set(cut.draw(st.lists(st.integers(1, max(len(content) - 1, 1)), max_size=4))))
    edges = [0, *[p for p in points if 0 < p < len(content)], len(content)]
    pieces = [content[a:b] for a, b in itertools.pairwise(edges)]
    path = Cassette(folder).add(_recording(conversation, root, content, pieces, title, note))
    loaded = collect_path(path)
    assert loaded.errors == [], [str(e) for e in loaded.errors]
    [scenario] = loaded.scenarios
    assert scenario.name == scenario_name(conversation)
    assert scenario.steps[0].content is not None and scenario.steps[0].content.template.static == content
    docs = [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d]
    assert docs[0]["steps"][0]["stream"]["chunks"] == pieces
    assert check_paths([path])[1] == []


def test_a_retry_adds_a_step_and_a_new_turn_a_scenario(tmp_path: Path) -> None:
    cassette = Cassette(tmp_path)
    first = cassette.add(_recording("a" * 16, "r" * 16, "one", [], "Hi", ""))
    assert cassette.add(_recording("a" * 16, "r" * 16, "two", [], "Hi", "")) == first
    cassette.add(_recording("b" * 16, "r" * 16, "three", [], "Hi", ""))
    docs = [d for d in yaml.safe_load_all(first.read_text()) if d]
    assert [d["name"] for d in docs] == [scenario_name("a" * 16), scenario_name("b" * 16)]
    assert [s["content"] for s in docs[0]["steps"]] == ["one", "two"]
    assert first.name == "hi-rrrrrrrr.yaml" and first.read_text().startswith("# Recorded by mockrouter from")


def test_auto_mode_adds_after_what_the_file_holds_and_record_mode_starts_it_afresh(tmp_path: Path) -> None:
    path = Cassette(tmp_path).add(_recording("a" * 16, "r" * 16, "old", [], "Hi", ""))
    path.write_text(path.read_text() + "# a note the user wrote\n")
    Cassette(tmp_path).add(_recording("b" * 16, "r" * 16, "new", [], "Hi", ""))
    text = path.read_text()
    assert "# a note the user wrote" in text and [d["name"] for d in yaml.safe_load_all(text) if d] == [
        scenario_name("a" * 16),
        scenario_name("b" * 16),
    ]
    Cassette(tmp_path, overwrite=True).add(_recording("a" * 16, "r" * 16, "again", [], "Hi", ""))
    assert [d["steps"][0]["content"] for d in yaml.safe_load_all(path.read_text()) if d] == ["again"]

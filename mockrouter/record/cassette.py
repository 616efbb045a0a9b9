"""A cassette: a folder of scenario files that replays recorded conversations.

One file per conversation (named after its opening words and its root hash), one scenario
per turn, matched by the turn's conversation hash — never by a cursor, so replay holds under
retries, reordered turns and tests running side by side. A request repeated with the same
conversation (a retry after a 429, say) adds a step to its turn's scenario: steps replay in
the order they were recorded. Every file is ordinary YAML a person can read and edit, with a
comment saying when and from where it was recorded, and it passes ``mockrouter check``.
"""

from __future__ import annotations

import os
import re
import tempfile
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from ..errors import printable
from .recording import Recording

__all__ = ["Cassette", "scenario_name"]

#: Characters of a conversation's opening words in its file name.
SLUG_CHARS = 40


def scenario_name(conversation: str) -> str:
    """The name of the scenario that replays a turn."""
    return f"rec-{conversation}"


@dataclass(slots=True)
class _Turn:
    doc: dict[str, Any]
    comments: list[str]


@dataclass(slots=True)
class _File:
    path: Path
    #: What the file held before this session touched it (kept as written: comments, edits).
    base: str
    taken: set[str]
    turns: dict[str, _Turn] = field(default_factory=dict)


class Cassette:
    """Recordings written into ``folder`` as they come.

    ``overwrite``: a file this session records into starts empty (``--mode record``: the
    conversation is recorded again); otherwise new turns are added after what it holds
    (``--mode auto``: only what had no recording is recorded)."""

    def __init__(self, folder: Path | str, *, overwrite: bool = False) -> None:
        self.folder = Path(folder)
        self.overwrite = overwrite
        self._files: dict[str, _File] = {}
        self._lock = threading.Lock()  # the proxy records from worker threads

    def add(self, recording: Recording) -> Path:
        """Write ``recording`` into its conversation's file; returns the file's path."""
        with self._lock:
            return self._add(recording)

    def _add(self, recording: Recording) -> Path:
        file = self._file(recording)
        name = scenario_name(recording.conversation)
        turn = file.turns.get(name)
        comment = _step_comment(recording)
        if turn is None:
            unique, n = name, 1
            while unique in file.taken:
                n += 1
                unique = f"{name}-{n}"
            file.taken.add(unique)
            doc = {
                "name": unique,
                "description": f"turn {recording.turn} of {_quoted(recording.title)} ({recording.surface})",
                "match": {"conversation": recording.conversation},
                "steps": [recording.step],
            }
            file.turns[name] = _Turn(doc, [comment])
        else:
            turn.doc["steps"].append(recording.step)
            turn.comments.append(comment)
        self._write(file, recording)
        return file.path

    def _file(self, recording: Recording) -> _File:
        file = self._files.get(recording.root)
        if file is not None:
            return file
        path = self._existing(recording.root) or self.folder / f"{_slug(recording.title)}-{recording.root[:8]}.yaml"
        base = "" if self.overwrite or not path.is_file() else path.read_text(encoding="utf-8")
        file = self._files[recording.root] = _File(path, base, _names(base))
        return file

    def _existing(self, root: str) -> Path | None:
        """A file recorded earlier for this conversation (its name ends in the root hash)."""
        if not self.folder.is_dir():
            return None
        found = sorted(self.folder.glob(f"*-{root[:8]}.yaml"))
        return found[0] if found else None

    def _write(self, file: _File, recording: Recording) -> None:
        documents = "\n---\n".join(_document(turn) for turn in file.turns.values())
        if file.base.strip():
            text = file.base.rstrip("\n") + "\n---\n" + documents + "\n"
        else:
            text = _header(recording) + "\n\n" + documents + "\n"
        file.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=file.path.parent, prefix=".recording-", suffix=".yaml")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                out.write(text)
            os.replace(tmp, file.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


def _header(recording: Recording) -> str:
    when = datetime.fromtimestamp(recording.recorded, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    return "\n".join(
        [
            f"# Recorded by mockrouter from {recording.upstream} on {when}.",
            f"# Conversation: {_quoted(recording.title)}",
            "# One scenario per turn, matched by the conversation's hash (match.conversation; the",
            "# journal shows any request's: GET /__mockrouter/requests/{id}). A turn asked again",
            "# (a retry) replays its steps in order. Edit freely; `mockrouter check` this folder.",
        ]
    )


def _step_comment(recording: Recording) -> str:
    when = datetime.fromtimestamp(recording.recorded, UTC).strftime("%H:%M:%S")
    kind = "stream" if recording.stream else "json"
    line = f"# POST {recording.path} ({kind}) -> {recording.status}, recorded {when}"
    return "\n".join([line, *(f"#   {printable(note)}" for note in recording.notes)])


def _document(turn: _Turn) -> str:
    steps = turn.doc["steps"]
    head = {k: v for k, v in turn.doc.items() if k != "steps"}
    lines = [_dump(head).rstrip("\n"), "steps:"]
    for comment, step in zip(turn.comments, steps, strict=True):
        lines.append("  " + comment.replace("\n", "\n  "))
        lines.append(_indent(_dump([step]).rstrip("\n")))
    return "\n".join(lines)


def _indent(text: str) -> str:
    return "\n".join("  " + line if line else line for line in text.split("\n"))


class _Dumper(yaml.SafeDumper):
    """Block style, keys in the order written, long and multi-line text kept readable."""


#: Line breaks YAML folds into a space in plain and single-quoted scalars: only double quotes
#: (which escape them) keep them.
_FOLDED = ("\x85", "\u2028", "\u2029")


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    """Multi-line text as a literal block where that reads back exactly (not with trailing
    blank lines: ``|+`` ends the document with ``...``; not with trailing spaces), double
    quotes where a plain scalar would lose a character, else PyYAML's choice."""
    style: str | None = None
    if any(ch in value for ch in _FOLDED):
        style = '"'
    elif "\n" in value.rstrip("\n") and not value.endswith("\n\n") and not re.search(r"[ \t]$", value, re.MULTILINE):
        style = "|"
    elif "\n" in value:
        style = '"'  # a block would need ``|+``, whose trailing lines the file's layout cannot keep
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def _dump(data: Any) -> str:
    text = yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=10_000, default_flow_style=False)
    return text.removesuffix("...\n")  # an open-ended scalar's end marker: nothing follows it here


def _names(text: str) -> set[str]:
    """Scenario names in a file's text (so a new turn never takes one)."""
    if not text.strip():
        return set()
    try:
        docs = list(yaml.safe_load_all(text))
    except yaml.YAMLError:
        return set(re.findall(r"^name:\s*(\S+)", text, re.MULTILINE))
    return {d["name"] for d in docs if isinstance(d, dict) and isinstance(d.get("name"), str)}


def _slug(title: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")[:SLUG_CHARS].strip("-")
    return slug or "conversation"


def _quoted(title: str) -> str:
    """The title as a comment shows it (control characters escaped: a comment must stay one line
    of characters YAML allows)."""
    return '"' + printable(title).replace('"', "'") + '"' if title else "(no user message)"

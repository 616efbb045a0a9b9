"""The shape of ``mockrouter.fuzz``: what it exports (and ``mockrouter.strategies`` with it),
which of its modules may import which, that decoding SSE does not import hypothesis, and that
its copies of wire constants agree with the dialects that send them."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import mockrouter.fuzz
import mockrouter.strategies
from mockrouter.core.reply import Reply, Usage
from mockrouter.fuzz import DIALECTS, assemble, sse_events
from mockrouter.fuzz._responses import KEEPALIVE
from mockrouter.wire.dialects import DIALECTS as DIALECT_CLASSES
from mockrouter.wire.dialects.base import DONE, Identity

PACKAGE = Path(mockrouter.fuzz.__file__).parent
#: Not exported: private names, and the ``@py_builtins`` pytest's assertion rewriting adds (the
#: pytest plugin's entry point makes mockrouter a plugin package).
PRIVATE = ("_", "@")
#: Which private module may import which (no cycles; ``_sse`` and ``_blocks`` import none;
#: ``_sse`` and ``_assemble`` do not import hypothesis).
ALLOWED_IMPORTS = {
    "__init__": {"_sse", "_assemble", "_blocks", "_requests", "_responses", "_messages", "_responses_api", "_seeded"},
    "_sse": set(),
    "_assemble": {"_sse"},
    "_blocks": set(),
    "_requests": {"_blocks"},
    "_responses": {"_blocks"},
    "_messages": {"_blocks", "_requests"},
    "_responses_api": {"_assemble", "_blocks", "_requests"},
    "_seeded": {"_blocks", "_messages", "_responses", "_responses_api"},
}


def test_all_is_exactly_what_the_package_exports() -> None:
    """httpx's ``test_exported_members``: every name in ``__all__`` resolves, and no other
    public name is there (``TYPE_CHECKING`` is the lazy import's plumbing)."""
    for name in mockrouter.fuzz.__all__:
        assert getattr(mockrouter.fuzz, name) is not None
    public = {name for name in vars(mockrouter.fuzz) if not name.startswith(PRIVATE)}
    assert public - {"TYPE_CHECKING"} == set(mockrouter.fuzz.__all__)
    assert sorted(mockrouter.fuzz.__all__) == sorted(set(mockrouter.fuzz.__all__))
    with pytest.raises(AttributeError, match="no_such_name"):
        mockrouter.fuzz.no_such_name  # noqa: B018


def test_strategies_re_exports_the_same_objects() -> None:
    exported = {name for name in vars(mockrouter.strategies) if not name.startswith(PRIVATE)}
    assert exported == set(mockrouter.strategies.__all__) == set(mockrouter.fuzz.__all__)
    for name in mockrouter.strategies.__all__:
        assert getattr(mockrouter.strategies, name) is getattr(mockrouter.fuzz, name), name
    # what other modules import from mockrouter.strategies (chat.py, scenario/examples.py, fuzzer.py)
    assert {"draw", "draw_response", "DIALECTS", "StreamError", "assemble_chunks", "sse_events"} <= exported


def test_private_modules_import_only_down_the_layers() -> None:
    found = {path.stem for path in PACKAGE.glob("*.py")}
    assert found == set(ALLOWED_IMPORTS), "a new module: give it a place in ALLOWED_IMPORTS"
    for module in sorted(found):
        tree = ast.parse((PACKAGE / f"{module}.py").read_text())
        imported: set[str] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                imported |= {node.module} if node.module else {alias.name for alias in node.names}
        assert imported <= ALLOWED_IMPORTS[module], (module, imported - ALLOWED_IMPORTS[module])


def test_decoding_sse_does_not_import_hypothesis() -> None:
    code = """if True:
        import sys
        from mockrouter.fuzz import StreamError, assemble, assemble_messages, assemble_responses, sse_events
        stream = b'data: {"choices":[{"index":0,"delta":{"content":"hi"}}]}\\n\\ndata: [DONE]\\n\\n'
        assert assemble(stream) == {"role": "assistant", "content": "hi"}
        start = b'event: message_start\\ndata: {"type":"message_start","message":{"content":[]}}\\n\\n'
        assert assemble_messages(start + b'event: message_stop\\ndata: {"type":"message_stop"}\\n\\n')
        created = b'data: {"type":"response.created","sequence_number":0,"response":{"id":"r"}}\\n\\n'
        done = b'data: {"type":"response.completed","sequence_number":1,"response":{"id":"r","output":[]}}\\n\\n'
        assert assemble_responses(created + done)["output"] == []
        assert not [m for m in sys.modules if m.startswith("hypothesis")], "hypothesis imported"
        import mockrouter.fuzz
        mockrouter.fuzz.chat_streams
        assert "hypothesis" in sys.modules
    """
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


def test_wire_constants_agree_with_the_dialects() -> None:
    """The strategies write keep-alives and ``[DONE]`` themselves (importing the dialects would
    change what a seed draws, see the package docstring); they must be the dialects' bytes."""
    assert set(DIALECTS) == set(DIALECT_CLASSES)
    reply = Reply("m/x", "P", "", None, None, [], "stop", Usage(1, 1))
    for name, cls in DIALECT_CLASSES.items():
        encoder = cls().encoders["chat"].stream(reply, Identity("id", 1), {})
        assert encoder.keepalive == KEEPALIVE[name].encode() + b"\n\n", name
        assert list(sse_events(encoder.keepalive + DONE)) == ["[DONE]"]
    with pytest.raises(mockrouter.fuzz.StreamError, match="no choices"):
        assemble(KEEPALIVE["openrouter"].encode() + b"\n\n" + DONE)

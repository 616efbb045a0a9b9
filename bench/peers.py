"""Python peers of mockrouter from PyPI, run from their own venv (``bench/install_peers.sh``).

Each is started through its own console script, on loopback, with the least configuration it
accepts; any file it needs is written into a temporary folder that is also its working directory
(mockllm's CLI always runs uvicorn's reloader, which watches the working directory). None of them
checks the Authorization header or the model id; all serve ``POST /v1/chat/completions`` as JSON
and, with ``"stream": true``, as SSE.

- mockllm (0.0.8): ``mockllm start --responses FILE --host H --port P``. Needs a responses YAML;
  its default answer is set to the benchmark's reply. Its CLI forces ``reload=True`` (watchfiles
  reloader process, server in a child process) and leaves uvicorn's access log and info level on.
  Streams one SSE event per *character* of the reply. It also re-reads and re-parses the YAML on
  every request (it compares the file's float mtime with a truncated int), logging each reload
  at info; left as a user would get it (an integral mtime roughly doubles its JSON req/s).
- llmock (0.2.2): ``llmock serve --host H --port P --log-level warning``. No file needed; replies
  with one of its canned sentences (style ``varied``), so its answer text is not the benchmark's.
  Chat handler is a sync function (thread pool), every request goes through its chaos/journal
  middleware; streams one event per word.
- fakellm (0.3.5): ``fakellm serve --host H --port P --config FILE``. Needs a rules YAML; one
  catch-all rule answers the benchmark's reply. No option for log level or access log (both stay
  on). Streams one event per word with a hard-coded ``asyncio.sleep(0.01)`` after each.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

# The same answer mockrouter gives in bench/scenarios/bench.yaml, for peers that take one.
REPLY = "Hello to the benchmark! This answer is scripted, cut into eighteen pieces, ok and done"


@dataclass
class PeerSpec:
    name: str
    executable: Path
    command: list[str]
    cwd: Path
    note: str = ""  # printed under the tables: what differs from the baselines' payload
    path: str = "/v1/chat/completions"


def clean_env() -> dict[str, str]:
    """This environment without the peers' own settings (e.g. LLMOCK_LATENCY_MS), so defaults apply."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("LLMOCK_", "MOCKLLM_", "FAKELLM_"))}


def _folder(root: Path, name: str) -> Path:
    folder = root / name
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def mockllm(venv: Path, port: int, root: Path) -> PeerSpec:
    folder = _folder(root, "mockllm")
    (folder / "responses.yml").write_text(f'responses: {{}}\ndefaults:\n  unknown_response: "{REPLY}"\n')
    exe = venv / "bin" / "mockllm"
    return PeerSpec(
        "mockllm",
        exe,
        [str(exe), "start", "--responses", "responses.yml", "--host", "127.0.0.1", "--port", str(port)],
        folder,
        "same reply; streams 89 events (one per character); access log on, reloader on",
    )


def llmock(venv: Path, port: int, root: Path) -> PeerSpec:
    folder = _folder(root, "llmock")
    exe = venv / "bin" / "llmock"
    return PeerSpec(
        "llmock",
        exe,
        [str(exe), "serve", "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
        folder,
        "own canned reply (~60 chars); streams 12 events (one per word)",
    )


def fakellm(venv: Path, port: int, root: Path) -> PeerSpec:
    folder = _folder(root, "fakellm")
    (folder / "fakellm.yaml").write_text(
        f'version: 1\nrules:\n  - name: bench\n    respond:\n      content: "{REPLY}"\n'
    )
    exe = venv / "bin" / "fakellm"
    return PeerSpec(
        "fakellm",
        exe,
        [str(exe), "serve", "--host", "127.0.0.1", "--port", str(port), "--config", "fakellm.yaml"],
        folder,
        "same reply; streams 18 events, sleeping 10 ms after each word; access log on",
    )


PEERS = (mockllm, llmock, fakellm)

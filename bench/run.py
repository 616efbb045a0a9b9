"""Throughput benchmark with wrk: mockrouter against baselines measured in the same run.

Each server runs under uvicorn (uvloop + httptools, access log off) pinned to CPU 0; wrk is
pinned to CPU 1 and POSTs a ~200-byte chat request (``bench/chat.lua``) with ``-t1 -c64``.
Rounds alternate between servers; the table shows the median of the rounds and the ratio to
the bare Starlette baseline (higher is better for req/s, lower for p99).

    python bench/run.py [--duration 10] [--rounds 3] [--only json|stream] [--scenarios 10,1000]
                        [--peers [--peers-venv bench/.peers]]

``--peers`` adds the Python peers mockllm, llmock and fakellm (``bench/peers.py``), each run by
its own console script from the venv that ``bench/install_peers.sh`` creates; a peer whose
script is missing is skipped with a note. A server that fails to start, or a wrk run that fails,
shows as an error in its row; non-2xx responses and socket errors are counted in the row.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import httpx

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: make ``bench.peers`` importable
    sys.path.insert(0, str(ROOT))

from bench.peers import PEERS, clean_env  # noqa: E402

LUA = ROOT / "bench" / "chat.lua"
PYTHON = sys.executable


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pin(cpu: int) -> list[str]:
    return ["taskset", "-c", str(cpu)] if shutil.which("taskset") and (os.cpu_count() or 1) > 1 else []


def end_process(proc: subprocess.Popen[bytes]) -> None:
    """Stop a server the bench started: SIGTERM, then SIGKILL if it is not gone in 10 s."""
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


@dataclass
class Target:
    name: str
    command: list[str]
    port: int
    path: str = "/api/v1/chat/completions"
    cwd: Path = ROOT
    env: dict[str, str] | None = None
    streams: bool = True
    note: str = ""
    #: The API surface wrk's request is on (``chat.lua`` builds its body): chat, messages, responses.
    surface: str = "chat"
    proc: subprocess.Popen | None = None
    # stderr goes to a file outside ``cwd``: peers that keep their access log on would fill a pipe
    # nobody reads (and block), and mockllm's reloader would see a log file in its folder change.
    log: IO[bytes] | None = None

    def start(self) -> None:
        self.log = tempfile.TemporaryFile()  # noqa: SIM115 -- lives until stop()
        self.proc = subprocess.Popen(
            pin(0) + self.command, cwd=self.cwd, env=self.env, stdout=subprocess.DEVNULL, stderr=self.log
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and self.proc.poll() is None:
            try:
                httpx.post(
                    f"http://127.0.0.1:{self.port}{self.path}",
                    timeout=1,
                    headers={"authorization": "Bearer sk-bench", "content-type": "application/json"},
                    content=b'{"model":"m","messages":[{"role":"user","content":"x"}]}',
                )
                return
            except httpx.TransportError:
                time.sleep(0.1)
        code, tail = self.proc.poll(), self.stderr_tail()
        self.stop()
        raise RuntimeError(f"did not start ({'timed out' if code is None else f'exit {code}'}): {tail}")

    def stderr_tail(self, size: int = 2000) -> str:
        if self.log is None:
            return ""
        self.log.seek(0)
        return self.log.read().decode(errors="replace")[-size:]

    def stop(self) -> None:
        if self.proc:
            end_process(self.proc)
            self.proc = None
        if self.log is not None:
            self.log.close()
            self.log = None


def mockrouter_target(port: int, scenarios: Path | None = None) -> list[str]:
    cmd = [
        PYTHON,
        "-m",
        "mockrouter",
        "serve",
        "--port",
        str(port),
        "--speed",
        "0",
        "--scenarios",
        str(ROOT / "bench" / "scenarios" / "bench.yaml"),
    ]
    if scenarios is not None:
        cmd += ["--scenarios", str(scenarios)]
    return cmd


def baseline_target(kind: str, port: int) -> list[str]:
    return [PYTHON, "-m", "bench.baselines", kind, str(port)]


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0}


@dataclass
class Result:
    rps: float
    p99: float  # ms
    problems: str = ""  # non-2xx responses and socket errors wrk counted, if any


def wrk(url: str, duration: int, stream: bool, surface: str = "chat") -> Result:
    env = dict(os.environ, STREAM="1" if stream else "0", SURFACE=surface)
    done = subprocess.run(
        [*pin(1), "wrk", "-t1", "-c64", f"-d{duration}s", "--latency", "-s", str(LUA), url],
        capture_output=True,
        text=True,
        env=env,
    )
    out = done.stdout
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    if done.returncode or not rps or not p99:
        raise RuntimeError(f"wrk failed ({done.returncode}): {(done.stderr or out).strip()[-300:]}")
    problems = []
    if non_2xx := re.search(r"Non-2xx or 3xx responses: (\d+)", out):
        problems.append(f"{non_2xx.group(1)} non-2xx")
    if sockets := re.search(r"Socket errors: (.+)", out):
        problems.append(f"socket errors: {sockets.group(1).strip()}")
    return Result(float(rps.group(1)), float(p99.group(1)) * _UNITS[p99.group(2)], "; ".join(problems))


def scenario_file(count: int, folder: Path) -> Path:
    """``count`` scenarios matching distinct literal models, none matching the benchmark's model."""
    path = folder / f"scenarios-{count}.yaml"
    docs = [
        f"name: s{i}\nmatch: {{model: vendor/model-{i}, last_user: '(?i)never{i}'}}\nsteps:\n  - content: x\n"
        for i in range(count)
    ]
    path.write_text("---\n".join(docs))
    return path


def run(targets: list[Target], duration: int, rounds: int, stream: bool) -> dict[str, Result | str]:
    """Per target: the median of its rounds, or why it has none ("n/a" when it cannot stream)."""
    results: dict[str, list[Result]] = {t.name: [] for t in targets}
    failures: dict[str, str] = {}
    for _ in range(rounds):
        for target in targets:
            if stream and not target.streams:
                continue
            url = f"http://127.0.0.1:{target.port}{target.path}"
            try:
                target.start()
                try:
                    wrk(url, 2, stream, target.surface)  # warm-up
                    results[target.name].append(wrk(url, duration, stream, target.surface))
                finally:
                    target.stop()
            except Exception as exc:  # one server failing must not end the run
                failures[target.name] = "error: " + " ".join(str(exc).split())[:200]
    table: dict[str, Result | str] = {}
    for target in targets:
        rs = results[target.name]
        if rs:
            problems = "; ".join(dict.fromkeys(r.problems for r in rs if r.problems))
            if target.name in failures:
                problems = "; ".join(filter(None, [problems, f"{len(rs)}/{rounds} rounds ok"]))
            table[target.name] = Result(
                statistics.median(r.rps for r in rs), statistics.median(r.p99 for r in rs), problems
            )
        else:
            table[target.name] = failures.get(target.name, "n/a")
    return table


def peer_targets(venv: Path, folder: Path) -> list[Target]:
    targets = []
    env = clean_env()
    for make in PEERS:
        spec = make(venv, port := free_port(), folder)
        if not spec.executable.exists():
            print(f"note: skipping {spec.name}: {spec.executable} not found (run bench/install_peers.sh)")
            continue
        targets.append(Target(spec.name, spec.command, port, spec.path, cwd=spec.cwd, env=env, note=spec.note))
    return targets


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--only", choices=("json", "stream"))
    parser.add_argument("--scenarios", default="", help="comma-separated scenario counts to compare, e.g. 10,1000")
    parser.add_argument("--peers", action="store_true", help="also measure the PyPI peers mockllm, llmock, fakellm")
    parser.add_argument(
        "--peers-venv",
        type=Path,
        default=ROOT / "bench" / ".peers",
        help="venv holding the peers (default bench/.peers, see bench/install_peers.sh)",
    )
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is not installed (Debian: apt-get install wrk)")
    with tempfile.TemporaryDirectory() as tmp:
        targets = [
            Target("raw ASGI", baseline_target("raw", p := free_port()), p),
            Target("bare Starlette", baseline_target("starlette", p := free_port()), p),
            Target("mockrouter", mockrouter_target(p := free_port()), p),
        ]
        for count in [int(c) for c in args.scenarios.split(",") if c]:
            targets.append(
                Target(
                    f"mockrouter +{count} scenarios",
                    mockrouter_target(p := free_port(), scenario_file(count, Path(tmp))),
                    p,
                )
            )
        if args.peers:
            targets += peer_targets(args.peers_venv.resolve(), Path(tmp) / "peers")
        modes = [args.only == "stream"] if args.only else [False, True]
        for stream in modes:
            table = run(targets, args.duration, args.rounds, stream)
            base = table["bare Starlette"]
            print(
                f"\n{'stream (20 chunks)' if stream else 'non-stream JSON'}: median of {args.rounds} rounds, "
                f"{args.duration}s each, wrk -t1 -c64"
            )
            print(f"{'server':28s} {'req/s':>10s} {'× Starlette':>12s} {'p99 ms':>8s} {'p99 ×':>6s}")
            for name, row in table.items():
                if isinstance(row, str):
                    print(f"{name:28s} {row}")
                    continue
                ratios = (
                    (f"{row.rps / base.rps:12.2f}", f"{row.p99 / base.p99:6.2f}")
                    if isinstance(base, Result)
                    else (f"{'-':>12s}", f"{'-':>6s}")
                )
                print(
                    f"{name:28s} {row.rps:10.0f} {ratios[0]} {row.p99:8.2f} {ratios[1]}"
                    + (f"  ({row.problems})" if row.problems else "")
                )
            for target in targets:
                if target.note:
                    print(f"  {target.name}: {target.note}")


if __name__ == "__main__":
    main()

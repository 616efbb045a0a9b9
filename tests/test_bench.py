"""The benchmark suite cannot rot: its smoke version runs here (judging nothing)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_bench_run_smoke() -> None:
    done = subprocess.run(
        [str(ROOT / "bench" / "run"), "--smoke", "--no-peers"],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
        env={"PATH": str(Path(sys.executable).parent) + ":/usr/bin:/bin"},
    )
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    for figure in ("validation µs/request", "RSS after"):
        assert figure in out
    if "wrk is not installed" not in out:
        for figure in ("non-stream req/s", "non-stream p99", "stream req/s (20 chunks)", "matching: 1000 vs 10"):
            assert figure in out, out
    assert "proxy TTFT p50 (added)" in out  # bench/proxy.py runs after the table
    assert "MISSED" not in out  # smoke judges nothing


def _bench(script: str, *args: str) -> str:
    """Run ``bench/SCRIPT ARGS``; its output (it must exit 0)."""
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / script), *args], capture_output=True, text=True, timeout=120, cwd=ROOT
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_bench_proxy_smoke() -> None:
    """bench/proxy.py --smoke: a few streams straight to a mockrouter and through
    ``mockrouter record`` in front of it; every proxied stream leaves its recording."""
    out = _bench("proxy.py", "--smoke")
    for line in ("direct: straight", "relay: bare TCP relay", "proxy: mockrouter record", "the proxy's own share"):
        assert line in out, out
    assert "recordings: 5 of 5 proxied requests written, 5 with the scripted answer" in out, out
    assert "(23 data events: " in out, out  # role, 20 pieces, finish, [DONE]: each relayed as its own event
    assert out.rstrip().splitlines()[-1].startswith("proxy TTFT p50 (added)"), out


def test_bench_store_smoke() -> None:
    """bench/store.py --quick: the memory and Redis stores side by side, round trips per
    request, memory over fresh keys, Redis' ceiling; judges nothing."""
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed (.ci/run installs it from Debian's packages)")
    out = _bench("store.py", "--quick")
    for line in (
        "throughput redis/memory:",
        "round trips per request, one at a time / 64 at a time: any key, no keys file",
        "store call CPU, redis - memory",
        "memory last/first",
        "quick run: nothing judged",
    ):
        assert line in out, out


def test_bench_paced_smoke() -> None:
    """bench/paced.py --quick: 20 paced streams (50 events 20 ms apart) from raw ASGI, bare
    Starlette and mockrouter at HEAD, each counted whole; judges nothing."""
    out = _bench("paced.py", "--quick")
    assert "mockrouter at HEAD " in out, out
    for server in ("raw ASGI", "bare Starlette", "mockrouter"):
        assert f"round 1, 20 streams, {server}: p99 error" in out, out
    for figure in ("paced p99 interval error @20", "paced duration p50 @20", "paced kB per open stream @20"):
        assert figure in out, out
    assert "idle RSS (MiB): raw ASGI" in out, out
    assert "PROBLEMS" not in out, out  # every stream had its 50 events and [DONE]
    assert out.rstrip().endswith("quick run: nothing judged"), out


def test_bench_stream_memory_smoke() -> None:
    """bench/stream_memory.py, ten slow streams: the breakdown by line is printed, and
    mockrouter's writer shows in it."""
    out = _bench("stream_memory.py", "--streams", "10", "--warmup", "1", "--speed", "3", "--top", "40")
    assert "bytes per stream in all" in out, out
    assert "mockrouter/wire/" in out, out

"""The benchmark suite cannot rot: its smoke version runs here (judging nothing)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

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
    assert "MISSED" not in out  # smoke judges nothing

"""The benchmark suite behind ``bench/run``: every performance target in one table.

Each figure is measured in the same invocation as its baseline (the machines are shared and
noisy, so only ratios are judged):

========================== ======================== ===================== ==========
figure                     value                    baseline              target
========================== ======================== ===================== ==========
non-stream req/s           mockrouter               bare Starlette        ≥ 0.90×
non-stream p99             mockrouter               bare Starlette        ≤ 1.50×
stream req/s (20 chunks)   mockrouter               Starlette streaming   ≥ 2.00×
matching, 1000 scenarios   req/s with 1000          req/s with 10         ≥ 0.83×
validation µs/request      jsonschema-rs (ours)     fastest alternative   ≤ 1.00×
memory                     RSS after 100k requests  RSS after 10k         ≤ 1.10×
vs peer (each, both modes) mockrouter req/s         the peer's req/s      ≥ 1.00×
========================== ======================== ===================== ==========

Exits 1 when a target is missed. ``--smoke`` runs everything for about a second each and
judges nothing (CI runs it so the script cannot rot).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import memory, validators  # noqa: E402
from bench.run import Result, Target, baseline_target, free_port, mockrouter_target, peer_targets, run  # noqa: E402
from bench.run import scenario_file as many_scenarios  # noqa: E402


@dataclass
class Figure:
    name: str
    value: float | None
    baseline: float | None
    unit: str
    target: str  # ">= 0.90", "<= 1.50" or "" (informational)
    note: str = ""

    @property
    def ratio(self) -> float | None:
        if self.value is None or not self.baseline:
            return None
        return self.value / self.baseline

    @property
    def met(self) -> bool | None:
        if not self.target or self.ratio is None:
            return None
        op, bound = self.target.split()
        return self.ratio >= float(bound) if op == ">=" else self.ratio <= float(bound)


def _rps(table: dict[str, Result | str], name: str) -> tuple[float | None, str]:
    row = table.get(name)
    if isinstance(row, Result):
        return row.rps, row.problems
    return None, row or "missing"


def _p99(table: dict[str, Result | str], name: str) -> float | None:
    row = table.get(name)
    return row.p99 if isinstance(row, Result) else None


def throughput(duration: int, rounds: int, peers_venv: Path | None, tmp: Path) -> list[Figure]:
    targets = [
        Target("raw ASGI", baseline_target("raw", p := free_port()), p),
        Target("bare Starlette", baseline_target("starlette", p := free_port()), p),
        Target("mockrouter", mockrouter_target(p := free_port()), p),
        Target("mockrouter +10", mockrouter_target(p := free_port(), many_scenarios(10, tmp)), p),
        Target("mockrouter +1000", mockrouter_target(p := free_port(), many_scenarios(1000, tmp)), p),
    ]
    surfaces = [
        Target(f"mockrouter {s}", mockrouter_target(p := free_port()), p, path=f"/api/v1/{s}", surface=s)
        for s in ("messages", "responses")
    ]
    peers = peer_targets(peers_venv, tmp / "peers") if peers_venv is not None else []
    json_table = run(targets + surfaces + peers, duration, rounds, stream=False)
    stream_table = run(targets[:3] + surfaces + peers, duration, rounds, stream=True)
    ours, ours_note = _rps(json_table, "mockrouter")
    base, base_note = _rps(json_table, "bare Starlette")
    ours_s, ours_s_note = _rps(stream_table, "mockrouter")
    base_s, base_s_note = _rps(stream_table, "bare Starlette")
    raw_s, _ = _rps(stream_table, "raw ASGI")
    with10, _ = _rps(json_table, "mockrouter +10")
    with1000, note1000 = _rps(json_table, "mockrouter +1000")
    figures = [
        Figure("non-stream req/s", ours, base, "req/s", ">= 0.90", ours_note or base_note),
        Figure("non-stream p99", _p99(json_table, "mockrouter"), _p99(json_table, "bare Starlette"), "ms", "<= 1.50"),
        Figure("stream req/s (20 chunks)", ours_s, base_s, "req/s", ">= 2.00", ours_s_note or base_s_note),
        Figure("stream req/s vs raw ASGI", ours_s, raw_s, "req/s", "", "the ceiling, for information"),
        Figure("matching: 1000 vs 10 scenarios", with1000, with10, "req/s", ">= 0.83", note1000),
    ]
    for surface in surfaces:  # issue #12: each surface against chat completions of the same build
        mine, note = _rps(json_table, surface.name)
        figures.append(Figure(f"{surface.surface} vs chat (non-stream)", mine, ours, "req/s", ">= 0.90", note))
        mine_s, note_s = _rps(stream_table, surface.name)
        figures.append(
            Figure(f"{surface.surface} vs chat (stream, 20 events)", mine_s, ours_s, "req/s", ">= 0.80", note_s)
        )
    for peer in peers:
        for mode, table, mine in (("non-stream", json_table, ours), ("stream", stream_table, ours_s)):
            theirs, note = _rps(table, peer.name)
            figures.append(Figure(f"vs {peer.name} ({mode})", mine, theirs, "req/s", ">= 1.00", note))
    return figures


def validation(scale: float) -> list[Figure]:
    rows = {name: ok for name, ok, _ in validators.measure(scale)}
    ours = rows.get("jsonschema-rs (is_valid)")
    others = {n: v for n, v in rows.items() if n != "jsonschema-rs (is_valid)" and v == v}  # drop NaN rows
    fastest = min(others, key=others.get) if others else None
    return [
        Figure(
            "validation µs/request",
            ours,
            others.get(fastest) if fastest else None,
            "µs",
            "<= 1.00",
            f"fastest alternative: {fastest}",
        )
    ]


def memory_figure(first: int, total: int) -> list[Figure]:
    rss_first, rss_last, _ = memory.measure(first, total)
    return [Figure(f"RSS after {total:,} vs {first:,} requests", rss_last / 1024, rss_first / 1024, "MiB", "<= 1.10")]


def print_table(figures: list[Figure], judged: bool) -> None:
    print(f"{'figure':34s} {'value':>12s} {'baseline':>12s} {'ratio':>7s} {'target':>8s}  result")
    for f in figures:
        value = f"{f.value:,.1f} {f.unit}" if f.value is not None else "-"
        base = f"{f.baseline:,.1f}" if f.baseline is not None else "-"
        ratio = f"{f.ratio:.2f}×" if f.ratio is not None else "-"
        if not f.target:
            verdict = "info"
        elif not judged:
            verdict = "smoke"
        else:
            verdict = {True: "ok", False: "MISSED", None: "no data"}[f.met]
        target = f.target.replace(">=", "≥").replace("<=", "≤") + "×" if f.target else ""
        print(
            f"{f.name:34s} {value:>12s} {base:>12s} {ratio:>7s} {target:>8s}  {verdict}"
            + (f"  ({f.note})" if f.note else "")
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench/run", description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="about a second per figure; judge nothing")
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds (the median is kept)")
    parser.add_argument(
        "--peers-venv",
        type=Path,
        default=ROOT / "bench" / ".peers",
        help="venv with mockllm, llmock, fakellm (bench/install_peers.sh); skipped if absent",
    )
    parser.add_argument("--no-peers", action="store_true")
    args = parser.parse_args(argv)
    duration, rounds = (1, 1) if args.smoke else (args.duration, args.rounds)
    figures: list[Figure] = []
    with tempfile.TemporaryDirectory() as tmp:
        if shutil.which("wrk"):
            peers = None if args.no_peers else args.peers_venv.resolve()
            figures += throughput(duration, rounds, peers, Path(tmp))
        else:
            print("note: wrk is not installed (Debian: apt-get install wrk): throughput figures skipped")
        figures += validation(0.05 if args.smoke else 1.0)
        figures += memory_figure(*((300, 1200) if args.smoke else (10_000, 100_000)))
    print_table(figures, judged=not args.smoke)
    missed = [f for f in figures if f.met is False]
    if args.smoke:
        return 0
    return 1 if missed or any(f.target and f.met is None for f in figures) else 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Compare regex engines for scenario ``match`` patterns: the stdlib ``re`` (unbounded
backtracking), the ``regex`` package (backtracking with a ``timeout=``) and ``google-re2``
(linear time; what mockrouter uses).

    python -m bench.regex_engines

Prints microseconds per ``search`` for typical scenario patterns on typical and long texts,
then the time each engine needs for the pathological ``(a+)+$`` against ``"a" * n + "b"``.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable

import re2
import regex

PATTERNS = ["(?i)weather", "^acme$", r"\bjson\b", "(?i)(tokyo|paris|oslo)", "^gpt-4o.*"]
TEXTS = {
    "short (40 B)": "What is the weather in Tokyo right now?",
    "long (100 KiB)": ("lorem ipsum dolor sit amet " * 4000)[: 100 * 1024] + " weather",
}
REGEX_TIMEOUT_S = 0.05


def _per_call_us(search: Callable[[str], object], text: str, budget_s: float = 0.2) -> float:
    n, started = 0, time.perf_counter()
    while time.perf_counter() - started < budget_s:
        for _ in range(100):
            search(text)
        n += 100
    return (time.perf_counter() - started) / n * 1e6


def _engines(pattern: str) -> dict[str, Callable[[str], object]]:
    options = re2.Options()
    options.log_errors = False
    compiled_re = re.compile(pattern)
    compiled_regex = regex.compile(pattern)
    compiled_re2 = re2.compile(pattern, options)
    return {
        "re": compiled_re.search,
        "regex+timeout": lambda s: compiled_regex.search(s, timeout=REGEX_TIMEOUT_S),
        "re2": compiled_re2.search,
    }


def main() -> None:
    print(f"{'pattern':28s} {'text':16s} " + " ".join(f"{e:>14s}" for e in ("re", "regex+timeout", "re2")))
    for pattern in PATTERNS:
        engines = _engines(pattern)
        for label, text in TEXTS.items():
            cells = " ".join(f"{_per_call_us(fn, text):12.2f}us" for fn in engines.values())
            print(f"{pattern:28s} {label:16s} {cells}")
    print("\n(a+)+$ against 'a' * n + 'b' (seconds per search; re only up to n=24)")
    engines = _engines("(a+)+$")
    for n in (16, 20, 24, 30, 10_000, 1_000_000):
        text = "a" * n + "b"
        row = []
        for name, fn in engines.items():
            if name == "re" and n > 24:
                row.append(f"{'(hangs)':>14s}")
                continue
            started = time.perf_counter()
            try:
                fn(text)
                outcome = ""
            except TimeoutError:
                outcome = " timeout"
            row.append(f"{time.perf_counter() - started:10.4f}s{outcome}")
        print(f"n={n:<9d} " + " ".join(row))


if __name__ == "__main__":
    main()

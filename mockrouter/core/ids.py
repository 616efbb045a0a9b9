"""Random identifiers drawn from a caller's ``random.Random`` (so a seed repeats them)."""

from __future__ import annotations

import random


def random_id(rng: random.Random, length: int) -> str:
    """``length`` lower-case hex digits (ASCII letters and digits, as ids need).

    ``hex`` and ``zfill`` give what ``f"{n:0{length}x}"`` gives (``n`` has at most ``length``
    hex digits) without the format-spec machinery, which costs more on every response."""
    return hex(rng.getrandbits(length * 4))[2:].zfill(length)

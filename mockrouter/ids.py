"""Random identifiers drawn from a caller's ``random.Random`` (so a seed repeats them)."""

from __future__ import annotations

import random


def random_id(rng: random.Random, length: int) -> str:
    """``length`` lower-case hex digits (ASCII letters and digits, as ids need)."""
    return f"{rng.getrandbits(length * 4):0{length}x}"

"""Random identifiers drawn from a caller's ``random.Random`` (so a seed repeats them)."""

from __future__ import annotations

import random
import string

_ALNUM = string.ascii_letters + string.digits


def random_id(rng: random.Random, length: int) -> str:
    """``length`` ASCII letters and digits."""
    return "".join(rng.choices(_ALNUM, k=length))

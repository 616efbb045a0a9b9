"""A short version of ``bench/soak.py``: memory stays flat once the journal is full.

3,000 requests (each with a ~2 KB prompt) and 300 streams abandoned after 20 of their ~200
events, against `mockrouter serve --journal-size 300` in a subprocess. After a warm-up that
fills the journal, the server's RSS may not grow by more than ``MAX_GROWTH``.

Why 6 MiB: a journal entry of these requests costs ~6 KB of RSS (measured: 3,300 entries
kept = +19 MiB), so a journal that stopped dropping entries would add ~13 MiB over the ~2,300
requests after the warm-up, and a leak of ~2.7 KB per request or ~20 KB per abandoned stream
(a task or buffer never released) would cross the bound too; a bounded server measures ~0.5
MiB (allocator noise).
"""

from __future__ import annotations

from bench.soak import soak

MAX_GROWTH = 6 * 2**20
JOURNAL_SIZE = 300


def test_memory_stays_flat_under_requests_and_abandoned_streams() -> None:
    out = soak(requests=3000, streams=300, journal_size=JOURNAL_SIZE, keys=20, concurrency=16, checkpoints=3)
    assert out["errors"] == []
    assert out["statuses"] == {200: 3000}
    assert out["requests"] == 3000 and out["streams"] == 300
    assert out["settled_warm"] and out["settled_end"], "abandoned streams were not released"
    journal = out["health"]["journal"]
    assert journal["entries"] == JOURNAL_SIZE
    assert journal["dropped"] == 3000 + 300 - JOURNAL_SIZE
    growth = out["rss_end"] - out["rss_warm"]
    assert growth < MAX_GROWTH, f"RSS grew {growth / 2**20:.1f} MiB after the journal was full: {out}"

"""Response times kept as a histogram once their verdicts are rolled up: how many latencies
fell in each bucket, buckets a quarter of a power of two wide (0.1 ms to hours, about 9 %
from a bucket's middle to its edges). Percentiles over rolled-up hours are read from it.

Written here rather than taken from a library: what is needed is a sparse {bucket: count}
that merges by addition and stores as a few bytes of JSON in a row; HDR or DDSketch
libraries keep dense arrays or binary encodings meant for one process, not a database row.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

STEPS_PER_DOUBLING = 4
SMALLEST_MS = 0.01  # shorter latencies share the first bucket

Buckets = dict[int, int]


def bucket_of(latency_ms: float) -> int:
    """The bucket of a latency: index i holds (2^((i-1)/4), 2^(i/4)] ms."""
    return math.ceil(STEPS_PER_DOUBLING * math.log2(max(latency_ms, SMALLEST_MS)))


def middle_of(bucket: int) -> float:
    """What a bucket's latencies are taken to be: its geometric middle, in ms."""
    return float(2 ** ((bucket - 0.5) / STEPS_PER_DOUBLING))


def add(buckets: Buckets, latencies: Iterable[float]) -> Buckets:
    for latency in latencies:
        index = bucket_of(latency)
        buckets[index] = buckets.get(index, 0) + 1
    return buckets


def merge(into: Buckets, other: Mapping[int, int]) -> Buckets:
    for index, count in other.items():
        into[index] = into.get(index, 0) + count
    return into


def stored(buckets: Buckets) -> dict[str, int]:
    """As a JSON object (its keys are text)."""
    return {str(index): count for index, count in sorted(buckets.items())}


def loaded(stored_buckets: Mapping[str, int] | None) -> Buckets:
    return {int(index): int(count) for index, count in (stored_buckets or {}).items()}


def percentile(buckets: Mapping[int, int], p: int) -> float | None:
    """Nearest rank, as the exact figures are: the middle of the bucket that holds the
    value at rank ceil(p/100 × n); None for no latencies."""
    n = sum(buckets.values())
    if n == 0:
        return None
    rank = (p * n + 99) // 100
    seen = 0
    for index in sorted(buckets):
        seen += buckets[index]
        if seen >= rank:
            return middle_of(index)
    raise AssertionError("ranks beyond the count")  # rank <= n by construction

"""The dataset builder's bounded deduplication index (flywheel_dataset.SeenKeys): exactly a set's
answers whatever the Bloom filter's saturation or the flush batch, and memory that does not grow
with the number of keys (the keys live in an SQLite file in the scratch folder)."""

from __future__ import annotations

import os
import random
import tracemalloc
from pathlib import Path

import pytest

from sovereign_train.flywheel_dataset import SeenKeys


def _keys(n: int, seed: int) -> list[int]:
    """n 64-bit keys with about a third repeated (some far apart, some adjacent)."""
    rnd = random.Random(seed)
    out: list[int] = []
    for _ in range(n):
        out.append(rnd.choice(out) if out and rnd.random() < 0.33 else rnd.getrandbits(64))
    out += [0, (1 << 64) - 1, 0, (1 << 63), (1 << 63) - 1, (1 << 64) - 1]  # the signed/unsigned edges
    return out


@pytest.mark.parametrize(
    "bloom_bits,batch",
    [
        (64, 1),  # a saturated filter: every key goes to the table
        (64, 7),
        (1 << 12, 100),
        (1 << 20, 4096),  # the pending set answers most repeats
    ],
)
def test_seen_keys_answers_exactly_what_a_set_answers(tmp_path: Path, bloom_bits: int, batch: int) -> None:
    seen = SeenKeys(str(tmp_path), bloom_bits=bloom_bits, batch=batch)
    reference: set[int] = set()
    try:
        for k in _keys(5000, bloom_bits + batch):
            new = k not in reference
            reference.add(k)
            assert seen.add(k) is new, k
    finally:
        seen.close()
    assert os.listdir(tmp_path) == []  # close() removes the index file


def test_seen_keys_memory_does_not_grow_with_the_number_of_keys(tmp_path: Path) -> None:
    seen = SeenKeys(str(tmp_path), bloom_bits=1 << 16, batch=256)
    rnd = random.Random(7)
    try:
        tracemalloc.start()
        for _ in range(200_000):
            seen.add(rnd.getrandbits(64))
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    finally:
        seen.close()
    # A Python set of 200k ints takes about 14 MiB; the bound is the pending batch and the
    # flush's parameter list (256 keys), far under 1 MiB.
    assert peak < 1 << 20, peak


def test_seen_keys_refuses_a_filter_size_that_is_not_a_power_of_two(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="power of two"):
        SeenKeys(str(tmp_path), bloom_bits=1000)

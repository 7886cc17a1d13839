"""A fixed-size Bloom filter of keys, for "certainly not seen" answers without a query."""

from __future__ import annotations


class SeenKeys:
    """A fixed-size Bloom filter of identity keys: "maybe seen" or "certainly not seen".

    When an import starts on an empty store, every identity in the store came through
    this run's :class:`Resolver`. Keys trimmed from its bounded cache go here (8 MiB
    whatever the file size), so a miss still proves "new person" without a store query;
    a hit (or a false positive, under 0.1% at a million keys) asks the store.
    """

    _BITS = 1 << 26  # 8 MiB
    _MASK = _BITS - 1

    def __init__(self) -> None:
        self._bits = bytearray(self._BITS >> 3)

    def _positions(self, key: str) -> tuple[int, int, int]:
        h = hash(key)
        h1 = h & 0xFFFFFFFF
        h2 = ((h >> 32) & 0xFFFFFFFF) | 1
        m = self._MASK
        return h1 & m, (h1 + h2) & m, (h1 + 2 * h2) & m

    def add(self, key: str) -> None:
        bits = self._bits
        for p in self._positions(key):
            bits[p >> 3] |= 1 << (p & 7)

    def __contains__(self, key: str) -> bool:
        bits = self._bits
        return all(bits[p >> 3] & (1 << (p & 7)) for p in self._positions(key))

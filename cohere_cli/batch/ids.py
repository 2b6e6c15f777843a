"""A set of batch line ids in flat memory (the ids a batch has seen, or that --resume
found finished): 16-byte digests in one open-addressing table."""
from __future__ import annotations

import hashlib
from typing import Any

import orjson


class IdSet:
    """Ids kept as 16-byte digests (BLAKE2b of their JSON) in one flat open-addressing
    table: 32 to 64 bytes an id, however long the id is."""

    SLOT = 16
    EMPTY = bytes(SLOT)

    def __init__(self) -> None:
        self._table = bytearray(self.SLOT * 1024)
        self._count = 0

    def __len__(self) -> int:
        return self._count

    @staticmethod
    def _key(value: Any) -> bytes:
        digest = hashlib.blake2b(orjson.dumps(value), digest_size=IdSet.SLOT).digest()
        return bytes([digest[0] | 1]) + digest[1:]  # never all zeros: zeros mark a free slot

    def _find(self, key: bytes) -> tuple[int, bool]:
        """The offset of KEY's slot, or of the free slot it would take; and whether found."""
        slots = len(self._table) // self.SLOT
        index = int.from_bytes(key[8:], "little") & (slots - 1)
        while True:
            offset = index * self.SLOT
            slot = self._table[offset:offset + self.SLOT]
            if slot == key:
                return offset, True
            if slot == self.EMPTY:
                return offset, False
            index = (index + 1) & (slots - 1)

    def __contains__(self, value: Any) -> bool:
        return self._find(self._key(value))[1]

    def add(self, value: Any) -> bool:
        """Add VALUE; False when it was there already."""
        key = self._key(value)
        offset, found = self._find(key)
        if found:
            return False
        self._table[offset:offset + self.SLOT] = key
        self._count += 1
        if self._count * 2 > len(self._table) // self.SLOT:
            self._grow()
        return True

    def _grow(self) -> None:
        old, self._table = self._table, bytearray(len(self._table) * 2)
        for offset in range(0, len(old), self.SLOT):
            key = bytes(old[offset:offset + self.SLOT])
            if key != self.EMPTY:
                at, _ = self._find(key)
                self._table[at:at + self.SLOT] = key

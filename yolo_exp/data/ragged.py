"""Per-image arrays of a dataset (labels, polygons) stored as one contiguous array plus offsets.

Why: loader workers are forked and share the parent's memory page by page until a page is written. A list of
100k small arrays (and of 100k lists of polygons) has its object headers spread over the heap; every read of one
in a worker writes its refcount (and a full garbage collection writes every list's header), so over an epoch each
worker copies all of those pages: memory that grows with the dataset times the workers. One array and its offsets
are two objects: reading an image's rows makes a new view in the worker's own heap and writes nothing shared.
"""
from __future__ import annotations

import operator
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import numpy as np


def _offsets(lengths: Iterable[int]) -> np.ndarray:
    return np.concatenate([[0], np.cumsum(np.fromiter(lengths, np.int64))]).astype(np.int64)


def stacked(arrays: Sequence[np.ndarray], width: int) -> tuple[np.ndarray, np.ndarray]:
    """(all rows as one (n, width) array, each item's row count) of a RaggedRows (free) or of any sequence of
    arrays: what whole-dataset statistics (AutoAnchor, labels.jpg, the data fingerprint) work on, vectorised."""
    if isinstance(arrays, RaggedRows):
        return arrays.flat, arrays.lengths()
    parts = [np.asarray(a).reshape(-1, width) for a in arrays]
    lengths = np.array([len(p) for p in parts], np.int64)
    return (np.concatenate(parts) if parts else np.zeros((0, width), np.float32)), lengths


class _Ragged(Sequence):
    """Indexing shared by both stores: an int (negative too) gives ``_item``, a slice a list of them."""

    offsets: np.ndarray

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def __getitem__(self, i: Any) -> Any:
        if isinstance(i, slice):
            return [self._item(j) for j in range(*i.indices(len(self)))]
        i, n = operator.index(i), len(self)
        if not -n <= i < n:
            raise IndexError(f"index {i} out of range for {n} items")
        return self._item(i % n)

    def _item(self, i: int) -> Any:
        raise NotImplementedError


class RaggedRows(_Ragged):
    """A sequence of (k_i, width) arrays; item i is a view ``flat[offsets[i]:offsets[i + 1]]`` (writes to it reach
    the store, as writes to a list's arrays reached those arrays)."""

    def __init__(self, flat: np.ndarray, offsets: np.ndarray):
        self.flat, self.offsets = flat, offsets

    @classmethod
    def of(cls, arrays: Sequence[np.ndarray], width: int, dtype: Any = np.float32) -> RaggedRows:
        parts = [np.asarray(a, dtype).reshape(-1, width) for a in arrays]
        flat = np.concatenate(parts) if parts else np.zeros((0, width), dtype)
        return cls(np.ascontiguousarray(flat), _offsets(len(p) for p in parts))

    def _item(self, i: int) -> np.ndarray:
        return self.flat[self.offsets[i]:self.offsets[i + 1]]

    def __iter__(self) -> Iterator[np.ndarray]:
        return iter(np.split(self.flat, self.offsets[1:-1]))  # all views in one call (100k in ~50 ms)

    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    def take(self, order: Sequence[int]) -> RaggedRows:
        """The items in ``order`` (a new store)."""
        return RaggedRows.of([self._item(i) for i in order], self.flat.shape[1], self.flat.dtype)


class RaggedGroups(_Ragged):
    """A sequence of lists of (m, width) arrays (an image's polygons): item i is a new list of views."""

    def __init__(self, items: RaggedRows, offsets: np.ndarray):
        self.items, self.offsets = items, offsets

    @classmethod
    def of(cls, groups: Sequence[Sequence[np.ndarray]], width: int, dtype: Any = np.float32) -> RaggedGroups:
        return cls(RaggedRows.of([a for g in groups for a in g], width, dtype), _offsets(len(g) for g in groups))

    def _item(self, i: int) -> list[np.ndarray]:
        return [self.items._item(j) for j in range(self.offsets[i], self.offsets[i + 1])]

    def take(self, order: Sequence[int]) -> RaggedGroups:
        return RaggedGroups.of([self._item(i) for i in order], self.items.flat.shape[1], self.items.flat.dtype)


class RaggedStrings(_Ragged):
    """A sequence of str (the image paths) stored as one UTF-8 byte array: item i is decoded when read, so a
    worker reading its samples' paths touches no shared object header (a list of 100k str grew each worker by
    about 8 MB over an epoch)."""

    def __init__(self, data: np.ndarray, offsets: np.ndarray):
        self.data, self.offsets = data, offsets

    @classmethod
    def of(cls, strings: Iterable[str]) -> RaggedStrings:
        encoded = [s.encode("utf-8", "surrogateescape") for s in strings]  # undecodable file names round-trip
        return cls(np.frombuffer(b"".join(encoded), np.uint8).copy(), _offsets(len(e) for e in encoded))

    def _item(self, i: int) -> str:
        return self.data[self.offsets[i]:self.offsets[i + 1]].tobytes().decode("utf-8", "surrogateescape")

    def take(self, order: Sequence[int]) -> RaggedStrings:
        return RaggedStrings.of(self._item(i) for i in order)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Sequence) and list(self) == list(other)

    __hash__ = None  # type: ignore[assignment]

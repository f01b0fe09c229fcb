"""Vectorised NumPy word counter, exactly equivalent to ``Counter(text.split())``.

The text is processed in chunks cut at ASCII whitespace.  In each chunk, word boundaries come
from the changes of a whitespace mask; every word is turned into one or more packed ``uint64``
keys (its bytes plus its length), the keys are sorted and run lengths give the counts.  Only
the unique words are ever turned into Python strings.
"""

from __future__ import annotations

import codecs
from collections import Counter
from pathlib import Path

import numpy as np

from workloads.wordcount import PIECE_BYTES, text_pieces

# Text is processed in pieces of about this many bytes so that the per-word index arrays
# (several int64/uint64 arrays per word) stay small even for inputs of hundreds of MB.
CHUNK_BYTES = 1 << 20

# Words needing more than this many uint64 keys (len >= 8 * MAX_KEYS) are rare; they go
# through a plain Counter instead of ever wider key tuples.  Must stay <= 32 so that the
# word length fits in the top byte of the last key.
MAX_KEYS = 3

# Per-chunk tables are folded together once they hold this many rows in total.
_MERGE_ROWS = 1 << 20
_U56 = np.uint64(56)
# _LOW_BYTES[r] keeps the low r bytes of a little-endian uint64 (the word's first r bytes).
# Index 8 stands for "8 bytes or more": those words are keyed separately, so wipe them.
_LOW_BYTES = np.array([(1 << (8 * r)) - 1 for r in range(8)] + [0], dtype=np.uint64)
# Odd multipliers for the hash that orders multi-key words (any odd constants work, since
# collisions are detected; these splitmix/xxhash ones spread every input bit upwards).
_MIX = np.array(
    [0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9, 0xBF58476D1CE4E5B9],
    dtype=np.uint64,
)
_SPACE = 32


def _whitespace(a: np.ndarray, out: np.ndarray) -> np.ndarray:
    """Write the ASCII-whitespace mask of ``a`` (space, \\t \\n \\v \\f \\r) into ``out``."""
    # Two comparisons beat a 256-entry lookup table: fancy indexing costs ~8x more.
    np.less(np.subtract(a, 9, dtype=np.uint8), 5, out=out)
    out |= a == _SPACE
    return out


def _chunk_ends(arr: np.ndarray, size: int) -> list[int]:
    """Return chunk end offsets so that every chunk ends right before a whitespace byte."""
    n = arr.size
    ends: list[int] = []
    pos = size
    while pos < n:
        window = 4096
        while True:
            piece = arr[pos : pos + window]
            hits = np.flatnonzero(_whitespace(piece, np.empty(piece.size, dtype=bool)))
            if hits.size:
                pos += int(hits[0])
                break
            if pos + window >= n:
                pos = n
                break
            window *= 4
        if pos >= n:
            break
        ends.append(pos)
        pos += size
    ends.append(n)
    return ends


def _group(
    keys: list[np.ndarray], weights: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Group equal key tuples; return (unique rows as a (u, k) matrix, summed weights)."""
    m = keys[0].size
    if len(keys) == 1:
        # Exact single keys: a plain (SIMD) argsort, since the weights must follow the keys.
        perm = np.argsort(keys[0])
        cols = [keys[0][perm]]
        same = cols[0][1:] == cols[0][:-1]
    else:
        # Sorting a hash with the row number packed into its low bits is a SIMD single-key
        # sort that also yields the permutation; np.lexsort is several times slower.
        bits = max(m.bit_length(), 1)
        h = keys[0] * _MIX[0]
        for j in range(1, len(keys)):
            h ^= keys[j] * _MIX[j % 3]
        # Final avalanche: the sort only looks at the high bits left above the row number.
        h ^= h >> np.uint64(31)
        h *= _MIX[3]
        low = np.uint64((1 << bits) - 1)
        h &= ~low
        h |= np.arange(m, dtype=np.uint64)
        h.sort()
        perm = (h & low).astype(np.intp)
        cols = [k[perm] for k in keys]
        same = _same_as_prev(cols)
        if np.any(~same & (h[1:] >> np.uint64(bits) == h[:-1] >> np.uint64(bits))):
            # Hash collision between different words: they may interleave, so regroup
            # exactly (astronomically rare, but exactness must not depend on luck).
            perm = np.lexsort(keys[::-1])
            cols = [k[perm] for k in keys]
            same = _same_as_prev(cols)
    first = np.concatenate(([0], np.flatnonzero(~same) + 1))
    rows = np.stack([c[first] for c in cols], axis=1)
    if weights is None:
        return rows, np.diff(np.append(first, m))
    return rows, np.add.reduceat(weights[perm], first)


def _same_as_prev(cols: list[np.ndarray]) -> np.ndarray:
    """Flag rows (from the second on) whose key tuple equals the previous row's."""
    same = cols[0][1:] == cols[0][:-1]
    for c in cols[1:]:
        same &= c[1:] == c[:-1]
    return same


def _merge(parts: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """Merge per-chunk (unique rows, counts) pairs into one exact (unique rows, counts)."""
    if len(parts) == 1:
        return parts[0]
    rows = np.concatenate([p[0] for p in parts])
    counts = np.concatenate([p[1] for p in parts])
    return _group([np.ascontiguousarray(c) for c in rows.T], counts)


def _count_chunk(
    text: np.ndarray,
    buckets: list[list[tuple[np.ndarray, np.ndarray]]],
    huge: Counter[bytes],
) -> None:
    """Count the words of one valid-UTF-8 chunk into ``buckets`` (by key count) and ``huge``."""
    n = text.size
    mask = np.empty(n + 2, dtype=bool)
    mask[0] = mask[-1] = True
    _whitespace(text, mask[1:-1])
    # Word starts and ends alternate among the mask changes thanks to the whitespace padding.
    edges = np.flatnonzero(mask[1:] != mask[:-1])
    if edges.size == 0:
        return
    starts = edges[0::2]
    lengths = edges[1::2] - starts

    # Unaligned little-endian uint64 at every byte offset; padding keeps the last reads in
    # bounds (bytes past a word's end are always masked off, so their value is irrelevant).
    buf = np.zeros(n + 8, dtype=np.uint8)
    buf[:n] = text
    at = np.ndarray((n + 1,), dtype="<u8", buffer=buf, strides=(1,))
    first8 = at[starts]

    # Single-key words (<= 7 bytes): key = bytes | length << 56, exact even with NUL bytes.
    # Longer words get the top byte 8, so they all sort after the short ones and are sliced
    # off; one full sort is cheaper than compressing every per-word array first.
    capped = np.minimum(lengths, 8)
    key = _LOW_BYTES[capped]
    key &= first8
    key |= capped.view(np.uint64) << _U56
    key.sort()
    long_idx = np.flatnonzero(lengths > 7)
    short = key[: key.size - long_idx.size]
    if short.size:
        first = np.concatenate(([0], np.flatnonzero(short[1:] != short[:-1]) + 1))
        buckets[0].append((short[first, None], np.diff(np.append(first, short.size))))

    if long_idx.size == 0:
        return
    long_len = lengths[long_idx]
    nkeys = (long_len >> 3) + 1
    for k in range(2, MAX_KEYS + 1):
        sel = np.flatnonzero(nkeys == k)
        if sel.size == 0:
            continue
        idx = long_idx[sel]
        s = starts[idx]
        ln = long_len[sel]
        cols = [first8[idx], *(at[s + 8 * j] for j in range(1, k))]
        last = cols[-1]
        last &= _LOW_BYTES[ln - 8 * (k - 1)]
        last |= ln.view(np.uint64) << _U56
        buckets[k - 1].append(_group(cols))

    big = long_idx[nkeys > MAX_KEYS]
    if big.size:
        mem = buf.data
        spans = zip(starts[big].tolist(), lengths[big].tolist(), strict=True)
        huge.update(bytes(mem[s : s + ln]) for s, ln in spans)


def _spell(rows: np.ndarray) -> np.ndarray:
    """Turn unique key rows back into their word bytes, each followed by one space."""
    u, k = rows.shape
    mat = np.ascontiguousarray(rows).view(np.uint8).reshape(u, 8 * k)
    length = mat[:, -1].astype(np.intp)
    # The length byte (or padding) right after each word becomes the separator.
    mat[np.arange(u), length] = _SPACE
    return mat[np.arange(8 * k) <= length[:, None]]


class _Tally:
    """Word counts gathered chunk by chunk: per key count, tables of (unique key rows,
    counts), folded together as they grow, and the rare words too long for keys."""

    def __init__(self) -> None:
        self.buckets: list[list[tuple[np.ndarray, np.ndarray]]] = [[] for _ in range(MAX_KEYS)]
        self.huge: Counter[bytes] = Counter()

    def add(self, raw: bytes | memoryview, ascii_only: bool) -> None:
        """Count the words of ``raw``, which begins and ends at ASCII whitespace or at the
        text's ends (``ascii_only``: it is known to be ASCII, so valid UTF-8)."""
        arr = np.frombuffer(raw, dtype=np.uint8)
        if arr.size == 0:
            return
        buckets = self.buckets
        begin = 0
        view = memoryview(raw)
        for end in _chunk_ends(arr, CHUNK_BYTES):
            text = arr[begin:end]
            if not ascii_only:
                # Chunks are cut at ASCII bytes, which never belong to a multi-byte sequence,
                # so validating/repairing chunk by chunk equals doing it on the whole input.
                try:
                    codecs.utf_8_decode(view[begin:end], "strict", True)
                except UnicodeDecodeError:
                    fixed = bytes(view[begin:end]).decode("utf-8", "replace").encode("utf-8")
                    text = np.frombuffer(fixed, dtype=np.uint8)
            _count_chunk(text, buckets, self.huge)
            begin = end
            for i, parts in enumerate(buckets):
                # Fold the per-chunk tables together once they outgrow the last merge, so
                # memory stays proportional to the vocabulary while merging stays amortised
                # linear.
                pending = sum(p[0].shape[0] for p in parts)
                if len(parts) > 1 and pending > max(_MERGE_ROWS, 2 * parts[0][0].shape[0]):
                    buckets[i] = [_merge(parts)]

    def result(self) -> dict[str, int]:
        """The word -> count map of everything added."""
        pieces: list[np.ndarray] = []
        counts: list[np.ndarray] = []
        for parts in self.buckets:
            if parts:
                rows, cnt = _merge(parts)
                pieces.append(_spell(rows))
                counts.append(cnt)
        result: dict[str, int] = {}
        if pieces:
            # Every word is valid UTF-8 on its own (it was cut at ASCII bytes), so one decode
            # of the space-joined unique words plus one str.split(" ") yields them all.
            joined = np.concatenate(pieces).tobytes().decode("utf-8")
            words = joined.split(" ")
            words.pop()
            result = dict(zip(words, np.concatenate(counts).tolist(), strict=True))
        for word, c in self.huge.items():
            result[word.decode("utf-8")] = c
        return result


def count_words(raw: bytes) -> dict[str, int]:
    """Count words in UTF-8 bytes with NumPy (exact; see the workload's semantics)."""
    tally = _Tally()
    # Pure ASCII text is already valid UTF-8, so the decode check can be skipped entirely.
    tally.add(raw, raw.isascii())
    return tally.result()


def count_file(path: Path, size: int = PIECE_BYTES) -> dict[str, int]:
    """Count the words of a file with NumPy, in pieces of about ``size`` bytes
    (``text_pieces``, cut at whitespace): the same map as ``count_words`` of the whole
    file, which is never held."""
    tally = _Tally()
    for piece in text_pieces(path, size):
        # A view's block was read whole; an ASCII block needs no UTF-8 check.
        block = piece.obj if isinstance(piece, memoryview) else piece
        tally.add(piece, isinstance(block, bytes) and block.isascii())
    return tally.result()

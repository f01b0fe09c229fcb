"""Word count: the full map word -> count of a UTF-8 text, identical on every engine.

Semantics (every implementation must produce exactly this):

* The input is read as UTF-8; undecodable bytes are replaced with U+FFFD (Python's
  ``errors="replace"``: one U+FFFD per maximal invalid subsequence).
* A word is a maximal run of characters that are not ASCII whitespace: space, ``\\t``, ``\\n``,
  ``\\r``, ``\\v`` (``\\x0b``), ``\\f`` (``\\x0c``). Other Unicode spaces (U+00A0, U+2003...) and
  control characters such as NUL are part of words. Line ends (LF, CRLF, CR) are whitespace.
* Case-sensitive; no normalisation, no punctuation stripping.
* Several input files count as one text in which each file ends a word.
* The answer is the full map word -> count (``dict[str, int]``); the check is exact equality.

Generated data: a seeded Zipf-distributed vocabulary (some non-ASCII words), about 12 words
per line, mostly single spaces, with a few tabs, double spaces and CRLF line ends.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.registry import CheckResult, Workload, register_workload

if TYPE_CHECKING:
    from harness.datasets import Dataset

#: Matches one word (as str); the same class of characters as ``bytes.split()`` splits on.
WORD_RE = re.compile(r"[^ \t\n\r\x0b\x0c]+")
#: The same whitespace class in Java regex syntax (Spark's ``split``).
JAVA_WHITESPACE_RE = "[ \\t\\n\\r\\x0B\\f]+"

VOCAB_SIZE = 50_000
CHUNK_WORDS = 1_000_000
_SEPARATORS = (b" ", b"\n", b"\t", b"\r\n", b"  ")
_SEPARATOR_P = (0.904, 0.08, 0.006, 0.006, 0.004)
_LETTERS = "abcdefghijklmnopqrstuvwxyz"
_EXTRA = ("é", "ü", "ß", "ñ", "ø", "ç", "日本", "語", "ю", "ж", "π", "\u2019")


def decode_canonical(raw: bytes) -> bytes:
    """UTF-8 bytes with undecodable input replaced by U+FFFD (identity for valid UTF-8)."""
    if raw.isascii():
        return raw
    try:
        raw.decode("utf-8")
        return raw
    except UnicodeDecodeError:
        return raw.decode("utf-8", "replace").encode("utf-8")


def count_reference(raw: bytes) -> Counter[bytes]:
    """Word counts of one file's bytes, the plain way (the reference implementation)."""
    # bytes.split() splits on exactly the six ASCII whitespace bytes of the semantics.
    return Counter(decode_canonical(raw).split())


#: Bytes read at a time by ``text_pieces``.
PIECE_BYTES = 1 << 23
#: The six ASCII whitespace bytes of the semantics (what ``bytes.split()`` splits on).
WHITESPACE = b" \t\n\r\x0b\x0c"


def _first_space(data: bytes) -> int:
    """Index of the first ASCII whitespace byte of ``data``, or -1 (searched in growing
    windows, so a whitespace byte missing from the text costs no scan of all of it)."""
    window = 4096
    while True:
        hits = [i for i in (data.find(b, 0, window) for b in WHITESPACE) if i >= 0]
        if hits:
            return min(hits)
        if window >= len(data):
            return -1
        window *= 16


def _last_space(data: bytes) -> int:
    """Index of the last ASCII whitespace byte of ``data``, or -1."""
    window = 4096
    while True:
        low = max(0, len(data) - window)
        last = max(data.rfind(b, low) for b in WHITESPACE)
        if last >= 0 or low == 0:
            return last
        window *= 16


def text_pieces(path: Path, size: int = PIECE_BYTES) -> Iterator[bytes | memoryview]:
    """The bytes of a file in pieces of about ``size`` bytes that begin and end at ASCII
    whitespace (or the file's ends), so no word is ever split between two pieces. Nor is a
    UTF-8 sequence, valid or not: an ASCII byte never belongs to one, so repairing the pieces
    one by one (``decode_canonical``) equals repairing the whole file.

    Each block read yields the word running over from the block before (a small ``bytes``)
    and a view of the rest up to its last whitespace byte (no copy); memory holds about one
    block.
    """
    carry: list[bytes] = []
    with path.open("rb") as fh:
        while block := fh.read(size):
            last = _last_space(block)
            if last < 0:
                carry.append(block)  # a word longer than a block: keep reading
                continue
            first = _first_space(block)
            if carry or first > 0:
                yield b"".join([*carry, block[:first]])
            carry = [block[last + 1 :]] if last + 1 < len(block) else []
            yield memoryview(block)[first : last + 1]
    if carry:
        yield b"".join(carry)


def count_file(path: Path, size: int = PIECE_BYTES) -> Counter[bytes]:
    """Word counts of one file, the plain way, in pieces of about ``size`` bytes
    (``text_pieces``): the same counts as ``count_reference`` of the whole file, holding
    only a piece at a time."""
    counts: Counter[bytes] = Counter()
    for piece in text_pieces(path, size):
        counts.update(decode_canonical(bytes(piece)).split())
    return counts


def split_words(line: str) -> list[str]:
    """The words of one line of text (str), per the workload's semantics."""
    return WORD_RE.findall(line)


def _vocabulary(rng: Any, size: int) -> list[bytes]:
    """A seeded vocabulary of distinct words, mostly lower-case ASCII, some non-ASCII."""
    words: dict[bytes, None] = {}
    lengths = rng.choice(
        range(1, 15), size=size * 2, p=_normalised([2, 5, 9, 12, 13, 12, 10, 8, 6, 4, 3, 2, 1, 1])
    )
    letters = rng.integers(0, len(_LETTERS), size=(size * 2, 14))
    extra = rng.random(size * 2) < 0.04
    extra_pick = rng.integers(0, len(_EXTRA), size=size * 2)
    capital = rng.random(size * 2) < 0.08
    for i in range(size * 2):
        word = "".join(_LETTERS[c] for c in letters[i, : lengths[i]])
        if extra[i]:
            word = word[: len(word) // 2] + _EXTRA[extra_pick[i]] + word[len(word) // 2 :]
        if capital[i]:
            word = word.capitalize()
        words[word.encode("utf-8")] = None
        if len(words) == size:
            break
    return list(words)


def _normalised(weights: list[float]) -> list[float]:
    total = sum(weights)
    return [w / total for w in weights]


def make_data(folder: Path, size: int, seed: int) -> dict[str, Any]:
    """Write ``size`` words of seeded Zipf text to ``folder/input.txt``."""
    import numpy as np

    rng = np.random.default_rng(seed)
    vocab = _vocabulary(rng, min(VOCAB_SIZE, max(10, size // 4)))
    ranks = np.arange(1, len(vocab) + 1, dtype=np.float64)
    prob = 1.0 / (ranks + 2.7) ** 1.07
    prob /= prob.sum()
    path = folder / "input.txt"
    total_bytes = 0
    with path.open("wb") as out:
        remaining = size
        while remaining > 0:
            n = min(CHUNK_WORDS, remaining)
            idx = rng.choice(len(vocab), size=n, p=prob)
            seps = rng.choice(len(_SEPARATORS), size=n, p=_SEPARATOR_P)
            remaining -= n
            if remaining == 0:
                seps[-1] = 1  # end the file with a newline
            pieces = [b""] * (2 * n)
            pieces[0::2] = [vocab[i] for i in idx.tolist()]
            pieces[1::2] = [_SEPARATORS[s] for s in seps.tolist()]
            chunk = b"".join(pieces)
            out.write(chunk)
            total_bytes += len(chunk)
    return {"files": [path.name], "bytes": total_bytes, "words": size, "vocabulary": len(vocab)}


def reference(data: Dataset, params: Mapping[str, Any]) -> dict[str, int]:
    """The reference answer: ``collections.Counter`` over ``bytes.split()`` of each file,
    read in pieces cut at whitespace (``count_file``)."""
    total: Counter[bytes] = Counter()
    for path in data.inputs:
        total.update(count_file(path))
    return {word.decode("utf-8"): count for word, count in total.items()}


def check(answer: Any, expected: dict[str, int]) -> CheckResult:
    """Exact equality of the two maps; the detail names a few differences."""
    if not isinstance(answer, Mapping):
        return CheckResult(False, f"answer is a {type(answer).__name__}, not a word -> count map")
    answer = dict(answer)
    if answer == expected:
        return CheckResult(True, f"{len(expected)} distinct words match")
    missing = [w for w in expected if w not in answer]
    extra = [w for w in answer if w not in expected]
    wrong = [w for w in expected if w in answer and answer[w] != expected[w]]
    parts = []
    for label, words in (("missing", missing), ("unexpected", extra), ("wrong count", wrong)):
        if words:
            sample = ", ".join(repr(w) for w in words[:3])
            parts.append(f"{len(words)} {label} ({sample})")
    return CheckResult(False, "; ".join(parts))


def digest(answer: Mapping[str, int]) -> str:
    """SHA-256 of the canonical JSON of the map (sorted keys)."""
    blob = json.dumps(dict(answer), sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def items(expected: Mapping[str, int]) -> int:
    """Words in the input (throughput unit)."""
    return sum(expected.values())


WORDCOUNT = register_workload(
    Workload(
        name="wordcount",
        version="1",
        description="full word -> count map of a UTF-8 text (ASCII-whitespace words)",
        scale_sizes={
            "tiny": 20_000,
            "small": 1_000_000,
            "medium": 10_000_000,
            "large": 100_000_000,
        },
        unit="words",
        make_data=make_data,
        reference=reference,
        check=check,
        digest=digest,
        from_json=lambda data: {str(k): int(v) for k, v in data.items()},
        items=items,
        # Measured: 7,437,262 bytes for small's 1,000,000 words (7.44 at x0.25 and x16 too).
        bytes_per_item=7.44,
    )
)

# Explicit registration of the implementations (never discovered by file name).
from workloads.wordcount import impl_duckdb, impl_mrjob, impl_numpy, impl_polars, impl_spark  # noqa: E402, F401

"""Hadoop Streaming word count as an mrjob job (run as a script by mrjob's runners).

Self-contained on purpose: on a cluster this file runs where bdbench is not installed, so it
imports only mrjob and repeats the word pattern (a test checks it equals ``WORD_RE``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

from mrjob.job import MRJob
from mrjob.protocol import BytesValueProtocol, JSONProtocol

WORD_RE = re.compile(r"[^ \t\n\r\x0b\x0c]+")


class MRWordCount(MRJob):
    """Mapper emits (word, 1); combiner and reducer sum."""

    # Raw bytes in, so undecodable input is replaced with U+FFFD exactly as the semantics say
    # (mrjob's default text protocol would fall back to latin-1 instead).
    INPUT_PROTOCOL = BytesValueProtocol
    OUTPUT_PROTOCOL = JSONProtocol

    def mapper(self, _: None, line: bytes) -> Iterator[tuple[str, int]]:
        """Emit each word of the line with count 1."""
        for word in WORD_RE.findall(line.decode("utf-8", "replace")):
            yield word, 1

    def combiner(self, word: str, counts: Iterable[int]) -> Iterator[tuple[str, int]]:
        """Sum counts per word within one map task."""
        yield word, sum(counts)

    def reducer(self, word: str, counts: Iterable[int]) -> Iterator[tuple[str, int]]:
        """Sum counts per word."""
        yield word, sum(counts)


if __name__ == "__main__":
    MRWordCount.run()

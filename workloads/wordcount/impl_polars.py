"""Word count on Polars: the files scanned as lines, the words extracted with the workload's
whitespace class, exploded to one row each and counted by ``group_by().len()``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from harness.registry import RunContext, implements
from workloads._polars import engine

if TYPE_CHECKING:
    import polars as pl

#: One word: a maximal run of characters that are not the six ASCII whitespace characters
#: (Rust regex syntax; the same class as ``workloads.wordcount.WORD_RE``).
WORD = r"[^ \t\n\r\x0B\x0C]+"


def counts(paths: list[Path]) -> pl.LazyFrame:
    """The word counts of ``paths`` as a lazy query (``word``, ``len``). Each file is its
    own source of lines, so a file's end ends a word; a line's end (LF or CRLF) ends one
    too, and a lone CR is whitespace inside a line."""
    import polars as pl

    return (
        pl.scan_lines([str(p) for p in paths], name="line", glob=False)
        .select(pl.col("line").str.extract_all(WORD).alias("word"))
        .explode("word")  # an empty list (a blank line) gives no row
        .group_by("word")
        .len()
    )


def valid_utf8(path: Path) -> bool:
    """Whether a file is valid UTF-8, read a piece at a time."""
    import codecs

    from workloads.wordcount import text_pieces

    for piece in text_pieces(path):
        try:
            codecs.utf_8_decode(piece, "strict", True)
        except UnicodeDecodeError:
            return False
    return True


def repaired(paths: list[Path], scratch: Path) -> list[Path]:
    """``paths`` with every file that is not valid UTF-8 replaced by a copy in ``scratch``
    whose undecodable bytes are U+FFFD as the workload says (Python's ``errors="replace"``),
    written a piece at a time (pieces cut at whitespace, so repairing them one by one equals
    repairing the whole file)."""
    from workloads.wordcount import decode_canonical, text_pieces

    fixed = []
    for i, path in enumerate(paths):
        if valid_utf8(path):
            fixed.append(path)
            continue
        copy = scratch / f"repaired-{i}.txt"
        with copy.open("wb") as out:
            for piece in text_pieces(path):
                out.write(decode_canonical(bytes(piece)))
        fixed.append(copy)
    return fixed


@implements("wordcount", "polars")
def run(ctx: RunContext) -> dict[str, int]:
    """``scan_lines`` -> ``str.extract_all`` of the words -> ``explode`` -> ``group_by("word")
    .len()``, collected by the variant's engine (``streaming``: a batch of lines at a time,
    only the counts held).

    Polars reads text as strict UTF-8 and fails on anything else; then (and only then) the
    files that are not valid UTF-8 are copied with their undecodable bytes replaced as the
    workload's reference does, and the query runs again on the copies.
    """
    import polars as pl

    polars = engine(ctx)
    paths = list(ctx.data.inputs)
    try:
        result = polars.collect(counts(paths))
    except pl.exceptions.ComputeError as exc:
        if "utf8" not in str(exc).lower() and "utf-8" not in str(exc).lower():
            raise
        result = polars.collect(counts(repaired(paths, ctx.scratch)))
    return dict(zip(result["word"].to_list(), result["len"].to_list(), strict=True))

"""Word count on DuckDB: the text's lines split into words and counted by ``GROUP BY``.

How the text reaches DuckDB: in pieces of about a MiB cut at ASCII whitespace (the
workload's own ``text_pieces``, which the numpy engine reads with too), streamed to DuckDB as
Arrow record batches of bytes (``workloads._duckdb.pieces`` says why not ``read_text`` or
``read_blob``). Why not ``read_csv`` with one column, the usual DuckDB way to read lines: it
is not a line reader. Measured with DuckDB 2.0: a file mixing LF and CRLF line ends (as the
generated text does) stops its strict mode ("state machine reached an invalid state"); with
strict mode off, a file mixing CR, CRLF and LF lost a word; it drops a leading byte-order
mark (which the semantics count as part of the first word) and refuses invalid UTF-8.
"""

from __future__ import annotations

from functools import partial

from harness.registry import RunContext, implements
from workloads._duckdb import PIECE_BYTES, pieces, session

#: The six ASCII whitespace characters of the semantics (each becomes a space).
WHITESPACE = " \t\n\r\x0b\x0c"

#: Each piece decoded (a piece that is not valid UTF-8 repaired by Python's decoder: pieces
#: are cut at ASCII bytes, so piece by piece equals the whole text), split into lines, each
#: line's whitespace turned into spaces and split at them; empty strings are no words.
COUNT_SQL = """
SELECT word, count(*) AS n FROM (
    SELECT unnest(string_split(translate(line, $whitespace, $spaces), ' ')) AS word FROM (
        SELECT unnest(string_split(
            CASE WHEN text IS NULL THEN bdbench_repair(piece) ELSE text END, chr(10))) AS line
        FROM (SELECT piece, try(decode(piece)) AS text FROM bdbench_pieces)))
WHERE word <> ''
GROUP BY word
"""


def repair(raw: bytes) -> str:
    """Bytes decoded with every invalid sequence replaced by U+FFFD (Python's
    ``errors="replace"``, the semantics' own rule)."""
    return raw.decode("utf-8", "replace")


@implements("wordcount", "duckdb")
def run(ctx: RunContext) -> dict[str, int]:
    """Pieces of the files (Arrow) -> ``decode`` -> lines (``string_split``) -> words
    (``translate`` whitespace to spaces, ``string_split``, ``unnest``) -> ``GROUP BY`` ->
    Arrow -> map."""
    from workloads.wordcount import text_pieces

    with session(ctx) as db:
        db.function("bdbench_repair", repair, ["BLOB"], "VARCHAR", arrow=False)
        db.view("bdbench_pieces", pieces(ctx.data.inputs, partial(text_pieces, size=PIECE_BYTES)))
        params = {"whitespace": WHITESPACE, "spaces": " " * len(WHITESPACE)}
        table = db.con.sql(COUNT_SQL, params=params).to_arrow_table()
    words = table.column("word").to_pylist()
    return dict(zip(words, table.column("n").to_pylist(), strict=True))

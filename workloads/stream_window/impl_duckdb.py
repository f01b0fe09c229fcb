"""The YSB query on DuckDB, in batch: every file's lines classified in SQL into a table of
events, then each file's late watermark (a window function over the files' largest view
times) and the windows counted by one ``GROUP BY``. The files reach DuckDB as an Arrow
stream of pieces of about a MiB, each ending after a LF (``workloads._duckdb.pieces`` says
why not ``read_blob``).

No fed (replay) variant: DuckDB cannot follow a growing set of files. A query reads the
files its ``read_*`` function names or globs when it is bound, once; DuckDB has no streaming
source, trigger or continuous query. A replay would be a Python loop that runs one query per
file as the file appears: the harness's loop around DuckDB, measuring that loop more than
DuckDB.
"""

from __future__ import annotations

from typing import Any

from harness.registry import RunContext, implements
from workloads._duckdb import line_pieces, literal, pieces, session
from workloads.stream_window import events

#: Where a line ends (``events.LINE_BREAK``), for RE2.
LINE_BREAK = r"\r\n|\r|\n"
#: A line in the generator's exact shape (``events.CANONICAL_EVENT``: ASCII only, so the
#: same verdict on text as on bytes), with its three groups: the ad, the type and the time.
CANONICAL = events.CANONICAL_EVENT.pattern.decode("ascii")
#: JSON's whitespace (``events.JSON_SPACE``) as a SQL expression: a line of only these is
#: blank (tested with ``ltrim``: DuckDB's two-sided ``trim`` with characters took 2 us a line).
JSON_SPACE = " || ".join(f"chr({ord(c)})" for c in events.JSON_SPACE)
#: The type of an event as the table keeps it.
KINDS = {"view": 1, "click": 2, "purchase": 2}

#: Every file's non-blank lines as events: the file's number, the campaign (its index;
#: NULL when the line is malformed), 1 for a view (2 for another event) and the time. A line
#: in the generator's shape is read by one regular expression and joined with the
#: campaigns; any other line goes to ``events.classify`` itself (a Python UDF, called on
#: those lines only); a piece that is not valid UTF-8 is split into lines by Python too
#: (``events.split_lines``: pieces end after a LF, so piece by piece equals the whole file).
EVENTS_SQL = f"""
CREATE TEMP TABLE events AS
WITH texts AS (
    SELECT file AS batch, piece, try(decode(piece)) AS text FROM bdbench_pieces),
lines AS (
    SELECT batch, unnest(CASE
        WHEN text IS NULL THEN bdbench_split_lines(piece)
        WHEN contains(text, chr(13)) THEN regexp_split_to_array(text, {literal(LINE_BREAK)})
        ELSE string_split(text, chr(10)) END) AS line
    FROM texts),
parsed AS (
    SELECT batch, line, regexp_extract(line, {literal(CANONICAL)}, ['ad', 'kind', 'time']) AS m
    FROM (SELECT batch,
                 CASE WHEN starts_with(line, chr(65279)) THEN substr(line, 2) ELSE line END
                 AS line
          FROM lines)
    WHERE ltrim(line, {JSON_SPACE}) <> ''),
classified AS (
    SELECT batch, m, CASE WHEN m.time = '' THEN bdbench_classify(line) END AS slow
    FROM parsed)
SELECT p.batch,
       CASE WHEN p.m.time <> '' THEN c.campaign ELSE p.slow.campaign END AS campaign,
       CASE WHEN p.m.time <> '' THEN CASE WHEN p.m.kind = 'view' THEN 1 ELSE 2 END
            ELSE p.slow.kind END AS kind,
       CASE WHEN p.m.time <> '' THEN CAST(p.m.time AS BIGINT) ELSE p.slow.t END AS t
FROM classified p LEFT JOIN bdbench_campaigns c ON c.ad_id = p.m.ad
"""

#: Lines, events and views of the table.
TOTALS_SQL = """
SELECT count(*), count(campaign), count(*) FILTER (WHERE campaign IS NOT NULL AND kind = 1)
FROM events
"""

#: Per (campaign, window start): the (view, window) pairs counted and those dropped as late.
#: A file's late mark is the watermark of the file before it: the largest view time of the
#: files before that one, less the lateness (0 before any view, never below 0).
WINDOWS_SQL = """
WITH views AS (
    SELECT batch, campaign, t FROM events WHERE campaign IS NOT NULL AND kind = 1),
maxima AS (
    SELECT f.batch, max(v.t) AS m
    FROM range($files) f(batch) LEFT JOIN views v ON v.batch = f.batch GROUP BY f.batch),
marks AS (
    SELECT batch, greatest(coalesce(max(m) OVER (ORDER BY batch ROWS BETWEEN UNBOUNDED
                                                 PRECEDING AND 2 PRECEDING) - $lateness, 0),
                           0) AS late
    FROM maxima),
starts AS (
    SELECT batch, campaign, unnest(generate_series(
        t - t % $slide - ($size - t % $slide - 1) // $slide * $slide,
        t - t % $slide, $slide)) AS start
    FROM views)
SELECT s.campaign, s.start,
       count(*) FILTER (WHERE s.start + $size > k.late) AS n,
       count(*) FILTER (WHERE s.start + $size <= k.late) AS dropped
FROM starts s JOIN marks k ON k.batch = s.batch
GROUP BY s.campaign, s.start
"""


@implements("stream_window", "duckdb")
def run(ctx: RunContext) -> dict[str, Any]:
    """Pieces of the files (Arrow) -> lines -> events (one regular expression and a join
    with the campaigns; ``events.classify`` for other lines) into a temporary table -> late
    marks (a window function) -> window counts (``generate_series`` + ``GROUP BY``)."""
    import pyarrow as pa

    from workloads.stream_window import Tally, Windows, campaigns_path

    windows = Windows.of(ctx.params)
    names = events.load_campaigns(campaigns_path(ctx.data))
    campaigns = sorted(set(names.values()))
    index = {c: i for i, c in enumerate(campaigns)}
    kind_type = pa.struct([("campaign", pa.int32()), ("kind", pa.int8()), ("t", pa.int64())])

    def classify(lines: Any) -> Any:
        """``events.classify`` of each line as (campaign index, kind, time), NULL when
        malformed."""
        found = []
        for line in lines.to_pylist():
            event = events.classify(line, names)
            found.append(
                None if event is None else
                {"campaign": index[event[0]], "kind": KINDS[event[1]], "t": event[2]}
            )  # fmt: skip
        return pa.array(found, kind_type)

    with session(ctx) as db:
        db.view("bdbench_pieces", pieces(ctx.data.inputs, line_pieces))
        db.view(
            "bdbench_campaigns",
            pa.table({"ad_id": list(names), "campaign": [index[c] for c in names.values()]}),
        )
        db.function("bdbench_split_lines", events.split_lines, ["BLOB"], "VARCHAR[]",
                    arrow=False)  # fmt: skip
        db.function(
            "bdbench_classify",
            classify,
            ["VARCHAR"],
            "STRUCT(campaign INTEGER, kind TINYINT, t BIGINT)",
            nulls=True,
        )
        db.con.execute(EVENTS_SQL)
        (totals,) = db.con.execute(TOTALS_SQL).fetchall()
        counted = db.con.sql(
            WINDOWS_SQL,
            params={
                "files": len(ctx.data.inputs),
                "size": windows.size,
                "slide": windows.slide,
                "lateness": windows.lateness,
            },
        ).to_arrow_table()
    lines, valid, views = (int(v) for v in totals)
    tally = Tally(malformed=lines - valid, events=valid, views=views)
    columns = [counted.column(c).to_pylist() for c in ("campaign", "start", "n", "dropped")]
    for campaign, start, n, dropped in zip(*columns, strict=True):
        tally.dropped += dropped
        if n:
            tally.counts[(campaigns[campaign], start)] = n
    return tally.answer()

"""The YSB query on Polars, as one batch query over the event files (the batch twin of the
stream): every line classified, the views' windows counted per file and ad, then each file's
late watermark applied to its counts.

No fed variant: Polars' scans read the set of files known when the query is planned, and its
streaming engine runs a query to the end of those inputs; nothing follows a folder as files
arrive, so there is no micro-batch stream to measure (a loop of queries, one per new file,
would be our stream, not Polars').

Written for the streaming engine's sake as one pipeline of elementwise expressions: a branch
(a fast and a slow path joined again), a join (with the ads table) or ``replace_strict`` (a
whole-column function) each made it hold or spill most of the input (measured at 590 MB of
events: 1.3 GB held, or 4 times slower under a 400 MB limit).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.registry import RunContext, implements
from workloads._polars import engine

if TYPE_CHECKING:
    import polars as pl

    from workloads.stream_window import Windows

#: A line's kind: not an event, a valid event other than a view, a valid view.
MALFORMED, EVENT, VIEW = 0, 1, 2
BOM = "\ufeff"
#: Where a line ends besides the LF (and CRLF) that Polars' line scanner splits at.
CR = "\r"


def _events_dtype() -> pl.DataType:
    import polars as pl

    return pl.List(pl.Struct({"ad": pl.Int64, "kind": pl.Int8, "time": pl.Int64}))


def raw_lines(path: Path) -> list[str]:
    """A file's lines as ``events.split_lines`` makes them (each strictly UTF-8 or else
    ``UNDECODABLE``), byte-order marks left on: for a file that is not valid UTF-8, which
    Polars' line scanner rejects whole."""
    from workloads.stream_window.events import UNDECODABLE

    lines = []
    for raw in re.split(rb"\r\n|\r|\n", path.read_bytes()):
        try:
            lines.append(raw.decode("utf-8"))
        except UnicodeDecodeError:
            lines.append(UNDECODABLE)
    return lines


def lines(paths: list[Path], bad: set[int]) -> pl.LazyFrame:
    """Every file's lines (``raw``) with the file's index in arrival order (``file``): one
    ``scan_lines`` of the files (a multi-file scan reads them a few at a time; a scan per
    file, concatenated, had all of them in memory at once), numbered by casting each line's
    path to the ``Enum`` of the paths; Python's strict decoding for the files in ``bad``."""
    import polars as pl

    frames = []
    good = [str(p) for i, p in enumerate(paths) if i not in bad]
    if good:
        order = pl.Enum([str(p) for p in paths])
        scanned = pl.scan_lines(good, name="raw", include_file_paths="path", glob=False)
        file = pl.col("path").cast(order).to_physical().cast(pl.UInt32).alias("file")
        frames.append(scanned.select("raw", file))
    for i in sorted(bad):
        frame = pl.LazyFrame({"raw": raw_lines(paths[i])}, schema={"raw": pl.String})
        frames.append(frame.with_columns(pl.lit(i, dtype=pl.UInt32).alias("file")))
    # Unordered: the rows carry their file; an ordered union waits for its first input.
    return pl.union(frames)


def exact_rules(ads: Sequence[str]) -> Any:
    """The ``map_batches`` function of the exact rules, on a batch of ``{raw, fast}`` rows:
    for each row the fast path did not decide, the events of its lines (a row holds several
    when a lone CR breaks it) by ``events.classify`` (the ad's index, kind and time, or
    MALFORMED); null for the others. Python sees only those few rows; the batch's column is
    made by a join of their row numbers."""
    import polars as pl

    from workloads.stream_window.events import classify, is_blank

    # classify with every ad as its own "campaign" gives the ad back.
    itself = {ad: ad for ad in ads}
    place = {ad: i for i, ad in enumerate(ads)}

    def events_of(row: str) -> list[dict[str, Any]]:
        found = []
        for piece in row.split(CR):
            line = piece[1:] if piece.startswith(BOM) else piece
            if is_blank(line):
                continue
            event = classify(line, itself)
            if event is None:
                found.append({"ad": None, "kind": MALFORMED, "time": None})
            else:
                ad, kind, when = event
                found.append({"ad": place[ad], "kind": VIEW if kind == "view" else EVENT,
                              "time": when})  # fmt: skip
        return found

    def call(batch: pl.Series) -> pl.Series:
        dtype = _events_dtype()
        slow = batch.struct.unnest().with_row_index("i").filter(~pl.col("fast"))
        if slow.height == 0:
            return pl.Series(batch.name, dtype=dtype).extend_constant(None, len(batch))
        found = pl.Series([events_of(row) for row in slow["raw"].to_list()], dtype=dtype)
        decided = pl.DataFrame({"i": slow["i"], "event": found})
        every = pl.DataFrame({"i": pl.arange(0, len(batch), dtype=pl.UInt32, eager=True)})
        return every.join(decided, on="i", how="left", maintain_order="left")["event"]

    return call


def classified(frame: pl.LazyFrame, ads: Sequence[str]) -> pl.LazyFrame:
    """``file``, ``ad`` (its index in ``ads``), ``kind`` and ``time`` of every non-blank line.

    The lines in the generator's exact shape (``events.CANONICAL_EVENT``, the numpy
    engine's fast path too) are decided by one regular expression and a cast of their ad to
    the ``Enum`` of the ads (an ad outside the table is null: the line is malformed), as
    expressions; the others (malformed lines, other spellings of JSON, lone CRs, byte-order
    marks inside) by the exact Python rules in ``map_batches``: few rows.
    """
    import polars as pl

    from workloads.stream_window.events import CANONICAL_EVENT, JSON_SPACE

    line = pl.col("raw").str.strip_prefix(BOM)
    m, event = pl.col("m").struct, pl.col("event").struct
    fast, ad = pl.col("fast"), pl.col("ad")
    pattern = CANONICAL_EVENT.pattern.decode("ascii")
    return (
        frame.with_columns(line.str.extract_groups(pattern).alias("m"))
        .with_columns(m.field("1").is_not_null().alias("fast"))
        .filter(fast | (line.str.strip_chars(JSON_SPACE) != ""))  # no blank lines
        .select(
            "file",
            "fast",
            m.field("1").cast(pl.Enum(list(ads)), strict=False).to_physical().cast(pl.Int64)
            .alias("ad"),
            (m.field("2") == "view").alias("view"),
            m.field("3").cast(pl.Int64).alias("t"),
            pl.struct("raw", "fast")
            .map_batches(exact_rules(ads), return_dtype=_events_dtype(), is_elementwise=True)
            .alias("event"),
        )
        # A fast row keeps its one row (its event is null); a slow row gets one per line.
        .explode("event")
        .select(
            "file",
            pl.when(fast).then(ad).otherwise(event.field("ad")).alias("ad"),
            pl.when(fast & ad.is_null()).then(MALFORMED)
            .when(fast & pl.col("view")).then(VIEW)
            .when(fast).then(EVENT)
            .otherwise(event.field("kind"))
            .cast(pl.Int8)
            .alias("kind"),
            pl.when(fast).then(pl.col("t")).otherwise(event.field("time")).alias("time"),
        )
    )  # fmt: skip


def window_counts(events: pl.LazyFrame, windows: Windows) -> pl.LazyFrame:
    """Per ``(file, kind, ad, start)``: ``n`` rows, ``first`` (events: their windows
    counted once) and ``latest`` event time. A view is one row per window holding it (start
    on a multiple of the slide; ``start <= t < start + size``); other rows one each, with
    no ad and no start."""
    import polars as pl

    view = pl.col("kind") == VIEW
    t = pl.col("time")
    last = (t // windows.slide) * windows.slide
    back = (windows.size - (t - last) - 1) // windows.slide
    return (
        events.with_columns(pl.int_ranges(0, pl.when(view).then(back + 1).otherwise(1)).alias("j"))
        .explode("j")
        .select(
            "file",
            "kind",
            pl.when(view).then(pl.col("ad")).alias("ad"),
            pl.when(view).then(last - pl.col("j") * windows.slide).alias("start"),
            "j",
            "time",
        )
        .group_by("file", "kind", "ad", "start")
        .agg(
            pl.len().alias("n"),
            (pl.col("j") == 0).sum().alias("first"),
            pl.col("time").max().alias("latest"),
        )
    )


def tally(table: pl.DataFrame, files: int, campaign_of: list[str], windows: Windows
          ) -> dict[str, Any]:  # fmt: skip
    """The answer from ``window_counts`` (a small table): each file's late watermark from
    the files' largest view times (``late_marks``), then every (view, window) pair counted in
    its ad's campaign or dropped (``campaign_of``: the campaign of each ad index)."""
    import polars as pl

    from workloads.stream_window import Tally, late_marks

    views = table.filter(pl.col("kind") == VIEW)
    latest = dict(views.group_by("file").agg(pl.col("latest").max()).iter_rows())
    marks = pl.Series("mark", late_marks([latest.get(i) for i in range(files)], windows.lateness))
    judged = views.with_columns(
        (pl.col("start") + windows.size > marks.gather(views["file"])).alias("kept"),
        pl.Series("campaign", campaign_of).gather(views["ad"]),
    )
    kept = judged.filter(pl.col("kept")).group_by("campaign", "start").agg(pl.col("n").sum())
    result = Tally(
        counts=Counter({(c, int(s)): int(n) for c, s, n in kept.iter_rows()}),
        malformed=int(table.filter(pl.col("kind") == MALFORMED)["n"].sum()),
        dropped=int(judged.filter(~pl.col("kept"))["n"].sum()),
        events=int(table.filter(pl.col("kind") != MALFORMED)["first"].sum()),
        views=int(views["first"].sum()),
    )
    return result.answer()


@implements("stream_window", "polars")
def run(ctx: RunContext) -> dict[str, Any]:
    """``scan_lines`` of every file (tagged with its place in arrival order) -> each line
    classified (the generator's shape by a regular expression, the rest by the exact rules)
    -> the views exploded into their windows -> one ``group_by(file, kind, ad, start)``;
    then, on that small table, each file's late watermark from the per-file largest view
    times, the late pairs dropped and the ads' counts summed per campaign. One pass over the
    events, in memory (``lazy``) or in batches (``streaming``).

    Polars reads lines as strict UTF-8 and fails on a file that is not; then (and only
    then) those files' lines are read by Python's strict decoding and the query runs again.
    """
    import polars as pl

    from workloads.stream_window import Windows, campaigns_path
    from workloads.stream_window.events import load_campaigns

    polars = engine(ctx)
    windows = Windows.of(ctx.params)
    names = load_campaigns(campaigns_path(ctx.data))
    ads = list(names)
    paths = list(ctx.data.inputs)

    def query(bad: set[int]) -> pl.LazyFrame:
        return window_counts(classified(lines(paths, bad), ads), windows)

    try:
        table = polars.collect(query(set()))
    except pl.exceptions.ComputeError as exc:
        if "utf8" not in str(exc).lower() and "utf-8" not in str(exc).lower():
            raise
        bad = {i for i, p in enumerate(paths) if not _valid_utf8(p)}
        table = polars.collect(query(bad))
    return tally(table, len(paths), [names[ad] for ad in ads], windows)


def _valid_utf8(path: Path) -> bool:
    try:
        path.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True

"""The YSB query on Spark: a Structured Streaming job fed file by file, and its batch twin.

``stream``: the events folder is fed by ``feeder.Feeder`` at the offered rate (``feeder.schedule``:
generated files at their own arrival times, sped up to the rate); the file source
reads one file per trigger (``maxFilesPerTrigger=1``: batch ``i`` is file ``i``, so lateness is
deterministic), no-data batches are off (they would move the late threshold at timing-dependent
moments), and an update-mode ``foreachBatch`` sink keeps the latest count of every window and
stamps each batch's commit time. Malformed, event and view totals come from ``observe``.

``df``: the same query as one batch job: every file's late watermark from the per-file maxima
(``input_file_name``), then the windows counted with the late pairs filtered out.
"""

from __future__ import annotations

import json
import shutil
import statistics
import threading
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from harness.engines.spark_engine import SparkEngine, local_uri
from harness.registry import RunContext, implements
from workloads._spark import session, warm_sql

#: Spark SQL settings the streaming semantics depend on (set for the run, then restored).
STREAM_CONF = {
    "spark.sql.streaming.noDataMicroBatches.enabled": "false",
    "spark.sql.streaming.statefulOperator.allowMultiple": "true",
    "spark.sql.session.timeZone": "UTC",
}
#: Seconds to wait for a batch beyond the feed's own schedule before giving up.
BATCH_TIMEOUT_S = 120.0
#: What the batch cell's time consists of (measured at small on 2 cores; see run_batch).
BATCH_NOTE = (
    "The first call in a fresh JVM (the recorded warm-up) takes about twice a warm one "
    "(6.3 s vs 3.2 s at small on 2 cores, quiet): Spark's own first-query cost (the JSON "
    "reader, the broadcast joins and the window aggregation generated and compiled, the "
    "JIT). Only the DataFrame engine's start-up is untimed; the answer (200 windows) is small."
)
#: Seconds to wait for the progress events of the last batches (they lag the sink).
PROGRESS_WAIT_S = 10.0


def _schema() -> Any:
    from pyspark.sql.types import LongType, StringType, StructField, StructType

    from workloads.stream_window.events import FIELDS

    fields = [StructField(f, LongType() if f == "event_time" else StringType()) for f in FIELDS]
    return StructType([*fields, StructField("_corrupt_record", StringType())])


def _reader(reader: Any) -> Any:
    """JSON options: strict JSON, malformed lines kept as rows with ``_corrupt_record``."""
    return (
        reader.schema(_schema())
        .option("mode", "PERMISSIVE")
        .option("columnNameOfCorruptRecord", "_corrupt_record")
        .option("allowSingleQuotes", "false")
        .option("allowNonNumericNumbers", "false")
    )


def _classified(frame: Any, campaigns: Any, windows: Any) -> Any:
    """Rows with ``campaign_id``, ``bad`` (malformed, as ``events.classify`` says), ``view``
    (a valid view) and ``pairs`` (its number of windows)."""
    from pyspark.sql import functions as F

    from workloads.stream_window.events import EVENT_TYPES, FIELDS, TIME_MAX, TIME_MIN

    joined = frame.join(F.broadcast(campaigns), on="ad_id", how="left")
    t = F.col("event_time")
    bad = (
        F.col("_corrupt_record").isNotNull()
        | F.greatest(*[F.col(f).isNull() for f in FIELDS])
        | ~F.col("event_type").isin(*EVENT_TYPES)
        | F.col("campaign_id").isNull()
        | (t < TIME_MIN)
        | (t > TIME_MAX)
    )
    # Windows holding t: floor((size - (t mod slide) - 1) / slide) + 1 (see events.window_starts).
    pairs = F.floor((F.lit(windows.size) - F.pmod(t, F.lit(windows.slide)) - 1) / windows.slide) + 1
    return (
        joined.withColumn("bad", F.coalesce(bad, F.lit(True)))
        .withColumn("view", ~F.col("bad") & (F.col("event_type") == "view"))
        .withColumn("pairs", F.when(F.col("view"), pairs).otherwise(0))
    )


def _campaigns(ctx: RunContext) -> Any:
    """The campaigns table as a small frame, from the one parser every engine uses."""
    from workloads.stream_window import campaigns_path
    from workloads.stream_window.events import load_campaigns

    mapping = load_campaigns(campaigns_path(ctx.data))
    return session(ctx).createDataFrame(sorted(mapping.items()), "ad_id STRING, campaign_id STRING")


def _totals(metrics: dict[str, Any]) -> dict[str, int]:
    return {k: int(metrics.get(k) or 0) for k in ("rows", "malformed", "events", "views", "pairs")}


def _observed(frame: Any) -> Any:
    from pyspark.sql import functions as F

    return frame.observe(
        "ingest",
        F.count(F.lit(1)).alias("rows"),
        F.sum(F.col("bad").cast("long")).alias("malformed"),
        F.sum((~F.col("bad")).cast("long")).alias("events"),
        F.sum(F.col("view").cast("long")).alias("views"),
        F.sum(F.col("pairs")).alias("pairs"),
    )


class _Progress:
    """Progress events of one query (they arrive on another thread, after the sink)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.events: dict[int, dict[str, Any]] = {}

    def listener(self) -> Any:
        from pyspark.sql.streaming import StreamingQueryListener

        owner = self

        class Listener(StreamingQueryListener):
            def onQueryStarted(self, event: Any) -> None:
                pass

            def onQueryProgress(self, event: Any) -> None:
                p = event.progress
                observed = p.observedMetrics.get("ingest")
                states = p.stateOperators
                record = {
                    "batch": int(p.batchId),
                    "rows": int(p.numInputRows),
                    "duration_ms": dict(p.durationMs),
                    "processed_per_s": float(p.processedRowsPerSecond),
                    "watermark": p.eventTime.get("watermark"),
                    "observed": observed.asDict() if observed is not None else {},
                    "dropped_groups": sum(int(s.numRowsDroppedByWatermark) for s in states),
                    "end_offset": p.sources[0].endOffset if p.sources else None,
                }
                with owner.lock:
                    owner.events[record["batch"]] = record

            def onQueryIdle(self, event: Any) -> None:
                pass

            def onQueryTerminated(self, event: Any) -> None:
                pass

        return Listener()

    def wait_for(self, last: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if all(b in self.events for b in range(last + 1)):
                    return
            time.sleep(0.05)
        missing = [b for b in range(last + 1) if b not in self.events]
        raise RuntimeError(f"no progress event for micro-batches {missing[:5]} after {timeout} s")


def _set_conf(spark: Any, conf: dict[str, str]) -> dict[str, str | None]:
    old = {}
    for key, value in conf.items():
        old[key] = spark.conf.get(key, None)
        spark.conf.set(key, value)
    return old


def _restore_conf(spark: Any, old: dict[str, str | None]) -> None:
    for key, value in old.items():
        if value is None:
            spark.conf.unset(key)
        else:
            spark.conf.set(key, value)


def prewarm(ctx: RunContext) -> None:
    """Untimed warm-up of the streaming implementation: its own query over three tiny
    made-up files.

    The first micro-batch of a session costs about 5 s (planning, code generation, the state
    store's first versions), which would land in the first batches' latencies the streaming
    cell measures. The batch twin (``df``) warms only the DataFrame engine (``warm_sql``):
    its first query's cost is its own and shows in its first call."""
    import dataclasses

    from workloads.stream_window.events import FIELDS

    if ctx.engine_as(SparkEngine).spark is None or ctx.variant != "stream":
        return
    folder = ctx.scratch / "prewarm"
    folder.mkdir(parents=True, exist_ok=True)
    try:
        (folder / "campaigns.csv").write_text("ad_id,campaign_id\nad,campaign\n")
        files = []
        for i, when in enumerate((105_000, 125_000, 97_000)):
            record = {f: "x" for f in FIELDS} | {"ad_id": "ad", "event_type": "view"}
            path = folder / f"part-{i}.json"
            path.write_text(json.dumps({**record, "event_time": when}) + "\n")
            files.append(path)
        data = dataclasses.replace(
            ctx.data, root=folder, inputs=tuple(files), meta={"campaigns": "campaigns.csv"}
        )
        warm = RunContext(ctx.engine, ctx.variant, data, {**ctx.params, "rate": 0}, folder)
        run_stream(warm)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@implements("stream_window", "spark", "stream", prewarm=prewarm)
def run_stream(ctx: RunContext) -> dict[str, Any]:
    """Feed the files at the offered rate into a Structured Streaming query; stop once the
    last file's micro-batch committed."""
    from pyspark.sql import functions as F

    from workloads.stream_window import Windows, prepare
    from workloads.stream_window.feeder import Feeder, schedule, stream_metrics

    spark = session(ctx)
    windows = Windows.of(ctx.params)
    files = list(ctx.data.inputs)
    lines = ctx.prepared.get("lines") or prepare(ctx.data, ctx.params)["lines"]
    feed, checkpoint = ctx.scratch / "feed", ctx.scratch / "checkpoint"
    feeder = Feeder(files, feed, schedule(ctx, lines))
    progress = _Progress()
    final: dict[tuple[str, int], int] = {}
    commits: dict[int, tuple[float, int]] = {}
    done = threading.Event()
    lock = threading.Lock()

    def sink(batch: Any, batch_id: int) -> None:
        rows = batch.collect()
        with lock:
            for row in rows:
                final[(row["campaign_id"], int(row["start"]))] = int(row["count"])
            # The commit time: the updated counts are visible from here on.
            commits[int(batch_id)] = (time.time(), len(rows))
        if batch_id >= len(files) - 1:
            done.set()

    # Undone in reverse order whatever fails: nothing of the run outlives it (the stream's
    # input copies, its state, its listener, the session's settings).
    with ExitStack() as undo:
        undo.callback(shutil.rmtree, checkpoint, ignore_errors=True)
        undo.callback(shutil.rmtree, feed, ignore_errors=True)
        feed.mkdir(parents=True, exist_ok=True)
        undo.callback(_restore_conf, spark, _set_conf(spark, STREAM_CONF))
        listener = progress.listener()
        spark.streams.addListener(listener)
        undo.callback(spark.streams.removeListener, listener)
        source = _reader(spark.readStream).option("maxFilesPerTrigger", 1).json(str(feed))
        events = _observed(_classified(source, _campaigns(ctx), windows))
        counts = (
            events.filter(F.col("view"))
            .withColumn("ts", F.timestamp_millis("event_time"))
            .withWatermark("ts", f"{windows.lateness} milliseconds")
            .groupBy(
                F.window("ts", f"{windows.size} milliseconds", f"{windows.slide} milliseconds"),
                "campaign_id",
            )
            .count()
            .select("campaign_id", F.unix_millis("window.start").alias("start"), "count")
        )
        query = (
            counts.writeStream.outputMode("update")
            .foreachBatch(sink)
            .option("checkpointLocation", str(checkpoint))
            .trigger(processingTime="50 milliseconds")
            .start()
        )
        undo.callback(query.stop)
        began = time.perf_counter()
        feeder.start()
        undo.callback(feeder.stop)
        limit = (feeder.offsets[-1] if feeder.offsets else 0.0) + BATCH_TIMEOUT_S
        while not done.wait(0.2):
            if query.exception() is not None:
                raise RuntimeError(f"streaming query failed: {query.exception()}")
            if time.perf_counter() - began > limit:
                raise RuntimeError(f"the last micro-batch did not commit within {limit:.0f} s")
        feeder.join()
        progress.wait_for(len(files) - 1, PROGRESS_WAIT_S)

    batches = [progress.events[b] for b in range(len(files))]
    for b in batches:
        offset = json.loads(b["end_offset"] or "{}").get("logOffset")
        if offset != b["batch"]:
            raise RuntimeError(f"micro-batch {b['batch']} read up to file {offset}, not one file")
    totals = {k: sum(_totals(b["observed"])[k] for b in batches) for k in _totals({})}
    durations = [b["duration_ms"].get("triggerExecution", 0) / 1000 for b in batches]
    ctx.metrics.update(
        stream_metrics(ctx, feeder, durations, [commits[b] for b in range(len(files))])
    )
    ctx.metrics.update(
        {
            "processed_rows_per_s_median": statistics.median(b["processed_per_s"] for b in batches),
            "dropped_groups_spark": sum(b["dropped_groups"] for b in batches),
        }
    )
    return _answer(final, totals)


def _answer(final: dict[tuple[str, int], int], totals: dict[str, int]) -> dict[str, Any]:
    return {
        "counts": {f"{c}|{s}": n for (c, s), n in sorted(final.items())},
        "malformed": totals["malformed"],
        # Every (view, window) pair is counted in its window or dropped as late.
        "dropped": totals["pairs"] - sum(final.values()),
        "events": totals["events"],
        "views": totals["views"],
    }


@implements("stream_window", "spark", "df", prewarm=warm_sql, note=BATCH_NOTE)
def run_batch(ctx: RunContext) -> dict[str, Any]:
    """The same query as one batch job, with every file's late watermark from the per-file
    largest view times (``input_file_name``)."""
    from pyspark.sql import functions as F

    from workloads.stream_window import Windows

    spark = session(ctx)
    windows = Windows.of(ctx.params)
    files = [p.resolve() for p in ctx.data.inputs]
    # The local files even on a cluster: input_file_name() maps them back to `files`.
    frame = _reader(spark.read).json([local_uri(p) for p in files])
    events = _classified(frame.withColumn("file", F.input_file_name()), _campaigns(ctx), windows)
    events = events.cache()
    try:
        return _count_batch(spark, events, files, windows)
    finally:
        events.unpersist()


def _count_batch(spark: Any, events: Any, files: list[Path], windows: Any) -> dict[str, Any]:
    """``run_batch`` over the cached, classified events."""
    from pyspark.sql import functions as F

    from workloads.stream_window import late_marks

    row = events.agg(
        F.sum(F.col("bad").cast("long")).alias("malformed"),
        F.sum((~F.col("bad")).cast("long")).alias("events"),
        F.sum(F.col("view").cast("long")).alias("views"),
        F.sum("pairs").alias("pairs"),
    ).collect()[0]
    totals = {k: int(row[k] or 0) for k in ("malformed", "events", "views", "pairs")}
    views = events.filter(F.col("view"))
    latest = {
        r["file"]: int(r["latest"])
        for r in views.groupBy("file").agg(F.max("event_time").alias("latest")).collect()
    }
    # input_file_name() gives URIs: map them back to the input files (in arrival order).
    by_path = {_path(uri): value for uri, value in latest.items()}
    marks = dict(
        zip(files, late_marks([by_path.get(p) for p in files], windows.lateness), strict=True)
    )
    marks_df = spark.createDataFrame(
        [(uri, marks[_path(uri)]) for uri in latest], "file STRING, mark LONG"
    )
    counted = (
        views.join(F.broadcast(marks_df), on="file")
        .withColumn("ts", F.timestamp_millis("event_time"))
        .withColumn(
            "w", F.window("ts", f"{windows.size} milliseconds", f"{windows.slide} milliseconds")
        )
        .filter(F.unix_millis("w.end") > F.col("mark"))
        .groupBy("campaign_id", F.unix_millis("w.start").alias("start"))
        .count()
        .collect()
    )
    final = {(r["campaign_id"], int(r["start"])): int(r["count"]) for r in counted}
    return _answer(final, totals)


def _path(uri: str) -> Path:
    """The local file behind an ``input_file_name()`` URI."""
    return Path(unquote(urlparse(uri).path)).resolve()

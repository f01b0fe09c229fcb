"""Word count on Spark: the classic RDD flatMap/reduceByKey, and DataFrame split/explode/groupBy."""

from __future__ import annotations

from operator import add

from harness.engines.spark_engine import SparkEngine
from harness.registry import RunContext, implements
from workloads._spark import input_uris, session
from workloads.wordcount import JAVA_WHITESPACE_RE, WORD_RE


def _uris(ctx: RunContext) -> list[str]:
    return input_uris(ctx)


@implements("wordcount", "spark", "rdd")
def run_rdd(ctx: RunContext) -> dict[str, int]:
    """``textFile`` -> ``flatMap`` words -> ``reduceByKey`` -> map on the driver."""
    spark = session(ctx)
    partitions = ctx.engine_as(SparkEngine).partitions
    pattern = WORD_RE  # captured by value, so workers need not import this package

    def words(line: str) -> list[str]:
        return pattern.findall(line)

    lines = spark.sparkContext.textFile(",".join(_uris(ctx)), minPartitions=partitions)
    counts = lines.flatMap(words).map(lambda w: (w, 1)).reduceByKey(add, partitions)
    return dict(counts.collectAsMap())


@implements("wordcount", "spark", "df")
def run_df(ctx: RunContext) -> dict[str, int]:
    """``read.text`` -> ``split``/``explode`` -> ``groupBy().count()`` -> map on the driver."""
    from pyspark.sql import functions as F

    spark = session(ctx)
    # read.text keeps raw bytes; make them valid UTF-8 (U+FFFD) as the semantics require.
    lines = spark.read.text(_uris(ctx)).select(F.make_valid_utf8("value").alias("line"))
    words = lines.select(F.explode(F.split("line", JAVA_WHITESPACE_RE)).alias("word"))
    counts = words.where(F.col("word") != "").groupBy("word").count()
    return {row["word"]: row["count"] for row in counts.collect()}

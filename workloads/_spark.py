"""Typed access to the started Spark session, shared by every workload's Spark implementation."""

from __future__ import annotations

from typing import TYPE_CHECKING

from harness.engines.spark_engine import SparkEngine

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from harness.registry import RunContext


def session(ctx: RunContext) -> SparkSession:
    """The run's Spark session; TypeError on another engine, RuntimeError before ``start``."""
    spark = ctx.engine_as(SparkEngine).spark
    if spark is None:
        raise RuntimeError("the Spark engine has no session: start it first")
    return spark

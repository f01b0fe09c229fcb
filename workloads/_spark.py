"""Typed access to the started Spark session, shared by every workload's Spark implementation."""

from __future__ import annotations

from typing import TYPE_CHECKING

from harness.engines.spark_engine import SparkEngine

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from harness.registry import RunContext


def session(ctx: RunContext) -> SparkSession:
    """The run's Spark session; TypeError on another engine, RuntimeError before ``start``."""
    return ctx.engine_as(SparkEngine).session


def input_uris(ctx: RunContext) -> list[str]:
    """The run's input files as the engine reads them (an HDFS copy on a cluster)."""
    return ctx.engine_as(SparkEngine).input_uris(ctx.data.inputs)

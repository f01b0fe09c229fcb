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

"""Our Catalyst optimizer rules for PySpark, and the Python API to load them.

``configure(builder)`` returns a ``SparkSession.Builder`` with the rules jar on the driver
class path and ``spark.sql.extensions`` set, building the jar first if needed::

    from pyspark.sql import SparkSession
    from harness import spark_rules

    spark = spark_rules.configure(SparkSession.builder.master("local[2]")).getOrCreate()

The rules act only on plans with Python UDF filters or chained Python UDFs annotated as
constrained; other plans are left untouched.
"""

from __future__ import annotations

from typing import Any

from harness.errors import EngineUnavailable
from harness.spark_rules import build

#: Our rules: split Python UDF filters so cheap, selective ones run first; a barrier so a
#: constrained map UDF runs once per row; the paper's reorder (off unless switched on).
EXTENSIONS = "bdbench.spark.BdbenchExtensions"
#: The paper's plain reorder rule (an ordinary optimizer rule): the negative control.
PAPER_EXTENSIONS = "bdbench.spark.PaperReorderExtensions"
#: Runtime switch read at planning time: "false" makes a session with the rules behave as
#: plain Spark (one session can compare both).
RULES_ENABLED_KEY = "spark.bdbench.rules.enabled"
# Per-rule switches, read at planning time; a rule acts only when the master switch is on too.
#: The Python UDF filter split (default on).
SPLIT_ENABLED_KEY = "spark.bdbench.rules.split.enabled"
#: The barrier that makes a constrained map UDF run once per row (default on).
BARRIER_ENABLED_KEY = "spark.bdbench.rules.barrier.enabled"
#: The paper's conjunct reorder: off by default under ``EXTENSIONS`` (set it "true", with
#: ``SPLIT_ENABLED_KEY`` "false", to emulate the paper control), on under ``PAPER_EXTENSIONS``.
PAPER_ENABLED_KEY = "spark.bdbench.rules.paper.enabled"


def unavailable_reason() -> str | None:
    """Why the rules cannot be loaded here (None when they can)."""
    if not build.sources():
        return (
            "spark rules: the Catalyst optimizer rules are not part of this version yet (issue #4)"
        )
    return build.unavailable_reason()


def configure(builder: Any, extensions: str = EXTENSIONS) -> Any:
    """Return ``builder`` with the rules jar and ``spark.sql.extensions`` set."""
    reason = unavailable_reason()
    if reason is not None:
        raise EngineUnavailable(reason)
    jar = str(build.build_jar())
    return (
        builder.config("spark.jars", jar)
        .config("spark.driver.extraClassPath", jar)
        .config("spark.sql.extensions", extensions)
    )

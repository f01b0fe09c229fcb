"""UDF map chain: the paper's "constrained activity", two chained Python map UDFs.

Input: the ``udf_filter`` histories (the same generator, ``workloads._udf.data``, and format:
``id,t0 t1 ... t255`` lines, temperatures in 0.1 degC). Every row gets two derived columns::

    rows.withColumn("a", damage(history, p)).withColumn("b", severity(a))

``damage`` is the expensive UDF, ``workloads._udf.udfs.fatigue_damage`` (Miner damage of
the history, normalised by ``p``, default 600); ``severity`` is the cheap one
(``udfs.severity``: the band ``min(9, int(a * 4))``, null for null). ``damage`` is declared
*constrained*: its result must be computed once per row and fed to ``severity``, never computed
again inside it.

The answer is the list of ``[id, a, b]`` rows sorted by id. Every engine calls the same Python
functions (numpy their exact vectorised twins), so the values must be exactly equal. How often
``damage`` runs is the point of the benchmark:

* ``spark`` ``df``: plain Spark (rules off) collapses the two projections into one eval node
  computing ``[damage(h, p), severity(damage(h, p))]``: ``damage`` runs twice per row. With
  rules on, our barrier strategy materialises ``damage`` once per row (annotation
  ``spark.bdbench.udf.constrained.damage=true``, set by the implementation).
* ``numpy`` and ``mrjob`` compute ``a`` once per row by construction (no rules switch).

Each run records exact calls per UDF, seconds inside each, rows and ``damage_calls_per_row``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from harness.errors import UserError
from harness.registry import CheckResult, Workload, register_workload
from workloads._udf import udfs as shared_udfs
from workloads._udf.data import make_data, read_rows
from workloads.udf_map import udfs

if TYPE_CHECKING:
    from harness.datasets import Dataset

#: The UDF names (Spark sees them as the Python functions' names; the annotation key uses them).
DAMAGE = "damage"
SEVERITY = "severity"
DEFAULT_PARAMS: dict[str, Any] = {"p": 600}
Row = list[Any]


def check_params(params: Mapping[str, Any]) -> None:
    """One clear error for a bad parameter value."""
    p = params.get("p")
    if not isinstance(p, int | float) or isinstance(p, bool) or int(p) <= 0:
        raise UserError("udf_map: p must be a number of at least 1")


def reference(data: Dataset, params: Mapping[str, Any]) -> list[Row]:
    """``[id, a, b]`` per row, sorted by id (plain Python, one row at a time)."""
    p = params["p"]
    ids, histories = read_rows(list(data.inputs))
    rows = []
    for row_id, history in zip(ids, histories, strict=True):
        a = shared_udfs.fatigue_damage(history, p)
        rows.append([row_id, a, udfs.severity(a)])
    return sorted(rows, key=lambda r: r[0])


def normalise(answer: Any) -> list[Row]:
    """An answer as JSON-like ``[int, float | None, int | None]`` rows (numpy scalars, tuples
    and Spark rows become plain Python values)."""
    rows = []
    for row_id, a, b in answer:
        rows.append([int(row_id), None if a is None else float(a), None if b is None else int(b)])
    return rows


def check(answer: Any, expected: Sequence[Row]) -> CheckResult:
    """The same rows, in order, with exactly equal values."""
    if not isinstance(answer, list | tuple):
        return CheckResult(False, f"answer is a {type(answer).__name__}, not a list of rows")
    try:
        got = normalise(answer)
    except (TypeError, ValueError) as exc:
        return CheckResult(False, f"answer rows are not [id, a, b]: {exc}")
    want = [list(r) for r in expected]
    if got == want:
        return CheckResult(True, f"{len(want)} rows, [id, damage, severity] match exactly")
    if len(got) != len(want):
        return CheckResult(False, f"{len(got)} rows instead of {len(want)}")
    wrong = [(g, w) for g, w in zip(got, want, strict=True) if g != w]
    g, w = wrong[0]
    return CheckResult(False, f"{len(wrong)} rows differ, first: got {g}, expected {w}")


def digest(answer: Any) -> str:
    """SHA-256 of the normalised rows as JSON."""
    return hashlib.sha256(json.dumps(normalise(answer)).encode()).hexdigest()


def run_metrics(calls: Mapping[str, int], seconds: Mapping[str, float], rows: int,
                parallelism: int = 1) -> dict[str, Any]:  # fmt: skip
    """What an implementation records: exact calls per UDF, seconds inside each (summed over
    workers), rows, how many times ``damage`` ran per row (1 when constrained as declared), and
    the UDF work of the ideal plan (each UDF once per row, at this run's per-call costs)."""
    counted = {k: int(v) for k, v in calls.items()}
    work = {k: float(v) for k, v in seconds.items()}
    optimal = sum(work[k] / counted[k] * rows for k in counted if counted[k] and k in work)
    return {
        "calls": counted,
        "udf_seconds": work,
        "rows": rows,
        "damage_calls_per_row": counted.get(DAMAGE, 0) / rows if rows else None,
        "udf_work_s": sum(work.values()),
        "optimal_work_s": optimal,
        "parallelism": parallelism,
    }


UDF_MAP = register_workload(
    Workload(
        name="udf_map",
        version="1",
        description="two chained Python map UDFs, damage(history) then severity(damage); "
        "damage is constrained (the paper's constrained activity: computed once per row)",
        scale_sizes={"tiny": 1_000, "small": 30_000, "medium": 300_000, "large": 3_000_000},
        unit="rows",
        make_data=make_data,
        reference=reference,
        check=check,
        digest=digest,
        to_json=lambda answer: normalise(answer),
        items=lambda expected: len(expected),
        params=DEFAULT_PARAMS,
        accepts_input=False,
        # Measured: 30,854,656 bytes for small's 30,000 rows (the data udf_filter shares).
        bytes_per_item=1028.5,
        # numpy and mrjob compute damage once per row by construction: no rules switch.
        rules_modes=(),
        default_rules="both",
        check_params=check_params,
    )
)

from workloads.udf_map import impl_duckdb, impl_mrjob, impl_numpy, impl_polars, impl_spark  # noqa: E402, F401

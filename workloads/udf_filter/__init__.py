"""UDF filter reordering: keep the rows that pass a chain of Python UDF filters.

The paper's example (``scenario=paper``, the default): each input row is one load case of a
component, a history of ``HISTORY`` temperatures (integers, 0.1 degC). The workflow is::

    rows.filter(udfA_99(history, p) > 0.7).filter(udfB_10(history, q) > 0)

``udfA_99`` is the expensive fatigue-damage UDF (``udfs.fatigue_damage``: simple range
counting of half cycles, Basquin exponent 3, normalised by ``p``) and ``udfB_10`` the cheap
transient-start UDF (``udfs.transient_start``: largest single-step rise among the first 8
samples minus ``q``). Their names carry the paper's cost annotations (99 and 10). ``udfs`` is
``workloads._udf.udfs``, shared with ``udf_map`` (which reads the same input).

The sweep (``scenario=sweep``): ``filters`` synthetic UDFs ``spin0..`` whose per-row cost is
real CPU work (``udfs.spin``: 32-bit LCG steps). ``spin0`` is the cheap one (1 unit, passes a
fraction ``selectivity``); the last costs ``cost_ratio`` units; the ones between cost the
geometric steps between (rounded) and, like the last, pass about half the rows. Each UDF
hashes the row id with its own salt, so the predicates are close to independent.

``order`` is the written order: ``expensive_first`` (the paper's, the one that needs an
optimizer) or ``cheap_first``. Every engine must return the same rows: the answer is the
sorted list of ids of the rows that pass every filter (a null UDF value never passes).
How each engine evaluates the chain is the point of the benchmark:

* ``spark`` ``df``: DataFrame filters with Python UDFs. Rules off: plain Spark evaluates
  every UDF of the chain on every row. Rules on: our Catalyst rules split the evaluation so
  each UDF only sees rows that passed the cheaper ones (ranked by ``cost / (1 - selectivity)``
  from the annotations: name suffix, else the measured profile). Paper: the paper's reorder
  rule alone (the negative control: same calls as off).
* ``numpy`` and ``mrjob``: short-circuit evaluation, vectorised on numpy, row by row in the
  mapper; rules off = the written order, on = the same ranked order as Spark's rules.

Before the first run of a dataset the runner profiles each UDF (``prepare``): per-row cost
(pure Python, on a sample) and selectivity. The profile is stored beside the data and used by
later runs (measured annotations); the reference also stores how many rows pass every subset
of the filters, so each run can report the work the optimal order would do.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from harness.errors import UserError
from harness.registry import CheckResult, Workload, register_workload
from harness.rules import RulesMode
from harness.spark_rules import costs
from workloads._udf import udfs
from workloads._udf.data import count_rows, make_data, read_rows

if TYPE_CHECKING:
    from harness.datasets import Dataset

#: Rows profiled by ``prepare`` (the first ones of the input).
PROFILE_ROWS = 500
DEFAULT_PARAMS: dict[str, Any] = {
    "scenario": "paper",
    "order": "expensive_first",
    "p": 600,
    "q": 100,
    "cost_ratio": 10,
    "selectivity": 0.1,
    "filters": 2,
}
SCENARIOS = ("paper", "sweep")
ORDERS = ("expensive_first", "cheap_first")
Spec = udfs.Spec


def check_params(params: Mapping[str, Any]) -> None:
    """One clear error for a bad parameter value."""
    if params.get("scenario") not in SCENARIOS:
        raise UserError(f"udf_filter: scenario must be one of {', '.join(SCENARIOS)}")
    if params.get("order") not in ORDERS:
        raise UserError(f"udf_filter: order must be one of {', '.join(ORDERS)}")
    if not isinstance(params.get("filters"), int) or not 2 <= params["filters"] <= 6:
        raise UserError("udf_filter: filters must be an integer from 2 to 6")
    ratio = params.get("cost_ratio")
    if not isinstance(ratio, int | float) or isinstance(ratio, bool) or not 1 <= ratio <= 10_000:
        raise UserError("udf_filter: cost_ratio must be a number from 1 to 10000")
    sel = params.get("selectivity")
    if not isinstance(sel, int | float) or isinstance(sel, bool) or not 0 <= sel <= 1:
        raise UserError("udf_filter: selectivity must be a number from 0 to 1")
    for key in ("p", "q"):
        if not isinstance(params.get(key), int | float) or params[key] <= 0:
            raise UserError(f"udf_filter: {key} must be a positive number")


def filter_specs(params: Mapping[str, Any]) -> list[Spec]:
    """The filters of a scenario, in the written order."""
    check_params(params)
    if params["scenario"] == "paper":
        chain = [
            {"name": "udfA_99", "kind": "fatigue", "param": params["p"], "op": ">",
             "threshold": 0.7},
            {"name": "udfB_10", "kind": "transient", "param": params["q"], "op": ">",
             "threshold": 0.0},
        ]  # fmt: skip
    else:
        n, ratio = int(params["filters"]), float(params["cost_ratio"])
        chain = []
        for i in range(n):
            units = max(1, round(ratio ** (i / (n - 1))))
            share = float(params["selectivity"]) if i == 0 else 0.5
            chain.append(
                {
                    "name": f"spin{i}",
                    "kind": "spin",
                    "salt": 7919 * (i + 1),
                    "units": units,
                    "op": "<",
                    "threshold": round(share * 10000),
                }
            )
        chain.reverse()  # expensive first
    if params["order"] == "cheap_first":
        chain.reverse()
    return chain


def ranked(specs: Sequence[Spec], conf: Mapping[str, str]) -> list[Spec]:
    """``specs`` in our rules' order: ascending ``cost / (1 - selectivity)`` (stable)."""
    return sorted(specs, key=lambda s: costs.rank(costs.resolve(s["name"], conf)))


def annotation_conf(prepared: Mapping[str, Any]) -> dict[str, str]:
    """The measured profile as annotation conf entries (lowest precedence, after suffixes)."""
    return costs.measured_conf(prepared.get("udfs", {}))


def evaluation_order(
    specs: Sequence[Spec], rules: RulesMode, prepared: Mapping[str, Any]
) -> list[Spec]:
    """Written order with rules off; ranked order with rules on (numpy and mrjob)."""
    return ranked(specs, annotation_conf(prepared)) if rules is RulesMode.ON else list(specs)


def _pass_matrix(specs: Sequence[Spec], ids: list[int], histories: list[str]) -> list[int]:
    """Per row, a bitmask of the filters it passes (bit i = ``specs[i]``), plain Python."""
    masks = []
    for row_id, history in zip(ids, histories, strict=True):
        mask = 0
        for i, spec in enumerate(specs):
            if udfs.passes(spec, udfs.value(spec, row_id, history)):
                mask |= 1 << i
        masks.append(mask)
    return masks


def reference(data: Dataset, params: Mapping[str, Any]) -> dict[str, Any]:
    """Ids passing every filter, and rows passing each subset of filters (plain Python)."""
    specs = filter_specs(params)
    ids, histories = read_rows(list(data.inputs))
    masks = _pass_matrix(specs, ids, histories)
    full = (1 << len(specs)) - 1
    # passing[subset] = rows that pass every filter of the subset (keys: sorted filter names).
    passing = {}
    for size in range(len(specs) + 1):
        for subset in itertools.combinations(range(len(specs)), size):
            bits = sum(1 << i for i in subset)
            key = ",".join(sorted(specs[i]["name"] for i in subset))
            passing[key] = sum(1 for m in masks if m & bits == bits)
    return {
        "rows": len(ids),
        "ids": sorted(i for i, m in zip(ids, masks, strict=True) if m == full),
        "passing": passing,
    }


def prepare(data: Dataset, params: Mapping[str, Any]) -> dict[str, Any]:
    """Profile each UDF on the first rows: seconds per call (best of 3) and selectivity, with
    the input's row count (the rows a query gives each UDF, for the planner)."""
    specs = filter_specs(params)
    rows = float(count_rows(list(data.inputs)))
    ids, histories = read_rows(list(data.inputs), PROFILE_ROWS)
    profile: dict[str, dict[str, float]] = {}
    for spec in specs:
        best = math.inf
        passed = 0
        for _ in range(3):
            began = time.perf_counter()
            results = [udfs.value(spec, i, h) for i, h in zip(ids, histories, strict=True)]
            best = min(best, time.perf_counter() - began)
            passed = sum(1 for r in results if udfs.passes(spec, r))
        n = max(len(ids), 1)
        profile[spec["name"]] = {"cost": best / n, "selectivity": passed / n, "rows": rows}
    return {"udfs": profile, "sample_rows": len(ids), "measured_at": time.time()}


def answer_ids(answer: Any) -> list[int]:
    """The id list of an answer (a reference answer is a dict holding it)."""
    if isinstance(answer, Mapping):
        return list(answer.get("ids", []))
    return list(answer)


def check(answer: Any, expected: Mapping[str, Any]) -> CheckResult:
    """The same ids, in order."""
    if not isinstance(answer, list | tuple | Mapping):
        return CheckResult(False, f"answer is a {type(answer).__name__}, not a list of ids")
    got, want = answer_ids(answer), list(expected["ids"])
    if got == want:
        return CheckResult(True, f"{len(want)} of {expected['rows']} rows pass, ids match")
    missing = sorted(set(want) - set(got))
    extra = sorted(set(got) - set(want))
    return CheckResult(
        False,
        f"{len(got)} ids instead of {len(want)}: missing {missing[:3]}, unexpected {extra[:3]}",
    )


def digest(answer: Any) -> str:
    """SHA-256 of the id list."""
    return hashlib.sha256(json.dumps(answer_ids(answer)).encode()).hexdigest()


def optimal_calls(specs: Sequence[Spec], passing: Mapping[str, int], cost: Mapping[str, float]
                  ) -> tuple[list[str], dict[str, int]]:  # fmt: skip
    """The cheapest evaluation order for the given per-call costs (brute force over orders,
    exact joint pass counts) and the calls each UDF gets in it."""
    best: tuple[float, list[str], dict[str, int]] | None = None
    for order in itertools.permutations([s["name"] for s in specs]):
        calls = {}
        for k, name in enumerate(order):
            calls[name] = passing[",".join(sorted(order[:k]))]
        work = sum(calls[n] * cost[n] for n in order)
        if best is None or work < best[0]:
            best = (work, list(order), calls)
    assert best is not None
    return best[1], best[2]


def run_metrics(
    calls: Mapping[str, int],
    seconds: Mapping[str, float],
    evaluated: Sequence[str] | None,
    parallelism: int,
    grouping: Sequence[Sequence[str]] | None = None,
) -> dict[str, Any]:
    """What an implementation records in its timed region: exact calls per UDF, seconds
    inside each UDF (summed over workers), the order it evaluated them in (None: all at once),
    how many workers evaluated UDFs at the same time, and ``grouping``: the UDFs evaluated
    together, step by step (Spark: the eval nodes bottom-up; default one UDF per step of
    ``evaluated``, or all in one step)."""
    if grouping is None:
        grouping = [[n] for n in evaluated] if evaluated is not None else [list(calls)]
    return {
        "calls": {k: int(v) for k, v in calls.items()},
        "udf_seconds": {k: float(v) for k, v in seconds.items()},
        "evaluated_order": list(evaluated) if evaluated is not None else None,
        "grouping": [list(g) for g in grouping],
        "parallelism": parallelism,
    }


def finish_metrics(
    metrics: dict[str, Any],
    expected: Mapping[str, Any],
    params: Mapping[str, Any],
    prepared: Mapping[str, Any],
) -> None:
    """Add the work the optimal order would have done (after the timed region).

    The per-call mean of ``udf_seconds`` is the in-run cost that prices both this run's work
    and the optimal order's; the report turns ``udf_work_s - optimal_work_s`` (divided by
    ``parallelism``) into the ideal speedup.
    """
    udf = metrics.get("udf")
    if not isinstance(udf, dict):
        return
    specs = filter_specs(params)
    calls, seconds = udf["calls"], udf["udf_seconds"]
    profile = prepared.get("udfs", {})
    per_call = {}
    for spec in specs:
        name = spec["name"]
        if calls.get(name):
            per_call[name] = seconds.get(name, 0.0) / calls[name]
        else:  # no row reached it: price it by the profile
            per_call[name] = float(profile.get(name, {}).get("cost", 0.0))
    order, best_calls = optimal_calls(specs, expected["passing"], per_call)
    udf.update(
        written_order=[s["name"] for s in specs],
        rows=expected["rows"],
        rows_out=len(expected["ids"]),
        per_call_s=per_call,
        udf_work_s=sum(seconds.get(s["name"], 0.0) for s in specs),
        optimal_order=order,
        optimal_calls=best_calls,
        optimal_work_s=sum(best_calls[n] * per_call[n] for n in order),
        survivor_calls_exact=survivor_calls_exact(udf, expected["passing"]),
    )


def survivor_calls_exact(udf: Mapping[str, Any], passing: Mapping[str, int]) -> bool | None:
    """Whether each UDF was called exactly once per row that reached its step: the rows that
    passed every UDF of the steps before (None when the run evaluated them all in one step)."""
    grouping = udf.get("grouping")
    if grouping is None and udf.get("evaluated_order"):  # a record from before groupings
        grouping = [[n] for n in udf["evaluated_order"]]
    if not grouping or len(grouping) < 2:
        return None
    before: list[str] = []
    for group in grouping:
        reached = passing[",".join(sorted(before))]
        if any(udf["calls"].get(name) != reached for name in group):
            return False
        before.extend(group)
    return True


UDF_FILTER = register_workload(
    Workload(
        name="udf_filter",
        version="2",
        description="rows passing a chain of Python UDF filters (the paper's fatigue/transient "
        "example, or a cost x selectivity sweep)",
        scale_sizes={"tiny": 1_000, "small": 30_000, "medium": 300_000, "large": 3_000_000},
        unit="rows",
        make_data=make_data,
        reference=reference,
        check=check,
        digest=digest,
        items=lambda expected: int(expected["rows"]),
        params=DEFAULT_PARAMS,
        accepts_input=False,
        # Measured: 30,854,656 bytes for small's 30,000 rows (the data udf_map shares).
        bytes_per_item=1028.5,
        rules_modes=(RulesMode.OFF, RulesMode.ON),
        default_rules="all",
        prepare=prepare,
        finish_metrics=finish_metrics,
        check_params=check_params,
    )
)

from workloads.udf_filter import impl_duckdb, impl_mrjob, impl_numpy, impl_polars, impl_spark  # noqa: E402, F401

"""UDF filters on NumPy: vectorised, each filter evaluated only on the rows still alive."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from harness.registry import RunContext, implements
from workloads.udf_filter import evaluation_order, filter_specs, run_metrics

if TYPE_CHECKING:  # numpy is imported when a run needs it: bdbench --help stays light
    import numpy as np


def load(ctx: RunContext) -> tuple[np.ndarray, np.ndarray]:
    """Row ids and the (rows, samples) int64 history array of the input (parsed at once)."""
    import numpy as np

    text = " ".join(p.read_text(encoding="utf-8").replace(",", " ") for p in ctx.data.inputs)
    lines = sum(1 for p in ctx.data.inputs for line in p.open() if line.strip())
    table = np.array(text.split(), dtype=np.int64).reshape(lines, -1)
    return table[:, 0], table[:, 1:]


@implements("udf_filter", "numpy")
def run(ctx: RunContext) -> list[int]:
    """Short-circuit chain: written order (rules off) or ranked order (rules on)."""
    import numpy as np

    from workloads.udf_filter import vectorised

    specs = filter_specs(ctx.params)
    order = evaluation_order(specs, ctx.rules, ctx.prepared)
    ids, temps = load(ctx)
    alive = np.arange(len(ids))
    calls: dict[str, int] = {}
    seconds: dict[str, float] = {}
    for spec in order:
        began = time.perf_counter()
        values = vectorised.values(spec, ids[alive], temps[alive])
        keep = vectorised.passes(spec, values)
        seconds[spec["name"]] = time.perf_counter() - began
        calls[spec["name"]] = len(alive)
        alive = alive[keep]
    ctx.metrics["udf"] = run_metrics(calls, seconds, [s["name"] for s in order], parallelism=1)
    return sorted(ids[alive].tolist())

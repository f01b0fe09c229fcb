"""UDF map chain on NumPy: both UDFs vectorised over all rows, ``damage`` computed once."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from harness.registry import RunContext, implements
from workloads._udf.data import load
from workloads.udf_map import DAMAGE, SEVERITY, Row, run_metrics, udfs

if TYPE_CHECKING:  # numpy is imported when a run needs it: bdbench --help stays light
    import numpy as np


def severity(damage: np.ndarray) -> np.ndarray:
    """Row-wise ``udfs.severity`` (damage is never negative, so truncation is ``int``'s)."""
    import numpy as np

    return np.minimum(udfs.MAX_BAND, (damage * udfs.BANDS_PER_UNIT).astype(np.int64))


@implements("udf_map", "numpy")
def run(ctx: RunContext) -> list[Row]:
    """Parse every history at once, then ``a = damage(temps)``, ``b = severity(a)``."""
    import numpy as np

    from workloads._udf import vectorised

    ids, temps = load(ctx.data.inputs)
    began = time.perf_counter()
    a = vectorised.fatigue_damage(temps, ctx.params["p"])
    damage_s = time.perf_counter() - began
    began = time.perf_counter()
    b = severity(a)
    severity_s = time.perf_counter() - began
    n = len(ids)
    ctx.metrics["udf"] = run_metrics(
        {DAMAGE: n, SEVERITY: n}, {DAMAGE: damage_s, SEVERITY: severity_s}, n
    )
    order = np.argsort(ids, kind="stable")
    return [list(r) for r in zip(ids[order].tolist(), a[order].tolist(), b[order].tolist(),
                                 strict=True)]  # fmt: skip

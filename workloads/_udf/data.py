"""The input of the UDF workloads: load-case temperature histories, one ``id,t0 t1 ...`` line
per row (integers, 0.1 degC), generated once and read by ``udf_filter`` and ``udf_map`` alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workloads._udf import udfs

if TYPE_CHECKING:  # numpy is imported when a run needs it: bdbench --help stays light
    import numpy as np

#: Temperatures per history.
HISTORY = 256


def count_rows(paths: Sequence[Path]) -> int:
    """Non-blank lines (rows) of the input files."""
    total = 0
    for path in paths:
        with path.open("rb") as handle:
            total += sum(1 for line in handle if line.strip())
    return total


def read_rows(paths: Sequence[Path], limit: int | None = None) -> tuple[list[int], list[str]]:
    """Row ids and history texts of the input files (the first ``limit`` rows)."""
    ids: list[int] = []
    histories: list[str] = []
    for path in paths:
        with path.open(encoding="utf-8") as handle:
            for line in handle:
                if not line.strip():
                    continue
                row_id, history = udfs.parse_line(line)
                ids.append(row_id)
                histories.append(history)
                if limit is not None and len(ids) >= limit:
                    return ids, histories
    return ids, histories


def load(paths: Sequence[Path]) -> tuple[np.ndarray, np.ndarray]:
    """Row ids and the (rows, samples) int64 history array of the input (parsed at once)."""
    import numpy as np

    text = " ".join(p.read_text(encoding="utf-8").replace(",", " ") for p in paths)
    lines = sum(1 for p in paths for line in p.open() if line.strip())
    table = np.array(text.split(), dtype=np.int64).reshape(lines, -1)
    return table[:, 0], table[:, 1:]


def make_data(folder: Path, size: int, seed: int) -> dict[str, Any]:
    """``size`` load-case histories: ``id,t0 t1 ...`` lines (0.1 degC integers)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    path = folder / "histories.csv"
    transients = 0
    with path.open("w", encoding="utf-8") as out:
        for start in range(0, size, 20_000):
            n = min(20_000, size - start)
            base = rng.integers(200, 600, n)
            # Load cycles of varied amplitude and period, plus sensor noise.
            amplitude = rng.gamma(2.0, 40.0, n)
            period = rng.integers(6, 24, n)
            phase = rng.uniform(0, 2 * np.pi, n)
            t = np.arange(HISTORY)
            cycles = amplitude[:, None] * np.sin(2 * np.pi * t[None, :] / period[:, None]
                                                 + phase[:, None])  # fmt: skip
            noise = rng.normal(0, 4, (n, HISTORY))
            temps = base[:, None] + cycles + noise
            # About one case in ten starts with a thermal transient: a fast ramp.
            jump = rng.random(n) < 0.1
            transients += int(jump.sum())
            ramp = np.clip(t[None, :] - 2, 0, 3) * rng.uniform(60, 140, n)[:, None]
            temps = temps + np.where(jump[:, None], ramp, 0.0)
            temps = np.rint(temps).astype(np.int64)
            lines = [
                f"{start + i}," + " ".join(map(str, row)) for i, row in enumerate(temps.tolist())
            ]
            out.write("\n".join(lines) + "\n")
    return {"files": [path.name], "rows": size, "history": HISTORY, "transients": transients}

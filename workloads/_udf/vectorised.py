"""NumPy twins of ``udfs``: the same values for many rows at once (exact, integer arithmetic).

Each function evaluates only the rows it is given, so a filter applied to the survivors of
a cheaper one costs proportionally less, as on the other engines.
"""

from __future__ import annotations

import numpy as np

from workloads._udf import udfs


def fatigue_damage_sum(temps: np.ndarray) -> np.ndarray:
    """Row-wise ``udfs.fatigue_damage_sum`` of a (rows, samples) int64 array."""
    rows = temps.shape[0]
    total = np.zeros(rows, dtype=np.int64)
    run = np.zeros(rows, dtype=np.int64)
    direction = np.zeros(rows, dtype=np.int64)
    steps = np.diff(temps, axis=1)
    # One pass over time, vectorised over rows: the same state machine as the Python UDF.
    for j in range(steps.shape[1]):
        step = steps[:, j]
        sign = np.sign(step)
        turn = (sign != 0) & (direction != 0) & (sign != direction)
        total += np.where(turn, np.abs(run) ** 3, 0)
        run = np.where(turn, step, run + step)
        direction = np.where(sign != 0, sign, direction)
    return total + np.abs(run) ** 3


def fatigue_damage(temps: np.ndarray, p: float) -> np.ndarray:
    """Row-wise ``udfs.fatigue_damage`` (float64, identical values)."""
    # Sums stay far below 2**53, so the conversion is exact and the division rounds like Python.
    return fatigue_damage_sum(temps).astype(np.float64) / float(2 * int(p) ** 3)


def transient_start(temps: np.ndarray, q: float) -> np.ndarray:
    """Row-wise ``udfs.transient_start``."""
    head = temps[:, : udfs.TRANSIENT_WINDOW + 1]
    if head.shape[1] < 2:
        return np.full(temps.shape[0], -float(q))
    rise = np.diff(head, axis=1).max(axis=1)
    return (rise - q).astype(np.float64)


def fmix32(h: np.ndarray) -> np.ndarray:
    """Element-wise ``udfs.fmix32`` on uint64 lanes holding 32-bit values."""
    mask = np.uint64(udfs.MASK32)
    h = h ^ (h >> np.uint64(16))
    h = (h * np.uint64(0x85EBCA6B)) & mask  # < 2**64: exact in uint64
    h = h ^ (h >> np.uint64(13))
    h = (h * np.uint64(0xC2B2AE35)) & mask
    return h ^ (h >> np.uint64(16))


def spin(row_ids: np.ndarray, salt: int, units: int) -> np.ndarray:
    """Row-wise ``udfs.spin``: the same 32-bit arithmetic in uint64 lanes."""
    mask = np.uint64(udfs.MASK32)
    x = fmix32((row_ids.astype(np.uint64) * np.uint64(udfs.HASH_A) + np.uint64(salt)) & mask)
    a, c = np.uint64(udfs.LCG_A), np.uint64(udfs.LCG_C)
    for _ in range(units * udfs.SPIN_STEPS_PER_UNIT):
        x = (x * a + c) & mask  # < 2**32 * 2**21 + c: no uint64 overflow
    return (fmix32(x ^ np.uint64(salt)) % np.uint64(10000)).astype(np.float64)


def values(spec: dict[str, object], row_ids: np.ndarray, temps: np.ndarray) -> np.ndarray:
    """Row-wise ``udfs.value`` for the given rows."""
    kind = spec["kind"]
    if kind == "fatigue":
        return fatigue_damage(temps, float(spec["param"]))  # type: ignore[arg-type]
    if kind == "transient":
        return transient_start(temps, float(spec["param"]))  # type: ignore[arg-type]
    if kind == "spin":
        return spin(row_ids, int(spec["salt"]), int(spec["units"]))  # type: ignore[call-overload]
    raise ValueError(f"unknown UDF kind {kind!r}")


def passes(spec: dict[str, object], result: np.ndarray) -> np.ndarray:
    """Row-wise ``udfs.passes``."""
    threshold = float(spec["threshold"])  # type: ignore[arg-type]
    return result > threshold if spec["op"] == ">" else result < threshold

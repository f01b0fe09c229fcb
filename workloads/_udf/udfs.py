"""The Python UDFs of the ``udf_filter`` and ``udf_map`` workloads (one row at a time).

Self-contained on purpose (standard library only): mrjob ships this file next to its job
script, and Spark pickles it by value, so neither needs bdbench installed where tasks run.
Every engine evaluates exactly these functions (numpy has vectorised twins, tested equal).
``udf_map``'s expensive UDF is ``fatigue_damage`` itself.

A filter is a dict ("spec"):

* ``{"name", "kind": "fatigue", "param": p, "op": ">", "threshold": t}``: the paper's
  expensive UDF, fatigue damage of a temperature history;
* ``{"name", "kind": "transient", "param": q, "op": ">", "threshold": t}``: the paper's cheap
  UDF, whether the history starts with a thermal transient;
* ``{"name", "kind": "spin", "salt": s, "units": u, "op": "<", "threshold": cut}``: a synthetic
  UDF whose per-row cost is ``u`` units of real CPU work (an LCG) and which passes a fraction
  ``cut / 10000`` of rows (the sweep).

A row passes a filter when ``value(spec, row_id, history) <op> threshold``; ``history`` is the
row's temperature history as text (``"512 515 509 ..."``).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

#: LCG steps per unit of ``spin`` cost (one unit is a few microseconds of Python).
SPIN_STEPS_PER_UNIT = 40
#: Samples at the start of a history inspected by ``transient_start``.
TRANSIENT_WINDOW = 8
MASK32 = 0xFFFFFFFF
LCG_A = 1664525
LCG_C = 1013904223
#: Knuth's multiplicative hash, to spread row ids before the LCG.
HASH_A = 2654435761
#: A filter, as described above.
Spec = dict[str, Any]


def parse_line(line: str) -> tuple[int, str]:
    """``"17,512 515 509"`` -> ``(17, "512 515 509")``: row id and the history text
    (temperatures in 0.1 degC); each UDF parses what it needs of the history."""
    row_id, _, history = line.strip().partition(",")
    return int(row_id), history


def fatigue_damage_sum(temps: Sequence[int]) -> int:
    """Sum of cubed half-cycle ranges of a history (simple range counting).

    A half cycle is a maximal run of steps in one direction (flat steps extend the current
    run); its range is the absolute temperature change over the run. Basquin exponent 3.
    """
    total = 0
    run = 0
    direction = 0
    previous = temps[0] if len(temps) else 0
    for t in temps[1:]:
        step = t - previous
        previous = t
        if step > 0:
            sign = 1
        elif step < 0:
            sign = -1
        else:
            run += step
            continue
        if direction != 0 and sign != direction:
            total += abs(run) ** 3
            run = step
        else:
            run += step
        direction = sign
    return total + abs(run) ** 3


def parse_history(history: str) -> list[int]:
    """``"512 515 509"`` -> ``[512, 515, 509]``."""
    return [int(t) for t in history.split()]


def fatigue_damage(history: str | None, p: float) -> float | None:
    """Miner damage of a history (text): half-cycle ranges cubed, normalised by ``2 * p**3``.

    It parses the whole history: the expensive UDF.
    """
    if history is None:
        return None
    return fatigue_damage_sum(parse_history(history)) / (2 * int(p) ** 3)


def transient_head(history: str) -> list[int]:
    """The first ``TRANSIENT_WINDOW + 1`` samples of a history (text), parsing no further."""
    return [int(t) for t in history.split(None, TRANSIENT_WINDOW + 1)[: TRANSIENT_WINDOW + 1]]


def transient_start(history: str | None, q: float) -> float | None:
    """Largest single-step rise among the first samples, minus the threshold ``q``.

    It parses only the head of the history: the cheap UDF.
    """
    if history is None:
        return None
    head = transient_head(history)
    rise = max((b - a for a, b in itertools.pairwise(head)), default=0)
    return float(rise - q)


def fmix32(h: int) -> int:
    """MurmurHash3's 32-bit finaliser: a bijective, non-linear mix of the bits."""
    h ^= h >> 16
    h = (h * 0x85EBCA6B) & MASK32
    h ^= h >> 13
    h = (h * 0xC2B2AE35) & MASK32
    return h ^ (h >> 16)


def spin(row_id: int | None, salt: int, units: int) -> float | None:
    """``units`` units of CPU work seeded by the row: a 32-bit LCG; returns a value in [0, 1e4).

    The seed and the result are mixed with the salt non-linearly (``fmix32``), so UDFs with
    different salts pass nearly independent sets of rows (an LCG alone is linear in its seed).
    """
    if row_id is None:
        return None
    x = fmix32((row_id * HASH_A + salt) & MASK32)
    for _ in range(units * SPIN_STEPS_PER_UNIT):
        x = (x * LCG_A + LCG_C) & MASK32
    return float(fmix32(x ^ salt) % 10000)


def value(spec: dict[str, object], row_id: int, history: str) -> float | None:
    """The UDF value of one row for filter ``spec``."""
    kind = spec["kind"]
    if kind == "fatigue":
        return fatigue_damage(history, float(spec["param"]))  # type: ignore[arg-type]
    if kind == "transient":
        return transient_start(history, float(spec["param"]))  # type: ignore[arg-type]
    if kind == "spin":
        return spin(row_id, int(spec["salt"]), int(spec["units"]))  # type: ignore[call-overload]
    raise ValueError(f"unknown UDF kind {kind!r}")


def passes(spec: dict[str, object], result: float | None) -> bool:
    """Whether a UDF value passes the filter (a null never passes, as in SQL)."""
    if result is None:
        return False
    threshold = float(spec["threshold"])  # type: ignore[arg-type]
    return result > threshold if spec["op"] == ">" else result < threshold

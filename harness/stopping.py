"""How many values a cell gets: pyperf's worker processes with asv-style adaptive stopping.

Each cell is measured by one or more worker processes. A process starts its engine (untimed),
makes ``warmups`` recorded, flagged warm-up calls, then measured calls (values) until it has
``values`` of them or the cell is done; a new process follows while the cell is not done.
Cold (first call after start-up) and warm values stay apart: warm-ups are never measured
values, and every record says its process and its call's place in it.

A cell is done (``Policy.decide``), checked after every value:

* ``failed``: a call failed or timed out (the cell's record says why; rerunning a broken cell
  only repeats its failure);
* ``max-values``: it has ``max_values`` values;
* ``converged``: it has at least ``min_values`` values from at least ``min_processes``
  processes and the 95% interval of the median is within ``target`` of the median (relative
  half-width), the rule of thumb asv and pyperf use to stop measuring a steady benchmark;
* ``time-budget``: the cell has used ``max_time`` seconds (start-ups and warm-ups included)
  and has at least ``floor_values`` values: a slow cell gets few values, and says so.

``--repeats N`` gives a fixed count instead (``Policy.fixed``): exactly N values.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

#: Below this many values no interval of the median is computed.
MIN_VALUES_FOR_CI = 3

WARMUP, VALUE, STOP = "warmup", "value", "stop"


def median_ci(
    values: Sequence[float], confidence: float = 0.95
) -> tuple[float, float, float] | None:
    """Distribution-free interval for the median from order statistics: (low, high, coverage).

    With few values no pair of order statistics reaches ``confidence``; the full range is
    returned then, with its true (lower) coverage, e.g. 94% for 5 values.
    """
    from scipy.stats import binom

    n = len(values)
    if n < MIN_VALUES_FOR_CI:
        return None
    ordered = sorted(values)
    # The narrowest symmetric pair of order statistics that still reaches the confidence.
    coverage = 0.0
    for k in range(n // 2, -1, -1):
        coverage = float(binom.cdf(n - k - 1, n, 0.5) - binom.cdf(k, n, 0.5))
        if coverage >= confidence:
            return ordered[k], ordered[n - k - 1], coverage
    return ordered[0], ordered[-1], coverage


def relative_half_width(values: Sequence[float]) -> float:
    """Half the width of the median's 95% interval over the median (inf when undefined)."""
    ci = median_ci(values)
    if ci is None:
        return math.inf
    median = statistics.median(values)
    if median <= 0:
        return 0.0 if ci[0] == ci[1] else math.inf
    return (ci[1] - ci[0]) / 2 / median


@dataclass(frozen=True)
class Policy:
    """The stopping rule of a batch (recorded in its environment file)."""

    #: Recorded, flagged warm-up calls at the start of every worker process.
    warmups: int = 1
    #: Measured calls per worker process: at least ``values``, and more, up to
    #: ``values_max``, while its calls have taken less time than its start-up (so that
    #: start-ups, which are never timed, take at most about half of a cell's time).
    values: int = 3
    values_max: int = 10
    min_values: int = 6
    max_values: int = 30
    min_processes: int = 2
    #: Relative half-width of the median's 95% interval that ends a cell early.
    target: float = 0.03
    #: Seconds a cell may take (start-ups included) before it stops at ``floor_values``: the
    #: whole suite at ``small`` then fits in about 20 minutes on 2 cores.
    max_time: float = 20.0
    floor_values: int = 1
    #: A fixed count (``--repeats``): exactly this many values, the adaptive rule off.
    fixed: int | None = None

    @classmethod
    def fixed_count(cls, repeats: int, warmups: int = 1, values: int | None = None) -> Policy:
        """Exactly ``repeats`` values, ``values`` per process (default: as the start-up
        decides, see ``values``)."""
        per = {"values": values, "values_max": values} if values is not None else {}
        return cls(warmups=warmups, fixed=repeats, max_values=repeats, **per)

    def to_json(self) -> dict[str, Any]:
        """The policy as recorded in the batch's environment."""
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Policy:
        """A policy recorded by ``to_json``."""
        return cls(**data)

    def describe(self) -> str:
        """One line for the CLI and the report."""
        per = f"{self.warmups} warm-up + {self.values}-{self.values_max} values per process"
        if self.fixed is not None:
            return f"{self.fixed} values per cell ({per})"
        return (
            f"{self.min_values}-{self.max_values} values per cell ({per}, at least "
            f"{self.min_processes} processes): stop once the median's 95% interval is within "
            f"+-{self.target:.0%}, or after {self.max_time:g} s with at least "
            f"{self.floor_values} values"
        )

    def decide(self, cell: CellProgress) -> tuple[str, str | None]:
        """The next call of the cell (``warmup``, ``value`` or ``stop``) and, when it stops,
        why. ``cell`` is the state after the last call."""
        if cell.failed:
            return STOP, "failed"
        done = self._done(cell)
        if done is not None:
            return STOP, done
        if cell.calls_in_process < self.warmups:
            return WARMUP, None
        return VALUE, None

    def _done(self, cell: CellProgress) -> str | None:
        n = len(cell.values)
        if self.fixed is not None:
            return "fixed" if n >= self.fixed else None
        if n >= self.max_values:
            return "max-values"
        # The current process counts once it has made a value: one told to stop before its first
        # call (a new process, when the one before made the cell converge) would leave no
        # record at all, and its end would read as a failure.
        processes = cell.processes - (1 if cell.calls_in_process <= self.warmups else 0)
        if (
            n >= self.min_values
            and processes >= self.min_processes
            and relative_half_width(cell.values) <= self.target
        ):
            return "converged"
        if cell.elapsed >= self.max_time and n >= self.floor_values:
            return "time-budget"
        return None

    def process_full(self, cell: CellProgress) -> bool:
        """Whether the current process has made all the calls it should."""
        made = cell.calls_in_process - self.warmups
        if made < self.values:
            return False
        if made >= self.values_max:
            return True
        return cell.process_calls_s >= cell.process_startup_s


@dataclass
class CellProgress:
    """Where a cell's measurement stands."""

    #: Wall seconds of the cell's ok values so far.
    values: list[float]
    #: Worker processes started so far (the current one included).
    processes: int = 0
    #: Calls the current process has made (warm-ups included), their seconds (values only)
    #: and the process's start-up seconds.
    calls_in_process: int = 0
    process_calls_s: float = 0.0
    process_startup_s: float = 0.0
    #: Seconds since the cell's first process started.
    elapsed: float = 0.0
    failed: bool = False
    #: Warm-up and measured calls recorded so far (they number the next records).
    warmups: int = 0
    measured: int = 0
    #: The rule said stop (or the cell failed): no more processes.
    done: bool = False

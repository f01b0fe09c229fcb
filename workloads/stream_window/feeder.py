"""A file-drop source: event files copied into a folder at an offered rate, arrival stamped.

Each file is written as a hidden ``.name.tmp`` in the target folder (Spark's file source skips
names starting with ``.``), given a modification time one second after the previous file's
(Spark orders new files by it; real clocks tie at millisecond resolution), then renamed: the
rename is atomic, so a reader never sees half a file. Its arrival time is ``time.time()``
right after the rename.
"""

from __future__ import annotations

import os
import statistics
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from harness.registry import RunContext

#: Fake modification times start here (2001-09-09) and step by one second per file.
MTIME_BASE = 1_000_000_000


@dataclass
class Feeder:
    """Copies ``files`` (in arrival order) into ``target``, file ``i`` due ``offsets[i]``
    seconds after ``start()``; a background thread."""

    files: Sequence[Path]
    target: Path
    offsets: Sequence[float]
    #: ``time.time()`` at which each file appeared (filled as they do).
    arrivals: list[float] = field(default_factory=list)
    error: BaseException | None = None
    _thread: threading.Thread | None = None
    _stop: threading.Event = field(default_factory=threading.Event)

    @classmethod
    def at_rate(
        cls, files: Sequence[Path], target: Path, lines: Sequence[int], rate: float
    ) -> Feeder:
        """Offered ``rate`` events/s, paced by event count (see ``pace_by_count``)."""
        return cls(files, target, pace_by_count(lines, rate))

    def start(self) -> None:
        """Start feeding in a daemon thread."""
        self.target.mkdir(parents=True, exist_ok=True)
        self._thread = threading.Thread(target=self._run, name="bdbench-feeder", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        began = time.perf_counter()
        try:
            for i, (source, offset) in enumerate(zip(self.files, self.offsets, strict=True)):
                wait = began + offset - time.perf_counter()
                if wait > 0 and self._stop.wait(wait):
                    return
                if self._stop.is_set():
                    return
                name = f"part-{i:06d}{source.suffix}"
                hidden = self.target / f".{name}.tmp"
                hidden.write_bytes(source.read_bytes())
                os.utime(hidden, (MTIME_BASE + i, MTIME_BASE + i))
                hidden.rename(self.target / name)
                self.arrivals.append(time.time())
        except BaseException as exc:  # reported by join(): the run fails with it
            self.error = exc

    def join(self, timeout: float | None = None) -> None:
        """Wait for the last file (re-raising a feeding error)."""
        if self._thread is not None:
            self._thread.join(timeout)
        if self.error is not None:
            raise self.error

    def stop(self) -> None:
        """Stop feeding early and wait for the thread."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()


def schedule(ctx: RunContext, lines: Sequence[int]) -> list[float]:
    """Each file's due time (s after the start) at the offered rate.

    Generated data keeps its own arrival times (file ``k`` covers arrival second ``k``; quiet
    seconds have no file), sped up by ``rate`` / the data's own rate: the stream arrives the
    way it was generated, and its tail of late files keeps its spacing. Data without arrival
    times (``--input``) is paced by event count instead: each file is due once the events
    before it took their time at ``rate`` (``rate`` 0: everything at once)."""
    rate = offered_rate(ctx)
    meta = ctx.data.meta
    arrival = meta.get("arrival_ms")
    if rate > 0 and isinstance(arrival, list) and len(arrival) == len(lines):
        own = float(meta["events"]) / float(meta["duration_s"])
        return [(float(a) - float(arrival[0])) / 1000.0 * own / rate for a in arrival]
    return pace_by_count(lines, rate)


def pace_by_count(lines: Sequence[int], rate: float) -> list[float]:
    """Offsets at which each file is due when events flow at ``rate`` events/s (0: at once)."""
    offsets, due = [], 0.0
    for count in lines:
        offsets.append(due)
        due += count / rate if rate > 0 else 0.0
    return offsets


def offered_rate(ctx: RunContext) -> float:
    """The ``rate`` parameter; 0 = the generated data's own event rate (else: at once)."""
    rate = float(ctx.params["rate"])
    meta = ctx.data.meta
    if rate == 0 and meta.get("events") and meta.get("duration_s"):
        rate = float(meta["events"]) / float(meta["duration_s"])
    return rate


def percentiles(values: list[float]) -> dict[str, float | None]:
    """p50, p95, p99 and max (nearest rank), or None without values."""
    if not values:
        return {"p50": None, "p95": None, "p99": None, "max": None}
    ordered = sorted(values)

    def rank(q: float) -> float:
        return ordered[max(0, min(len(ordered) - 1, -(-int(q * len(ordered) * 100) // 100) - 1))]

    return {"p50": rank(0.50), "p95": rank(0.95), "p99": rank(0.99), "max": ordered[-1]}


def stream_metrics(
    ctx: RunContext,
    feeder: Feeder,
    durations: Sequence[float],
    commits: Sequence[tuple[float, int]],
) -> dict[str, Any]:
    """The metrics of a fed run from each micro-batch's duration (s) and ``(commit time,
    window updates)``, in batch order (batch ``i`` read file ``i``).

    A window update's latency is its batch's commit time minus the arrival of the file that
    batch read (it holds the window's latest event). ``busy_s`` (summed batch durations) is
    what throughput is measured over: the wall of a fed run is its feed's schedule."""
    latencies: list[float] = []
    batch_latencies: list[float] = []
    for i, (committed, updated) in enumerate(commits):
        batch_latencies.append(committed - feeder.arrivals[i])
        latencies += [batch_latencies[-1]] * updated
    first = feeder.arrivals[0] if feeder.arrivals else 0.0
    arrivals = [a - first for a in feeder.arrivals]
    lag = [a - (o - feeder.offsets[0]) for a, o in zip(arrivals, feeder.offsets, strict=False)]
    return {
        "offered_rate": offered_rate(ctx),
        "batches": len(durations),
        "batch_s": list(durations),
        "batch_median_s": statistics.median(durations) if durations else None,
        "busy_s": sum(durations),
        "latency_s": percentiles(latencies),
        # Per micro-batch, in batch order: a rising trend is a growing backlog
        # (benchmarks.stream_ramp judges it against the real arrivals).
        "batch_latency_s": batch_latencies,
        "arrival_s": arrivals,
        # How far the feeder fell behind its schedule (a busy engine can slow it).
        "feed_lag_max_s": max(lag, default=0.0),
        "window_updates": len(latencies),
    }

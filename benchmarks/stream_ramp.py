"""The maximum sustainable input rate of the streaming YSB query, found by a short ramp (issue 6).

One engine session per engine (Spark: ``local[2]``, the workload's prewarm run once, untimed);
the data is generated (or read from the cache) once and never timed. Every step of an
increasing ramp of offered rates feeds the first ``--files`` files, one micro-batch each, with
the workload's own feeder (``spark``: the Structured Streaming job ``run_stream``; ``numpy``:
the micro-batch replay ``run_replay``) and checks the answer against the reference on the same
files. Rates are event lines (valid or malformed) per second, as the feeder offers them.

Sustainable = latency stays bounded over the run = no growing backlog. Each batch's latency is
its commit time minus its file's arrival (the ``batch_latency_s`` metric); ``k`` = a third of
the batches (at least one). A step is sustainable when its answer check passes and all of:

* bounded: the median latency of the last ``k`` batches is at most 1.5 x the median of the
  first ``k`` plus 0.5 s (medians, so one slow batch, a GC pause, does not decide);
* offered: the feeder kept its schedule, its real arrivals spanning at most the scheduled
  span / 0.95 (in-process, a busy engine can slow the feeding thread; the rate was then
  never offered);
* keeps pace: the engine processes at least 95% of the offered rate. Between the middles of
  the first and last thirds (the real arrivals) the commits span the arrival span plus the
  growth of the median latency; ``pace`` = arrival span / commit span >= 0.95, or the growth
  is under 20 ms (noise: NumPy polls every 5 ms; Spark's 50 ms trigger adds 0-50 ms to each
  batch, and a median of several batches moves by about 10 ms). Under 1.5 x + 0.5 s a short,
  fast step can hide a backlog; this catches it. When the engine falls behind, offered x pace
  is the rate it processed.

The max sustainable rate is the highest sustainable offered rate; the ramp stops after two
unsustainable steps in a row. It starts with a warm-up step at the first rate, printed but
never judged: a session's first fed run is slower for its first batches even after the
workload's prewarm, and near the limit that alone would fail a step. The rate holds for this
file size (one file per micro-batch: a bigger file amortises each batch's fixed cost) and a
run of ``--files`` batches: a backlog slower than the thresholds can grow unseen over so short
a run.

Also printed per step: ``achieved`` = events / (last commit - first arrival), end to end (it
includes the last batch's latency; the span lacks the last file's own feeding time, so an
instant engine shows the offered rate x n / (n - 1)), the median micro-batch duration and the
latency percentiles of the window updates (``latency_s``).

    python -m benchmarks.stream_ramp [--engine spark|numpy|both] [--scale small] [--files 20]
        [--rates 1000,2000,...] [--window 10] [--slide 0] [--quick]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import shutil
import statistics
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness import datasets, registry
from harness.engines.base import Engine
from harness.registry import RunContext
from harness.rules import RulesMode

CORES = 2
ENGINES = ("numpy", "spark")
#: Doubling from a fifth of the generated data's own rate (5,000 events/s) to beyond NumPy's
#: limit; Spark's ramp ends early (two unsustainable steps), the slow first steps are long.
RATES = (1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 64_000, 128_000, 256_000, 512_000)
QUICK_RATES = (2_000, 8_000)
FILES = 20
QUICK_FILES = 4
#: The sustainability thresholds (see the module docstring).
FACTOR = 1.5
SLACK_S = 0.5
MIN_PACE = 0.95
JITTER_S = 0.02
#: Unsustainable steps in a row that end the ramp.
STOP_AFTER = 2


@dataclass(frozen=True)
class Judgement:
    """Whether one step's latencies stayed bounded, and the figures that decided it."""

    sustainable: bool
    #: Median batch latency of the first and the last third of the batches (s).
    early_s: float
    late_s: float
    #: Arrival span / commit span between the thirds' middles (1 = commits keep pace).
    pace: float
    reason: str


def judge(
    latencies: Sequence[float],
    arrivals: Sequence[float],
    scheduled: Sequence[float] | None = None,
    factor: float = FACTOR,
    slack_s: float = SLACK_S,
    min_pace: float = MIN_PACE,
    jitter_s: float = JITTER_S,
) -> Judgement:
    """Bounded latency (no growing backlog) from per-batch latencies and real arrival times
    (s), both in batch order, and the feeder's ``scheduled`` arrivals (None: it kept them)."""
    if len(latencies) != len(arrivals) or len(latencies) < 2:
        raise ValueError("need a latency and an arrival time for each of at least 2 batches")
    offered = 1.0
    if scheduled is not None and arrivals[-1] - arrivals[0] > jitter_s:
        offered = min(1.0, (scheduled[-1] - scheduled[0]) / (arrivals[-1] - arrivals[0]))
    k = max(1, len(latencies) // 3)
    early, late = statistics.median(latencies[:k]), statistics.median(latencies[-k:])
    span = statistics.median(arrivals[-k:]) - statistics.median(arrivals[:k])
    growth = late - early
    if span + growth > 0:
        pace = span / (span + growth)
    else:  # everything arrived at once (or latency fell as fast): nothing to keep pace with
        pace = 1.0 if growth <= 0 else 0.0
    bounded = late <= factor * early + slack_s
    keeps_pace = pace >= min_pace or growth <= jitter_s
    reasons = []
    if offered < min_pace:
        reasons.append(f"the feeder offered only {offered:.0%} of the rate")
    if not bounded:
        reasons.append(f"latency grew {early:.2f} -> {late:.2f} s")
    if not keeps_pace:
        reasons.append(f"processed {pace:.0%} of the offered rate")
    ok = bounded and keeps_pace and offered >= min_pace
    return Judgement(ok, early, late, pace, "; ".join(reasons) or "bounded")


@dataclass
class Step:
    """One offered rate's run: what it achieved and whether that was sustainable."""

    rate: float
    check: str
    achieved: float | None = None
    batch_median_s: float | None = None
    latency: dict[str, float | None] = dataclasses.field(default_factory=dict)
    judgement: Judgement | None = None
    #: How far the feeder fell behind its schedule (s).
    feed_lag_s: float | None = None
    error: str | None = None
    #: The session's first fed run: printed, never judged.
    warmup: bool = False

    @property
    def sustainable(self) -> bool:
        """Answer right and latency bounded (a warm-up step never counts)."""
        judged = self.judgement is not None and self.judgement.sustainable
        return not self.warmup and self.check == "pass" and judged


def run_step(
    engine: Engine,
    data: datasets.Dataset,
    params: dict[str, Any],
    expected: Any,
    scratch: Path,
) -> Step:
    """Feed ``data`` at ``params["rate"]`` through the engine's streaming implementation."""
    from workloads.stream_window import check, prepare
    from workloads.stream_window.feeder import pace_by_count

    variant = "stream" if engine.name == "spark" else "replay"
    impl = registry.find_impl("stream_window", engine.name, variant)
    assert impl is not None
    rate = float(params["rate"])
    folder = Path(tempfile.mkdtemp(prefix="step-", dir=scratch))
    lines = prepare(data, params)["lines"]
    ctx = RunContext(engine, variant, data, params, folder, prepared={"lines": lines})
    try:
        answer = impl.func(ctx)
    except Exception as exc:  # a stuck or failed stream is an unsustainable step, not the end
        return Step(rate, "error", error=f"{type(exc).__name__}: {exc}")
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    verdict = check(answer, expected)
    # The real arrivals (s after the first), not the schedule: a feeder that fell behind
    # offered less than the nominal rate, and the judgement must see that.
    arrivals = list(ctx.metrics["arrival_s"])
    latencies = list(ctx.metrics["batch_latency_s"])
    return Step(
        rate,
        "pass" if verdict.passed else f"FAIL ({verdict.detail})",
        achieved=sum(lines) / (arrivals[-1] + latencies[-1]),
        batch_median_s=ctx.metrics["batch_median_s"],
        latency=dict(ctx.metrics["latency_s"]),
        judgement=judge(latencies, arrivals, pace_by_count(lines, rate)),
        feed_lag_s=ctx.metrics["feed_lag_max_s"],
    )


def ramp(
    engine: Engine,
    data: datasets.Dataset,
    rates: Sequence[float],
    params: dict[str, Any],
    expected: Any,
    scratch: Path,
) -> list[Step]:
    """A warm-up step at the first rate (printed, never judged), then every rate in order until
    ``STOP_AFTER`` unsustainable steps in a row."""
    steps: list[Step] = []
    for i, rate in enumerate([rates[0], *rates]):
        step = run_step(engine, data, {**params, "rate": rate}, expected, scratch)
        # The first fed run of a session is slower for its first batches (JIT, caches) even
        # after the prewarm: judged, a start near the limit would fail on warm-up alone.
        step.warmup = i == 0
        steps.append(step)
        label = "warm-up" if step.warmup else "check"
        print(f"  {engine.name} {rate:,.0f} events/s: {label} {step.check}"
              + (f"; {step.error}" if step.error else ""), flush=True)  # fmt: skip
        judged = [s for s in steps if not s.warmup]
        if len(judged) >= STOP_AFTER and not any(s.sustainable for s in judged[-STOP_AFTER:]):
            break
    return steps


def _s(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def table(steps: Sequence[Step]) -> list[str]:
    """The ramp as aligned text rows (latencies in seconds)."""
    head = ("offered/s", "achieved/s", "pace", "feed lag", "batch med", "lat p50", "p95", "p99",
            "max", "first 1/3", "last 1/3", "sustainable")  # fmt: skip
    rows: list[tuple[str, ...]] = [head]
    for s in steps:
        j, lat = s.judgement, s.latency
        verdict = "yes" if s.sustainable else "no"
        if s.warmup:
            verdict = "warm-up (not judged)"
        elif not s.sustainable:
            verdict += f" ({j.reason if s.check == 'pass' and j else s.error or 'answer wrong'})"
        rows.append((
            f"{s.rate:,.0f}", "-" if s.achieved is None else f"{s.achieved:,.0f}",
            "-" if j is None else f"{j.pace:.2f}", _s(s.feed_lag_s), _s(s.batch_median_s),
            *(_s(lat.get(q)) for q in ("p50", "p95", "p99", "max")),
            _s(None if j is None else j.early_s), _s(None if j is None else j.late_s), verdict,
        ))  # fmt: skip
    widths = [max(len(r[i]) for r in rows) for i in range(len(head) - 1)]
    return ["  ".join(c.rjust(w) for c, w in zip(r, widths, strict=False)) + "  " + r[-1]
            for r in rows]  # fmt: skip


def summary(name: str, steps: Sequence[Step], files: int, mean_lines: float) -> str:
    """The max-sustainable-rate line."""
    shape = f"({name}, {files} files of ~{mean_lines:,.0f} events, 1 file per micro-batch)"
    steps = [s for s in steps if not s.warmup]
    good = [s.rate for s in steps if s.sustainable]
    if not good:
        lowest = min(s.rate for s in steps)
        return f"max sustainable rate: none (below {lowest:,.0f} events/s) {shape}"
    best = max(good)
    above = [s for s in steps if s.rate > best]
    if not above:  # the ramp ran out of rates before the engine did
        note = "; the ramp's highest rate: the limit lies above it"
    elif above[0].judgement is None or above[0].check != "pass":
        note = f"; {above[0].rate:,.0f} events/s failed ({above[0].error or above[0].check})"
    else:
        processed = above[0].rate * above[0].judgement.pace
        note = f"; {above[0].rate:,.0f} events/s was not (processed ~{processed:,.0f}/s)"
    return f"max sustainable rate: {best:,.0f} events/s {shape}{note}"


def make_engine(name: str) -> Engine:
    """An engine object of this name (not started)."""
    if name == "spark":
        from harness.engines.spark_engine import SparkEngine, SparkOptions

        return SparkEngine(SparkOptions(master=f"local[{CORES}]", driver_memory="2g"))
    from harness.engines.numpy_engine import NumpyEngine

    return NumpyEngine()


def measure(
    name: str,
    data: datasets.Dataset,
    rates: Sequence[float],
    params: dict[str, Any],
    expected: Any,
) -> list[Step]:
    """Start one session, prewarm it (untimed), run the ramp, stop; nothing left behind."""
    engine = make_engine(name)
    variant = "stream" if name == "spark" else "replay"
    reason = engine.unavailable(variant, RulesMode.NONE)
    if reason:
        raise SystemExit(f"{name}: {reason}")
    scratch = Path(tempfile.mkdtemp(prefix=f"bdbench-ramp-{name}-"))
    try:
        engine.start(variant, RulesMode.NONE, data, scratch)
        if name == "spark":
            from workloads.stream_window.impl_spark import prewarm

            prewarm(RunContext(engine, variant, data, dict(params), scratch))
        return ramp(engine, data, rates, params, expected, scratch)
    finally:
        engine.stop()
        shutil.rmtree(scratch, ignore_errors=True)


def _rates(text: str) -> list[float]:
    try:
        rates = [float(r) for r in text.split(",") if r.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not comma-separated numbers: {text!r}") from None
    if not rates or any(r <= 0 for r in rates) or rates != sorted(set(rates)):
        raise argparse.ArgumentTypeError("rates must be > 0 and strictly increasing")
    return rates


def main(argv: list[str] | None = None) -> int:
    """Parse the arguments, ramp each engine, print its table and max sustainable rate."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engine", choices=(*ENGINES, "both"), default="spark")
    parser.add_argument("--scale", default="small", choices=datasets.SCALES)
    parser.add_argument("--files", type=int, default=None, help=f"files fed (default {FILES})")
    parser.add_argument(
        "--rates", type=_rates, default=None, help="offered events/s, increasing, comma-separated"
    )
    parser.add_argument("--window", type=float, default=None, help="window size in seconds")
    parser.add_argument("--slide", type=float, default=None, help="slide in seconds (0: tumbling)")
    parser.add_argument(
        "--quick", action="store_true", help="tiny scale, 4 files, 2 rates, numpy only (a test)"
    )
    args = parser.parse_args(argv)
    if args.quick:
        engines: tuple[str, ...] = ("numpy",)
        scale, files = "tiny", args.files or QUICK_FILES
        rates = args.rates or list(QUICK_RATES)
    else:
        engines = ENGINES if args.engine == "both" else (args.engine,)
        scale, files = args.scale, args.files or FILES
        rates = args.rates or list(RATES)
    if files < 3:
        parser.error("--files must be at least 3 (the test compares the first and last thirds)")

    from workloads import stream_window as sw

    registry.load_all()
    workload = registry.get_workload("stream_window")
    params = dict(workload.params)
    for key in ("window", "slide"):
        if getattr(args, key) is not None:
            params[key] = getattr(args, key)
    sw.check_params(params)
    full = datasets.generated(workload, scale)
    # Without the files' arrival times, the feeder paces by event count: each step offers
    # exactly its rate in event lines per second (the generated arrival seconds would offer
    # it only on average).
    meta = {k: v for k, v in full.meta.items() if k != "arrival_ms"}
    data = dataclasses.replace(full, inputs=full.inputs[:files], meta=meta)
    # Never the cached reference: it is keyed by the dataset's folder, which the subset shares.
    expected = sw.reference(data, params)
    lines = sw.prepare(data, params)["lines"]
    mean_lines = sum(lines) / len(lines)
    load = ", ".join(f"{v:.2f}" for v in os.getloadavg())
    print(
        f"stream_window {scale}: the first {len(lines)} of {len(full.inputs)} files, "
        f"{sum(lines):,} events ({min(lines):,}-{max(lines):,} per file); window "
        f"{params['window']} s, slide {params['slide'] or params['window']} s, lateness "
        f"{params['lateness']} s; {os.cpu_count()} CPUs, load average {load}",
        flush=True,
    )
    results: dict[str, list[Step]] = {}
    for name in engines:
        print(f"\n{name}: ramp over {', '.join(f'{r:,.0f}' for r in rates)} events/s", flush=True)
        steps = measure(name, data, rates, params, expected)
        results[name] = steps
        print()
        for row in table(steps):
            print(f"  {row}")
        print(summary(name, steps, len(lines), mean_lines))
        print(f"(load average after: {', '.join(f'{v:.2f}' for v in os.getloadavg())})", flush=True)
    # A wrong answer or a failed stream is a failure of the benchmark, not only a slow step.
    failed = [s for steps in results.values() for s in steps if s.check != "pass"]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

"""The YSB query on NumPy: every file parsed into arrays (one regular expression over the whole
file for the lines in the generator's shape, the exact per-line rules for the rest), then windows
counted vectorised."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.registry import RunContext, implements

if TYPE_CHECKING:
    import numpy as np

    from workloads.stream_window import Windows


@dataclass
class Parsed:
    """One file's valid events as arrays, and its malformed line count."""

    times: np.ndarray  # int64 epoch ms of every valid event
    views: np.ndarray  # bool: the event is a view
    campaign: np.ndarray  # int64 index into the campaign list
    malformed: int


def parse(lines: Sequence[str], campaign_index: Mapping[str, int], names: Any) -> Parsed:
    """Classify every line of one file (``events.classify``) into arrays."""
    import numpy as np

    from workloads.stream_window.events import classify, is_blank

    times, views, campaign = [], [], []
    malformed = 0
    for line in lines:
        if is_blank(line):
            continue
        event = classify(line, names)
        if event is None:
            malformed += 1
            continue
        times.append(event[2])
        views.append(event[1] == "view")
        campaign.append(campaign_index[event[0]])
    return Parsed(
        np.array(times, dtype=np.int64),
        np.array(views, dtype=bool),
        np.array(campaign, dtype=np.int64),
        malformed,
    )


def parse_file(data: bytes, campaign_index: Mapping[str, int], names: Any) -> Parsed:
    """``parse`` of one file's bytes, vectorised: lines in the generator's exact shape are
    matched by one regular expression over the whole file (``events.CANONICAL_EVENT``) and
    converted with NumPy; whatever else is left (malformed, blank, other spellings of JSON,
    ``\\r`` breaks, a BOM, non-ASCII) goes through ``parse``, the exact rules. Same result."""
    from itertools import repeat

    import numpy as np

    from workloads.stream_window.events import CANONICAL_EVENT, split_lines

    # split() interleaves the text between matches with each match's three groups.
    parts = CANONICAL_EVENT.split(data)
    ads, kinds, times = parts[1::4], parts[2::4], parts[3::4]
    index = {ad.encode(): campaign_index[camp] for ad, camp in names.items()}
    campaign = np.fromiter(map(index.get, ads, repeat(-1)), dtype=np.int64, count=len(ads))
    known = campaign >= 0  # an ad outside the table makes the line malformed, as classify says
    fast = Parsed(
        np.array(times, dtype=np.bytes_).astype(np.int64)[known],
        (np.array(kinds, dtype=np.bytes_) == b"view")[known],
        campaign[known],
        int((~known).sum()),
    )
    # The other lines: the text between matches, less the lone newlines between two matched
    # lines (every other piece starts and ends at a line break, so lines stay apart).
    rest = b"".join([piece for piece in parts[0::4] if piece != b"\n"])
    slow = parse(split_lines(rest), campaign_index, names)
    return Parsed(
        np.concatenate([fast.times, slow.times]),
        np.concatenate([fast.views, slow.views]),
        np.concatenate([fast.campaign, slow.campaign]),
        fast.malformed + slow.malformed,
    )


def _parse_path(path: Path, campaign_index: Mapping[str, int], names: Any) -> Parsed:
    return parse_file(path.read_bytes(), campaign_index, names)


def parse_files(paths: list[Path], campaign_index: Mapping[str, int], names: Any) -> list[Parsed]:
    """``parse_file`` of every file, in order, on every core (forked worker processes: the
    regular expression holds the GIL, so threads would take turns)."""
    import functools
    import multiprocessing
    import threading

    from harness.engines.base import cpu_count

    work = functools.partial(_parse_path, campaign_index=campaign_index, names=names)
    workers = min(cpu_count(), len(paths))
    # Fork only from a single-threaded process: a lock another thread holds at the fork (a
    # stream's buffer lock) stays held forever in the child. In a test process with a Spark
    # session's py4j threads, a forked parser hung; a bdbench worker has one thread.
    if workers < 2 or threading.active_count() > 1:
        return [work(p) for p in paths]
    chunk = max(1, len(paths) // (workers * 4))
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        return pool.map(work, paths, chunksize=chunk)


def count_windows(
    times: np.ndarray, campaign: np.ndarray, late: np.ndarray, windows: Windows
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Counts per (campaign, window start) of views at ``times`` whose batch's late watermark
    is ``late``: unique campaigns, starts, counts, and the dropped (event, window) pairs."""
    import numpy as np

    last = (times // windows.slide) * windows.slide  # floor division: also before 1970
    back = (windows.size - (times - last) - 1) // windows.slide
    reach = int(back.max()) + 1 if len(times) else 0
    camps, starts = [], []
    dropped = 0
    for j in range(reach):
        start = last - j * windows.slide
        member = j <= back
        kept = member & (start + windows.size > late)
        dropped += int((member & ~kept).sum())
        camps.append(campaign[kept])
        starts.append(start[kept])
    if not camps:
        empty = np.empty(0, dtype=np.int64)
        return empty, empty, empty, 0
    keys = np.stack([np.concatenate(camps), np.concatenate(starts)])
    unique, counts = np.unique(keys, axis=1, return_counts=True)
    return unique[0], unique[1], counts, dropped


@implements("stream_window", "numpy")
def run(ctx: RunContext) -> dict[str, Any]:
    """Parse every file (vectorised, on every core), derive each file's late watermark from
    the per-file maxima, then count all windows at once."""
    import numpy as np

    from workloads.stream_window import Tally, Windows, campaigns_path, late_marks
    from workloads.stream_window.events import load_campaigns

    windows = Windows.of(ctx.params)
    names = load_campaigns(campaigns_path(ctx.data))
    campaigns = sorted(set(names.values()))
    index = {c: i for i, c in enumerate(campaigns)}
    parsed = parse_files(list(ctx.data.inputs), index, names)
    maxima = [int(p.times[p.views].max()) if p.views.any() else None for p in parsed]
    marks = late_marks(maxima, windows.lateness)
    views = [p.views for p in parsed]
    times = np.concatenate([p.times[v] for p, v in zip(parsed, views, strict=True)])
    campaign = np.concatenate([p.campaign[v] for p, v in zip(parsed, views, strict=True)])
    late = np.repeat(np.array(marks, dtype=np.int64), [int(v.sum()) for v in views])
    camps, starts, counts, dropped = count_windows(times, campaign, late, windows)
    tally = Tally(
        malformed=sum(p.malformed for p in parsed),
        dropped=dropped,
        events=sum(len(p.times) for p in parsed),
        views=len(times),
    )
    for c, s, n in zip(camps.tolist(), starts.tolist(), counts.tolist(), strict=True):
        tally.counts[(campaigns[c], s)] = n
    return tally.answer()


@implements("stream_window", "numpy", "replay")
def run_replay(ctx: RunContext) -> dict[str, Any]:
    """Micro-batch replay: the files arrive at the offered rate (the same feeder as Spark's
    stream); each is processed as it appears, in arrival order, with the same late rule, and
    its window updates committed: latency comparable with Spark's."""
    import shutil
    import time

    import numpy as np

    from workloads.stream_window import (
        Tally,
        Watermark,
        Windows,
        campaigns_path,
        prepare,
    )
    from workloads.stream_window.events import load_campaigns
    from workloads.stream_window.feeder import Feeder, schedule, stream_metrics

    windows = Windows.of(ctx.params)
    names = load_campaigns(campaigns_path(ctx.data))
    campaigns = sorted(set(names.values()))
    index = {c: i for i, c in enumerate(campaigns)}
    files = list(ctx.data.inputs)
    lines = ctx.prepared.get("lines") or prepare(ctx.data, ctx.params)["lines"]
    feed = ctx.scratch / "feed"
    feeder = Feeder(files, feed, schedule(ctx, lines))
    mark = Watermark(windows.lateness)
    tally = Tally()
    durations: list[float] = []
    commits: list[tuple[float, int]] = []
    try:
        feeder.start()
        for i, source in enumerate(files):
            path = feed / f"part-{i:06d}{source.suffix}"
            # Poll like a file source (Spark lists every trigger); the feeder stamps a file's
            # arrival right after the rename that shows it, so wait for the stamp too.
            while len(feeder.arrivals) <= i or not path.exists():
                if feeder.error is not None:
                    feeder.join()
                time.sleep(0.005)
            began = time.perf_counter()
            late = mark.begin()
            parsed = parse_file(path.read_bytes(), index, names)
            times, campaign = parsed.times[parsed.views], parsed.campaign[parsed.views]
            if len(times):
                mark.see(int(times.max()))
            camps, starts, batch_counts, dropped = count_windows(
                times, campaign, np.full(len(times), late, dtype=np.int64), windows
            )
            for c, s, n in zip(camps.tolist(), starts.tolist(), batch_counts.tolist(), strict=True):
                tally.counts[(campaigns[c], s)] += n
            tally.malformed += parsed.malformed
            tally.events += len(parsed.times)
            tally.views += len(times)
            tally.dropped += dropped
            commits.append((time.time(), len(camps)))
            durations.append(time.perf_counter() - began)
        feeder.join()
    finally:
        feeder.stop()
        shutil.rmtree(feed, ignore_errors=True)
    ctx.metrics.update(stream_metrics(ctx, feeder, durations, commits))
    return tally.answer()

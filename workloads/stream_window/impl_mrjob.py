"""The YSB query on mrjob: a job for every file's largest event time, then the counting job."""

from __future__ import annotations

import json
from typing import Any

from harness.registry import RunContext, implements


@implements("stream_window", "mrjob")
def run(ctx: RunContext) -> dict[str, Any]:
    """Job 1 finds every file's largest view time; the driver turns them into each
    file's late watermark (files in arrival order); job 2 counts the windows."""
    from workloads.stream_window import Windows, campaigns_path
    from workloads.stream_window.impl_numpy import late_marks
    from workloads.stream_window.mr_stream_window import TOTALS, MRStreamWindow

    engine: Any = ctx.engine
    windows = Windows.of(ctx.params)
    campaigns = ["--campaigns", str(campaigns_path(ctx.data))]
    names = [p.name for p in ctx.data.inputs]
    if len(set(names)) != len(names):
        raise ValueError("stream_window on mrjob: input file names must be unique")
    (ctx.scratch / "maxima").mkdir(parents=True, exist_ok=True)
    first = ["--mode", "maxima", *campaigns]
    maxima = dict(engine.run_job(MRStreamWindow, ctx.data.inputs, ctx.scratch / "maxima", first))
    marks = late_marks([maxima.get(name) for name in names], windows.lateness)
    (ctx.scratch / "counts").mkdir(parents=True, exist_ok=True)
    second = [
        "--mode", "counts", *campaigns,
        "--size", str(windows.size), "--slide", str(windows.slide),
        "--marks", json.dumps(dict(zip(names, marks, strict=True))),
    ]  # fmt: skip
    pairs = engine.run_job(MRStreamWindow, ctx.data.inputs, ctx.scratch / "counts", second)
    totals = dict.fromkeys(TOTALS, 0)
    counts = {}
    for key, value in pairs:
        if isinstance(key, str):
            totals[key] = value
        else:
            counts[(key[0], int(key[1]))] = value
    return {
        "counts": {f"{c}|{s}": n for (c, s), n in sorted(counts.items())},
        **totals,
    }

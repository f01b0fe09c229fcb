"""The YSB query on mrjob: a job for every file's largest event time, then the counting job."""

from __future__ import annotations

import json
from typing import Any

from harness.engines.mrjob_engine import MrjobEngine
from harness.registry import RunContext, implements


@implements("stream_window", "mrjob")
def run(ctx: RunContext) -> dict[str, Any]:
    """Job 1 finds every file's largest view time; the driver turns them into each
    file's late watermark (files in arrival order); job 2 counts the windows."""
    from workloads.stream_window import Tally, Windows, campaigns_path, late_marks
    from workloads.stream_window.events import load_campaigns
    from workloads.stream_window.mr_stream_window import TOTALS, MRStreamWindow

    engine = ctx.engine_as(MrjobEngine)
    windows = Windows.of(ctx.params)
    names = [p.name for p in ctx.data.inputs]
    if len(set(names)) != len(names):
        raise ValueError("stream_window on mrjob: input file names must be unique")
    # The driver parses the table once (the parser every engine uses) and ships the mapping.
    mapping = ctx.scratch / "campaigns.json"
    mapping.parent.mkdir(parents=True, exist_ok=True)
    mapping.write_text(json.dumps(load_campaigns(campaigns_path(ctx.data))), encoding="utf-8")
    campaigns = ["--campaigns", str(mapping)]
    (ctx.scratch / "maxima").mkdir(parents=True, exist_ok=True)
    first = ["--mode", "maxima", *campaigns]
    maxima = dict(engine.run_job(MRStreamWindow, ctx.data.inputs, ctx.scratch / "maxima", first))
    marks = ctx.scratch / "marks.json"
    late = late_marks([maxima.get(name) for name in names], windows.lateness)
    marks.write_text(json.dumps(dict(zip(names, late, strict=True))), encoding="utf-8")
    (ctx.scratch / "counts").mkdir(parents=True, exist_ok=True)
    second = [
        "--mode", "counts", *campaigns,
        "--size", str(windows.size), "--slide", str(windows.slide), "--marks", str(marks),
    ]  # fmt: skip
    pairs = engine.run_job(MRStreamWindow, ctx.data.inputs, ctx.scratch / "counts", second)
    tally = Tally()
    for key, value in pairs:
        if isinstance(key, str) and key in TOTALS:
            setattr(tally, key, int(value))
        else:
            tally.counts[(key[0], int(key[1]))] = int(value)
    return tally.answer()

"""Word count on mrjob (any runner): the classic mapper/combiner/reducer job."""

from __future__ import annotations

from harness.engines.mrjob_engine import MrjobEngine
from harness.registry import RunContext, implements


@implements("wordcount", "mrjob")
def run(ctx: RunContext) -> dict[str, int]:
    """Run ``MRWordCount`` over the inputs and collect its output as a map."""
    from workloads.wordcount.mr_wordcount import MRWordCount

    pairs = ctx.engine_as(MrjobEngine).run_job(MRWordCount, ctx.data.inputs, ctx.scratch)
    return {word: int(count) for word, count in pairs}

"""Word count on the NumPy engine: vectorised tokenising and counting (see ``_vectorized``)."""

from __future__ import annotations

from harness.registry import RunContext, implements


@implements("wordcount", "numpy")
def run(ctx: RunContext) -> dict[str, int]:
    """Count the words of every input file with the vectorised counter, a piece of each
    file at a time."""
    from workloads.wordcount._vectorized import count_file

    total: dict[str, int] = {}
    for path in ctx.data.inputs:
        counts = count_file(path)
        if not total:
            total = counts
            continue
        for word, count in counts.items():
            total[word] = total.get(word, 0) + count
    return total

"""Word count on the NumPy engine: vectorised tokenising and counting (see ``_vectorized``)."""

from __future__ import annotations

from harness.registry import RunContext, implements


@implements("wordcount", "numpy")
def run(ctx: RunContext) -> dict[str, int]:
    """Count the words of every input file with the vectorised counter."""
    from workloads.wordcount._vectorized import count_words

    total: dict[str, int] = {}
    for path in ctx.data.inputs:
        counts = count_words(path.read_bytes())
        if not total:
            total = counts
            continue
        for word, count in counts.items():
            total[word] = total.get(word, 0) + count
    return total

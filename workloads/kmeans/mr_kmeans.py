"""One Lloyd iteration of k-means as a Hadoop Streaming job.

Run once per iteration by ``impl_mrjob`` (the classic way: every iteration re-reads the input).
Self-contained (imports only mrjob and the standard library) so it runs where bdbench is not
installed. The mapper assigns each point to its nearest centroid (``--centroids``) exactly as
the reference does (squared differences summed coordinate by coordinate, ties to the lowest
index) and keeps, per centroid, the count and coordinate sums of its points and their squared
distances; it emits them once per task; combiner and reducer add them up per centroid.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any

from mrjob.job import MRJob
from mrjob.protocol import JSONProtocol

#: Per centroid: [count, squared distance sum, coordinate sums (d values)].
Partial = list[float]


class MRKMeansStep(MRJob):
    """Mapper: partial sums per centroid per task; combiner and reducer: their sums."""

    INTERNAL_PROTOCOL = JSONProtocol
    OUTPUT_PROTOCOL = JSONProtocol

    def configure_args(self) -> None:
        """``--centroids`` (JSON k x d) and ``--columns`` (JSON list of CSV positions)."""
        super().configure_args()
        self.add_passthru_arg("--centroids", required=True)
        self.add_passthru_arg("--columns", required=True)

    def mapper_init(self) -> None:
        """Parse the centroids once; start this task's sums."""
        self.centroids: list[list[float]] = json.loads(self.options.centroids)
        self.columns: list[int] = json.loads(self.options.columns)
        d = len(self.columns)
        self.sums: list[Partial] = [[0.0] * (d + 2) for _ in self.centroids]

    def mapper(self, _: Any, line: str) -> Iterator[tuple[int, Partial]]:
        """Add one point to its nearest centroid's sums (header lines are skipped)."""
        cells = line.split(",")
        try:
            point = [float(cells[i]) for i in self.columns]
        except (ValueError, IndexError):  # a header row (the input was validated)
            return
        best, nearest = float("inf"), 0
        for j, centroid in enumerate(self.centroids):
            dist = 0.0
            for v, c in zip(point, centroid, strict=True):
                diff = v - c
                dist += diff * diff
            if dist < best:  # strict: an equal distance keeps the lower index
                best, nearest = dist, j
        sums = self.sums[nearest]
        sums[0] += 1.0
        sums[1] += best
        for i, v in enumerate(point):
            sums[2 + i] += v
        yield from ()

    def mapper_final(self) -> Iterator[tuple[int, Partial]]:
        """Emit this task's sums of every centroid that got a point."""
        for j, sums in enumerate(self.sums):
            if sums[0]:
                yield j, sums

    def combiner(self, key: int, parts: Iterable[Partial]) -> Iterator[tuple[int, Partial]]:
        """Add the partial sums of one centroid."""
        total: Partial | None = None
        for part in parts:
            total = part if total is None else [a + b for a, b in zip(total, part, strict=True)]
        if total is not None:
            yield key, total

    reducer = combiner


if __name__ == "__main__":
    MRKMeansStep.run()

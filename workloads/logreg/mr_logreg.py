"""One gradient-descent iteration of logistic regression as a Hadoop Streaming job.

Run once per iteration by ``impl_mrjob`` (the classic way: every iteration re-reads the input).
Self-contained (imports only mrjob and the standard library) so it runs where bdbench is not
installed. The mapper sums, over its points, the count, the log-loss and the gradient
``(p - y) * [1, x]`` at the weights given by ``--weights``; combiner and reducer add them up.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator
from typing import Any

from mrjob.job import MRJob
from mrjob.protocol import JSONProtocol

Partial = list[float]


def _add(a: Partial, b: Partial) -> Partial:
    return [x + y for x, y in zip(a, b, strict=True)]


class MRLogRegStep(MRJob):
    """Mapper: partial sums per task; combiner and reducer: their sum (one output record)."""

    INTERNAL_PROTOCOL = JSONProtocol
    OUTPUT_PROTOCOL = JSONProtocol

    def configure_args(self) -> None:
        """``--weights`` (JSON list, intercept first) and ``--label-index`` (CSV column)."""
        super().configure_args()
        self.add_passthru_arg("--weights", required=True)
        self.add_passthru_arg("--label-index", type=int, required=True)

    def mapper_init(self) -> None:
        """Parse the weights once; start this task's partial sums."""
        self.w: list[float] = json.loads(self.options.weights)
        # [count, loss sum, gradient (d + 1 values)]
        self.sums: Partial = [0.0] * (len(self.w) + 2)

    def mapper(self, _: Any, line: str) -> Iterator[tuple[str, Partial]]:
        """Add one point's loss and gradient (the header line is skipped)."""
        cells = line.strip().split(",")
        if not line.strip() or not _is_number(cells[0]):
            return
        label_at = self.options.label_index
        y = float(cells[label_at])
        x = [float(c) for i, c in enumerate(cells) if i != label_at]
        z = self.w[0] + math.fsum(wi * xi for wi, xi in zip(self.w[1:], x, strict=True))
        # log(1 + e^z) - y z, stable for large |z|
        loss = (z if z > 0 else 0.0) + math.log1p(math.exp(-abs(z))) - y * z
        residual = 0.5 * (1.0 + math.tanh(0.5 * z)) - y
        sums = self.sums
        sums[0] += 1.0
        sums[1] += loss
        sums[2] += residual
        for j, xj in enumerate(x):
            sums[3 + j] += residual * xj
        yield from ()

    def mapper_final(self) -> Iterator[tuple[str, Partial]]:
        """Emit this task's sums once."""
        yield "sum", self.sums

    def combiner(self, key: str, parts: Iterable[Partial]) -> Iterator[tuple[str, Partial]]:
        """Add the partial sums of one task."""
        total: Partial | None = None
        for part in parts:
            total = part if total is None else _add(total, part)
        if total is not None:
            yield key, total

    reducer = combiner


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


if __name__ == "__main__":
    MRLogRegStep.run()

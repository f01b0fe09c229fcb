"""The single-node NumPy baseline engine."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.engines.base import Engine
from harness.rules import RulesMode

if TYPE_CHECKING:
    from harness.datasets import Dataset


class NumpyEngine(Engine):
    """Vectorised single-process NumPy: the 'COST' baseline every cluster engine must beat."""

    name = "numpy"
    variants = ("default", "replay")
    exclusive_variants = ("replay",)
    description = "single node, vectorised NumPy"
    distributions = ("numpy",)

    def start(self, variant: str, rules: RulesMode, data: Dataset, scratch: Path) -> None:
        """Import NumPy (its import time is start-up, not workload time)."""
        import numpy

        self.variant = variant
        self._numpy_version = numpy.__version__

    def info(self) -> dict[str, Any]:
        """NumPy's version."""
        return {"numpy": self._numpy_version}

"""The single-node NumPy baseline engine."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.engines.base import Engine, Placement, Role, cpu_count
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

    def role(self, variant: str) -> Role:
        """One process on this machine, on every core: a single-node baseline."""
        return Role(Placement.SINGLE, nodes=1, cores=cpu_count(), baseline=True)

    @classmethod
    def recorded_role(cls, variant: str, where: str) -> Role:
        """Always this machine, a baseline."""
        return Role(Placement.SINGLE, cores=None, baseline=True)

    def start(self, variant: str, rules: RulesMode, data: Dataset, scratch: Path) -> None:
        """Import NumPy (its import time is start-up, not workload time)."""
        import numpy

        self.variant = variant
        self._numpy_version = numpy.__version__

    def info(self) -> dict[str, Any]:
        """NumPy's version."""
        return {"numpy": self._numpy_version}

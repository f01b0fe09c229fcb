"""bdbench: run identical big-data workloads on several engines and measure them honestly."""

from __future__ import annotations

__version__ = "0.1.0"

"""The cheap map UDF of the ``udf_map`` workload, in plain Python (one row at a time).

Self-contained on purpose (standard library only), like ``workloads/_udf/udfs.py``:
mrjob ships this file next to its job script and Spark pickles it by value. The expensive UDF
is ``workloads._udf.udfs.fatigue_damage`` itself.
"""

from __future__ import annotations

#: Severity bands per unit of damage.
BANDS_PER_UNIT = 4
#: The highest band (every damage of ``MAX_BAND / BANDS_PER_UNIT`` or more).
MAX_BAND = 9


def severity(damage: float | None) -> int | None:
    """Severity band of a damage value: ``min(9, int(damage * 4))``; null for null."""
    if damage is None:
        return None
    return min(MAX_BAND, int(damage * BANDS_PER_UNIT))

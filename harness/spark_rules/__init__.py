"""Our Catalyst optimizer rules for PySpark (the rules themselves arrive with issue #4).

The session plumbing exists already: ``rules=True`` cells ask ``unavailable_reason()`` and are
recorded as ``skipped`` with that reason until the rules jar can be built.
"""

from __future__ import annotations

from typing import Any

from harness.errors import EngineUnavailable

NOT_BUILT = "spark rules: the Catalyst optimizer rules are not part of this version yet (issue #4)"


def unavailable_reason() -> str | None:
    """Why the rules cannot be loaded here (None when they can)."""
    return NOT_BUILT


def configure(builder: Any) -> Any:
    """Return ``builder`` with the rules jar and ``spark.sql.extensions`` set."""
    reason = unavailable_reason()
    if reason is not None:
        raise EngineUnavailable(reason)
    return builder

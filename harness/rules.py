"""The ``rules`` field of a cell: our optimizer off, on, or the paper's reorder-only control.

For an engine that loads our optimizer rules (``Engine.rules_modes``) it selects the rules
loaded into its session (``on``: our filter split and barrier rules; ``paper``: the paper's plain
conjunct reorder, the negative control). For other engines it only applies to workloads with
ordered UDF filters: ``off`` runs the filters as written (an engine with an optimizer of its
own orders them as it will), ``on`` imposes our rules' ranked order.
"""

from __future__ import annotations

import enum
from typing import Any


class RulesMode(enum.Enum):
    """A cell's rules mode. Its value is what records and requests store in JSON (records
    written before the Enum hold the same values)."""

    #: The cell has no such switch.
    NONE = None
    OFF = False
    ON = True
    #: The paper's reorder-only control (engines with our optimizer rules only).
    PAPER = "paper"

    def __bool__(self) -> bool:
        # Truth would make OFF and NONE both "falsy" and PAPER "on": say which mode you mean.
        raise TypeError("RulesMode has no truth value: compare with its members")

    @property
    def label(self) -> str:
        """``""``, ``off``, ``on`` or ``paper``."""
        return {None: "", False: "off", True: "on", "paper": "paper"}[self.value]

    @property
    def loads_rules(self) -> bool:
        """Whether an engine with an optimizer of ours loads rules into its session."""
        return self in (RulesMode.ON, RulesMode.PAPER)

    def to_json(self) -> bool | str | None:
        """The JSON value: ``null``, ``false``, ``true`` or ``"paper"``."""
        return self.value

    @classmethod
    def from_json(cls, value: Any) -> RulesMode:
        """Inverse of ``to_json``; a member passes through (dataclasses built in code)."""
        if isinstance(value, RulesMode):
            return value
        # bool is an int: keep 0/1 from standing in for off/on.
        if value is not None and not isinstance(value, (bool, str)):
            raise ValueError(f"not a rules mode: {value!r}")
        return cls(value)


#: What ``--rules`` selects; ``auto`` means each workload's own default.
CHOICES: dict[str, tuple[RulesMode, ...]] = {
    "off": (RulesMode.OFF,),
    "on": (RulesMode.ON,),
    "both": (RulesMode.OFF, RulesMode.ON),
    "paper": (RulesMode.PAPER,),
    "all": (RulesMode.OFF, RulesMode.ON, RulesMode.PAPER),
}


def selected(modes: tuple[RulesMode, ...], choice: tuple[RulesMode, ...]) -> list[RulesMode]:
    """The modes of ``modes`` that ``choice`` selects, in ``modes`` order."""
    return [m for m in modes if m in choice]

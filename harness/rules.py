"""The ``rules`` field of a cell: our optimizer off, on, or the paper's reorder-only control.

For an engine that loads our optimizer rules (``Engine.rules_modes``) it selects the rules
loaded into its session (``on``: our filter split and barrier rules; ``paper``: the paper's plain
conjunct reorder, the negative control). For other engines it only applies to workloads with
ordered UDF filters: ``off`` runs the filters as written (an engine with an optimizer of its
own orders them as it will), ``on`` imposes our rules' ranked order.
"""

from __future__ import annotations

from typing import Literal

#: False = off, True = on, "paper" = the paper's reorder-only control, None = no such switch.
RulesMode = bool | Literal["paper"] | None

#: What ``--rules`` selects; ``auto`` means each workload's own default.
CHOICES: dict[str, tuple[RulesMode, ...]] = {
    "off": (False,),
    "on": (True,),
    "both": (False, True),
    "paper": ("paper",),
    "all": (False, True, "paper"),
}


def label(mode: RulesMode) -> str:
    """``""``, ``off``, ``on`` or ``paper``."""
    if mode is None:
        return ""
    if mode == "paper":
        return "paper"
    return "on" if mode else "off"


def from_label(text: str) -> RulesMode:
    """Inverse of ``label``."""
    return {"": None, "off": False, "on": True, "paper": "paper"}[text]


def same(a: RulesMode, b: RulesMode) -> bool:
    """Equality that keeps True and "paper" apart and never confuses False with None."""
    return type(a) is type(b) and a == b


def selected(modes: tuple[RulesMode, ...], choice: tuple[RulesMode, ...]) -> list[RulesMode]:
    """The modes of ``modes`` that ``choice`` selects, in ``modes`` order."""
    return [m for m in modes if any(same(m, c) for c in choice)]

"""One cell of the matrix (workload x engine x variant x rules), its key and label, and the one
generator of the matrix that the runner, ``bdbench list``, the asv suite and the reports share.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from harness import registry
from harness.engines import ENGINES, EngineOptions, get_engine_class
from harness.engines.base import Engine
from harness.errors import UserError
from harness.rules import CHOICES as RULES_CHOICES
from harness.rules import RulesMode
from harness.rules import selected as selected_rules

if TYPE_CHECKING:
    from harness.results import RunRecord

#: Label suffix per rules mode (off and "no switch" have none): ``<engine>/df+rules``.
RULES_SUFFIXES = {"on": "+rules", "paper": "+paper"}


@dataclass(frozen=True)
class Cell:
    """One cell of the matrix; engine, variant and rules stay separate fields."""

    workload: str
    engine: str
    variant: str
    rules: RulesMode

    def __post_init__(self) -> None:
        if not isinstance(self.rules, RulesMode):
            raise TypeError(f"Cell.rules must be a RulesMode, not {self.rules!r}")

    @property
    def key(self) -> tuple[str, str, str, str]:
        """Hashable, sortable identity (the rules as their label)."""
        return (self.workload, self.engine, self.variant, self.rules.label)

    @property
    def label(self) -> str:
        """The engine part, ``<engine>/<variant>`` with the rules suffix, e.g. ``x/df+rules``."""
        return f"{self.engine}/{self.variant}{RULES_SUFFIXES.get(self.rules.label, '')}"

    @property
    def name(self) -> str:
        """Workload and label, e.g. ``wordcount x/df+rules``."""
        return f"{self.workload} {self.label}"

    @classmethod
    def of(cls, record: RunRecord) -> Cell:
        """The cell a record belongs to."""
        return cls(record.workload, record.engine, record.variant, record.rules)


def supported_rules(workload: registry.Workload, engine_cls: type[Engine]) -> tuple[RulesMode, ...]:
    """The rules modes a workload has on an engine (empty: the engine has no rules switch)."""
    return engine_cls.rules_modes or workload.rules_modes


def matrix(workloads: list[str] | None = None, with_missing: bool = False) -> Iterator[Cell]:
    """Every cell of the registered workloads (or those named), in registration order:
    workload, engine, variant, rules. Cells without an implementation only ``with_missing``."""
    names = workloads or list(registry.workloads_by_name())
    for name in names:
        workload = registry.get_workload(name)
        for engine_name, cls in ENGINES.items():
            for variant in cls.variants:
                implemented = registry.find_impl(name, engine_name, variant) is not None
                if not (implemented or with_missing):
                    continue
                for rules in supported_rules(workload, cls) or (RulesMode.NONE,):
                    yield Cell(name, engine_name, variant, rules)


def parse_engine_selector(text: str) -> tuple[str, str | None]:
    """``engine`` -> (engine, None); ``engine/variant`` or ``engine:variant``, validated."""
    name, _, variant = text.replace(":", "/").partition("/")
    cls = get_engine_class(name)
    if variant and variant not in cls.variants:
        known = ", ".join(cls.variants)
        raise UserError(f"unknown variant {variant!r} of engine {name!r} (known: {known})")
    return name, variant or None


def selector_examples() -> str:
    """Every ``engine/variant`` selector, for help texts."""
    return ", ".join(f"{name}/{v}" for name, cls in ENGINES.items() for v in cls.variants)


def expand_cells(
    workloads: list[str] | None,
    engines: list[str] | None,
    rules: str = "auto",
    notes: list[str] | None = None,
) -> list[Cell]:
    """The implemented cells selected by workload names, engine selectors and the rules choice.

    ``rules`` is a key of ``harness.rules.CHOICES`` or ``auto``: each workload's default.
    ``notes`` receives one line when an explicit ``rules`` choice does not apply to some of
    the selected workloads (they have no rules modes), instead of ignoring it silently.
    """
    if rules != "auto" and rules not in RULES_CHOICES:
        known = ", ".join(["auto", *RULES_CHOICES])
        raise UserError(f"--rules must be one of {known}, not {rules!r}")
    selectors = [parse_engine_selector(e) for e in engines] if engines else None
    cells: list[Cell] = []
    for cell in matrix(workloads):
        workload = registry.get_workload(cell.workload)
        choice = RULES_CHOICES[workload.default_rules if rules == "auto" else rules]
        if cell.rules is not RulesMode.NONE and not selected_rules((cell.rules,), choice):
            continue
        if selectors is not None and not any(
            e == cell.engine and v in (None, cell.variant) for e, v in selectors
        ):
            continue
        cells.append(cell)
    if not cells:
        raise UserError("no implemented cell matches the selected workloads, engines and rules")
    untouched = list(dict.fromkeys(c.workload for c in cells if c.rules is RulesMode.NONE))
    if rules != "auto" and untouched and notes is not None:
        notes.append(
            f"--rules {rules} does not apply to {', '.join(untouched)} (no optimizer rules "
            "modes there): those cells run without rules"
        )
    return cells


def matrix_rows(options: EngineOptions | None = None) -> list[dict[str, Any]]:
    """One row per cell for ``bdbench list``: state ready / missing / unavailable, with why."""
    options = options or EngineOptions()
    engines: dict[str, Engine] = {}
    rows = []
    for cell in matrix(with_missing=True):
        cls = ENGINES[cell.engine]
        engine = engines.setdefault(cell.engine, cls(options.of(cls)))
        reason: str | None
        if registry.find_impl(cell.workload, cell.engine, cell.variant) is None:
            state, reason = "missing", "no implementation registered"
        else:
            reason = engine.unavailable(cell.variant, cell.rules)
            state = "unavailable" if reason else "ready"
        rows.append(
            {
                "workload": cell.workload,
                "engine": cell.engine,
                "variant": cell.variant,
                "rules": cell.rules.to_json(),
                "label": cell.label,
                "state": state,
                "reason": reason or "",
                "note": engine.simulation_note(cell.variant) or "",
                "role": engine.role(cell.variant).to_json(),
            }
        )
    return rows

"""The workload x engine x variant matrix with each cell's state, for ``bdbench list``."""

from __future__ import annotations

from typing import Any

from harness import registry
from harness.engines import ENGINES, EngineOptions
from harness.engines.base import Engine
from harness.rules import RulesMode


def supported_rules(workload: registry.Workload, engine_cls: type[Engine]) -> tuple[RulesMode, ...]:
    """The rules modes a workload has on an engine (empty: the engine has no rules switch)."""
    return engine_cls.rules_modes or workload.rules_modes


def matrix_rows(options: EngineOptions | None = None) -> list[dict[str, Any]]:
    """One row per cell: state ready / missing / unavailable, with the reason."""
    rows = []
    for workload in registry.workloads_by_name().values():
        for engine_name, cls in ENGINES.items():
            engine = cls(options)
            for variant in cls.variants:
                for rules in supported_rules(workload, cls) or (None,):
                    impl = registry.find_impl(workload.name, engine_name, variant)
                    reason: str | None
                    if impl is None:
                        state, reason = "missing", "no implementation registered"
                    else:
                        reason = engine.unavailable(variant, rules)
                        state = "unavailable" if reason else "ready"
                    rows.append(
                        {
                            "workload": workload.name,
                            "engine": engine_name,
                            "variant": variant,
                            "rules": rules,
                            "state": state,
                            "reason": reason or "",
                            "note": engine.simulation_note(variant) or "",
                        }
                    )
    return rows

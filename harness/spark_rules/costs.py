"""Cost and selectivity annotations of Python UDFs, read by the rules at planning time.

Four sources, in this order of precedence (the first one that knows a value wins, separately
for cost and for selectivity):

1. Spark conf ``spark.bdbench.udf.cost.<udfName>`` / ``spark.bdbench.udf.selectivity.<udfName>``
   (set by the user; changeable at runtime with ``spark.conf.set``);
2. the paper's name suffix: ``udfA_99`` has cost 99;
3. the ``@costed(cost=..., selectivity=...)`` decorator (carried to the JVM as
   ``spark.bdbench.udf.declared.*`` conf entries);
4. measured values (``spark.bdbench.udf.measured.*``), e.g. from a profile of a sample.

Cost is relative (any unit, the same for all UDFs of a query); selectivity is the fraction of
rows that pass. The Java rules implement the same lookup; ``resolve`` mirrors it for Python
implementations and tests.

A UDF is *constrained* (must run once per row: the barrier rule materialises its result
instead of letting Spark call it again inside a chained UDF) when the conf
``spark.bdbench.udf.constrained.<udfName>`` is ``true``, else when declared with
``@costed(..., constrained=True)`` (``spark.bdbench.udf.declared.constrained.<udfName>``); a
conf ``false`` beats a declaration. Values other than true/false are ignored.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

PREFIX = "spark.bdbench.udf"
Source = Literal["conf", "suffix", "declared", "measured"]
Kind = Literal["cost", "selectivity"]
Flag = Literal["constrained"]
F = TypeVar("F", bound=Callable[..., Any])

_SUFFIX = re.compile(r"_(\d+(?:\.\d+)?)$")
_DECLARED: dict[str, dict[Kind, float]] = {}
_DECLARED_CONSTRAINED: set[str] = set()


def conf_key(kind: Kind | Flag, name: str, source: Source = "conf") -> str:
    """The Spark conf key holding ``kind`` of UDF ``name`` from ``source``."""
    if source == "conf":
        return f"{PREFIX}.{kind}.{name}"
    if source in ("declared", "measured"):
        return f"{PREFIX}.{source}.{kind}.{name}"
    raise ValueError(f"no conf key for source {source!r}")


def suffix_cost(name: str) -> float | None:
    """The cost encoded in the paper's name suffix (``udfA_99`` -> 99), if any."""
    match = _SUFFIX.search(name)
    return float(match.group(1)) if match else None


@dataclass(frozen=True)
class Annotation:
    """A UDF's cost, selectivity and constrained flag with where each came from (None: unknown)."""

    cost: float | None
    selectivity: float | None
    cost_source: Source | None
    selectivity_source: Source | None
    constrained: bool = False
    constrained_source: Source | None = None


_ORDER: tuple[Source, ...] = ("conf", "suffix", "declared", "measured")


def _lookup(conf: Mapping[str, str], kind: Kind, name: str) -> tuple[float | None, Source | None]:
    for source in _ORDER:
        if source == "suffix":
            value = suffix_cost(name) if kind == "cost" else None
        else:
            raw = conf.get(conf_key(kind, name, source))
            value = float(raw) if raw is not None else None
        if value is not None:
            return value, source
    return None, None


def _lookup_constrained(conf: Mapping[str, str], name: str) -> tuple[bool, Source | None]:
    sources: tuple[Source, ...] = ("conf", "declared")
    for source in sources:
        raw = conf.get(conf_key("constrained", name, source), "").strip().lower()
        if raw in ("true", "false"):
            return raw == "true", source
    return False, None


def resolve(name: str, conf: Mapping[str, str]) -> Annotation:
    """The effective annotation of UDF ``name`` under ``conf`` (the rules' precedence)."""
    cost, cost_source = _lookup(conf, "cost", name)
    selectivity, selectivity_source = _lookup(conf, "selectivity", name)
    constrained, constrained_source = _lookup_constrained(conf, name)
    return Annotation(
        cost, selectivity, cost_source, selectivity_source, constrained, constrained_source
    )


def rank(annotation: Annotation) -> float:
    """Predicate-ordering rank, ascending = evaluate first: cost / (1 - selectivity).

    Unknown cost counts as 1; unknown selectivity orders by cost alone (as the paper does).
    A predicate that passes every row (selectivity 1) never pays off early: infinite rank.
    """
    cost = 1.0 if annotation.cost is None else annotation.cost
    if annotation.selectivity is None:
        return cost
    if annotation.selectivity >= 1.0:
        return float("inf")
    return cost / (1.0 - annotation.selectivity)


def costed(
    cost: float, selectivity: float | None = None, constrained: bool = False
) -> Callable[[F], F]:
    """Declare a Python UDF function's per-row cost (and selectivity) by decorating it.

    Use under ``pyspark.sql.functions.udf`` (the UDF keeps the function's name)::

        @udf("double")
        @costed(cost=99, selectivity=0.3)
        def fatigue(x, p): ...

    ``constrained=True`` asks the rules to run the UDF once per row even when another UDF
    consumes its result (Spark would otherwise call it again inside the chain).
    """
    if cost <= 0:
        raise ValueError(f"cost must be positive, got {cost!r}")
    if selectivity is not None and not 0.0 <= selectivity <= 1.0:
        raise ValueError(f"selectivity must be in [0, 1], got {selectivity!r}")

    def deco(func: F) -> F:
        entry: dict[Kind, float] = {"cost": float(cost)}
        if selectivity is not None:
            entry["selectivity"] = float(selectivity)
        _DECLARED[func.__name__] = entry
        if constrained:
            _DECLARED_CONSTRAINED.add(func.__name__)
        else:
            _DECLARED_CONSTRAINED.discard(func.__name__)
        return func

    return deco


def declared_conf() -> dict[str, str]:
    """Conf entries carrying every ``@costed`` declaration to the JVM."""
    out = {
        conf_key(kind, name, "declared"): repr(value)
        for name, entry in _DECLARED.items()
        for kind, value in entry.items()
    }
    for name in sorted(_DECLARED_CONSTRAINED):
        out[conf_key("constrained", name, "declared")] = "true"
    return out


def measured_conf(profiles: Mapping[str, Mapping[str, float]]) -> dict[str, str]:
    """Conf entries for measured profiles: ``{udf: {"cost": s_per_row, "selectivity": f}}``."""
    out: dict[str, str] = {}
    for name, profile in profiles.items():
        kinds: tuple[Kind, ...] = ("cost", "selectivity")
        for kind in kinds:
            if kind in profile:
                out[conf_key(kind, name, "measured")] = repr(float(profile[kind]))
    return out


def apply(spark: Any, profiles: Mapping[str, Mapping[str, float]] | None = None) -> None:
    """Put declared (and measured) annotations into a running session's conf."""
    for key, value in {**declared_conf(), **measured_conf(profiles or {})}.items():
        spark.conf.set(key, value)

"""Cost and selectivity annotations of Python UDFs, read by the rules at planning time.

Four sources, in this order of precedence (the first one that knows a value wins, separately
for cost and for selectivity):

1. Spark conf ``spark.bdbench.udf.cost.<udfName>`` / ``spark.bdbench.udf.selectivity.<udfName>``
   (set by the user; changeable at runtime with ``spark.conf.set``);
2. the paper's name suffix: ``udfA_99`` has cost 99;
3. the ``@costed(cost=..., selectivity=...)`` decorator (carried to the JVM as
   ``spark.bdbench.udf.declared.*`` conf entries);
4. measured values (``spark.bdbench.udf.measured.*``), e.g. from a profile of a sample.

Measured costs are seconds per row; the others are cost units of ``spark.bdbench.udf.costUnit``
seconds (default 1e-6: a unit is a microsecond), so the planner can weigh them against the
fixed cost of an eval node (``spark.bdbench.udf.nodeCost``, else the probe's
``spark.bdbench.udf.measured.nodeCost``, else ``DEFAULT_NODE_COST``). Selectivity is the
fraction of rows that pass; unknown counts as ``DEFAULT_SELECTIVITY``. The Java rules implement
the same lookup; ``resolve`` mirrors it for Python implementations and tests.

A bad annotation in any source (not a number, a negative cost, a selectivity outside [0, 1], a
constrained flag other than true/false) raises ``AnnotationError`` naming the UDF and the key,
even when another source would win, as the rules fail planning with the same message: never a
silent fallback.

A UDF is *constrained* (must run once per row: the barrier rule materialises its result
instead of letting Spark call it again inside a chained UDF) when the conf
``spark.bdbench.udf.constrained.<udfName>`` is ``true``, else when declared with
``@costed(..., constrained=True)`` (``spark.bdbench.udf.declared.constrained.<udfName>``); a
conf ``false`` beats a declaration.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from harness.spark_rules import planner

PREFIX = "spark.bdbench.udf"
Source = Literal["conf", "suffix", "declared", "measured"]
Kind = Literal["cost", "selectivity"]
Flag = Literal["constrained"]
F = TypeVar("F", bound=Callable[..., Any])

#: Seconds per cost unit unless ``spark.bdbench.udf.costUnit`` says otherwise.
DEFAULT_COST_UNIT = 1e-6
#: Cost, in units, of a UDF without any cost annotation.
UNKNOWN_COST = 1.0
#: Selectivity of a UDF without a selectivity annotation.
DEFAULT_SELECTIVITY = 0.5
#: Seconds an eval node adds to a query when neither set nor measured.
DEFAULT_NODE_COST = 0.05
#: Rows read when neither Catalyst nor a profile knows.
DEFAULT_ROWS = 1_000_000
#: Seconds per row a UDF call costs in an eval node when neither set nor measured.
DEFAULT_CALL_COST = 1e-6
COST_UNIT_KEY = f"{PREFIX}.costUnit"
CALL_COST_KEY = f"{PREFIX}.callCost"
MEASURED_CALL_COST_KEY = f"{PREFIX}.measured.callCost"
NODE_COST_KEY = f"{PREFIX}.nodeCost"
MEASURED_NODE_COST_KEY = f"{PREFIX}.measured.nodeCost"
PARALLELISM_KEY = f"{PREFIX}.parallelism"

_SUFFIX = re.compile(r"_(\d+(?:\.\d+)?)$")
_DECLARED: dict[str, dict[Kind, float]] = {}
_DECLARED_CONSTRAINED: set[str] = set()


class AnnotationError(ValueError):
    """A malformed annotation: the message names the UDF and the conf key."""


def _number(conf: Mapping[str, str], key: str, what: str) -> float | None:
    """The finite number at ``key`` (None when unset or blank), else ``AnnotationError``."""
    raw = conf.get(key)
    if raw is None or not str(raw).strip():
        return None
    try:
        value = float(str(raw).strip())
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise AnnotationError(f"bdbench rules: {what}: {key} = '{raw}' is not a number")
    return value


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
    found: tuple[float | None, Source | None] = (None, None)
    # Every source is read, so a malformed one fails even when another one wins.
    for source in _ORDER:
        if source == "suffix":
            value = suffix_cost(name) if kind == "cost" else None
        else:
            key = conf_key(kind, name, source)
            value = _number(conf, key, f"UDF '{name}'")
            if value is not None and kind == "cost" and value < 0:
                raise AnnotationError(
                    f"bdbench rules: UDF '{name}': {key} = {value} is a negative cost"
                )
            if value is not None and kind == "selectivity" and not 0 <= value <= 1:
                raise AnnotationError(
                    f"bdbench rules: UDF '{name}': {key} = {value} is not a selectivity in [0, 1]"
                )
        if value is not None and found[0] is None:
            found = (value, source)
    return found


def _lookup_constrained(conf: Mapping[str, str], name: str) -> tuple[bool, Source | None]:
    sources: tuple[Source, ...] = ("conf", "declared")
    found: tuple[bool, Source | None] = (False, None)
    for source in sources:
        key = conf_key("constrained", name, source)
        raw = conf.get(key)
        value = "" if raw is None else str(raw).strip().lower()
        if value and value not in ("true", "false"):
            raise AnnotationError(
                f"bdbench rules: UDF '{name}': {key} = '{raw}' is not true or false"
            )
        if value and found[1] is None:
            found = (value == "true", source)
    return found


def resolve(name: str, conf: Mapping[str, str]) -> Annotation:
    """The effective annotation of UDF ``name`` under ``conf`` (the rules' precedence)."""
    cost, cost_source = _lookup(conf, "cost", name)
    selectivity, selectivity_source = _lookup(conf, "selectivity", name)
    constrained, constrained_source = _lookup_constrained(conf, name)
    return Annotation(
        cost, selectivity, cost_source, selectivity_source, constrained, constrained_source
    )


def cost_unit(conf: Mapping[str, str]) -> float:
    """Seconds per cost unit (``spark.bdbench.udf.costUnit``, positive)."""
    value = _number(conf, COST_UNIT_KEY, "cost unit")
    if value is not None and value <= 0:
        raise AnnotationError(
            f"bdbench rules: {COST_UNIT_KEY} = {value} is not a positive number of seconds"
        )
    return DEFAULT_COST_UNIT if value is None else value


def _model_figure(conf: Mapping[str, str], keys: tuple[str, str], what: str,
                  default: float) -> float:  # fmt: skip
    for key in keys:
        value = _number(conf, key, what)
        if value is not None:
            if value < 0:
                raise AnnotationError(f"bdbench rules: {key} = {value} is a negative {what}")
            return value
    return default


def node_cost(conf: Mapping[str, str]) -> float:
    """Seconds one eval node adds to a query: set, else measured, else the default."""
    return _model_figure(
        conf, (NODE_COST_KEY, MEASURED_NODE_COST_KEY), "node cost", DEFAULT_NODE_COST
    )


def call_cost(conf: Mapping[str, str]) -> float:
    """Seconds per row a UDF call adds in an eval node: set, else measured, else the default."""
    return _model_figure(
        conf, (CALL_COST_KEY, MEASURED_CALL_COST_KEY), "call cost", DEFAULT_CALL_COST
    )


def seconds_per_row(annotation: Annotation, conf: Mapping[str, str]) -> float:
    """The annotation's cost in seconds per row: measured costs are seconds already, the
    others are units of ``cost_unit``; unknown is ``UNKNOWN_COST`` units."""
    if annotation.cost is None:
        return UNKNOWN_COST * cost_unit(conf)
    if annotation.cost_source == "measured":
        return annotation.cost
    return annotation.cost * cost_unit(conf)


def rank(annotation: Annotation, conf: Mapping[str, str] | None = None) -> float:
    """Predicate-ordering rank, ascending = evaluate first: cost / (1 - selectivity), with the
    cost in seconds per row and unknown selectivity ``DEFAULT_SELECTIVITY`` (so UDFs without
    one order by cost). A predicate that passes every row never pays off early: infinite rank.
    """
    selectivity = DEFAULT_SELECTIVITY if annotation.selectivity is None else annotation.selectivity
    return planner.rank(seconds_per_row(annotation, conf or {}), selectivity)


def step(name: str, conf: Mapping[str, str]) -> planner.Step:
    """UDF ``name`` as the planner sees it (an Arrow UDF of the default kind): its cost with
    the call's own cost added, as the rules price a UDF in a node."""
    note = resolve(name, conf)
    selectivity = DEFAULT_SELECTIVITY if note.selectivity is None else note.selectivity
    return planner.Step(name, seconds_per_row(note, conf) + call_cost(conf), selectivity)


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
    """Conf entries for measured profiles: ``{udf: {"cost": s_per_row, "selectivity": f,
    "rows": rows the UDF's query reads}}`` (each key optional)."""
    out: dict[str, str] = {}
    for name, profile in profiles.items():
        for kind in ("cost", "selectivity", "rows"):
            if kind in profile:
                out[f"{PREFIX}.measured.{kind}.{name}"] = repr(float(profile[kind]))
    return out


def apply(spark: Any, profiles: Mapping[str, Mapping[str, float]] | None = None) -> None:
    """Put declared (and measured) annotations into a running session's conf."""
    for key, value in {**declared_conf(), **measured_conf(profiles or {})}.items():
        spark.conf.set(key, value)

"""UDF annotations: precedence conf > name suffix > decorator > measured, and the ranking."""

from __future__ import annotations

import itertools
import re
from typing import Any

import pytest

from harness.spark_rules import costs as ann


def test_precedence_of_the_four_sources() -> None:
    name = "udfA_99"
    measured = ann.measured_conf({name: {"cost": 5.0, "selectivity": 0.4}})
    declared = {ann.conf_key("cost", name, "declared"): "7", ann.conf_key("selectivity", name,
                "declared"): "0.2"}  # fmt: skip
    user = {ann.conf_key("cost", name): "3"}
    # the user's conf wins for cost; selectivity falls through to the declared value
    got = ann.resolve(name, {**measured, **declared, **user})
    assert (got.cost, got.cost_source) == (3.0, "conf")
    assert (got.selectivity, got.selectivity_source) == (0.2, "declared")
    # without a conf entry, the name suffix beats the decorator and the measurement
    got = ann.resolve(name, {**measured, **declared})
    assert (got.cost, got.cost_source) == (99.0, "suffix")
    # no suffix: declared beats measured; measured is the last resort
    declared_fatigue = {k.replace(name, "fatigue"): v for k, v in declared.items()}
    measured_fatigue = ann.measured_conf({"fatigue": {"cost": 5}})
    assert ann.resolve("fatigue", {**declared_fatigue, **measured_fatigue}).cost == 7.0
    assert ann.resolve("fatigue", ann.measured_conf({"fatigue": {"cost": 5}})).cost == 5.0
    assert ann.resolve("plain", {}) == ann.Annotation(None, None, None, None)


def test_suffix_cost() -> None:
    assert ann.suffix_cost("udfA_99") == 99
    assert ann.suffix_cost("udfB_10") == 10
    assert ann.suffix_cost("f_2_0.5") == 0.5
    assert ann.suffix_cost("fatigue") is None
    assert ann.suffix_cost("udf_") is None


def test_costed_decorator_declares_and_validates() -> None:
    @ann.costed(cost=42, selectivity=0.25)
    def transient_start(x: float) -> bool:
        return x > 0

    assert transient_start(1.0) is True  # the function itself is unchanged
    conf = ann.declared_conf()
    assert conf[ann.conf_key("cost", "transient_start", "declared")] == "42.0"
    assert conf[ann.conf_key("selectivity", "transient_start", "declared")] == "0.25"
    with pytest.raises(ValueError, match="cost must be positive"):
        ann.costed(cost=0)
    with pytest.raises(ValueError, match="selectivity must be in"):
        ann.costed(cost=1, selectivity=1.5)


def _expected_cost(order: list[tuple[float, float]]) -> float:
    total, surviving = 0.0, 1.0
    for cost, selectivity in order:
        total += surviving * cost
        surviving *= selectivity
    return total


@pytest.mark.parametrize("n", [3, 4])
def test_rank_order_is_the_cheapest_order(n: int) -> None:
    """Ascending cost/(1-selectivity) matches a brute-force search over every order."""
    grid = [(1.0, 0.9), (10.0, 0.1), (99.0, 0.5), (3.0, 0.01), (30.0, 0.99)]
    for combo in itertools.combinations(grid, n):
        ranked = sorted(combo, key=lambda cs: ann.rank(ann.Annotation(cs[0], cs[1], None, None)))
        best = min(_expected_cost(list(p)) for p in itertools.permutations(combo))
        assert _expected_cost(ranked) == pytest.approx(best)


def test_rank_without_selectivity_orders_by_cost() -> None:
    cheap = ann.rank(ann.Annotation(10, None, "suffix", None))
    dear = ann.rank(ann.Annotation(99, None, "suffix", None))
    assert cheap < dear
    # unknown: one cost unit (a microsecond), passing the default half of the rows
    unknown = ann.rank(ann.Annotation(None, None, None, None))
    assert unknown == pytest.approx(ann.UNKNOWN_COST * ann.DEFAULT_COST_UNIT / 0.5)
    assert ann.rank(ann.Annotation(1, 1.0, "conf", "conf")) == float("inf")


def test_costs_in_seconds_measured_ones_as_they_are() -> None:
    """Units (conf, suffix, declared) times the cost unit; measured costs are seconds already."""
    conf = ann.measured_conf({"plain": {"cost": 3e-5}})
    assert ann.seconds_per_row(ann.resolve("plain", conf), conf) == 3e-5
    assert ann.seconds_per_row(ann.resolve("udfA_99", conf), conf) == pytest.approx(99e-6)
    conf[ann.COST_UNIT_KEY] = "2e-6"
    assert ann.seconds_per_row(ann.resolve("udfA_99", conf), conf) == pytest.approx(198e-6)
    assert ann.seconds_per_row(ann.resolve("plain", conf), conf) == 3e-5
    # the planner's step adds the call cost every UDF pays per row in a node
    conf[ann.CALL_COST_KEY] = "1e-6"
    assert ann.step("udfA_99", conf).cost == pytest.approx(199e-6)
    assert ann.step("udfA_99", conf).selectivity == ann.DEFAULT_SELECTIVITY
    assert ann.node_cost({}) == ann.DEFAULT_NODE_COST
    assert ann.node_cost({ann.MEASURED_NODE_COST_KEY: "0.07"}) == 0.07
    assert ann.node_cost({ann.MEASURED_NODE_COST_KEY: "0.07", ann.NODE_COST_KEY: "0"}) == 0.0


K = "spark.bdbench.udf."


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("cost.f", "-1", "UDF 'f': {key} = -1.0 is a negative cost"),
        ("cost.f", "cheap", "UDF 'f': {key} = 'cheap' is not a number"),
        ("measured.cost.f", "nan", "UDF 'f': {key} = 'nan' is not a number"),
        ("selectivity.f", "1.5", "UDF 'f': {key} = 1.5 is not a selectivity in [0, 1]"),
        ("declared.selectivity.f", "-0.1", "UDF 'f': {key} = -0.1 is not a selectivity"),
        ("constrained.f", "yes", "UDF 'f': {key} = 'yes' is not true or false"),
    ],
)
def test_bad_annotations_are_one_clear_error(key: str, value: str, message: str) -> None:
    """One message naming the UDF and the key, the same as the Java rules'."""
    with pytest.raises(ann.AnnotationError) as caught:
        ann.resolve("f", {K + key: value})
    assert str(caught.value).startswith("bdbench rules: " + message.format(key=K + key))


@pytest.mark.parametrize(
    ("key", "value", "call", "message"),
    [
        ("nodeCost", "-0.1", ann.node_cost, "= -0.1 is a negative node cost"),
        ("nodeCost", "fast", ann.node_cost, "= 'fast' is not a number"),
        ("costUnit", "0", ann.cost_unit, "= 0.0 is not a positive number of seconds"),
        ("callCost", "-1", ann.call_cost, "= -1.0 is a negative call cost"),
    ],
)
def test_bad_model_figures_are_one_clear_error(key: str, value: str, call: Any, message: str
                                               ) -> None:  # fmt: skip
    with pytest.raises(ann.AnnotationError, match=re.escape(f"{K}{key} {message}")):
        call({K + key: value})


def test_constrained_precedence_conf_beats_declared() -> None:
    name = "stress"
    declared = {ann.conf_key("constrained", name, "declared"): "true"}
    got = ann.resolve(name, declared)
    assert (got.constrained, got.constrained_source) == (True, "declared")
    # the user's conf wins either way, case and blanks aside
    got = ann.resolve(name, {**declared, ann.conf_key("constrained", name): " FALSE "})
    assert (got.constrained, got.constrained_source) == (False, "conf")
    got = ann.resolve(name, {ann.conf_key("constrained", name): "true"})
    assert (got.constrained, got.constrained_source) == (True, "conf")
    # a malformed conf value is an error, like in the Java rules, never a silent fallback
    with pytest.raises(ann.AnnotationError, match="is not true or false"):
        ann.resolve(name, {**declared, ann.conf_key("constrained", name): "yes"})
    assert ann.resolve(name, {}).constrained is False
    assert ann.conf_key("constrained", name) == "spark.bdbench.udf.constrained.stress"


def test_costed_constrained_conf_entry(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ann, "_DECLARED", {})  # a clean registry for this test
    monkeypatch.setattr(ann, "_DECLARED_CONSTRAINED", set())

    @ann.costed(cost=7, constrained=True)
    def stress(x: float) -> float:
        return x

    @ann.costed(cost=3)
    def alarm(x: float) -> float:
        return x

    assert ann.declared_conf() == {
        "spark.bdbench.udf.declared.cost.stress": "7.0",
        "spark.bdbench.udf.declared.constrained.stress": "true",
        "spark.bdbench.udf.declared.cost.alarm": "3.0",
    }
    got = ann.resolve("stress", ann.declared_conf())
    assert (got.cost, got.constrained, got.constrained_source) == (7.0, True, "declared")
    assert ann.resolve("alarm", ann.declared_conf()).constrained is False

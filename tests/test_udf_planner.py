"""The cost-aware planner: optimal against brute force, deterministic, and "no split" when
splitting cannot win. The JVM planner is checked against this one in test_spark_rules."""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Iterator, Sequence

import pytest

from harness.spark_rules import planner
from harness.spark_rules.planner import Step


def set_partitions(items: Sequence[int]) -> Iterator[list[list[int]]]:
    """Every partition of ``items`` into non-empty blocks."""
    if not items:
        yield []
        return
    first, rest = items[0], items[1:]
    for part in set_partitions(rest):
        for k in range(len(part)):
            yield [*part[:k], [first, *part[k]], *part[k + 1 :]]
        yield [[first], *part]


def brute_force(steps: Sequence[Step], rows: float, f: float) -> float:
    """The cheapest cost over every grouping and every order of the groups."""
    best = math.inf
    for part in set_partitions(list(range(len(steps)))):
        if any(len({steps[i].kind for i in g}) > 1 for g in part):
            continue
        if any(len(g) > 1 and any(steps[i].alone for i in g) for g in part):
            continue
        for order in itertools.permutations(part):
            groups = [[steps[i].name for i in g] for g in order]
            best = min(best, planner.plan_cost(groups, steps, rows, f))
    return best


SELECTIVITIES = [0.0, 0.01, 0.1, 0.5, 0.9, 0.99, 1.0]


def random_steps(rng: random.Random, n: int, kinds: int = 1) -> list[Step]:
    return [
        Step(
            f"u{i}",
            10 ** rng.uniform(-7, -3),
            rng.choice([*SELECTIVITIES, rng.random()]),
            kind=rng.randrange(kinds),
            alone=kinds > 1 and rng.random() < 0.2,
        )
        for i in range(n)
    ]


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5])
def test_best_plan_is_the_brute_force_optimum(n: int) -> None:
    """Every grouping and order of up to 5 UDFs, over node costs from 0 to 10 s."""
    rng = random.Random(n)
    for _ in range(150 if n < 5 else 40):
        steps = random_steps(rng, n)
        rows = 10 ** rng.uniform(2, 7)
        f = rng.choice([0.0, 10 ** rng.uniform(-4, 1)])
        plan = planner.best_plan(steps, rows, f)
        assert sorted(n for g in plan.groups for n in g) == sorted(s.name for s in steps)
        assert plan.cost <= brute_force(steps, rows, f) * (1 + 1e-9) + 1e-15


@pytest.mark.parametrize("n", [3, 4])
def test_kinds_never_share_a_node_and_the_plan_stays_optimal(n: int) -> None:
    rng = random.Random(100 + n)
    for _ in range(60):
        steps = random_steps(rng, n, kinds=2)
        rows, f = 10 ** rng.uniform(3, 6), 10 ** rng.uniform(-3, 0)
        plan = planner.best_plan(steps, rows, f)
        by_name = {s.name: s for s in steps}
        for group in plan.groups:
            assert len({by_name[u].kind for u in group}) == 1
            assert len(group) == 1 or not any(by_name[u].alone for u in group)
        assert plan.cost <= brute_force(steps, rows, f) * (1 + 1e-9) + 1e-15


def test_consecutive_rank_groups_are_not_always_optimal() -> None:
    """Why the planner searches subsets: a case where the best plan shares a node between
    UDFs that are not neighbours in rank order (found by random search)."""
    rng = random.Random(7)
    found = False
    for _ in range(3000):
        steps = random_steps(rng, 4)
        rows, f = 10 ** rng.uniform(2, 7), 10 ** rng.uniform(-4, 1)
        exact = planner.best_plan(steps, rows, f)
        order = planner.ranked(steps)
        groups = planner._consecutive(order, rows, f)
        named = [[order[i].name for i in g] for g in groups]
        if planner.plan_cost(named, steps, rows, f) > exact.cost * 1.01:
            found = True
            break
    assert found


def test_no_split_when_a_node_costs_more_than_it_saves() -> None:
    """Plain Spark's single node when F outweighs the rows saved; the split when it does not."""
    cheap, dear = Step("udfB_10", 11e-6, 0.11), Step("udfA_99", 100e-6, 0.29)
    rows_per_worker = 500  # tiny: 1000 rows over 2 workers
    plan = planner.best_plan([dear, cheap], rows_per_worker, 0.06)
    assert plan.groups == (("udfB_10", "udfA_99"),)
    plan = planner.best_plan([dear, cheap], 15_000, 0.06)  # small: 30,000 rows
    assert plan.groups == (("udfB_10",), ("udfA_99",))
    # with no node cost, every selective UDF gets its own node, in rank order
    plan = planner.best_plan([dear, cheap], rows_per_worker, 0.0)
    assert plan.groups == (("udfB_10",), ("udfA_99",))


def test_a_filter_passing_every_row_shares_a_node() -> None:
    """A UDF that removes nothing gains nothing from a node of its own."""
    steps = [Step("a", 1e-6, 0.01), Step("keep", 1e-6, 1.0), Step("b", 50e-6, 0.5)]
    plan = planner.best_plan(steps, 100_000, 0.05)
    assert len(plan.groups) == 2 and "keep" in plan.groups[1]


def test_decisions_are_deterministic_and_ties_keep_fewer_nodes() -> None:
    steps = [Step(f"u{i}", 1e-6, 0.5) for i in range(5)]
    first = planner.best_plan(steps, 1000, 0.01)
    assert all(planner.best_plan(list(steps), 1000, 0.01) == first for _ in range(5))
    # equal UDFs, and a node cost making one node exactly as cheap as two: one node wins
    two = [Step("x", 1.0, 0.0), Step("y", 1.0, 0.0)]
    # one node: F + 2; two nodes: 2F + 1 (y sees no rows); equal at F = 1
    assert planner.best_plan(two, 1.0, 1.0).groups == (("x", "y"),)
    assert planner.best_plan(two, 1.0, 0.999).groups == (("x",), ("y",))


def test_many_udfs_use_consecutive_groups() -> None:
    steps = [Step(f"u{i:02}", (i + 1) * 1e-6, 0.5) for i in range(planner.MAX_EXACT + 2)]
    plan = planner.best_plan(steps, 10_000, 0.02)
    flat = [n for g in plan.groups for n in g]
    assert flat == [s.name for s in planner.ranked(steps)]

"""The cost-aware grouping of Python UDF filters into eval nodes (mirror of the Java planner).

Plain Spark evaluates every Python UDF of a filter in one eval node, on every row. Our rules
can give each UDF its own node, so a UDF only sees the rows that survived the filters below
it; but every extra node costs a fixed amount per query (a Python worker per task, an Arrow
stream, a thread), ``F``. The planner prices a plan, a sequence of nodes bottom-up, as::

    sum over nodes of  F + rows reaching the node / parallelism x sum of its UDFs' per-row costs

where the rows reaching a node are the input rows times the selectivities of the UDFs in the
nodes below (independence assumed), and picks the cheapest plan over every grouping and order
of the filtering UDFs (dynamic programming over subsets: exact). Plain Spark's single node is
one of the candidates and wins ties. Java's ``UdfFilterPlanner`` is the same algorithm with the
same arithmetic, so both return the same plan for equal inputs; tests check it against brute
force and against the JVM's plans.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

#: Above this many filtering UDFs the exact subset DP (3^n steps) gives way to grouping the
#: rank order into consecutive nodes (n^2 steps; close to, not always at, the optimum).
MAX_EXACT = 12


@dataclass(frozen=True)
class Step:
    """A filtering UDF as the planner sees it.

    ``cost`` is seconds per row, ``selectivity`` the fraction of rows its filter passes,
    ``kind`` the eval node type it needs (UDFs of different kinds never share a node) and
    ``alone`` whether its kind always runs alone in a node (iterator UDFs).
    """

    name: str
    cost: float
    selectivity: float
    kind: int = 0
    alone: bool = False


@dataclass(frozen=True)
class Plan:
    """Nodes bottom-up (UDF names in each) and the predicted cost in seconds."""

    groups: tuple[tuple[str, ...], ...]
    cost: float


def rank(cost: float, selectivity: float) -> float:
    """cost / (1 - selectivity): the classic order of independent filters (ascending)."""
    return math.inf if selectivity >= 1.0 else cost / (1.0 - selectivity)


def ranked(steps: Sequence[Step]) -> list[Step]:
    """``steps`` by ascending rank, ties in written order (the planner's index order)."""
    order = sorted(range(len(steps)), key=lambda i: (rank(steps[i].cost, steps[i].selectivity), i))
    return [steps[i] for i in order]


def plan_cost(groups: Sequence[Sequence[str]], steps: Sequence[Step], rows_per_worker: float,
              node_cost: float) -> float:  # fmt: skip
    """The model's cost of evaluating ``groups`` (bottom-up) over ``rows_per_worker`` rows."""
    by_name = {s.name: s for s in steps}
    total, passing = 0.0, 1.0
    for group in groups:
        total += node_cost + rows_per_worker * passing * sum(by_name[n].cost for n in group)
        for name in group:
            passing *= by_name[name].selectivity
    return total


def best_plan(steps: Sequence[Step], rows_per_worker: float, node_cost: float) -> Plan:
    """The cheapest plan over every grouping and order (ties: fewer nodes, rank order)."""
    order = ranked(steps)
    n = len(order)
    if n == 0:
        return Plan((), 0.0)
    groups = _exact(order, rows_per_worker, node_cost) if n <= MAX_EXACT else \
        _consecutive(order, rows_per_worker, node_cost)  # fmt: skip
    named = tuple(tuple(order[i].name for i in g) for g in groups)
    return Plan(named, plan_cost(named, steps, rows_per_worker, node_cost))


def choose(steps: Sequence[Step], rows_per_worker: float, node_cost: float) -> Plan:
    """What the rules do with one node of ``steps`` (all of one kind): the best plan when it
    has several nodes and costs less than the single node, else the single node itself."""
    names = tuple(s.name for s in steps)
    single = Plan((names,), plan_cost([names], steps, rows_per_worker, node_cost))
    best = best_plan(steps, rows_per_worker, node_cost)
    return best if len(best.groups) > 1 and best.cost < single.cost else single


def _compatible(group: Sequence[Step]) -> bool:
    kinds = {s.kind for s in group}
    return len(kinds) == 1 and (len(group) == 1 or not any(s.alone for s in group))


def _exact(order: Sequence[Step], rows: float, f: float) -> list[list[int]]:
    """Subset DP: value[mask] = cheapest way to evaluate the UDFs not in ``mask`` once the
    rows passed every UDF in ``mask``. UDF ``i`` of the rank order is bit ``n - 1 - i`` and
    submasks are tried largest first, so ties keep the plan with fewer nodes (one node first:
    plain Spark's plan), then the one evaluating earlier-ranked UDFs first."""
    n = len(order)
    order = order[::-1]
    full = (1 << n) - 1
    cost = [0.0] * (full + 1)
    sel = [1.0] * (full + 1)
    valid = [False] * (full + 1)
    for mask in range(1, full + 1):
        low = mask & -mask
        i = low.bit_length() - 1
        cost[mask] = cost[mask ^ low] + order[i].cost
        sel[mask] = sel[mask ^ low] * order[i].selectivity
        valid[mask] = _compatible([order[j] for j in range(n) if mask >> j & 1])
    value = [0.0] * (full + 1)
    choice = [0] * (full + 1)
    for mask in range(full - 1, -1, -1):
        rest = full & ~mask
        best, best_sub = math.inf, 0
        sub = rest
        while sub:
            if valid[sub]:
                v = f + rows * sel[mask] * cost[sub] + value[mask | sub]
                if v < best:
                    best, best_sub = v, sub
            sub = (sub - 1) & rest
        value[mask], choice[mask] = best, best_sub
    groups, mask = [], 0
    while mask != full:
        sub = choice[mask]
        groups.append(sorted(n - 1 - j for j in range(n) if sub >> j & 1))
        mask |= sub
    return groups


def _consecutive(order: Sequence[Step], rows: float, f: float) -> list[list[int]]:
    """Consecutive groups of the rank order (for many UDFs)."""
    n = len(order)
    prefix = [1.0]
    for s in order:
        prefix.append(prefix[-1] * s.selectivity)
    value = [math.inf] * (n + 1)
    start = [0] * (n + 1)
    value[0] = 0.0
    for k in range(1, n + 1):
        for j in range(k):
            group = order[j:k]
            if not _compatible(group):
                continue
            v = value[j] + f + rows * prefix[j] * sum(s.cost for s in group)
            if v < value[k]:
                value[k], start[k] = v, j
    groups: list[list[int]] = []
    k = n
    while k > 0:
        groups.insert(0, list(range(start[k], k)))
        k = start[k]
    return groups

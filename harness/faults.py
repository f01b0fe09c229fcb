"""Fault plans: lose a worker node of the cell's cluster during a measured call, from the runner.

``bdbench run --inject kill-worker@iteration=K`` (or ``@seconds=T``) runs every cell in
processes that alternate control and fault, one value each after their warm-ups: the control
is the same cell without the fault, measured beside it. In a fault process the runner's
``Injector`` listens to the worker's words over the control socket (``start``, ``iteration K
S``, ``end``) and, on the measured call, kills one worker node of the cell's cluster (the node
and everything working for it, ``harness.clusters.nodes``) after iteration K, or T seconds into
the timed region. The measured code never knows: the kill comes from outside its process tree,
as a crashed machine would. What was killed, when and how it went is the record's ``fault``.

Where the work lives decides when the kill lands (``FaultTarget.work``):

- ``executors`` live across iterations and hold cached partitions: the node with the
  highest number that runs one is killed at once, before the worker hears back from its
  ``iteration K`` word, so iteration K+1 starts without it.
- ``tasks`` live for one job: after iteration K the injector waits until the next job's work
  (a task container) runs on a node that does not host that job's coordinator (its
  ApplicationMaster), then kills that node, mid-job. If no such node shows within
  ``TASK_WAIT_S``, the node with most of the job's containers goes, and the record says so.
"""

from __future__ import annotations

import re
import statistics
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

KINDS = ("kill-worker",)
#: How long a ``tasks`` injection waits for the next job's work on a node of its own.
TASK_WAIT_S = 120.0
#: How often it looks (a glob of each node's container pid files).
POLL_S = 0.25
_PLAN = re.compile(
    r"(?P<kind>[a-z][a-z-]*)@(?P<at>iteration|seconds)=(?P<value>[^,]+)(?:,node=(?P<node>\d+))?"
)
PLAN_FORMAT = "KIND@iteration=K (K >= 1) or KIND@seconds=T (T > 0), optionally ,node=I"


class PlanError(ValueError):
    """A fault plan that cannot be parsed (one line)."""


@dataclass(frozen=True)
class FaultPlan:
    """What to inject: kill a worker after iteration ``iteration`` or ``seconds`` into the
    timed region, on node ``node`` (None: the injector chooses)."""

    kind: str
    iteration: int | None = None
    seconds: float | None = None
    node: int | None = None

    @classmethod
    def parse(cls, text: str) -> FaultPlan:
        """``kill-worker@iteration=3``, ``kill-worker@seconds=12.5``, ``...,node=2``."""
        match = _PLAN.fullmatch(text.strip())
        kind = text.strip().split("@", 1)[0]
        if kind and re.fullmatch(r"[a-z][a-z-]*", kind) and kind not in KINDS:
            raise PlanError(f"unknown fault {kind!r} (known: {', '.join(KINDS)})")
        if match is None:
            raise PlanError(f"expected {PLAN_FORMAT}, got {text!r}")
        value, node = match.group("value"), match.group("node")
        try:
            if match.group("at") == "iteration":
                plan = cls(match.group("kind"), iteration=int(value))
            else:
                plan = cls(match.group("kind"), seconds=float(value))
        except ValueError:
            raise PlanError(f"expected {PLAN_FORMAT}, got {text!r}") from None
        if (plan.iteration is not None and plan.iteration < 1) or (
            plan.seconds is not None and not plan.seconds > 0
        ):
            raise PlanError(f"expected {PLAN_FORMAT}, got {text!r}")
        if node is not None:
            if int(node) < 1:
                raise PlanError(f"expected {PLAN_FORMAT}, got {text!r}")
            plan = cls(plan.kind, plan.iteration, plan.seconds, int(node))
        return plan

    @property
    def label(self) -> str:
        """The plan as written: ``kill-worker@iteration=3``."""
        at = (
            f"iteration={self.iteration}"
            if self.iteration is not None
            else f"seconds={self.seconds:g}"
        )
        node = f",node={self.node}" if self.node is not None else ""
        return f"{self.kind}@{at}{node}"

    def to_json(self) -> dict[str, Any]:
        """The plan as a record's ``fault`` carries it."""
        at: dict[str, Any] = (
            {"iteration": self.iteration}
            if self.iteration is not None
            else {"seconds": self.seconds}
        )
        return {"plan": self.label, "kind": self.kind, "at": at, "node": self.node}


@dataclass(frozen=True)
class FaultTarget:
    """Where a cell's work runs on the local cluster: the role of its worker nodes (as the
    cluster's state names their daemons), whether its work lives across iterations
    (``executors``) or per job (``tasks``), and how people call the role."""

    role: str
    work: str
    name: str


def _nodes() -> Any:
    from harness.clusters import nodes

    return nodes


class Injector:
    """Carries out a plan on one fault process: hears the worker's words (from the runner's
    control loop, before it answers them) and kills a node of ``target`` on the measured call,
    the ``armed``-th call of the process (1-based)."""

    def __init__(self, plan: FaultPlan, target: FaultTarget, armed: int) -> None:
        self.plan, self.target, self.armed = plan, target, armed
        self.calls = 0
        self.t0: float | None = None
        self.iterations = 0
        self.iteration_end: float | None = None
        self.ended = False
        self.snapshot: dict[str, Any] = {}
        self.fired: dict[str, Any] | None = None
        self.note: str | None = None
        self.loss: Any = None
        self.live_before = 0
        self.apps_before: set[str] = set()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []

    # -- words from the worker -------------------------------------------------------------

    def hear(self, word: str) -> None:
        """A word of the worker, before the runner answers it."""
        parts = word.split()
        if not parts:
            return
        if parts[0] == "start":
            self.calls += 1
            if self.calls == self.armed:
                self._arm()
        elif parts[0] == "end" and self.calls == self.armed:
            self.ended = True
            self._stop.set()
        elif parts[0] == "iteration" and self._armed_now():
            self.iterations = int(parts[1])
            self.iteration_end = time.monotonic()
            if self.plan.iteration == self.iterations:
                if self.target.work == "executors":
                    self._fire(self._executor_node(), inline=True)
                else:
                    # The next job is not submitted before the worker hears back: every
                    # application seen now is an earlier one.
                    seen = self.apps_before | self._apps_now()
                    self._spawn(lambda: self._wait_for_tasks(seen))

    def _armed_now(self) -> bool:
        return self.calls == self.armed and self.t0 is not None and not self.ended

    def _arm(self) -> None:
        """The measured call starts: note the nodes and their processes (the snapshot a kill
        acts on at once) while the worker waits for our answer, before its clock starts."""
        nodes = _nodes()
        live = [n for n in nodes.worker_nodes(self.target.role) if n.alive()]
        self.live_before = len(live)
        self.snapshot = {n.name: (n, n.processes()) for n in live}
        if self.target.work == "tasks":
            self.apps_before = {c.application for n in live for c in nodes.containers(n)}
        self.t0 = time.monotonic()
        if self.plan.seconds is not None:
            self._spawn(self._timer)

    def _spawn(self, func: Callable[[], None]) -> None:
        thread = threading.Thread(target=func, name="bdbench-fault", daemon=True)
        self._threads.append(thread)
        thread.start()

    # -- choosing the node -----------------------------------------------------------------

    def _live(self) -> list[Any]:
        return [node for node, _ in self.snapshot.values() if node.alive()]

    def _chosen(self, live: list[Any]) -> Any | None:
        if self.plan.node is not None:
            found = [n for n in live if n.index == self.plan.node]
            if not found:
                self.note = f"node {self.plan.node} is not a live {self.target.name}"
            return found[0] if found else None
        return None

    def _executor_node(self) -> Any | None:
        """The highest-numbered live node running work of this run (its daemon has children);
        the highest-numbered live node when none is seen."""
        live = self._live()
        if self.plan.node is not None:
            return self._chosen(live)
        working = [n for n in live if _has_children(n)]
        if not working and live:
            self.note = f"no {self.target.name} seen running work of the run"
        pool = working or live
        return pool[-1] if pool else None

    def _apps_now(self) -> set[str]:
        nodes = _nodes()
        return {c.application for n in self._live() for c in nodes.containers(n)}

    def _wait_for_tasks(self, seen: set[str]) -> None:
        """Wait until a job not in ``seen`` runs tasks on a node that does not host its
        coordinator, and kill that node (with one live node: as soon as its tasks run). After
        ``TASK_WAIT_S``: the node with most of the job's containers."""
        nodes = _nodes()
        deadline = time.monotonic() + TASK_WAIT_S
        while not self._stop.wait(POLL_S):
            live = self._live()
            if self.plan.node is not None:
                live = [n for n in live if n.index == self.plan.node]
            held = {
                n.name: [c for c in nodes.containers(n) if c.application not in seen] for n in live
            }
            for node in live:
                tasks = [c for c in held[node.name] if not c.is_am]
                hosts_am = any(c.is_am for c in held[node.name])
                if tasks and (not hosts_am or len(live) == 1):
                    app = tasks[0].application
                    self._fire(
                        node, inline=False, extra={"application": app, "hosted_am": hosts_am}
                    )
                    return
            if time.monotonic() > deadline:
                busy = [n for n in live if held[n.name]]
                if busy:
                    node = max(busy, key=lambda n: len(held[n.name]))
                    self.note = (
                        f"no node ran the job's tasks without its coordinator within "
                        f"{TASK_WAIT_S:g} s"
                    )
                    hosts_am = any(c.is_am for c in held[node.name])
                    self._fire(node, inline=False, extra={"hosted_am": hosts_am})
                    return

    def _timer(self) -> None:
        assert self.t0 is not None and self.plan.seconds is not None
        if self._stop.wait(max(0.0, self.t0 + self.plan.seconds - time.monotonic())):
            return
        if self.target.work == "executors":
            self._fire(self._executor_node(), inline=False)
            return
        nodes = _nodes()
        live = self._live()
        chosen = self._chosen(live) if self.plan.node is not None else None
        if chosen is None and self.plan.node is None:
            # The node with most work, preferring one without a coordinator.
            def weight(node: Any) -> tuple[int, int, int]:
                held = [c for c in nodes.containers(node) if c.application not in self.apps_before]
                return (
                    sum(1 for c in held if not c.is_am),
                    -sum(1 for c in held if c.is_am),
                    node.index,
                )

            chosen = max(live, key=weight) if live else None
        self._fire(chosen, inline=False)

    # -- the kill --------------------------------------------------------------------------

    def _fire(self, node: Any | None, inline: bool, extra: dict[str, Any] | None = None) -> None:
        with self._lock:
            if self.fired is not None or self.ended:
                return
            if node is None:
                self.note = self.note or f"no live {self.target.name} to kill"
                return
            at = time.monotonic()
            _, procs = self.snapshot.get(node.name, (node, None))
            loss = _nodes().lose(node, procs)
            self.fired = {
                "role": self.target.role,
                "name": node.name,
                "node": node.index,
                "pid": node.handle.pid,
                "killed": loss.killed,
                "at_s": round(at - (self.t0 or at), 3),
                "kill_s": round(time.monotonic() - at, 4),
                "iterations_done": self.iterations,
                "after_iteration_end_s": (
                    round(at - self.iteration_end, 3) if self.iteration_end is not None else None
                ),
                "live_after": sum(1 for n in self._live() if n is not node),
                **(extra or {}),
            }
            self.loss = loss
        # The waiting and sweeping happen beside the run (inline: after the worker is
        # answered; its iteration goes on without the node meanwhile).
        self._spawn(loss.finish)

    # -- the outcome -------------------------------------------------------------------------

    def close(self) -> None:
        """Stop waiting (the process ended) and let the kill's sweep finish."""
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=30)

    @property
    def killed_node(self) -> str | None:
        """The name of the node killed (None: none)."""
        return self.fired["name"] if self.fired else None

    def result(self) -> dict[str, Any]:
        """What the record's ``fault`` says of the injection (the plan's fields apart)."""
        if self.fired is not None:
            found: dict[str, Any] = {"injected": True, "target": self.fired}
        else:
            found = {"injected": False, "reason": self._why_not()}
        if self.note:
            found["note"] = self.note
        found["live_before"] = self.live_before
        return found

    def _why_not(self) -> str:
        if self.note and "no live" in self.note:
            return self.note
        if self.plan.iteration is not None:
            return (
                f"the run reported {self.iterations} iteration(s); {self.plan.label} needs "
                f"iteration {self.plan.iteration + 1} to lose the worker in"
            )
        return f"the timed region ended before {self.plan.label}"


def _has_children(node: Any) -> bool:
    process = node.handle.process()
    try:
        return bool(process is not None and process.children())
    except Exception:
        return False


def slowdown(
    fault: dict[str, Any], controls: list[dict[str, Any]], lost_iteration: int | None
) -> dict[str, Any]:
    """A fault run against its controls (``wall_s`` and ``iteration_s`` of each): the wall
    difference from the controls' median, in s and %, and per iteration (iteration K from 1),
    with the iteration that lost the worker and the sums before and after it."""
    walls = [c["wall_s"] for c in controls if c.get("wall_s") is not None]
    if not walls or fault.get("wall_s") is None:
        return {}
    median = statistics.median(walls)
    delta = fault["wall_s"] - median
    out: dict[str, Any] = {
        "slowdown_s": delta,
        "slowdown_pct": 100.0 * delta / median if median > 0 else None,
    }
    detail: dict[str, Any] = {"control_runs": len(walls), "control_wall_s": median}
    runs = [c["iteration_s"] for c in controls if c.get("iteration_s")]
    mine = fault.get("iteration_s") or []
    if runs and mine:
        n = min(len(mine), *(len(r) for r in runs))
        medians = [statistics.median(r[i] for r in runs) for i in range(n)]
        per = [mine[i] - medians[i] for i in range(n)]
        detail.update(control_iteration_s=medians, iteration_s=per)
        if lost_iteration is not None and 1 <= lost_iteration <= n:
            k = lost_iteration - 1
            detail.update(
                lost_iteration=lost_iteration,
                lost_iteration_s=per[k],
                before_s=sum(per[:k]),
                after_s=sum(per[k + 1 :]),
            )
    out["slowdown"] = detail
    return out


def lost_iteration(plan: FaultPlan, fired: dict[str, Any] | None, times: list[float]) -> int | None:
    """The iteration that lost the worker: K+1 for ``@iteration=K``; for ``@seconds``, the
    iteration whose cumulative time first passes the kill (approximate: the call's set-up
    before its first iteration counts into the first)."""
    if fired is None:
        return None
    if plan.iteration is not None:
        return plan.iteration + 1
    at, total = float(fired.get("at_s") or 0.0), 0.0
    for i, seconds in enumerate(times, start=1):
        total += seconds
        if total >= at:
            return i
    return None


def recovery_against(
    fault: dict[str, Any] | None, controls: Sequence[dict[str, Any] | None]
) -> dict[str, float]:
    """Each number of a fault run's ``recovery`` minus the median of its controls' (e.g. task
    attempts launched again: speculative ones launch in controls too)."""
    if not fault:
        return {}
    found: dict[str, float] = {}
    for key, value in fault.items():
        if not isinstance(value, int | float) or isinstance(value, bool):
            continue
        values = [c[key] for c in controls if c and isinstance(c.get(key), int | float)]
        if values:
            found[key] = value - statistics.median(values)
    return found


def check_plan(
    plan: FaultPlan,
    cells: list[Any],
    grid: dict[str, list[Any]],
    options: Any,
    cluster: dict[str, Any],
) -> None:
    """UserError (one line) unless every cell can take ``plan`` on the local cluster that
    ``cluster`` (its state, or a stand-in before it is up) describes: its work runs on worker
    nodes there, and for ``@iteration=K`` its implementation reports iterations and runs more
    than K at every ``--param`` point."""
    from harness import registry
    from harness.engines import ENGINES, get_engine_class
    from harness.errors import UserError
    from harness.runner import param_points

    label = f"--inject {plan.label}"

    def target(name: str, variant: str) -> FaultTarget | None:
        cls = get_engine_class(name)
        engine = cls(cls.on_cluster(options.of(cls), cluster))
        return engine.fault_target(variant, cluster)

    for cell in cells:
        if target(cell.engine, cell.variant) is None:
            fit = [
                f"{name}/{variant}"
                for name, cls in ENGINES.items()
                for variant in cls.variants
                if target(name, variant) is not None
            ]
            raise UserError(
                f"{label}: {cell.engine}/{cell.variant} runs on no worker node of the local "
                f"cluster (this machine, a simulation or your own cluster); select cells that "
                f"do: {', '.join(fit)}"
            )
        if plan.iteration is None:
            continue
        workload = registry.get_workload(cell.workload)
        if "iterations" not in workload.params:
            raise UserError(
                f"{label}: {cell.workload} has no iterations; use {plan.kind}@seconds=T"
            )
        spec = registry.find_impl(cell.workload, cell.engine, cell.variant)
        if spec is None or not spec.reports_iterations:
            raise UserError(
                f"{label}: {cell.workload} on {cell.engine}/{cell.variant} does not report "
                f"its iterations (its library runs them inside one call); use "
                f"{plan.kind}@seconds=T"
            )
        for params in param_points(workload, grid):
            n = int(params["iterations"])
            if plan.iteration >= n:
                given = " (--param iterations)" if "iterations" in grid else " (its default)"
                where = (
                    f"after iteration 1 to {n - 1}"
                    if n > 1
                    else "only between iterations (--param iterations=2 or more)"
                )
                raise UserError(
                    f"{label}: {cell.workload} runs {n} iteration{'s' if n != 1 else ''}"
                    f"{given}; a worker can be lost {where}"
                )

"""The measured child process: start the engine, run one implementation, check its answer.

Run as ``python -m harness.worker REQUEST_JSON CONTROL_FD`` by the runner, once per worker
process of a cell (with ``--share-engines``, an idle worker goes on with later cells: ``serve``).
The timed region is bracketed by a handshake over the control socket so the parent's probe can
snapshot the process tree exactly at its edges. Engine start-up and stop are outside it.

``Session`` is the timed-run code itself (start, timed call, judge, stop); the asv suite uses
it too, so both measure the same region.
"""

from __future__ import annotations

import json
import os
import resource
import socket
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness import datasets, registry
from harness import metrics as metric_registry
from harness.cells import Cell
from harness.contract import RunRequest, RunResult, answer_file
from harness.engines import EngineOptions, get_engine_class
from harness.engines.base import Engine
from harness.errors import EngineUnavailable
from harness.probe import rusage_cpu
from harness.results import write_whole
from harness.stopping import STOP, VALUE, WARMUP

#: Longest wait for the engine to go idle after start-up, before the timed region.
SETTLE_MAX_S = 3.0


def settle(max_s: float = SETTLE_MAX_S, step: float = 0.05, quiet: float = 0.1) -> float:
    """Wait until this process tree is idle (< ``quiet`` of a core) or ``max_s`` passes.

    Engines keep working for a moment after start-up (BLAS threads spin after import, a JVM
    compiles and collects after its first job); that CPU belongs to start-up, not to the
    workload that follows.
    """
    import psutil

    me = psutil.Process()

    def tree_cpu() -> float:
        total = 0.0
        for proc in [me, *me.children(recursive=True)]:
            try:
                times = proc.cpu_times()
            except psutil.Error:
                continue
            total += times.user + times.system
        return total

    began = time.perf_counter()
    before = tree_cpu()
    while time.perf_counter() - began < max_s:
        time.sleep(step)
        now = tree_cpu()
        if now - before < quiet * step:
            break
        before = now
    return time.perf_counter() - began


def max_rss_bytes() -> int:
    """Largest RSS of this process or any reaped child (``getrusage``)."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, kids) * 1024  # Linux reports KiB


def error_line(exc: BaseException) -> str:
    """One line naming the exception: ``Type: message`` (first line of the message); for a
    JVM error, its root cause (the innermost ``Caused by``), not the outermost wrapper."""
    java = _java_root_cause(exc)
    if java is not None:
        return java
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def _java_root_cause(exc: BaseException) -> str | None:
    """``Class: message`` of the innermost Java cause of a Py4J error, from its stack trace
    text (which py4j fetched while the JVM was alive), or None when ``exc`` is not one."""
    if not hasattr(exc, "java_exception"):
        return None
    try:
        text = str(exc)
    except Exception:  # the JVM is gone and the trace with it
        return None
    lines = [line.strip() for line in text.splitlines()]
    causes = [line.removeprefix("Caused by: ") for line in lines if line.startswith("Caused by: ")]
    if not causes:
        # Py4J's header ("An error occurred while calling X.") comes first, then ": Class: msg".
        causes = [line.lstrip(": ") for line in lines if line.startswith(": ")]
    if not causes:
        return None
    name, sep, message = causes[-1].partition(": ")
    return f"{name.rsplit('.', 1)[-1]}: {message}" if sep else name.rsplit(".", 1)[-1]


@dataclass(frozen=True)
class Timed:
    """One call of an implementation inside the timed region."""

    answer: Any
    wall_s: float
    #: CPU seconds of the region by ``getrusage`` (self and reaped children).
    cpu_s: float


@dataclass(frozen=True)
class Judgement:
    """The answer's verdict and the figures that come from it."""

    passed: bool
    detail: str
    digest: str
    metrics: dict[str, Any]


class Session:
    """One cell's implementation on its started engine, in this process."""

    def __init__(
        self,
        cell: Cell,
        data: datasets.Dataset,
        params: dict[str, Any],
        scratch: Path,
        options: EngineOptions | None = None,
        prepared: dict[str, Any] | None = None,
        shared: Engine | None = None,
    ) -> None:
        registry.load_all()
        impl = registry.find_impl(cell.workload, cell.engine, cell.variant)
        if impl is None:
            raise EngineUnavailable("no implementation registered for this cell")
        self.cell, self.impl = cell, impl
        self.workload = registry.get_workload(cell.workload)
        engine_cls = get_engine_class(cell.engine)
        #: A started engine that served earlier cells of this process (``--share-engines``).
        self.shared = shared
        self.engine = shared or engine_cls((options or EngineOptions()).of(engine_cls))
        self.ctx = registry.RunContext(
            self.engine,
            cell.variant,
            data,
            dict(params),
            scratch,
            rules=cell.rules,
            prepared=dict(prepared or {}),
        )
        self.started = False
        #: Start-up figures: ``prewarm_s`` and ``settle_s``.
        self.startup_metrics: dict[str, float] = {}

    def start(self) -> float:
        """Start the engine, run the implementation's warm-up and let the machine settle
        (never timed); return the start-up seconds (settling excluded)."""
        began = time.perf_counter()
        if self.shared is not None:
            self.engine.adopt(self.cell.variant, self.cell.rules, self.ctx.data, self.ctx.scratch)
        else:
            self.engine.start(self.cell.variant, self.cell.rules, self.ctx.data, self.ctx.scratch)
        self.started = True
        if self.impl.prewarm is not None:
            t_warm = time.perf_counter()
            self.impl.prewarm(self.ctx)
            self.startup_metrics["prewarm_s"] = time.perf_counter() - t_warm
        startup = time.perf_counter() - began
        self.startup_metrics["settle_s"] = settle()
        return startup

    def call(
        self,
        on_start: Callable[[], object] | None = None,
        on_end: Callable[[], object] | None = None,
    ) -> Timed:
        """Run the implementation once: the timed region, between ``on_start`` and ``on_end``
        (the probe's snapshots)."""
        cpu0 = rusage_cpu()
        if on_start is not None:
            on_start()
        began = time.perf_counter()
        try:
            answer = self.impl.func(self.ctx)
            wall = time.perf_counter() - began
        finally:
            cpu1 = rusage_cpu()
            if on_end is not None:
                on_end()
        return Timed(answer, wall, cpu1 - cpu0)

    def reference(self) -> Any:
        """The reference answer (cached beside the data)."""
        return datasets.reference_answer(self.workload, self.ctx.data, self.ctx.params)

    def judge(self, timed: Timed) -> Judgement:
        """Check the answer against the reference; derive the run's answer figures (untimed)."""
        workload, metrics = self.workload, dict(self.ctx.metrics)
        expected = self.reference()
        verdict = workload.check(timed.answer, expected)
        if verdict.by_quality:
            metrics["check_method"] = "quality"
        if workload.answer_metrics is not None:
            metrics.update(workload.answer_metrics(timed.answer))
        if workload.finish_metrics is not None:
            workload.finish_metrics(metrics, expected, self.ctx.params, self.ctx.prepared)
        # An implementation that does a different amount of work from the reference (an
        # iterative solver run to convergence) counts its own items in ``finish_metrics``.
        n_items = metrics.get("items") or workload.items(expected)
        metrics.update({"items": n_items, "unit": workload.unit})
        # A paced run (a stream fed on a schedule) lasts as long as its feed: its throughput
        # is over the time it was busy processing, which it reports as ``busy_s``.
        busy = metrics.get("busy_s") or timed.wall_s
        if busy > 0:
            metrics["items_per_s"] = n_items / busy
        digest = workload.digest(timed.answer)
        return Judgement(verdict.passed, verdict.detail, digest, metrics)

    def stop(self) -> str | None:
        """Stop the engine if it was started; the error line when stopping failed."""
        if not self.started:
            return None
        self.started = False
        try:
            self.engine.stop()
        except Exception as exc:
            return error_line(exc)
        return None


class _Control:
    """The runner's end of the handshake: 'start'/'end' words, each acknowledged, and 'next',
    answered with the next call to make (``harness.stopping``: warmup, value or stop)."""

    def __init__(self, sock: socket.socket | None, plan: list[str] | None = None) -> None:
        self.sock = sock
        self.inside = False
        #: Without a runner (a direct ``execute``), the calls to make.
        self.plan = list(plan or [VALUE])

    def say(self, word: str) -> str:
        """Tell the runner we reach ``word``; wait for its snapshot or answer."""
        if word in ("start", "end"):  # an "iteration" word is said inside the region
            self.inside = word == "start"
        if self.sock is None:
            return ""
        self.sock.sendall(word.encode() + b"\n")
        answer = b""
        while not answer.endswith(b"\n"):
            chunk = self.sock.recv(64)
            if not chunk:
                raise RuntimeError("runner went away")
            answer += chunk
        return answer.decode().strip()

    def next_call(self) -> str:
        """The next call to make: warmup, value or stop."""
        if self.sock is None:
            return self.plan.pop(0) if self.plan else STOP
        return self.say("next")


def _reporter(ctx: registry.RunContext, control: _Control) -> Callable[[int, float], None]:
    """Tell the runner of each iteration as it ends, and count them in the call's metrics."""

    def report(number: int, seconds: float) -> None:
        ctx.metrics["iterations_reported"] = ctx.metrics.get("iterations_reported", 0) + 1
        control.say(f"iteration {number} {seconds:.6f}")

    return report


def _call(
    session: Session, control: _Control, result: RunResult, request: RunRequest, index: int
) -> None:
    """One call: the timed region, then its answer judged (untimed)."""
    session.ctx.metrics = {}  # each call's own figures
    session.engine.begin_call()  # untimed: e.g. the engine's per-call accounts start afresh
    timed = session.call(lambda: control.say("start"), lambda: control.say("end"))
    result.wall_s, result.cpu_s_rusage = timed.wall_s, timed.cpu_s
    result.max_rss_single = max_rss_bytes()
    result.metrics.update(session.ctx.metrics)
    result.metrics.update(session.engine.run_metrics())
    if session.ctx.prepared:
        result.metrics.setdefault("prepared", session.ctx.prepared)
    result.engine_info = session.engine.info()
    _finish(session, timed, request, result, index)


def _finish(
    session: Session, timed: Timed, request: RunRequest, result: RunResult, index: int
) -> None:
    """Judge the answer, keep it when asked, and set the call's status."""
    judged = session.judge(timed)
    result.metrics.update(judged.metrics)
    result.answer_digest = judged.digest
    result.check = "pass" if judged.passed else "fail"
    result.check_detail = judged.detail
    # Every figure is declared once (its unit, meaning, direction) for the reports and
    # compare to read: a run that records an undeclared one fails, naming it.
    unknown = metric_registry.undeclared(result.metrics)
    if unknown:
        result.error = (
            f"undeclared metric(s) {', '.join(unknown)}: declare them with harness.metrics.declare"
        )
        return
    if request.answer_path:
        answer = session.workload.to_json(timed.answer)
        _write_whole(
            answer_file(Path(request.answer_path), index),
            json.dumps(answer, ensure_ascii=False, indent=0),
        )
    if judged.passed:
        result.status = "ok"
    else:  # fast and wrong is a failure (house rule 5)
        result.error = f"answer check failed: {judged.detail}"


def _write_whole(path: Path, text: str) -> None:
    """Write an answer whole or not at all: the runner keeps whatever file is there, and a
    full disk must not leave it a cut answer."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        write_whole(path, text)
    except OSError as exc:
        raise OSError(f"cannot write answer file {path}: {exc.strerror}") from exc


def _failure(result: RunResult, exc: BaseException, session: Session | None) -> None:
    """Make ``result`` say why the call (or the start-up) failed."""
    result.status, result.error = "failed", error_line(exc)
    result.traceback = traceback.format_exc()[-4000:]
    crash = session.engine.crash_reason() if session is not None else None
    if crash is not None:  # the cause, then the symptom Python saw
        result.error = f"{crash}; then: {result.error}"


def run_process(request: RunRequest, control: _Control, out: Path | None = None) -> list[RunResult]:
    """Start the engine, make the calls the runner asks for, stop the engine: one result per
    call (one failed or skipped result when the start-up failed). Every failure becomes a
    result's status and error; after a failed call the process makes no more calls. The
    results so far are written to ``out`` after every call."""
    return _run_cell(request, control, out)[0]


def _run_cell(
    request: RunRequest,
    control: _Control,
    out: Path | None = None,
    shared: Engine | None = None,
    served: int = 0,
) -> tuple[list[RunResult], Engine | None]:
    """``run_process`` on ``shared`` (a started engine that served ``served`` cells before)
    or a new engine; returns the results and, when the request shares it and every call
    went well, the engine still running (else None: it is stopped)."""
    results: list[RunResult] = []
    session: Session | None = None
    startup: float | None = None
    startup_metrics: dict[str, float] = {}
    kept: Engine | None = None

    def save() -> None:
        if out is not None:
            RunResult.write_all(results, out)

    try:
        data = datasets.Dataset.from_json(request.dataset)
        options = EngineOptions.from_json(request.options)
        session = Session(
            request.cell, data, request.params, Path(request.scratch), options,
            request.prepared, shared,
        )  # fmt: skip
        session.engine.memory_limit = request.memory_limit
        if request.progress:
            session.ctx.on_iteration = _reporter(session.ctx, control)
        startup = session.start()
        startup_metrics = dict(session.startup_metrics)
        if shared is not None:
            # Its start-up is the new session's; the engine's own was an earlier cell's.
            startup_metrics["engine_shared_after"] = served
        clean = True
        while control.next_call() in (WARMUP, VALUE):
            result = RunResult(startup_s=startup, metrics=dict(startup_metrics))
            results.append(result)
            _call(session, control, result, request, len(results) - 1)
            save()
            if result.status != "ok":
                clean = False
                break
        if clean and request.share:
            session.engine.release()
            kept = session.engine
    except EngineUnavailable as exc:
        results.append(RunResult(status="skipped", error=str(exc)))
    except Exception as exc:
        if not results or results[-1].status == "ok":
            # The start-up failed, or the runner went away between two calls.
            results.append(RunResult(startup_s=startup, metrics=dict(startup_metrics)))
        _failure(results[-1], exc, session)
    finally:
        if control.inside:
            try:
                control.say("end")
            except (OSError, RuntimeError):
                pass
        if session is not None and kept is None:
            stop_error = session.stop()
            # A stop failure after another error is kept apart: it must not hide that one.
            if results and stop_error:
                results[-1].stop_error = stop_error
        if kept is None and shared is not None:
            shared.stop()  # an adopted engine that failed to start a session is not stopped
        save()
    return results, kept


def serve(request: RunRequest, control: _Control) -> None:
    """The child's life: ``request``'s cell, then, while the requests share the engine and
    all went well, say "idle" and serve the cell the runner names ("cell PATH") until it
    says "exit". The engine is stopped at the end."""
    engine: Engine | None = None
    served = 0
    try:
        while True:
            _, engine = _run_cell(request, control, Path(request.result_path), engine, served)
            served += 1
            if engine is None:
                return
            reply = control.say("idle")
            if not reply.startswith("cell "):
                return
            request = RunRequest.read(Path(reply.removeprefix("cell ")))
    finally:
        if engine is not None:
            try:
                engine.stop()
            except Exception as exc:  # the runner reads it in the log
                print(f"bdbench worker: stopping the shared engine failed: {error_line(exc)}")


def execute(request: RunRequest, ctl: socket.socket | None) -> RunResult:
    """One measured call of ``request``'s cell in this process (start, call, stop); every
    failure becomes the result's status and error."""
    results = run_process(request, _Control(ctl))
    return results[-1] if results else RunResult()


def main(argv: list[str] | None = None) -> int:
    """Entry point of the child process."""
    args = sys.argv[1:] if argv is None else argv
    request = RunRequest.read(Path(args[0]))
    ctl = socket.socket(fileno=int(args[1])) if len(args) > 1 else None
    serve(request, _Control(ctl))
    if ctl is not None:
        ctl.close()
    sys.stdout.flush()
    sys.stderr.flush()
    # Skip interpreter teardown: engine client threads can stall it; results are on disk.
    os._exit(0)


if __name__ == "__main__":
    main()

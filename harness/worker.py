"""The measured child process: start the engine, run one implementation, check its answer.

Run as ``python -m harness.worker SPEC_JSON CONTROL_FD`` by the runner, once per measured run.
The timed region is bracketed by a handshake over the control socket so the parent's probe can
snapshot the process tree exactly at its edges. Engine start-up and stop are outside it.
"""

from __future__ import annotations

import json
import os
import resource
import socket
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from harness.probe import rusage_cpu

#: Longest wait for the engine to go idle after start-up, before the timed region.
SETTLE_MAX_S = 3.0


def _handshake(ctl: socket.socket | None, word: str) -> None:
    """Tell the parent we reach ``word`` ('start'/'end') and wait for its snapshot."""
    if ctl is None:
        return
    ctl.sendall(word.encode() + b"\n")
    reply = ctl.recv(16)
    if not reply:
        raise RuntimeError("runner went away")


def settle(max_s: float = SETTLE_MAX_S, step: float = 0.05, quiet: float = 0.1) -> float:
    """Wait until this process tree is idle (< ``quiet`` of a core) or ``max_s`` passes.

    Engines keep working for a moment after start-up (OpenBLAS threads spin after import,
    the JVM compiles and collects after its first job); that CPU belongs to start-up, not to
    the workload that follows.
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


def _max_rss_bytes() -> int:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, kids) * 1024  # Linux reports KiB


def error_line(exc: BaseException) -> str:
    """One line naming the exception: ``Type: message`` (first line of the message)."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def execute(spec: dict[str, Any], ctl: socket.socket | None) -> dict[str, Any]:
    """Run one cell as described by ``spec``; return the result fields for the record."""
    from harness import datasets, registry
    from harness.engines import EngineOptions, get_engine_class
    from harness.errors import EngineUnavailable

    result: dict[str, Any] = {"status": "failed", "metrics": {}}
    engine = None
    in_window = False
    try:
        registry.load_all()
        workload = registry.get_workload(spec["workload"])
        impl = registry.find_impl(spec["workload"], spec["engine"], spec["variant"])
        if impl is None:
            raise EngineUnavailable("no implementation registered for this cell")
        data = datasets.Dataset.from_json(spec["dataset"])
        engine = get_engine_class(spec["engine"])(EngineOptions.from_json(spec["options"]))
        scratch = Path(spec["scratch"])
        ctx = registry.RunContext(
            engine,
            spec["variant"],
            data,
            dict(spec["params"]),
            scratch,
            rules=spec["rules"],
            prepared=dict(spec.get("prepared") or {}),
        )

        t0 = time.perf_counter()
        engine.start(spec["variant"], spec["rules"], data, scratch)
        if workload.prewarm is not None:
            t_warm = time.perf_counter()
            workload.prewarm(ctx)
            result["metrics"]["prewarm_s"] = time.perf_counter() - t_warm
        result["startup_s"] = time.perf_counter() - t0
        result["metrics"]["settle_s"] = settle()

        cpu0 = rusage_cpu()
        _handshake(ctl, "start")
        in_window = True
        t1 = time.perf_counter()
        answer = impl.func(ctx)
        wall = time.perf_counter() - t1
        cpu1 = rusage_cpu()
        _handshake(ctl, "end")
        in_window = False
        result.update(wall_s=wall, cpu_s_rusage=cpu1 - cpu0, max_rss_single=_max_rss_bytes())
        result["metrics"].update(ctx.metrics)
        if ctx.prepared:
            result["metrics"].setdefault("prepared", ctx.prepared)
        result["engine_info"] = engine.info()

        engine.stop()
        engine = None

        expected = datasets.reference_answer(workload, data, spec["params"])
        verdict = workload.check(answer, expected)
        result["answer_digest"] = workload.digest(answer)
        result["check"] = "pass" if verdict.passed else "fail"
        result["check_detail"] = verdict.detail
        if verdict.by_quality:
            result["metrics"]["check_method"] = "quality"
        if workload.answer_metrics is not None:
            result["metrics"].update(workload.answer_metrics(answer))
        if workload.finish_metrics is not None:
            workload.finish_metrics(result["metrics"], expected, spec["params"], ctx.prepared)
        # An implementation that does a different amount of work from the reference (Spark
        # ML iterates to convergence) counts its own items in ``finish_metrics``.
        n_items = result["metrics"].get("items") or workload.items(expected)
        result["metrics"].update({"items": n_items, "unit": workload.unit})
        # A paced run (a stream fed on a schedule) lasts as long as its feed: its throughput
        # is over the time it was busy processing, which it reports as ``busy_s``.
        busy = result["metrics"].get("busy_s") or wall
        if busy > 0:
            result["metrics"]["items_per_s"] = n_items / busy
        if spec.get("answer_path"):
            path = Path(spec["answer_path"])
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(workload.to_json(answer), ensure_ascii=False, indent=0))
        if verdict.passed:
            result["status"] = "ok"
        else:
            # Fast and wrong is a failure (house rule 5).
            result["error"] = f"answer check failed: {verdict.detail}"
    except EngineUnavailable as exc:
        result.update(status="skipped", error=str(exc))
    except Exception as exc:
        result.update(status="failed", error=error_line(exc))
        result["traceback"] = traceback.format_exc()[-4000:]
    finally:
        if in_window:
            try:
                _handshake(ctl, "end")
            except OSError:
                pass
        if engine is not None:
            try:
                engine.stop()
            except Exception as exc:  # a stop failure must not hide the real error
                result.setdefault("stop_error", error_line(exc))
    return result


def main(argv: list[str] | None = None) -> int:
    """Entry point of the child process."""
    args = sys.argv[1:] if argv is None else argv
    spec_path = Path(args[0])
    ctl = socket.socket(fileno=int(args[1])) if len(args) > 1 else None
    spec = json.loads(spec_path.read_text())
    result = execute(spec, ctl)
    out = Path(spec["result_path"])
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps(result, ensure_ascii=False))
    tmp.replace(out)
    if ctl is not None:
        ctl.close()
    sys.stdout.flush()
    sys.stderr.flush()
    # Skip interpreter teardown: py4j/mrjob threads can stall it; results are on disk.
    os._exit(0)


if __name__ == "__main__":
    main()

"""The probe's own cost: CPU share of one core spent sampling a real process tree.

Samples, with the default settings, (1) a tree of Python processes and (2) when Java is present
a real Spark driver JVM with its pyspark.daemon workers, for ``--seconds`` each, and prints the
number of samples, the cost per sample, and the probe's CPU as a share of one core.

    python -m benchmarks.probe_overhead [--seconds 20]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

from harness import probe
from harness.tools import find_java

TREE = (
    "import subprocess, sys\n"
    "kids = [subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'])"
    " for _ in range(6)]\n"
    "sys.stdin.read()\n"
    "for k in kids: k.kill()\n"
)
SPARK = (
    "from pyspark.sql import SparkSession\n"
    "import sys, time\n"
    "s = SparkSession.builder.master('local[2]').config('spark.ui.enabled', 'false')"
    ".getOrCreate()\n"
    "s.sparkContext.parallelize(range(4), 2).map(lambda x: x).count()\n"
    "print('ready', flush=True)\n"
    "sys.stdin.read()\n"
    "s.stop()\n"
)


def measure(code: str, seconds: float, label: str, wait_ready: bool = False) -> None:
    """Sample the tree started by ``code`` for ``seconds`` and print the probe's cost."""
    proc = subprocess.Popen(
        [sys.executable, "-c", code],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )
    try:
        if wait_ready:
            assert proc.stdout is not None
            proc.stdout.readline()
        else:
            time.sleep(1.0)
        sampler = probe.TreeSampler(proc.pid)
        sampler.start()
        sampler.mark_start()
        start = time.monotonic()
        time.sleep(seconds)
        sampler.mark_end()
        elapsed = time.monotonic() - start
        sampler.stop()
        seen = sampler.result()
    finally:
        # Closing stdin lets the tree exit cleanly (Spark removes its temp folders on stop).
        assert proc.stdin is not None
        proc.stdin.close()
        try:
            proc.wait(timeout=60)
        finally:
            probe.kill_processes(probe.session_processes(proc.pid), grace=10)
    per_sample = seen.probe_cpu_s / max(seen.samples, 1)
    print(
        f"{label:34s} processes {seen.max_procs:2d}  samples {seen.samples:4d}  "
        f"cost/sample {per_sample * 1e3:6.2f} ms  probe CPU {seen.probe_cpu_s:6.3f} s "
        f"over {elapsed:5.1f} s = {100 * seen.probe_cpu_s / elapsed:5.2f}% of one core "
        f"(budget {100 * probe.DEFAULT_BUDGET:.0f}%)"
    )


def main() -> None:
    """Run both measurements."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args()
    measure(TREE, args.seconds, "7 Python processes")
    if find_java() is not None:
        measure(SPARK, args.seconds, "Spark JVM + pyspark.daemon workers", wait_ready=True)
    else:
        print("Spark tree: skipped (no Java)")


if __name__ == "__main__":
    main()

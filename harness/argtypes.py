"""Argument parsers shared by the CLI and the engines' option declarations (argparse ``type``)."""

from __future__ import annotations

import argparse
import re
import shutil
from collections.abc import Callable
from pathlib import Path


def positive_float(text: str) -> float:
    """A finite number above zero."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number: {text!r}")
    return value


def positive_floats(text: str) -> list[float]:
    """A comma-separated list of finite numbers above zero (``1,4,16``)."""
    items = [item.strip() for item in text.split(",")]
    if not all(items):
        raise argparse.ArgumentTypeError(f"not a comma-separated list of numbers: {text!r}")
    return [positive_float(item) for item in items]


def row_counts(text: str) -> list[int]:
    """A comma-separated list of whole numbers above zero, also as ``2e5`` or ``3_200_000``."""
    values = []
    for item in (part.strip() for part in text.split(",")):
        try:
            value = float(item.replace("_", ""))
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number of rows: {item!r}") from None
        if not (value >= 1 and value < float("inf") and value == int(value)):
            raise argparse.ArgumentTypeError(f"not a whole number of rows above 0: {item!r}")
        values.append(int(value))
    return values


def int_at_least(low: int) -> Callable[[str], int]:
    """A parser of whole numbers no smaller than ``low``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be at least {low}: {text!r}")
        return value

    return parse


#: A heap size both the JVM (``-Xmx``) and Spark read alike: digits and k, m, g or t. Spark's
#: launcher passes the text to ``-Xmx`` as it is, so ``2gb``, ``1p`` or ``0.5g`` stop the JVM,
#: and bare digits are bytes there (MiB to Spark).
_JVM_SIZE = re.compile(r"^(\d+)([kmgt])$", re.IGNORECASE)
_JVM_UNITS = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
#: Spark's smallest driver heap: 1.5 x its 300 MiB reserved memory (``UnifiedMemoryManager``).
MIN_DRIVER_HEAP = 450 << 20
#: The master URLs Spark accepts (``SparkContext.createTaskScheduler``, ``SparkSubmit``).
_SPARK_MASTER = re.compile(
    r"^(local(\[(\*|\d+)(,\d+)?\])?"
    r"|local-cluster\[\d+,\d+,\d+\]"
    r"|spark://[^\s/:,]+:\d+(,[^\s/:,]+:\d+)*"
    r"|yarn|k8s://\S+)$"
)


def jvm_size(text: str) -> str:
    """A driver JVM heap size: ``512m``, ``2g``; from Spark's minimum to the machine's memory."""
    from harness.memlimit import check_fits

    match = _JVM_SIZE.match(text.strip())
    if match is None:
        raise argparse.ArgumentTypeError(f"expected a size like 512m or 2g, got {text!r}")
    size = int(match.group(1)) * _JVM_UNITS[match.group(2).lower()]
    # Below it the JVM dies at launch or Spark refuses to start: no run could use it.
    if size < MIN_DRIVER_HEAP:
        raise argparse.ArgumentTypeError(f"{text!r} is below Spark's smallest driver heap, 450m")
    check_fits(text, size)
    return text.strip()


def spark_master(text: str) -> str:
    """A Spark master URL: local, local[N], local[*], spark://HOST:PORT, yarn or k8s://..."""
    if not _SPARK_MASTER.match(text.strip()):
        raise argparse.ArgumentTypeError(
            f"expected local[N], local[*], spark://HOST:PORT, yarn or k8s://URL, got {text!r}"
        )
    return text.strip()


def existing_file(text: str) -> str:
    """A path to a file that exists."""
    path = Path(text).expanduser()
    if not path.is_file():
        raise argparse.ArgumentTypeError(f"no such file: {text}")
    return str(path)


def executable(text: str) -> str:
    """A command: a path to an executable file, or a name found on PATH."""
    found = shutil.which(str(Path(text).expanduser()))
    if found is None:
        raise argparse.ArgumentTypeError(f"not an executable command: {text}")
    return found

"""Argument parsers shared by the CLI and the engines' option declarations (argparse ``type``)."""

from __future__ import annotations

import argparse
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
    return int_in_range(low, None)


def int_in_range(low: int, high: int | None) -> Callable[[str], int]:
    """A parser of whole numbers from ``low`` to ``high`` (None: no upper bound)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be at least {low}: {text!r}")
        if high is not None and value > high:
            raise argparse.ArgumentTypeError(f"must be at most {high}: {text!r}")
        return value

    return parse


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

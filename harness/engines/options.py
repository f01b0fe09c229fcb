"""Engine options declared by each engine: a dataclass whose fields say how they appear on the
command line, so the CLI, the worker and the results know no engine's options by name.

An engine writes, e.g.::

    @dataclass
    class SparkOptions:
        master: str = option("local[*]", flag="--spark-master", help="master URL")

and ``bdbench run --help`` shows ``--spark-master`` in the engine's own group. Defaults are
written once, in the field, and the help text quotes them.
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from harness.errors import UserError

#: How a field is read from the command line: one value, a repeatable value collected in a
#: list, a repeatable ``KEY=VALUE`` collected in a dict, or an on/off switch.
Kind = Literal["value", "list", "mapping", "switch"]


@dataclass(frozen=True)
class Flag:
    """How one option field appears on the command line."""

    flag: str
    help: str
    kind: Kind = "value"
    metavar: str | None = None
    #: Parses (and validates) one command-line value; raises ``argparse.ArgumentTypeError``.
    parse: Callable[[str], Any] | None = None


def option(
    default: Any = None,
    *,
    flag: str,
    help: str,
    kind: Kind = "value",
    metavar: str | None = None,
    parse: Callable[[str], Any] | None = None,
) -> Any:
    """A dataclass field that is also a command-line option (lists and dicts default empty)."""
    meta = {"cli": Flag(flag, help, kind, metavar, parse)}
    if kind == "list":
        return field(default_factory=list, metadata=meta)
    if kind == "mapping":
        return field(default_factory=dict, metadata=meta)
    if kind == "switch":
        return field(default=False, metadata=meta)
    return field(default=default, metadata=meta)


@dataclass
class NoOptions:
    """Options of an engine that has none."""


def _flags(options_cls: type) -> list[tuple[dataclasses.Field[Any], Flag]]:
    return [(f, f.metadata["cli"]) for f in dataclasses.fields(options_cls) if "cli" in f.metadata]


def dest(engine: str, name: str) -> str:
    """The argparse destination of an engine's option field (engines never clash)."""
    return f"engine__{engine}__{name}"


def _help(f: dataclasses.Field[Any], flag: Flag) -> str:
    if flag.kind in ("list", "mapping"):
        return f"{flag.help} (repeatable)"
    if flag.kind == "switch" or f.default is None:
        return flag.help
    return f"{flag.help} (default {f.default})"


def add_arguments(group: argparse._ArgumentGroup, engine: str, options_cls: type) -> None:
    """Add the command-line options of one engine's options dataclass to ``group``."""
    for f, flag in _flags(options_cls):
        kwargs: dict[str, Any] = {"dest": dest(engine, f.name), "help": _help(f, flag)}
        if flag.kind == "switch":
            kwargs["action"] = "store_true"
        else:
            implied = flag.flag.lstrip("-").upper().replace("-", "_")  # argparse's own default
            kwargs["metavar"] = flag.metavar or ("KEY=VALUE" if flag.kind == "mapping" else implied)
            if flag.parse is not None:
                kwargs["type"] = flag.parse
            if flag.kind in ("list", "mapping"):
                kwargs.update(action="append", default=[])
            else:
                kwargs["default"] = f.default
        group.add_argument(flag.flag, **kwargs)


def _mapping(flag: str, items: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UserError(f"{flag} needs KEY=VALUE, got {item!r}")
        out[key.strip()] = value
    return out


def from_args(args: argparse.Namespace, engine: str, options_cls: type) -> Any:
    """An instance of ``options_cls`` from parsed arguments (see ``add_arguments``)."""
    values: dict[str, Any] = {}
    for f, flag in _flags(options_cls):
        value = getattr(args, dest(engine, f.name))
        if flag.kind == "mapping":
            value = _mapping(flag.flag, value)
        elif flag.kind == "list":
            value = list(value)
        values[f.name] = value
    return options_cls(**values)


def to_json(options: Any) -> dict[str, Any]:
    """JSON form of an options dataclass."""
    return dataclasses.asdict(options)


def from_json(options_cls: type, data: dict[str, Any]) -> Any:
    """Inverse of ``to_json``; an unknown key is an error naming it."""
    names = {f.name for f in dataclasses.fields(options_cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ValueError(f"unknown {options_cls.__name__} fields {unknown}")
    return options_cls(**data)

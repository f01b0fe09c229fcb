"""Seeded, cached input data keyed by (workload, scale, factor, seed), and user-supplied inputs.

Generated data lives in ``<data dir>/<workload>/<scale>-x<factor>-s<seed>/`` with a
``meta.json``; reference answers are cached beside it. Generation and the reference are never
inside a timed region: the runner prepares both before it starts any measured process.

Generating refuses up front when the estimated input (``Workload.bytes_per_item`` x size) does
not fit the data disk with room to spare, and a disk that fills up anyway leaves nothing
behind; either is one clear line. A big input shows a progress bar on a terminal (bytes
written and the rate), and the time it took is printed and kept in its ``meta.json``.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness import paths
from harness.errors import UserError

if TYPE_CHECKING:
    from harness.registry import Workload

#: Named scales in increasing size; each workload says how many items each one means.
SCALES: tuple[str, ...] = ("tiny", "small", "medium", "large")
#: Environment variable that overrides the default data cache folder.
DATA_DIR_ENV = paths.DATA_DIR_ENV
DEFAULT_SEED = 42
META_FILE = "meta.json"
#: Free space left on the data disk after generating: this share of the estimate plus the
#: fixed reserve (reference answers are written beside the data, and the estimate is one).
DISK_MARGIN = 0.05
DISK_RESERVE = 64 * 2**20
#: A progress bar is shown (on a terminal) for inputs estimated at this many bytes or more.
PROGRESS_MIN_BYTES = 50_000_000
#: The "generated ..." line is printed once generating wrote this many bytes or took this
#: many seconds: tiny inputs (the tests') stay quiet even on a busy machine.
REPORT_MIN_BYTES = 10_000_000
REPORT_MIN_S = 5.0
#: How often the progress bar looks at the bytes written so far.
POLL_S = 0.25
#: errno values that mean the disk (or the user's quota, or the file size limit) is full.
DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})


def default_data_dir() -> Path:
    """Where generated data is cached: ``$BDBENCH_DATA_DIR`` or ``./.bdbench/data``."""
    return paths.data_dir()


@dataclass(frozen=True)
class Dataset:
    """Input files of one workload at one scale, with their metadata."""

    workload: str
    scale: str
    factor: float
    seed: int | None
    #: Cache folder for this dataset (metadata, reference answers).
    root: Path
    #: The input files the engines read.
    inputs: tuple[Path, ...]
    meta: dict[str, Any]

    @property
    def input_bytes(self) -> int:
        """Total size of the input files."""
        return sum(p.stat().st_size for p in self.inputs)

    def to_json(self) -> dict[str, Any]:
        """JSON form, passed to the measured child process."""
        return {
            "workload": self.workload,
            "scale": self.scale,
            "factor": self.factor,
            "seed": self.seed,
            "root": str(self.root),
            "inputs": [str(p) for p in self.inputs],
            "meta": self.meta,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Dataset:
        """Inverse of ``to_json``."""
        return cls(
            workload=data["workload"],
            scale=data["scale"],
            factor=float(data["factor"]),
            seed=data["seed"],
            root=Path(data["root"]),
            inputs=tuple(Path(p) for p in data["inputs"]),
            meta=data["meta"],
        )


def validate_scale(scale: str) -> str:
    """Return ``scale`` if it is a named scale, else raise a UserError."""
    if scale not in SCALES:
        raise UserError(f"unknown scale {scale!r} (known: {', '.join(SCALES)})")
    return scale


def validate_factor(factor: float) -> float:
    """Return ``factor`` if it is a positive finite number."""
    if not (factor > 0 and factor < float("inf")):
        raise UserError(f"scale factor must be a positive number, got {factor!r}")
    return factor


def scale_size(workload: Workload, scale: str, factor: float = 1.0) -> int:
    """Number of items (e.g. words) that ``scale`` x ``factor`` means for ``workload``."""
    validate_scale(scale)
    validate_factor(factor)
    return max(1, round(workload.scale_sizes[scale] * factor))


def _factor_tag(factor: float) -> str:
    # 12 significant digits: factors from explicit row counts (rows / the scale's size) stay
    # apart, and round factors keep the names ``:g`` gave them (1, 4, 0.5, 64).
    return f"{factor:.12g}"


def human_bytes(n: float) -> str:
    """A byte count in decimal units, as the progress bar shows them: ``2.61 GB``."""
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(n) < 999.5 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.3g} {unit}"
        n /= 1000
    raise AssertionError("unreachable")


def folder_bytes(folder: Path) -> int:
    """Total size of the files under ``folder`` (files that vanish meanwhile count 0)."""
    total, stack = 0, [str(folder)]
    while stack:
        try:
            with os.scandir(stack.pop()) as entries:
                for entry in entries:
                    try:
                        if entry.is_dir(follow_symlinks=False):
                            stack.append(entry.path)
                        elif entry.is_file(follow_symlinks=False):
                            total += entry.stat(follow_symlinks=False).st_size
                    except OSError:
                        continue
        except OSError:
            continue
    return total


def estimated_bytes(workload: Workload, size: int) -> int | None:
    """The bytes ``make_data`` is expected to write for ``size`` items, or None (no estimate)."""
    if workload.bytes_per_item is None:
        return None
    return round(workload.bytes_per_item * size)


def _check_disk(label: str, expected: int | None, base: Path) -> None:
    """A UserError when ``expected`` bytes (with the margin) do not fit where ``base`` is."""
    if expected is None:
        return
    where = base
    while not where.exists() and where != where.parent:
        where = where.parent
    try:
        free = shutil.disk_usage(where).free
    except OSError:
        return  # no answer: the disk-full handling still applies
    spare = round(expected * DISK_MARGIN) + DISK_RESERVE
    if expected + spare > free:
        raise UserError(
            f"not enough disk for {label} (about {human_bytes(expected)}, keeping "
            f"{human_bytes(spare)} spare) in {base}: {human_bytes(free)} free"
        )


def _disk_full(exc: BaseException, folder: Path) -> bool:
    """Whether ``exc`` (or an exception it was raised from) says the disk is full; an
    OSError without an errno (some writers wrap it) counts when the disk has no room left."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError):
            if current.errno in DISK_FULL_ERRNOS:
                return True
            if current.errno is None:
                try:
                    if shutil.disk_usage(folder).free < 2**20:
                        return True
                except OSError:
                    pass
        current = current.__cause__ or current.__context__
    return False


def _live_display_active() -> bool:
    """Whether a rich live display (e.g. ``bdbench run``'s progress) is on the terminal: a
    second bar beside it would garble both, so generation shows none then."""
    from rich import get_console

    # Private attributes, read defensively: ``_live_stack`` (rich 14+), ``_live`` (13).
    console = get_console()
    stack = getattr(console, "_live_stack", None)
    return bool(stack) or getattr(console, "_live", None) is not None


@contextmanager
def _progress_bar(folder: Path, label: str, expected: int | None) -> Iterator[None]:
    """A progress bar of the bytes written under ``folder`` (polled every ``POLL_S``) while
    the block runs: only on a terminal, and only for inputs of ``PROGRESS_MIN_BYTES`` or more."""
    if expected is None or expected < PROGRESS_MIN_BYTES or not sys.stderr.isatty():
        yield
        return
    if _live_display_active():
        yield
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TransferSpeedColumn,
    )

    progress = Progress(
        TextColumn(f"generating {label}", markup=False),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    )
    stop = threading.Event()
    with progress:
        task = progress.add_task("generate", total=expected)

        def poll() -> None:
            while not stop.wait(POLL_S):
                done = folder_bytes(folder)
                # The estimate may be short: the bar then grows instead of overflowing.
                progress.update(task, completed=done, total=max(expected, done))

        thread = threading.Thread(target=poll, name="bdbench-datagen-progress", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()


def _read_meta(root: Path) -> dict[str, Any] | None:
    """The cached ``meta.json`` of a dataset folder, or None when it is not there."""
    meta_path = root / META_FILE
    if not meta_path.is_file():
        return None
    meta: dict[str, Any] = json.loads(meta_path.read_text())
    return meta


def generated(
    workload: Workload,
    scale: str,
    factor: float = 1.0,
    seed: int = DEFAULT_SEED,
    data_dir: Path | None = None,
) -> Dataset:
    """The generated dataset for these keys, generating it first if it is not cached.

    A cached folder whose ``meta.json`` holds another size (two factors that share a folder
    name, or a workload whose scale sizes changed) is not this dataset: it is generated into
    a folder of its own, named with its size (``...-n<size>``).
    """
    size = scale_size(workload, scale, factor)
    base = (data_dir or default_data_dir()).resolve() / workload.name
    folder = f"{scale}-x{_factor_tag(factor)}-s{seed}-v{workload.version}"
    root = base / folder
    meta = _read_meta(root)
    if meta is not None and meta.get("size", size) != size:
        root = base / f"{folder}-n{size}"
        meta = _read_meta(root)
    if meta is None:
        _generate(workload, scale, factor, seed, size, base, root)
        meta = _read_meta(root)
        if meta is None:
            raise UserError(f"generated data vanished from {root}")
    if meta.get("size", size) != size:
        raise UserError(f"{root / META_FILE} is for {meta['size']} items, not {size}")
    inputs = tuple(root / name for name in meta["files"])
    return Dataset(workload.name, scale, factor, seed, root, inputs, meta)


def _generate(
    workload: Workload, scale: str, factor: float, seed: int, size: int, base: Path, root: Path
) -> None:
    """Generate the dataset into a private folder under ``base``, then rename it ``root``."""
    label = f"{workload.name} {scale} x{factor:g}"
    expected = estimated_bytes(workload, size)
    _check_disk(label, expected, base)
    # The folders made here (base and any missing parents), removed again if the disk fills.
    created = [folder for folder in (base, *base.parents) if not folder.exists()]
    try:
        base.mkdir(parents=True, exist_ok=True)
        # Generate into a private folder and rename, so a crash never leaves half a dataset.
        tmp = Path(tempfile.mkdtemp(prefix=f".{root.name}.", dir=base))
    except OSError as exc:
        raise UserError(f"cannot write data folder {base}: {exc.strerror}") from exc
    try:
        began = time.perf_counter()
        with _progress_bar(tmp, label, expected):
            meta = dict(workload.make_data(tmp, size, seed))
        elapsed = time.perf_counter() - began
        written = folder_bytes(tmp)
        meta.update(
            workload=workload.name,
            workload_version=workload.version,
            scale=scale,
            factor=factor,
            seed=seed,
            size=size,
            source="generated",
        )
        for key, value in (
            ("generate_s", round(elapsed, 3)),
            ("generate_bytes", written),
            ("generate_bytes_per_s", round(written / elapsed) if elapsed > 0 else None),
        ):
            meta.setdefault(key, value)
        (tmp / META_FILE).write_text(json.dumps(meta, indent=1, sort_keys=True))
        try:
            tmp.rename(root)
        except OSError:
            # Another process won the race; its copy is identical (same seed).
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException as exc:
        # Judged before the half-written files go: their removal frees the disk again.
        full = isinstance(exc, Exception) and _disk_full(exc, base)
        wrote = folder_bytes(tmp)
        shutil.rmtree(tmp, ignore_errors=True)
        if full:
            for folder in created:
                with suppress(OSError):
                    folder.rmdir()  # only while empty: another process may use it
            of = f" of about {human_bytes(expected)}" if expected is not None else ""
            raise UserError(
                f"disk full while generating {label} in {base} (after {human_bytes(wrote)}"
                f"{of}): nothing kept"
            ) from exc
        raise
    if written >= REPORT_MIN_BYTES or elapsed >= REPORT_MIN_S:
        rate = f"{human_bytes(written / elapsed)}/s" if elapsed > 0 else "instant"
        print(
            f"bdbench: generated {label}: {human_bytes(written)} in {elapsed:.1f} s ({rate})",
            file=sys.stderr,
            flush=True,
        )


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _user_files(workload: Workload, path: Path) -> list[Path]:
    """The input files ``--input PATH`` names: the file, or a folder's files by name."""
    if not path.exists():
        raise UserError(f"input file not found: {path}")
    if path.is_dir():
        if not workload.input_folder:
            raise UserError(f"input is not a regular file: {path}")
        files = sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith("."))
        if not files:
            raise UserError(f"input folder has no file: {path}")
        return [p.resolve() for p in files]
    if not path.is_file():
        raise UserError(f"input is not a regular file: {path}")
    return [path.resolve()]


def user_input(
    workload: Workload,
    path: Path,
    data_dir: Path | None = None,
    side: Mapping[str, Path] | None = None,
) -> Dataset:
    """A dataset made of the user's own file (or folder, and side files such as a campaigns
    table); its reference answer is cached by content hash."""
    if not workload.accepts_input:
        raise UserError(f"workload {workload.name!r} does not accept --input")
    side = dict(side or {})
    for name in side:
        if name not in workload.side_inputs:
            raise UserError(f"--{name} is no input of workload {workload.name!r}")
    for name in workload.side_inputs:
        if name not in side:
            raise UserError(f"{workload.name} with --input needs --{name} FILE")
    files = _user_files(workload, path.expanduser())
    digest = hashlib.sha256()
    extra: dict[str, str] = {}
    try:
        for item in files:
            digest.update(f"{item.name}:{_sha256(item)}\n".encode())
        for name, side_path in sorted(side.items()):
            side_path = side_path.expanduser()
            if not side_path.is_file():
                raise UserError(f"--{name} file not found: {side_path}")
            digest.update(f"--{name}:{_sha256(side_path)}\n".encode())
            extra[name] = str(side_path.resolve())
    except OSError as exc:
        raise UserError(f"cannot read input {exc.filename}: {exc.strerror}") from exc
    sha = digest.hexdigest() if len(files) > 1 or side else _sha256(files[0])
    root = (data_dir or default_data_dir()).resolve() / workload.name / f"input-{sha[:16]}"
    meta = {
        "workload": workload.name,
        "source": "user",
        "path": str(path.expanduser().resolve()),
        "sha256": sha,
        "bytes": sum(p.stat().st_size for p in files),
        "files": [str(p) for p in files],
        **extra,
    }
    try:
        root.mkdir(parents=True, exist_ok=True)
        (root / META_FILE).write_text(json.dumps(meta, indent=1, sort_keys=True))
    except OSError as exc:
        raise UserError(f"cannot write data folder {root}: {exc.strerror}") from exc
    return Dataset(workload.name, "input", 1.0, None, root, tuple(files), meta)


def params_key(params: dict[str, Any]) -> str:
    """Short stable hash of a parameter dict (part of cache file names)."""
    blob = json.dumps(params, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def reference_answer(workload: Workload, data: Dataset, params: dict[str, Any]) -> Any:
    """The workload's reference answer for ``data``; computed once, then read from the cache."""
    path = reference_path(workload, data, params)
    if path.is_file():
        return workload.from_json(json.loads(path.read_text()))
    answer = workload.reference(data, params)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    tmp.write_text(json.dumps(workload.to_json(answer), ensure_ascii=False))
    tmp.replace(path)
    return answer


def reference_path(workload: Workload, data: Dataset, params: dict[str, Any]) -> Path:
    """Where ``reference_answer`` caches its result."""
    return data.root / f"reference-v{workload.version}-{params_key(params)}.json"


def prepared(
    workload: Workload, data: Dataset, params: dict[str, Any], refresh: bool = False
) -> dict[str, Any]:
    """The workload's untimed preparation (e.g. a UDF profile), cached beside the dataset.

    A stored result is reused by later runs (so they order UDFs by the same measured values);
    ``refresh`` measures it again and replaces it.
    """
    if workload.prepare is None:
        return {}
    path = data.root / f"prepared-v{workload.version}-{params_key(params)}.json"
    if path.is_file() and not refresh:
        try:
            stored = json.loads(path.read_text())
        except (OSError, ValueError):
            stored = None  # a damaged cache entry is measured again
        if isinstance(stored, dict):
            return stored
    result = workload.prepare(data, params)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    tmp.write_text(json.dumps(result, sort_keys=True))
    tmp.replace(path)
    return result

"""Seeded, cached input data keyed by (workload, scale, factor, seed), and user-supplied inputs.

Generated data lives in ``<data dir>/<workload>/<scale>-x<factor>-s<seed>/`` with a
``meta.json``; reference answers are cached beside it. Generation and the reference are never
inside a timed region: the runner prepares both before it starts any measured process.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.errors import UserError

if TYPE_CHECKING:
    from harness.registry import Workload

#: Named scales in increasing size; each workload says how many items each one means.
SCALES: tuple[str, ...] = ("tiny", "small", "medium", "large")
#: Environment variable that overrides the default data cache folder.
DATA_DIR_ENV = "BDBENCH_DATA_DIR"
DEFAULT_SEED = 42
META_FILE = "meta.json"


def default_data_dir() -> Path:
    """Where generated data is cached: ``$BDBENCH_DATA_DIR`` or ``./.bdbench/data``."""
    return Path(os.environ.get(DATA_DIR_ENV, ".bdbench/data"))


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
    return f"{factor:g}"


def generated(
    workload: Workload,
    scale: str,
    factor: float = 1.0,
    seed: int = DEFAULT_SEED,
    data_dir: Path | None = None,
) -> Dataset:
    """The generated dataset for these keys, generating it first if it is not cached."""
    size = scale_size(workload, scale, factor)
    base = (data_dir or default_data_dir()).resolve() / workload.name
    root = base / f"{scale}-x{_factor_tag(factor)}-s{seed}-v{workload.version}"
    meta_path = root / META_FILE
    if not meta_path.is_file():
        try:
            base.mkdir(parents=True, exist_ok=True)
            # Generate into a private folder and rename, so a crash never leaves half a dataset.
            tmp = Path(tempfile.mkdtemp(prefix=f".{root.name}.", dir=base))
        except OSError as exc:
            raise UserError(f"cannot write data folder {base}: {exc.strerror}") from exc
        try:
            meta = dict(workload.make_data(tmp, size, seed))
            meta.update(
                workload=workload.name,
                workload_version=workload.version,
                scale=scale,
                factor=factor,
                seed=seed,
                size=size,
                source="generated",
            )
            (tmp / META_FILE).write_text(json.dumps(meta, indent=1, sort_keys=True))
            try:
                tmp.rename(root)
            except OSError:
                # Another process won the race; its copy is identical (same seed).
                shutil.rmtree(tmp, ignore_errors=True)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    meta = json.loads(meta_path.read_text())
    inputs = tuple(root / name for name in meta["files"])
    return Dataset(workload.name, scale, factor, seed, root, inputs, meta)


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

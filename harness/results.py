"""RunRecord schema (versioned), append-only JSONL results, and per-batch environment capture.

A batch writes ``<results>/<batch_id>.jsonl`` (one record per line, appended and flushed as each
run ends, never rewritten) and ``<results>/<batch_id>.env.json`` (the environment, once).
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import errno
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import uuid
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from harness.errors import UserError
from harness.rules import RulesMode

if TYPE_CHECKING:
    from harness.cells import Cell

SCHEMA_VERSION = 1
Status = Literal["ok", "failed", "timeout", "skipped"]
Check = Literal["pass", "fail", "na"]


@dataclass
class RunRecord:
    """One measured (or warm-up, or skipped) run of one cell of the matrix."""

    batch_id: str
    workload: str
    engine: str
    variant: str
    #: Our optimizer rules: off, on, the paper's reorder-only control, or none where the cell
    #: has no such switch (see ``harness.rules``; JSON false, true, "paper", null).
    rules: RulesMode
    scale: str
    params: dict[str, Any]
    repeat: int
    is_warmup: bool
    status: Status
    error: str | None = None
    wall_s: float | None = None
    cpu_s: float | None = None
    peak_rss_bytes: int | None = None
    startup_s: float | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    answer_digest: str | None = None
    check: Check = "na"
    check_detail: str | None = None
    workload_version: str = ""
    factor: float = 1.0
    #: The data's size in the workload's own unit (points, words, rows: ``scale_sizes`` x
    #: ``factor`` for generated data; None where unknown, e.g. a user's input).
    rows: int | None = None
    seed: int | None = None
    input: dict[str, Any] = field(default_factory=dict)
    engine_info: dict[str, Any] = field(default_factory=dict)
    timeout_s: float | None = None
    #: Why the engine failed to stop after the run, when it did (the figures still stand).
    stop_error: str | None = None
    #: Where the cell ran when not in the run's own processes (a cluster, with its size), as
    #: the engine labels it (``Engine.where``); "" otherwise.
    where: str = ""
    #: What the cell's engine variant is (``Role.to_json``: placement, nodes, cores, whether
    #: it may be the single-node baseline, the system it is); empty in records from before
    #: roles were recorded (``harness.engines.recorded_role`` reads those).
    role: dict[str, Any] = field(default_factory=dict)
    #: ``--memory-limit`` on the run's own process tree, in bytes (None: no limit); how it was
    #: enforced is ``metrics["memory_limit_by"]``.
    memory_limit_bytes: int | None = None
    #: The worker process of the cell that made this call (calls of one process share an
    #: engine session), and the call's place in it (0: the first call after start-up).
    process: int = 0
    call: int = 0
    #: Under a fault plan (``--inject``): the plan, whether the run is a control or a fault
    #: run, and what was killed when; part of what the run is, never pooled with others.
    fault: dict[str, Any] | None = None
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    started_at: str = field(default_factory=lambda: now_iso())
    schema_version: int = SCHEMA_VERSION

    def __post_init__(self) -> None:
        # Read back from JSON, ``rules`` is its JSON value.
        self.rules = RulesMode.from_json(self.rules)

    def to_json(self) -> dict[str, Any]:
        """The record as a JSON-ready dict."""
        return dataclasses.asdict(self) | {"rules": self.rules.to_json()}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RunRecord:
        """Build a record from a parsed JSON line; unknown keys are an error."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - names
        if unknown:
            raise ValueError(f"unknown fields {sorted(unknown)}")
        return cls(**data)

    @property
    def cell(self) -> Cell:
        """The matrix cell of this run (repeats of one cell share it)."""
        from harness.cells import Cell

        return Cell.of(self)


def now_iso() -> str:
    """Current UTC time, ISO 8601, second precision."""
    return dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()


def new_batch_id() -> str:
    """A sortable, unique batch id: UTC timestamp plus a random suffix."""
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}-{uuid.uuid4().hex[:6]}"


class ResultsWriteError(UserError):
    """A results file could not be written (the batch stops; what was written stays)."""

    def __init__(self, path: Path, exc: OSError) -> None:
        reason = exc.strerror or str(exc)
        super().__init__(f"cannot write results file {path}: {reason}")


def write_whole(path: Path, text: str) -> None:
    """Write ``path`` whole or not at all: a temporary file beside it, renamed into place (a
    full disk leaves no cut file; the temporary one is removed and the OSError raised)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except OSError:
        tmp.unlink(missing_ok=True)
        raise


class ResultsWriter:
    """Appends records of one batch to its JSONL file, one flushed line each."""

    def __init__(self, results_dir: Path, batch_id: str) -> None:
        self.dir = results_dir
        self.batch_id = batch_id
        self.path = results_dir / f"{batch_id}.jsonl"
        self.env_path = results_dir / f"{batch_id}.env.json"
        self.answers_dir = results_dir / f"{batch_id}.answers"

    def ensure_writable(self) -> None:
        """Create the results folder and prove it is writable, before any run starts."""
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
            probe = self.dir / f".write-test-{os.getpid()}"
            probe.write_text("")
            probe.unlink()
        except OSError as exc:
            reason = exc.strerror or str(exc)
            raise UserError(f"results folder {self.dir} is not writable: {reason}") from exc
        if self.path.exists():
            raise UserError(f"results file {self.path} already exists; batches never overwrite")

    def write_env(self, env: dict[str, Any], path: Path | None = None) -> None:
        """Write the batch's environment file (or ``path``) whole or not at all (a temporary
        file renamed into place), so a full disk never leaves an empty or cut file."""
        target = path or self.env_path
        try:
            write_whole(target, json.dumps(env, indent=1, sort_keys=True))
        except OSError as exc:
            raise ResultsWriteError(target, exc) from exc

    def resume_env_path(self) -> Path:
        """Where the next resume of this batch writes its environment: ``.resume-N.env.json``."""
        n = 1
        while (path := self.dir / f"{self.batch_id}.resume-{n}.env.json").exists():
            n += 1
        return path

    def repair(self) -> None:
        """Cut a resumed batch's file back to its last complete line (a write an older bdbench
        or a crash left unfinished), so appended records start on a line of their own."""
        try:
            with self.path.open("rb+") as fh:
                data = fh.read()
                if data and not data.endswith(b"\n"):
                    fh.truncate(data.rfind(b"\n") + 1)
        except OSError as exc:
            raise ResultsWriteError(self.path, exc) from exc

    def discard_if_empty(self, created_dir: bool) -> None:
        """Undo a batch that ended before its first record (bad input found late): its
        environment file, its kept answers, and the results folder when this batch created it
        and it is empty. Other batches' files are never touched."""
        if self.path.exists() and self.path.stat().st_size > 0:
            return
        self.path.unlink(missing_ok=True)  # a first append that failed leaves it empty
        self.env_path.unlink(missing_ok=True)
        # Answers are kept before their record is appended: with no record, none belongs.
        shutil.rmtree(self.answers_dir, ignore_errors=True)
        if created_dir:
            try:
                self.dir.rmdir()  # only when empty
            except OSError:
                pass

    def append(self, record: RunRecord) -> None:
        """Append one record as one line, whole or not at all: written at once and synced;
        on failure (a full disk, a file-size limit) the file is cut back to its last complete
        line and ``ResultsWriteError`` says why. A crash loses at most this run."""
        line = json.dumps(record.to_json(), ensure_ascii=False, sort_keys=True) + "\n"
        data = line.encode("utf-8")
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        except OSError as exc:
            raise ResultsWriteError(self.path, exc) from exc
        try:
            size = os.fstat(fd).st_size
            try:
                view = memoryview(data)
                while view:  # a short write is retried: the next one says why (disk full...)
                    written = os.write(fd, view)
                    if written == 0:
                        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
                    view = view[written:]
                os.fsync(fd)
            except OSError as exc:
                with contextlib.suppress(OSError):  # shrinking a file needs no space
                    os.ftruncate(fd, size)
                raise ResultsWriteError(self.path, exc) from exc
        finally:
            os.close(fd)


def load_records(path: Path) -> list[RunRecord]:
    """Read a results JSONL file; a malformed line or schema is a UserError naming the line,
    except a cut last line (a batch killed, or an older bdbench on a full disk, mid-write),
    which is skipped with a note on stderr."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise UserError(f"results file not found: {path}") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"cannot read results file {path}: {exc}") from exc
    lines = text.splitlines()
    records = []
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except ValueError as exc:
            if lineno == len(lines) and not text.endswith("\n"):
                print(
                    f"bdbench: note: {path}: skipped 1 cut last line (line {lineno}, "
                    "a write that did not finish)",
                    file=sys.stderr,
                )
                break
            raise UserError(f"{path}:{lineno}: malformed record: {exc}") from exc
        try:
            if not isinstance(data, dict):
                raise ValueError("not a JSON object")
            version = data.get("schema_version")
            if version != SCHEMA_VERSION:
                raise ValueError(f"schema_version {version!r}, expected {SCHEMA_VERSION}")
            records.append(RunRecord.from_json(data))
        except (ValueError, TypeError) as exc:
            raise UserError(f"{path}:{lineno}: malformed record: {exc}") from exc
    return records


def _run(cmd: list[str], timeout: float = 10) -> str | None:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return (out.stdout + out.stderr).strip() or None


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def git_commit(cwd: Path | None = None) -> dict[str, Any]:
    """The project's git commit and whether the work tree has uncommitted changes."""
    where = str(cwd or Path(__file__).resolve().parent.parent)
    commit = _run(["git", "-C", where, "rev-parse", "HEAD"])
    if commit is None or not re.fullmatch(r"[0-9a-f]{40}", commit):
        return {"commit": None, "dirty": None}
    status = _run(["git", "-C", where, "status", "--porcelain", "--untracked-files=no"])
    return {"commit": commit, "dirty": bool(status)}


#: Libraries of the harness itself whose versions every batch records (engines add their own).
HARNESS_DISTRIBUTIONS = ("bdbench", "pandas", "pyarrow", "psutil")


def capture_environment(
    extra: dict[str, Any] | None = None, distributions: tuple[str, ...] = ()
) -> dict[str, Any]:
    """Machine, OS, Python, library versions (the harness's and ``distributions``) and the git
    commit, for one batch; ``extra`` is merged into the top level."""
    import psutil

    uname = platform.uname()
    env: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "captured_at": now_iso(),
        "hostname": uname.node,
        "cpu_model": _cpu_model(),
        "cpu_count_logical": os.cpu_count(),
        "cpu_count_physical": psutil.cpu_count(logical=False),
        "memory_bytes": psutil.virtual_memory().total,
        "os": f"{uname.system} {uname.release}",
        "platform": platform.platform(),
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "versions": {
            name: _version(name) for name in dict.fromkeys((*HARNESS_DISTRIBUTIONS, *distributions))
        },
        "git": git_commit(),
    }
    if extra:
        env.update(extra)
    return env

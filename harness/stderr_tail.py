"""The last lines a child process wrote to the stderr it inherited from us (a JVM that died at
launch says why there, and nowhere else)."""

from __future__ import annotations

import contextlib
import os
import re
import sys
import threading
from collections import deque
from types import TracebackType

#: Lines that never say why: a Java stack trace's (its exception's own line does), and the
#: JVM's note on the options it picked up from the environment (every run has one).
_SKIPPED = re.compile(r"^\s+(at |\.\.\. \d+ more)|^(NOTE: )?Picked up \w+: ")


class StderrTail:
    """While entered, file descriptor 2 of this process is a pipe: children started meanwhile
    inherit it, and a daemon thread passes every byte on to the real stderr while it keeps the
    last ``keep`` lines. On exit our own stderr is restored; the children keep the pipe, so the
    thread forwards their output until they all close it."""

    def __init__(self, keep: int = 20) -> None:
        self._lines: deque[str] = deque(maxlen=keep)
        self._partial = b""
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._saved = -1

    def __enter__(self) -> StderrTail:
        sys.stderr.flush()
        self._saved = os.dup(2)
        read, write = os.pipe()
        os.dup2(write, 2)
        os.close(write)
        threading.Thread(target=self._pump, args=(read,), name="stderr-tail", daemon=True).start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        sys.stderr.flush()
        # The saved descriptor stays open: the thread still forwards the children's output.
        os.dup2(self._saved, 2)

    def _pump(self, read: int) -> None:
        try:
            while chunk := os.read(read, 65536):
                # Forward first: a child must never block on a full pipe because we lag.
                with contextlib.suppress(OSError):
                    view = memoryview(chunk)
                    while view:
                        view = view[os.write(self._saved, view) :]
                self._keep(chunk)
        except OSError:  # never seen; the saved descriptor may still be restored from
            os.close(read)
            self._done.set()
            return
        # End of file: every writer, our own descriptor 2 included, is gone.
        self._keep(b"\n")
        os.close(read)
        os.close(self._saved)
        self._done.set()

    def _keep(self, chunk: bytes) -> None:
        with self._lock:
            *whole, self._partial = (self._partial + chunk).split(b"\n")
            self._lines.extend(line for raw in whole if (line := _telling(raw)))

    def last_lines(self, wait_s: float = 1.0, count: int = 5) -> list[str]:
        """The last ``count`` lines written so far that may say why (blank, stack-trace and
        picked-up-options lines left out); waits up to ``wait_s`` for the writers to close the
        pipe (a child that just died)."""
        self._done.wait(wait_s)
        with self._lock:
            lines = list(self._lines)
            last = _telling(self._partial)
        return [*lines, last][-count:] if last else lines[-count:]


def _telling(raw: bytes) -> str:
    """``raw`` as a stripped line, or "" when it cannot say why a child died."""
    line = raw.decode("utf-8", "replace")
    return "" if _SKIPPED.match(line) else line.strip()

"""A Python client of the inference worker (``python -m rotationnet.app.service``),
for scripts and benchmarks that want to talk to it exactly as the Blender
add-on does: a separate process, JSON lines built by
:mod:`rotationnet.core.protocol`.

Example::

    with WorkerClient() as w:
        w.request("configure", library="assets/", cache="/tmp/index")
        w.request("index")
        res = w.request("classify", images=["photo.jpg"])
"""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import threading

from rotationnet.core import protocol as P
from rotationnet.core.errors import RotationNetError

__all__ = ["WorkerClient", "WorkerFailed"]


class WorkerFailed(RotationNetError):
    """The worker answered a request with an error (the message is the worker's)."""


class WorkerClient:
    """Start a worker and speak to it line by line.

    Args:
        python: the interpreter to run it with (default: this one).
        stderr: where the worker's own output (Blender, Mesa, warnings) goes.
        timeout: seconds to wait for any one line before giving up.
    """

    def __init__(self, python: str | None = None, stderr=subprocess.DEVNULL, timeout: float = 600.0):
        self.timeout = timeout
        self.proc = subprocess.Popen([python or sys.executable, "-m", "rotationnet.app.service"],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr)
        self._lines: queue.Queue = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        self._next = 1
        self.ready = self.next_line()
        P.check_ready(self.ready, "the worker")

    def _read(self) -> None:
        for line in self.proc.stdout:
            self._lines.put(json.loads(line))
        self._lines.put(None)

    def next_line(self) -> dict:
        """The worker's next reply line (progress lines included)."""
        try:
            msg = self._lines.get(timeout=self.timeout)
        except queue.Empty:
            raise RotationNetError(f"the worker did not answer within {self.timeout:.0f}s") from None
        if msg is None:
            raise RotationNetError(f"the worker ended (exit code {self.proc.wait()})")
        return msg

    def send_line(self, line: bytes) -> dict:
        """Send one raw line; return its final reply (progress lines skipped)."""
        self.proc.stdin.write(line.rstrip(b"\n") + b"\n")
        self.proc.stdin.flush()
        while True:
            msg = self.next_line()
            if P.OK in msg:
                return msg

    def request(self, cmd: str, progress=None, **fields):
        """Send a request (validated by the shared schema) and return its result;
        ``progress(fraction, message)`` sees the progress lines.
        Raises :class:`WorkerFailed` with the worker's message on an error reply."""
        rid = self._next
        self._next += 1
        self.proc.stdin.write(P.make_request(rid, cmd, **fields).encode())
        self.proc.stdin.flush()
        while True:
            msg = self.next_line()
            if msg.get(P.ID) != rid:
                continue
            if P.PROGRESS in msg:
                if progress is not None:
                    progress(msg[P.PROGRESS], msg.get(P.MESSAGE, ""))
                continue
            if msg[P.OK]:
                return msg[P.RESULT]
            raise WorkerFailed(msg[P.ERROR])

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.request("shutdown")
                self.proc.wait(timeout=30)
            except (OSError, RotationNetError, subprocess.TimeoutExpired, ValueError):
                self.proc.kill()
        self.proc.wait()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

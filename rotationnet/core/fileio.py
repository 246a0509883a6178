"""Atomic file output: write to a temporary file in the same folder, then rename,
so a crash never leaves a partial file under the final name."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import socket
import tempfile
from pathlib import Path

from .errors import OutputError, RotationNetError

__all__ = ["atomic_write_bytes", "atomic_write_text", "atomic_write_json", "sha256_file", "atomic_path",
           "ensure_writable_dir", "remove_stale_temporaries", "native_output_to"]


def _pid_namespace() -> str:
    """Processes are only comparable within one PID namespace (containers
    sharing a host name and a volume have separate ones)."""
    try:
        return str(os.stat("/proc/self/ns/pid").st_ino)
    except OSError:
        return "0"


_HOST = f"{socket.gethostname().replace('.', '_').replace('~', '_')}-{_pid_namespace()}"
_OWNER = f"{_HOST}~{os.getpid()}"
_TMP_RE = re.compile(r"^\..+\.(?P<host>[^.~]+)~(?P<pid>\d+)\.[^.]+\.tmp(\.[^.]+)?$")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a killed process nobody has reaped yet is a zombie: dead for our purpose
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def remove_stale_temporaries(folder) -> int:
    """Delete temporary files that :class:`atomic_path` left behind when its
    process was killed (this host, process gone), anywhere under ``folder``.
    Temporaries of live processes and of other hosts or containers (render
    shards on a shared disk) are left alone.  Returns how many were removed."""
    host = _HOST
    n = 0
    for p in Path(folder).rglob(".*.tmp*"):
        m = _TMP_RE.match(p.name)
        if m and m.group("host") == host and not _pid_alive(int(m.group("pid"))) and p.is_file():
            p.unlink(missing_ok=True)
            n += 1
    return n


class atomic_path:
    """Context manager yielding a temporary path beside ``path``; on success it
    is renamed onto ``path`` (for writers that want a file name, e.g. PIL,
    safetensors, matplotlib), on error it is removed."""

    def __init__(self, path, suffix: str | None = None):
        self.path = Path(path)
        self.suffix = self.path.suffix if suffix is None else suffix

    def __enter__(self) -> Path:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.{_OWNER}.", suffix=".tmp" + self.suffix,
                                       dir=self.path.parent)
        except OSError as e:
            raise OutputError(f"{self.path}: cannot write: {e.strerror or e}") from None
        os.close(fd)
        self.tmp = Path(tmp)
        return self.tmp

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            try:
                os.replace(self.tmp, self.path)
            except OSError as e:
                self.tmp.unlink(missing_ok=True)
                raise OutputError(f"{self.path}: cannot write: {e.strerror or e}") from None
            return False
        self.tmp.unlink(missing_ok=True)
        if issubclass(exc_type, OSError) and not issubclass(exc_type, RotationNetError):
            # disk full, quota, read-only: say which file, keep the previous one
            raise OutputError(f"{self.path}: cannot write: {getattr(exc, 'strerror', None) or exc}") from None
        return False


def atomic_write_bytes(path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())


def atomic_write_text(path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path, obj) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def sha256_file(path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def ensure_writable_dir(path, what: str = "output folder") -> Path:
    """Create ``path`` if needed and check a file can be written there, so a
    read-only or full disk is reported before any work is done.

    Raises:
        OutputError: naming the folder and the OS error.
    """
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".write-test-{os.getpid()}"
        probe.write_bytes(b"0" * 65536)
        probe.unlink()
    except OSError as e:
        raise OutputError(f"{path}: cannot write to the {what}: {e.strerror or e}") from None
    return path


@contextlib.contextmanager
def native_output_to(path):
    """Send what native libraries print to file descriptors 1 and 2 (Blender's
    ``Saved: ...`` lines, Mesa's EGL messages, child processes) to the log file
    ``path`` (appended), while Python's ``sys.stdout``/``sys.stderr`` — progress
    bars, log handlers, ``print`` — keep writing to the console.  Restores
    everything on exit.  A no-op when the descriptors cannot be duplicated."""
    import sys

    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    try:
        saved = (os.dup(1), os.dup(2))
    except OSError:
        yield
        return
    old_streams = sys.stdout, sys.stderr
    log_fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        sys.stdout = os.fdopen(os.dup(saved[0]), "w", buffering=1, encoding="utf-8", errors="replace")
        sys.stderr = os.fdopen(os.dup(saved[1]), "w", buffering=1, encoding="utf-8", errors="replace")
        os.dup2(log_fd, 1)
        os.dup2(log_fd, 2)
        yield
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for stream in (sys.stdout, sys.stderr):
            if stream not in old_streams:
                stream.close()
        sys.stdout, sys.stderr = old_streams
        for fd in (*saved, log_fd):
            os.close(fd)

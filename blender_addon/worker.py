"""The inference worker process, seen from Blender.

Torch never loads inside Blender: ``python -m rotationnet.service`` runs in a
separate interpreter (the "Worker Python" preference, or this interpreter if
it can run it) and stays up between clicks.  Requests go out as JSON lines on
its stdin; a reader thread queues the replies; :func:`pump` — called from a
``bpy.app.timers`` callback, so the UI never blocks — hands them to the
callbacks given with each request.  Cancelling ends the process; the next
request starts a new one.
"""

import json
import os
import queue
import subprocess
import sys
import tempfile
import threading
import time

import bpy

_proc = None
_reader = None
_replies = queue.Queue()
_pending = {}  # request id -> (on_progress, on_done)
_next_id = 1
_stderr_path = None
_checked_python = {}


class WorkerError(Exception):
    pass


def _can_run_worker(python):
    if python in _checked_python:
        return _checked_python[python]
    try:
        r = subprocess.run([python, "-c", "import rotationnet.service, torch"], capture_output=True, timeout=120)
        ok = r.returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        ok = False
    _checked_python[python] = ok
    return ok


def resolve_python(pref_path):
    """The interpreter to run the worker with, or raise WorkerError saying why."""
    if pref_path:
        path = bpy.path.abspath(pref_path)
        if not os.path.isfile(path):
            raise WorkerError(f"Worker Python not found: {path}")
        if not _can_run_worker(path):
            raise WorkerError(f"{path} cannot import rotationnet and torch; install the project there")
        return path
    if _can_run_worker(sys.executable):
        return sys.executable
    raise WorkerError("Set 'Worker Python' in the add-on preferences to an interpreter with rotationnet installed "
                      "(e.g. the project's .venv/bin/python)")


def is_alive():
    return _proc is not None and _proc.poll() is None


def busy():
    return bool(_pending)


def _read(proc):
    for line in proc.stdout:
        try:
            _replies.put(json.loads(line))
        except ValueError:
            continue
    _replies.put({"id": None, "died": True, "code": proc.wait(), "pid": proc.pid})


def start(python):
    global _proc, _reader, _stderr_path
    if is_alive():
        return
    fd, _stderr_path = tempfile.mkstemp(prefix="rotationnet-worker-", suffix=".log")
    env = dict(os.environ)
    env.setdefault("PYTHONUNBUFFERED", "1")
    _proc = subprocess.Popen([python, "-m", "rotationnet.service"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=fd, text=True, bufsize=1, env=env)
    os.close(fd)
    _reader = threading.Thread(target=_read, args=(_proc,), daemon=True)
    _reader.start()


def request(python, cmd, on_done, on_progress=None, **args):
    """Send a request (starting the worker if needed); returns its id."""
    global _next_id
    start(python)
    rid = _next_id
    _next_id += 1
    _pending[rid] = (on_progress, on_done)
    try:
        _proc.stdin.write(json.dumps({"id": rid, "cmd": cmd, **args}) + "\n")
        _proc.stdin.flush()
    except (BrokenPipeError, OSError) as e:
        _pending.pop(rid, None)
        raise WorkerError(f"worker not reachable: {e}") from None
    if not bpy.app.timers.is_registered(_timer):
        bpy.app.timers.register(_timer, first_interval=0.05)
    return rid


def _stderr_tail():
    try:
        with open(_stderr_path, encoding="utf-8", errors="replace") as f:
            lines = [ln.strip() for ln in f.read().splitlines() if ln.strip() and "EGL" not in ln]
        return lines[-1] if lines else ""
    except (OSError, TypeError):
        return ""


def pump():
    """Deliver queued replies to their callbacks (main thread only)."""
    while True:
        try:
            msg = _replies.get_nowait()
        except queue.Empty:
            return
        if msg.get("died"):
            if _proc is not None and msg.get("pid") != _proc.pid:
                continue  # an older, already replaced worker
            err = f"the worker stopped (exit code {msg.get('code')})"
            tail = _stderr_tail()
            if tail:
                err += f": {tail}"
            for rid, (_p, done) in list(_pending.items()):
                _pending.pop(rid, None)
                done({"ok": False, "error": err})
            continue
        rid = msg.get("id")
        if rid not in _pending:
            continue
        on_progress, on_done = _pending[rid]
        if "progress" in msg:
            if on_progress:
                on_progress(msg["progress"], msg.get("message", ""))
        else:
            _pending.pop(rid, None)
            on_done(msg)


def _timer():
    pump()
    return 0.1 if _pending else None


def wait_idle(timeout=300.0):
    """Pump until no request is pending (for scripts and headless use, where
    Blender runs no event loop to fire timers).  Returns False on timeout."""
    end = time.time() + timeout
    while _pending and time.time() < end:
        pump()
        time.sleep(0.02)
    pump()
    return not _pending


def cancel():
    """Cancel whatever runs: the pending requests end with 'cancelled' and the
    worker process is ended (caches are written atomically, nothing is lost)."""
    for rid, (_p, done) in list(_pending.items()):
        _pending.pop(rid, None)
        done({"ok": False, "error": "cancelled", "cancelled": True})
    shutdown(kill=True)


def shutdown(kill=False):
    """Stop the worker (kill: at once, e.g. to cancel)."""
    global _proc
    if _proc is None:
        return
    try:
        if kill or _proc.poll() is not None:
            _proc.kill()
        else:
            _proc.stdin.write(json.dumps({"id": 0, "cmd": "shutdown"}) + "\n")
            _proc.stdin.flush()
            _proc.wait(timeout=5)
    except (OSError, subprocess.TimeoutExpired, ValueError):
        _proc.kill()
    _proc = None
